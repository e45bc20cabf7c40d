import { setTimeout as sleep } from 'node:timers/promises';

import type { ServerReload, SkippedServer } from '../common/stages';
import type { ModelRegistry } from '../storage/registry';

/** How {@link reloadServer} talks to one inference server. */
export interface ReloadClientOptions {
  /** Sent as `X-API-Key`; never logged or put into an outcome. */
  apiKey?: string;
  /** Tries per server for answers that may pass (network errors, 5xx, a stale version). @default 3 */
  attempts?: number;
  /** Wait before the second try; doubles for each further one. @default 500 */
  backoffMs?: number;
  /** Per HTTP request. @default 30000 */
  timeoutMs?: number;
}

/** What {@link rollOut} did when a server refused: where the alias went and how the servers answered. */
export interface RollOutRevert {
  /** The version the alias now points at after the revert, or null when there was none to go back to. */
  to: string | null;
  aliasMoved: boolean;
  servers: ServerReload[];
  /** Announced servers the revert could not reach either. */
  skipped: SkippedServer[];
  note: string;
}

export type RollOutResult =
  | { ok: true; servers: ServerReload[]; skipped: SkippedServer[] }
  | { ok: false; servers: ServerReload[]; skipped: SkippedServer[]; revert: RollOutRevert };

/**
 * The servers a promotion reloads. Each of `targets` (`RETRAIN_SERVING_URLS`) must take the version;
 * a `discovered` one (announced in the store) that cannot be reached is skipped instead, since it
 * follows the production alias by its own poll once it is back.
 */
export interface ReloadFleet {
  targets: string[];
  /** @default [] */
  discovered?: string[];
}

/** One server's reload and whether it failed because the server could not be reached at all. */
interface Tried {
  outcome: ServerReload;
  unreachable: boolean;
}

/** 4xx answers other than these say the same on every try: bad key, unknown model, a version refused. */
const RETRYABLE_CLIENT_STATUS = new Set([408, 429]);

/**
 * Asks one server to load `version` of `model` and checks that it then reports that version, retrying
 * with exponential backoff while the failure may pass. A refusal (4xx) is final at once.
 */
export async function reloadServer(
  url: string,
  model: string,
  version: string,
  opts: ReloadClientOptions = {},
): Promise<ServerReload> {
  return (await tryWithRetries(url, model, version, opts)).outcome;
}

async function tryWithRetries(
  url: string,
  model: string,
  version: string,
  opts: ReloadClientOptions,
): Promise<Tried> {
  const attempts = Math.max(1, opts.attempts ?? 3);
  let answer: Attempt = { url, ok: false, error: 'not tried' };
  let attempt = 1;
  for (; attempt <= attempts; attempt++) {
    if (attempt > 1) await sleep((opts.backoffMs ?? 500) * 2 ** (attempt - 2));
    answer = await tryReload(url, model, version, opts);
    if (answer.ok || answer.final) break;
  }
  const { final: _final, unreachable, ...outcome } = answer;
  return {
    outcome: { ...outcome, attempts: Math.min(attempt, attempts) },
    unreachable: unreachable === true,
  };
}

/** {@link reloadServer} on every url at once. */
export function reloadAll(
  urls: string[],
  model: string,
  version: string,
  opts: ReloadClientOptions = {},
): Promise<ServerReload[]> {
  return Promise.all(urls.map((url) => reloadServer(url, model, version, opts)));
}

/**
 * {@link reloadServer} on every server of `fleet` at once: the outcome of each, except the discovered
 * ones that could not be reached, which are `skipped` with the reason.
 */
export async function reloadFleet(
  fleet: ReloadFleet,
  model: string,
  version: string,
  opts: ReloadClientOptions = {},
): Promise<{ servers: ServerReload[]; skipped: SkippedServer[] }> {
  const [servers, found] = await Promise.all([
    reloadAll(fleet.targets, model, version, opts),
    Promise.all((fleet.discovered ?? []).map((url) => tryWithRetries(url, model, version, opts))),
  ]);
  const skipped: SkippedServer[] = [];
  for (const { outcome, unreachable } of found) {
    if (unreachable)
      skipped.push({ url: outcome.url, reason: `unreachable: ${outcome.error ?? 'no answer'}` });
    else servers.push(outcome);
  }
  return { servers, skipped };
}

/** One line per outcome list, for logs, errors and the command line. */
export function describeReloads(servers: ServerReload[]): string {
  if (servers.length === 0) return 'no inference servers configured';
  return servers.map((s) => `${s.url} ${s.ok ? `ok (${s.version})` : `refused: ${s.error}`}`).join('; ');
}

/**
 * Reloads every server of the fleet to `version`, which the production alias points at now. When a
 * server still refuses, {@link revertProduction}. Shared by the reloadServers activity and `retrain rollback`.
 */
export async function rollOut(
  registry: ModelRegistry,
  args: { model: string; version: string; previous: string | null } & ReloadFleet & ReloadClientOptions,
): Promise<RollOutResult> {
  const { model, version } = args;
  const { servers, skipped } = await reloadFleet(args, model, version, args);
  if (servers.every((s) => s.ok)) return { ok: true, servers, skipped };
  return { ok: false, servers, skipped, revert: await revertProduction(registry, args) };
}

/**
 * Moves the production alias of `model` from `version` back to `previous` by compare-and-swap (only
 * if it still points at `version`: another writer's promotion stands) and reloads the fleet to it.
 */
export async function revertProduction(
  registry: ModelRegistry,
  args: { model: string; version: string; previous: string | null } & ReloadFleet & ReloadClientOptions,
): Promise<RollOutRevert> {
  const { model, version, previous } = args;
  if (!previous)
    return {
      to: null,
      aliasMoved: false,
      servers: [],
      skipped: [],
      note: 'no previous version to roll back to',
    };
  const alias = await registry.getAlias(model);
  let aliasMoved = false;
  if (alias?.value.version === version) {
    await registry.moveAlias(model, previous, { expected: version, workflowId: null });
    aliasMoved = true;
  } else if (alias?.value.version !== previous) {
    // Someone else promoted another version meanwhile: theirs stands, and so do the servers.
    const now = alias?.value.version ?? 'nothing';
    return {
      to: now === 'nothing' ? null : now,
      aliasMoved: false,
      servers: [],
      skipped: [],
      note: `production was moved to ${now} meanwhile; left as it is`,
    };
  }
  const restored = await reloadFleet(args, model, previous, args);
  return {
    to: previous,
    aliasMoved,
    ...restored,
    note: `production rolled back to ${previous} (${describeReloads(restored.servers)})`,
  };
}

/** One try's answer: final when a retry would get the same, unreachable when no answer came. */
type Attempt = ServerReload & { final?: boolean; unreachable?: boolean };

async function tryReload(
  url: string,
  model: string,
  version: string,
  opts: ReloadClientOptions,
): Promise<Attempt> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.apiKey) headers['x-api-key'] = opts.apiKey;
  const signal = () => AbortSignal.timeout(opts.timeoutMs ?? 30_000);
  try {
    const reload = await fetch(new URL('/admin/reload', url), {
      method: 'POST',
      headers,
      body: JSON.stringify({ model, version }),
      signal: signal(),
    });
    if (!reload.ok) {
      const text = (await reload.text()).slice(0, 300);
      return {
        url,
        ok: false,
        error: `reload answered ${reload.status}: ${text}`,
        final: reload.status < 500 && !RETRYABLE_CLIENT_STATUS.has(reload.status),
      };
    }
    const info = await fetch(new URL(`/admin/model-info?model=${encodeURIComponent(model)}`, url), {
      headers,
      signal: signal(),
    });
    const body = (await info.json()) as { version?: string };
    if (body.version !== version) {
      return {
        url,
        ok: false,
        version: body.version,
        error: `serves ${body.version ?? 'nothing'} after reload`,
      };
    }
    return { url, ok: true, version };
  } catch (err) {
    return {
      url,
      ok: false,
      error: err instanceof Error ? err.message : String(err),
      unreachable: noAnswer(err),
    };
  }
}

/** True for fetch's errors when no answer came: refused, reset, unresolved (TypeError) or timed out. */
function noAnswer(err: unknown): boolean {
  return (
    err instanceof TypeError || (err instanceof Error && ['TimeoutError', 'AbortError'].includes(err.name))
  );
}
