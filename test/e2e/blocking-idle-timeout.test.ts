import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createServer, type InferenceServer } from '../../serving/server';
import { createPipeline, PERMISSIVE_GATE, type Pipeline } from '../helpers/pipeline';

const API_KEY = 'blocking-idle-test-key-0123';
/** The server's idle limit here: far below what a run takes, so the blocking answer outlives it. */
const IDLE_MS = 1000;

describe("a blocking trigger-training over real HTTP, against the server's idle limit", () => {
  let pipeline: Pipeline;
  let server: InferenceServer;
  let url: string;
  beforeAll(async () => {
    pipeline = await createPipeline({ gate: PERMISSIVE_GATE, hyperparams: { hiddenUnits: 8, seed: 3 } });
    server = createServer({
      registry: pipeline.deps.registry,
      apiKey: API_KEY,
      temporal: { client: pipeline.client, taskQueue: pipeline.taskQueue, buffer: pipeline.deps.buffer },
      timeouts: { headersMs: 500, requestMs: IDLE_MS, connectionMs: IDLE_MS },
    });
    await server.app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await server?.app.close();
    await pipeline?.cleanup();
  });

  it('answers the finished job although its connection stayed silent longer than the idle limit', async () => {
    const res = await pipeline.withWorkers(() =>
      fetch(`${url}/admin/trigger-training?epochs=2&incremental=false&blocking=true`, {
        method: 'POST',
        headers: { 'x-api-key': API_KEY },
      }),
    );
    expect(res.status).toBe(200);
    const job = (await res.json()) as { success: boolean; job_id: string; status: string };
    expect(job).toMatchObject({ success: true, status: 'completed' });
    // The premise: the run, and so the silence, lasted longer than the idle limit.
    const run = await pipeline.client.workflow.getHandle(job.job_id).describe();
    expect((run.closeTime?.getTime() ?? 0) - run.startTime.getTime()).toBeGreaterThan(IDLE_MS);
  });
});
