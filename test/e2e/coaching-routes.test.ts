import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TriggersSchema } from '../../common/triggers';
import type { CoachingJob } from '../../control/coaching/coaching-job';
import { createServer, type InferenceServer } from '../../serving/server';
import { DataBuffer } from '../../storage/buffer';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { eventually } from '../helpers/eventually';
import { passingActivities, stubSpec, stubWorkers, type StubWorkers } from '../helpers/stub-workers';

const KEY = 'coaching-routes-test-key-0123';
const BASE = '/coaching/continuous-learning';
const ROUTES = [
  ['POST', `${BASE}/trigger-training/recommendation`],
  ['GET', `${BASE}/training-status`],
  ['GET', `${BASE}/training-job/retrain-x-20260101T000000Z`],
  ['POST', `${BASE}/auto-trigger-ready`],
  ['GET', `${BASE}/training-history`],
  ['GET', `${BASE}/model-versions`],
  ['GET', `${BASE}/validation-results/retrain-x-20260101T000000Z`],
] as const;

describe("FinCoach's routes: key, opt-in, bad input, auto-trigger, on stub workers", () => {
  let env: StubWorkers;
  let dir: string;
  let registry: ModelRegistry;
  let server: InferenceServer;
  let triggered: string;
  let held: string;
  let holding = true;

  beforeAll(async () => {
    env = await stubWorkers();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-coaching-'));
    registry = new ModelRegistry(new FileBlobStore(dir));
    const triggers = TriggersSchema.parse({ newRecords: 10 });
    // Its check measures 50 new records against a threshold of 10: FinCoach's "ready dataset".
    triggered = env.model({
      measureTriggers: async () => ({
        triggers,
        figures: { newRecords: 50, drift: {} },
        scanned: { predictions: 0, records: 50 },
      }),
    });
    await registry.saveSpec({ ...stubSpec(triggered), aliases: ['goal'], triggers });
    // Its training goes on until the test lets it end, so the next trigger waits in the model's queue.
    held = env.model({
      trainModel: async (input) => {
        const ctx = Context.current();
        while (holding) {
          ctx.heartbeat();
          await ctx.sleep(100);
        }
        return passingActivities().trainModel(input);
      },
    });
    await registry.saveSpec({ ...stubSpec(held), aliases: ['recommendation'] });
    server = createServer({
      registry,
      apiKey: KEY,
      temporal: { client: env.client, taskQueue: env.taskQueue, buffer: new DataBuffer(dir) },
    });
  });
  afterAll(async () => {
    await server?.app.close();
    await env?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  const call = (method: 'GET' | 'POST', url: string, opts: { key?: string | null; body?: unknown } = {}) =>
    server.app.inject({
      method,
      url,
      headers: opts.key === null ? {} : { 'x-api-key': opts.key ?? KEY },
      ...(opts.body === undefined ? {} : { payload: opts.body as object }),
    });

  it("answers 401 with FastAPI's detail on every route without the right key, and 503 on a server with no key", async () => {
    const keyless = createServer({ registry });
    try {
      for (const [method, url] of ROUTES) {
        for (const key of [null, 'wrong-key-0123456789abcdef']) {
          const res = await call(method, url, { key });
          expect(res.statusCode, `${method} ${url}`).toBe(401);
          expect(res.json()).toEqual({
            detail: 'missing or wrong X-API-Key header',
            error: 'missing or wrong X-API-Key header',
          });
        }
        const off = await keyless.app.inject({ method, url });
        expect(off.statusCode).toBe(503);
        expect(off.json().detail).toBe('FinCoach training API disabled: set RETRAIN_API_KEY');
      }
    } finally {
      await keyless.app.close();
    }
  });

  it('RETRAIN_COACHING_ROUTES_OPEN: the routes answer without a key, and the server warns it at start', async () => {
    const lines: string[] = [];
    const destination = { write: (line: string) => lines.push(line) };
    const open = createServer({
      registry,
      coachingRoutesOpen: true,
      logger: { format: 'json', destination },
    });
    try {
      await open.app.ready();
      const warning = lines.map((l) => JSON.parse(l)).find((l) => l.level === 'warn');
      expect(warning?.msg).toMatch(/answer without X-API-Key: RETRAIN_COACHING_ROUTES_OPEN=true/);
      const versions = await open.app.inject({ url: `${BASE}/model-versions` });
      expect(versions.statusCode).toBe(200);
      expect(versions.json()).toMatchObject({ model_versions: [], total_versions: 0, filter_applied: null });
      // Routes over runs need Temporal, which this server has not: 503, not an open door to nothing.
      expect((await open.app.inject({ url: `${BASE}/training-status` })).statusCode).toBe(503);
    } finally {
      await open.app.close();
    }
  });

  it('bad input is answered 400 or 404 naming what is wrong, and starts nothing', async () => {
    const priority = await call('POST', `${BASE}/trigger-training/goal`, { body: { priority: 'high' } });
    expect(priority.statusCode).toBe(400);
    expect(priority.json().detail).toMatch(/^invalid request: priority: /);
    const unknown = await call('POST', `${BASE}/trigger-training/spending`, { body: { priority: 1 } });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().detail).toBe('unknown model spending');
    const traversal = await call('GET', `${BASE}/model-versions?model_type=..%2Fsecrets`);
    expect(traversal.statusCode).toBe(400);
    expect(traversal.json().detail).toMatch(/model_type must be a model name or alias/);
    const limit = await call('GET', `${BASE}/training-history?limit=0`);
    expect(limit.statusCode).toBe(400);
    expect(limit.json().detail).toMatch(/^invalid request: limit: /);
    const job = await call('GET', `${BASE}/training-job/retrain-nothing-20260101T000000Z`);
    expect(job.statusCode).toBe(404);
    expect(job.json().detail).toBe('no retrain run with id retrain-nothing-20260101T000000Z');
  });

  it('auto-trigger-ready starts the run of a model whose trigger fired, as FinCoach queued a ready dataset', async () => {
    const res = await call('POST', `${BASE}/auto-trigger-ready`);
    expect(res.statusCode).toBe(200);
    const body = res.json<{
      message: string;
      triggered_jobs: { job_id: string; model_type: string; status: string; priority: number }[];
      checked: { model_type: string; decision: string }[];
    }>();
    expect(body.message).toBe('Auto-triggered 1 training jobs');
    expect(body.checked).toEqual([expect.objectContaining({ model_type: triggered, decision: 'started' })]);
    const [job] = body.triggered_jobs;
    expect(job).toMatchObject({ model_type: triggered, priority: 1 });
    expect(['queued', 'in_progress', 'completed']).toContain(job?.status);
    const done = await eventually('the triggered run to complete', async () => {
      const found = (await call('GET', `${BASE}/training-job/${job?.job_id}`)).json<{
        job_status: CoachingJob;
      }>();
      return found.job_status.status === 'completed' && found.job_status;
    });
    expect(done).toMatchObject({ id: job?.job_id, training_event_id: job?.job_id, error_message: null });
  });

  it('a trigger while the model trains is queued behind it (priority mapped), a second answers that queued job, both then complete', async () => {
    const trigger = (priority: number) =>
      call('POST', `${BASE}/trigger-training/recommendation`, { body: { priority } });
    const first = await trigger(1);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({
      status: 'in_progress',
      queue_position: 0,
      model: held,
      priority: 1,
    });
    const second = await trigger(2);
    expect(second.json()).toMatchObject({
      message: 'Training job queued for recommendation',
      status: 'queued',
      queue_position: 1,
      priority: 2,
      training_event_id: null,
    });
    const again = await trigger(1);
    expect(again.json()).toMatchObject({
      message: 'Training job already queued for recommendation',
      job_id: second.json().job_id,
      status: 'queued',
      priority: 2,
    });
    const overview = (await call('GET', `${BASE}/training-status`)).json<{
      training_status: Record<'active' | 'queued', CoachingJob[]>;
    }>();
    expect(overview.training_status.active.map((j) => j.id)).toContain(first.json().job_id);
    expect(overview.training_status.queued).toContainEqual(
      expect.objectContaining({
        id: second.json().job_id,
        status: 'queued',
        model_type: 'recommendation',
        priority: 2,
      }),
    );
    // FinCoach's 2 runs ahead of its 1: retrain's priority 2 (1 is highest).
    const input = (await env.client.workflow.getHandle(second.json().job_id).describe()).memo?.input as {
      priority?: number;
      admission?: string;
    };
    expect(input).toMatchObject({ priority: 2, admission: 'queue' });
    holding = false;
    for (const id of [first.json().job_id, second.json().job_id])
      await eventually(`${id} to complete`, async () => {
        const found = (await call('GET', `${BASE}/training-job/${id}`)).json<{ job_status: CoachingJob }>();
        return found.job_status.status === 'completed';
      });
  });
});
