import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ErrorType } from '../../common/errors';
import type { ServerReload } from '../../common/stages';
import { createServer, type InferenceServer } from '../../serving/server';
import { retrainWorkflow } from '../../workflows';
import { historyEvents, outcomes, scheduled } from '../helpers/history';
import { publishVersion } from '../helpers/models';
import { createPipeline, PERMISSIVE_GATE, type Pipeline } from '../helpers/pipeline';

const API_KEY = 'reload-down-key-0123456789';

describe('one of two inference servers down while a run reloads them', { timeout: 180_000 }, () => {
  let pipeline: Pipeline;
  const servers: InferenceServer[] = [];

  /** A real inference server on the pipeline's registry, listening on `port` (0: a free one). */
  async function startServer(port = 0): Promise<{ server: InferenceServer; url: string }> {
    const server = createServer({ registry: pipeline.deps.registry, apiKey: API_KEY });
    servers.push(server);
    await server.loadProductionModels();
    const url = await server.app.listen({ host: '127.0.0.1', port });
    return { server, url };
  }

  async function servedVersion(url: string, model: string): Promise<string | undefined> {
    const res = await fetch(`${url}/admin/model-info?model=${model}`, { headers: { 'x-api-key': API_KEY } });
    return ((await res.json()) as { version?: string }).version;
  }

  beforeAll(async () => {
    pipeline = await createPipeline({ gate: PERMISSIVE_GATE, epochs: 2 });
    pipeline.deps.apiKey = API_KEY;
    const { registry } = pipeline.deps;
    await publishVersion(registry, pipeline.spec, 'v1', { seed: 1 });
    await registry.setAlias(pipeline.spec.name, 'v1', null);
  });

  afterAll(async () => {
    await Promise.allSettled(servers.map((s) => s.app.close()));
    await pipeline?.cleanup();
  });

  it('retries the down server, rolls production back to v1, fails naming it, and both servers end on v1', async () => {
    const { client, spec, taskQueue, deps } = pipeline;
    const up = await startServer();
    const down = await startServer();
    expect(await servedVersion(up.url, spec.name)).toBe('v1');
    expect(await servedVersion(down.url, spec.name)).toBe('v1');
    const downPort = Number(new URL(down.url).port);
    // Both in the worker's static list (RETRAIN_SERVING_URLS): a dead static server fails the promotion.
    deps.servingUrls = [up.url, down.url];
    await down.server.app.close();

    const workflowId = `retrain-${spec.name}-reload-down-${Date.now()}`;
    const failed = await pipeline
      .withWorkers(() =>
        client.workflow.execute(retrainWorkflow, {
          taskQueue,
          workflowId,
          args: [{ model: spec.name, reloadTargets: [up.url, down.url] }],
        }),
      )
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    // The run's own failure: the stage, the root cause's type and message, and its details.
    const cause = (failed as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    const run = cause as ApplicationFailure;
    expect(run.message).toContain('reloadServers failed');
    expect(run.message).toContain(`${down.url} refused`);
    expect(run.type).toBe(ErrorType.ReloadFailed);

    // The activity's outcome: the down server tried three times, the alias went back, both reloaded to v1.
    const { servers: tried, rollback } = run.details?.[0] as {
      servers: ServerReload[];
      rollback: { to: string; aliasMoved: boolean; servers: ServerReload[] };
    };
    expect(tried).toEqual([
      { url: up.url, ok: true, version: 'v2', attempts: 1 },
      { url: down.url, ok: false, error: 'fetch failed', attempts: 3 },
    ]);
    expect(rollback).toMatchObject({ to: 'v1', aliasMoved: true });
    expect(rollback.servers).toEqual([
      { url: up.url, ok: true, version: 'v1', attempts: 1 },
      { url: down.url, ok: false, error: 'fetch failed', attempts: 3 },
    ]);

    // Failed once, non-retryably: the retries happened inside the activity, per server.
    const events = await historyEvents(client.workflow.getHandle(workflowId));
    const [reload] = scheduled(events, 'reloadServers');
    expect(outcomes(events, reload!.eventId)).toEqual([{ kind: 'failed', attempt: 1 }]);

    // The outcome memo names the down server too.
    const memo = (await client.workflow.getHandle(workflowId).describe()).memo as {
      outcome?: { status: string; failure?: { stage: string; message: string } };
    };
    expect(memo.outcome).toMatchObject({ status: 'failed', failure: { stage: 'reloadServers' } });
    expect(memo.outcome?.failure?.message).toContain(`${down.url} refused`);

    // v2 stays registered but is not production; the server that was down comes back on v1 like the other.
    expect(await deps.registry.listVersions(spec.name)).toEqual(['v1', 'v2']);
    expect((await deps.registry.getAlias(spec.name))?.value).toMatchObject({ version: 'v1', previous: 'v2' });
    const restarted = await startServer(downPort);
    expect(restarted.url).toBe(down.url);
    expect(await servedVersion(up.url, spec.name)).toBe('v1');
    expect(await servedVersion(restarted.url, spec.name)).toBe('v1');
  });
});
