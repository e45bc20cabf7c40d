import { setTimeout as sleep } from 'node:timers/promises';

import type { ServerReload } from '../common/stages';
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
  note: string;
}

export type RollOutResult =
  { ok: true; servers: ServerReload[] } | { ok: false; servers: ServerReload[]; revert: RollOutRevert };

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
  const attempts = Math.max(1, opts.attempts ?? 3);
  let outcome: ServerReload & { final?: boolean } = { url, ok: false, error: 'not tried' };
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) await sleep((opts.backoffMs ?? 500) * 2 ** (attempt - 2));
    outcome = await tryReload(url, model, version, opts);
    if (outcome.ok || outcome.final) {
      const { final: _final, ...rest } = outcome;
      return { ...rest, attempts: attempt };
    }
  }
  const { final: _final, ...rest } = outcome;
  return { ...rest, attempts };
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

/** One line per outcome list, for logs, errors and the command line. */
export function describeReloads(servers: ServerReload[]): string {
  if (servers.length === 0) return 'no inference servers configured';
  return servers.map((s) => `${s.url} ${s.ok ? `ok (${s.version})` : `refused: ${s.error}`}`).join('; ');
}

/**
 * Reloads every server to `version`, which the production alias points at now. When a server still
 * refuses, moves the alias back to `previous` by compare-and-swap (only if it still points at
 * `version`) and reloads every server to it. Shared by the reloadServers activity and `retrain rollback`.
 */
export async function rollOut(
  registry: ModelRegistry,
  args: { model: string; version: string; previous: string | null; targets: string[] } & ReloadClientOptions,
): Promise<RollOutResult> {
  const { model, version, previous, targets } = args;
  const servers = await reloadAll(targets, model, version, args);
  if (servers.every((s) => s.ok)) return { ok: true, servers };
  if (!previous) {
    return {
      ok: false,
      servers,
      revert: { to: null, aliasMoved: false, servers: [], note: 'no previous version to roll back to' },
    };
  }
  const alias = await registry.getAlias(model);
  let aliasMoved = false;
  if (alias?.value.version === version) {
    await registry.moveAlias(model, previous, { expected: version, workflowId: null });
    aliasMoved = true;
  } else if (alias?.value.version !== previous) {
    // Someone else promoted another version meanwhile: theirs stands, and so do the servers.
    const now = alias?.value.version ?? 'nothing';
    return {
      ok: false,
      servers,
      revert: {
        to: now === 'nothing' ? null : now,
        aliasMoved: false,
        servers: [],
        note: `production was moved to ${now} meanwhile; left as it is`,
      },
    };
  }
  const restored = await reloadAll(targets, model, previous, args);
  return {
    ok: false,
    servers,
    revert: {
      to: previous,
      aliasMoved,
      servers: restored,
      note: `production rolled back to ${previous} (${describeReloads(restored)})`,
    },
  };
}

async function tryReload(
  url: string,
  model: string,
  version: string,
  opts: ReloadClientOptions,
): Promise<ServerReload & { final?: boolean }> {
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
    return { url, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}
