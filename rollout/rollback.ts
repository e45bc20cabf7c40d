import type { ServerReload, SkippedServer } from '../common/stages';
import type { ModelRegistry, RollbackMove } from '../storage/registry';
import { ServerDirectory } from '../storage/server-directory';
import { fleetTargets } from './fleet';
import { describeReloads, rollOut, type ReloadClientOptions, type RollOutRevert } from './rollout';

/** What {@link rollBack} did: the alias move, each server's answer, and the revert when one refused. */
export interface RollbackReport {
  model: string;
  from: string;
  to: string;
  /** True when every server serves `to`. */
  ok: boolean;
  /** The version production points at in the end. */
  production: string;
  servers: ServerReload[];
  /** Announced servers that could not be reached (they follow the alias by their poll); absent when none. */
  skipped?: SkippedServer[];
  revert?: RollOutRevert;
}

/** Thrown by callers of {@link rollBack} whose servers refused the target; the message gives each answer and the revert. */
export class ServersRefusedError extends Error {
  override readonly name = 'ServersRefusedError';
  constructor(readonly report: RollbackReport) {
    super(
      `inference servers refused ${report.model} ${report.to}: ${describeReloads(report.servers)}; ${report.revert?.note ?? ''}`,
    );
  }
}

/** Runs a rollback's work while holding the model, so no run moves the alias meanwhile (runs/model-hold). */
export type ModelHold = <T>(work: () => Promise<T>) => Promise<T>;

/**
 * Moves `production` of `model` back (to its previous version, or `to`) by compare-and-swap, then
 * reloads every server in `targets` and every server announced alive in the store to it with the code
 * of the reloadServers activity; when a server refuses, the alias goes back where it was. Used by
 * `retrain rollback` and the dashboard alike, each inside `hold` (the model's lease). `onMoved` hears
 * of the alias move before the reloads start.
 */
export async function rollBack(
  registry: ModelRegistry,
  args: {
    model: string;
    to?: string;
    targets: string[];
    onMoved?: (move: RollbackMove) => void;
    hold: ModelHold;
  } & ReloadClientOptions,
): Promise<RollbackReport> {
  const { hold, ...rest } = args;
  return hold(() => moveAndReload(registry, rest));
}

async function moveAndReload(
  registry: ModelRegistry,
  args: Omit<Parameters<typeof rollBack>[1], 'hold'>,
): Promise<RollbackReport> {
  const { model, to, targets, onMoved, ...client } = args;
  const alive = (await new ServerDirectory(registry.store).aliveServers()).map((server) => server.url);
  const { discovered } = fleetTargets(targets, alive);
  const move = await registry.rollback(model, to);
  onMoved?.(move);
  const outcome = await rollOut(registry, {
    ...client,
    model,
    version: move.to,
    previous: move.from,
    targets,
    discovered,
  });
  return {
    model,
    from: move.from,
    to: move.to,
    ok: outcome.ok,
    production: outcome.ok ? move.to : (outcome.revert.to ?? move.to),
    servers: outcome.servers,
    ...(outcome.skipped.length > 0 ? { skipped: outcome.skipped } : {}),
    ...(outcome.ok ? {} : { revert: outcome.revert }),
  };
}
