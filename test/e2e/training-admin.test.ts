import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataBuffer } from '../../storage/buffer';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { createServer, type InferenceServer } from '../../serving/server';
import type { TrainingJob } from '../../control/training-job';
import { eventually } from '../helpers/eventually';
import { createPipeline, flightSpec, PERMISSIVE_GATE, type Pipeline } from '../helpers/pipeline';

const API_KEY = 'training-admin-test-key-0123';
const ROUTES = [
  ['POST', '/admin/trigger-training'],
  ['GET', '/admin/training-status'],
  ['GET', '/admin/training-stats'],
  ['POST', '/admin/cancel-training'],
] as const;

type Method = 'GET' | 'POST';

describe("the NordIQ daemon's training API, backed by Temporal", () => {
  let pipeline: Pipeline;
  let server: InferenceServer;

  beforeAll(async () => {
    pipeline = await createPipeline({
      gate: PERMISSIVE_GATE,
      hyperparams: { hiddenUnits: 16, batchSize: 64, seed: 4 },
    });
    server = createServer({
      registry: pipeline.deps.registry,
      apiKey: API_KEY,
      temporal: { client: pipeline.client, taskQueue: pipeline.taskQueue, buffer: pipeline.deps.buffer },
    });
  });
  afterAll(async () => {
    await server?.app.close();
    await pipeline?.cleanup();
  });

  const call = (method: Method, url: string, key: string | null = API_KEY, on = server) =>
    on.app.inject({ method, url, headers: key === null ? {} : { 'x-api-key': key } });
  const json = <T = Record<string, unknown>>(res: LightMyRequestResponse) => res.json<T>();
  const runsOf = async (model: string) => {
    const runs = [];
    for await (const run of pipeline.client.workflow.list({
      query: `WorkflowType = 'retrainWorkflow' AND ModelName = '${model}'`,
    }))
      runs.push(run);
    return runs;
  };

  it('answers 401 on every training route without the right X-API-Key, and starts nothing', async () => {
    const before = (await runsOf(pipeline.spec.name)).length;
    for (const [method, url] of [...ROUTES, ['POST', '/admin/reload-model'] as const]) {
      for (const key of [null, 'wrong-key-0123456789abcdef']) {
        const res = await call(method, url, key);
        expect(res.statusCode, `${method} ${url} key=${key}`).toBe(401);
        expect(json(res)).toEqual({ error: 'missing or wrong X-API-Key header' });
      }
    }
    expect(await runsOf(pipeline.spec.name)).toHaveLength(before);
  });

  it('a server without a Temporal client answers 503 on the training routes, still checks the key and serves the rest', async () => {
    const bare = createServer({ registry: pipeline.deps.registry, apiKey: API_KEY });
    try {
      for (const [method, url] of ROUTES) {
        const res = await call(method, url, API_KEY, bare);
        expect(res.statusCode, `${method} ${url}`).toBe(503);
        expect(json(res)).toMatchObject({ success: false });
        expect(json(res).error).toMatch(/^training API unavailable: this server has no Temporal connection/);
        expect((await call(method, url, null, bare)).statusCode).toBe(401);
      }
      expect((await bare.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      expect((await call('GET', '/admin/model-info', API_KEY, bare)).statusCode).toBe(200);
    } finally {
      await bare.app.close();
    }
  });

  it('means ?model= when given, else RETRAIN_DEFAULT_MODEL, else the only model, else answers 400 naming the models', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-choice-'));
    const registry = new ModelRegistry(new FileBlobStore(dir));
    const [a, b] = [flightSpec({ name: 'alpha-model' }), flightSpec({ name: 'beta-model' })];
    await registry.saveSpec(a);
    await registry.saveSpec(b);
    const temporal = { client: pipeline.client, taskQueue: pipeline.taskQueue, buffer: new DataBuffer(dir) };
    const two = createServer({ registry, apiKey: API_KEY, temporal });
    const chosen = createServer({ registry, apiKey: API_KEY, temporal, defaultModel: 'beta-model' });
    try {
      const ambiguous = await call('GET', '/admin/training-stats', API_KEY, two);
      expect(ambiguous.statusCode).toBe(400);
      const several =
        'several models: name one with ?model= (alpha-model, beta-model) or set RETRAIN_DEFAULT_MODEL';
      expect(json(ambiguous)).toEqual({
        success: false,
        error: several,
        ready_to_train: false,
        ready_reason: several,
      });
      const named = await call('GET', '/admin/training-stats?model=alpha-model', API_KEY, two);
      expect(json(named)).toMatchObject({ model: 'alpha-model', ready_to_train: false });
      expect(json(await call('GET', '/admin/training-stats', API_KEY, chosen))).toMatchObject({
        model: 'beta-model',
      });
      const unknown = await call('GET', '/admin/training-stats?model=gamma', API_KEY, two);
      expect(unknown.statusCode).toBe(404);
      expect(json(unknown).error).toBe('unknown model gamma');
      const only = await call('GET', '/admin/training-stats');
      expect(json(only)).toMatchObject({ model: pipeline.spec.name });
    } finally {
      await two.app.close();
      await chosen.app.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('names what is wrong in a bad request (400), refuses a window without enough data before starting anything (422)', async () => {
    const before = (await runsOf(pipeline.spec.name)).length;
    const cases: [Method, string, number, RegExp][] = [
      ['POST', '/admin/trigger-training?epochs=0', 400, /^invalid request: .*epochs/],
      ['POST', '/admin/trigger-training?epochs=abc', 400, /^invalid request: .*epochs/],
      ['POST', '/admin/trigger-training?incremental=maybe', 400, /^invalid request: .*incremental/],
      ['POST', '/admin/trigger-training?reloadTargets=http://evil.example', 400, /reloadTargets/],
      ['POST', '/admin/trigger-training?model=Not%20A%20Slug', 400, /^invalid model "Not A Slug"/],
      ['GET', '/admin/training-status?job_id=retrain-nope-20000101T000000Z', 404, /^no retrain run with id /],
      [
        'POST',
        '/admin/cancel-training',
        404,
        new RegExp(`^no training job of ${pipeline.spec.name} is running$`),
      ],
    ];
    for (const [method, url, status, error] of cases) {
      const res = await call(method, url);
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(status);
      expect(json(res)).toMatchObject({ success: false });
      expect(json(res).error).toMatch(error);
    }
    const thin = await call('POST', '/admin/trigger-training?minRecords=100000000');
    expect(thin.statusCode).toBe(422);
    expect(json(thin)).toEqual({
      success: false,
      error: expect.stringMatching(/^Insufficient data: \d+ < 100000000 records in the last 21 days$/),
      status: 'rejected',
    });
    expect(await runsOf(pipeline.spec.name)).toHaveLength(before);
  });

  it('blocking=true answers the finished job; a second trigger while one trains is 409 naming it; cancel-training ends it cancelled; stats count them', async () => {
    const model = pipeline.spec.name;
    const { done, status, conflict, cancel, cancelled, describeStatus, stats } = await pipeline.withWorkers(
      async () => {
        const done = json<TrainingJob & { success: boolean }>(
          await call('POST', '/admin/trigger-training?epochs=2&incremental=false&blocking=true'),
        );
        const status = json<TrainingJob>(await call('GET', `/admin/training-status?job_id=${done.job_id}`));

        const long = await call('POST', '/admin/trigger-training?epochs=400&incremental=false');
        expect(long.statusCode, long.body).toBe(202);
        const longId = json<{ job_id: string }>(long).job_id;
        await eventually('the long run to train', async () => {
          const job = json<TrainingJob>(await call('GET', '/admin/training-status'));
          return job.job_id === longId && job.status === 'running' && job.stage === 'trainModel';
        });
        const conflict = await call('POST', '/admin/trigger-training?epochs=2');
        const cancel = await call('POST', '/admin/cancel-training');
        const cancelled = await eventually('the long run to end cancelled', async () => {
          const job = json<TrainingJob>(await call('GET', `/admin/training-status?job_id=${longId}`));
          return job.status === 'cancelled' ? job : undefined;
        });
        const describeStatus = (await pipeline.client.workflow.getHandle(longId).describe()).status.name;
        const stats = await eventually('visibility to count both runs', async () => {
          const s = json<{ history: Record<string, unknown> }>(await call('GET', '/admin/training-stats'));
          return s.history.total_trainings === 2 && s.history.cancelled === 1 ? s : undefined;
        });
        return { done, status, conflict, cancel, cancelled, describeStatus, stats };
      },
    );

    expect(done).toMatchObject({
      success: true,
      status: 'completed',
      outcome: 'completed',
      progress_pct: 100,
      epochs: 2,
      incremental: false,
      error: null,
      model,
    });
    expect(done.version).toMatch(/^v\d+$/);
    expect(done.model_path).toBe(`models/${model}/versions/${done.version}`);
    expect(done.job_id).toMatch(new RegExp(`^retrain-${model}-\\d{8}T\\d{6}Z$`));
    expect(typeof done.duration_seconds).toBe('number');
    expect(Date.parse(done.completed_at ?? '')).toBeGreaterThanOrEqual(Date.parse(done.started_at));
    expect(status).toMatchObject({ job_id: done.job_id, status: 'completed', model_path: done.model_path });

    expect(conflict.statusCode, conflict.body).toBe(409);
    expect(json(conflict)).toEqual({
      success: false,
      error: `${model} is already being retrained by ${cancelled.job_id}; one run per model at a time`,
      status: 'running',
      job_id: cancelled.job_id,
    });
    expect(cancel.statusCode).toBe(202);
    expect(json(cancel)).toMatchObject({
      success: true,
      message: 'Training job marked as cancelled',
      job_id: cancelled.job_id,
    });
    expect(cancelled).toMatchObject({
      status: 'cancelled',
      outcome: 'cancelled',
      error: 'cancelled through POST /admin/cancel-training',
      model_path: null,
    });
    expect(describeStatus).toBe('CANCELLED');
    expect(stats).toMatchObject({
      model,
      current_job: null,
      history: {
        total_trainings: 2,
        successful: 1,
        failed: 0,
        cancelled: 1,
        last_training: expect.any(String),
      },
      data_buffer: {
        total_records: expect.any(Number),
        file_count: expect.any(Number),
        date_range: {
          start: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
          end: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
        },
        disk_usage_mb: expect.any(Number),
      },
      ready_to_train: true,
      ready_reason: expect.stringMatching(/^Ready: /),
      config: { training_days: 21, min_records_threshold: 1000 },
      production: { version: done.version },
    });
  });
});
