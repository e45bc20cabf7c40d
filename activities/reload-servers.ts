import { ApplicationFailure, Context } from '@temporalio/activity';
import { ErrorType } from '../common/errors';
import type { ReloadInput, ReloadResult, ServerReload } from '../common/stages';
import type { ActivityDeps } from './deps';

const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Asks every inference server to load `version` and checks each reports it. When one refuses,
 * the production alias goes back to the previous version and the servers are reloaded to it.
 */
export function createReloadServers(deps: ActivityDeps) {
  return async function reloadServers(input: ReloadInput): Promise<ReloadResult> {
    const targets = input.targets ?? deps.servingUrls;
    const servers = await Promise.all(
      targets.map((url) => reloadOne(url, input.model, input.version, deps.apiKey)),
    );
    if (servers.every((s) => s.ok)) return { servers };
    // Earlier attempts may have failed for passing reasons; only the last one rolls back.
    const { attempt } = Context.current().info;
    if (attempt < 3) {
      throw new Error(`reload of ${input.model} ${input.version} failed: ${describe(servers)}`);
    }
    let rollback = 'no previous version to roll back to';
    if (input.previous) {
      await deps.registry.setAlias(input.model, input.previous, null);
      const restored = await Promise.all(
        targets.map((url) => reloadOne(url, input.model, input.previous as string, deps.apiKey)),
      );
      rollback = `production rolled back to ${input.previous} (${describe(restored)})`;
    }
    throw ApplicationFailure.nonRetryable(
      `Inference servers refused ${input.model} ${input.version}: ${describe(servers)}; ${rollback}`,
      ErrorType.ReloadFailed,
      { servers },
    );
  };
}

async function reloadOne(
  url: string,
  model: string,
  version: string,
  apiKey: string | undefined,
): Promise<ServerReload> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (apiKey) headers['x-api-key'] = apiKey;
  try {
    const reload = await fetch(new URL('/admin/reload', url), {
      method: 'POST',
      headers,
      body: JSON.stringify({ model, version }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    if (!reload.ok)
      return {
        url,
        ok: false,
        error: `reload answered ${reload.status}: ${(await reload.text()).slice(0, 300)}`,
      };
    const info = await fetch(new URL(`/admin/model-info?model=${encodeURIComponent(model)}`, url), {
      headers,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const body = (await info.json()) as { version?: string };
    if (body.version !== version)
      return {
        url,
        ok: false,
        version: body.version,
        error: `serves ${body.version ?? 'nothing'} after reload`,
      };
    return { url, ok: true, version };
  } catch (err) {
    return { url, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

function describe(servers: ServerReload[]): string {
  return servers.map((s) => `${s.url} ${s.ok ? 'ok' : s.error}`).join(', ');
}
