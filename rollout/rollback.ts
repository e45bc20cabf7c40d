import type { ServerReload } from '../common/stages';
import type { ModelRegistry, RollbackMove } from '../storage/registry';
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

/**
 * Moves `production` of `model` back (to its previous version, or `to`) by compare-and-swap, then
 * reloads every server in `targets` to it with the code of the reloadServers activity; when a server
 * refuses, the alias goes back where it was. Used by `retrain rollback` and the dashboard alike.
 * `onMoved` hears of the alias move before the reloads start.
 */
export async function rollBack(
  registry: ModelRegistry,
  args: {
    model: string;
    to?: string;
    targets: string[];
    onMoved?: (move: RollbackMove) => void;
  } & ReloadClientOptions,
): Promise<RollbackReport> {
  const { model, to, targets, onMoved, ...client } = args;
  const move = await registry.rollback(model, to);
  onMoved?.(move);
  const outcome = await rollOut(registry, {
    ...client,
    model,
    version: move.to,
    previous: move.from,
    targets,
  });
  return {
    model,
    from: move.from,
    to: move.to,
    ok: outcome.ok,
    production: outcome.ok ? move.to : (outcome.revert.to ?? move.to),
    servers: outcome.servers,
    ...(outcome.ok ? {} : { revert: outcome.revert }),
  };
}
