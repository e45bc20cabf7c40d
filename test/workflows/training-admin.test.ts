import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LiveStatus } from '../../clients/progress';
import type { RetrainResult } from '../../common/retrain';
import { createServer, type InferenceServer } from '../../serving/server';
import { createPipeline, PERMISSIVE_GATE, type Pipeline } from '../helpers/pipeline';

const API_KEY = 'training-admin-test-key-0123';
const ROUTES = [
  ['POST', '/admin/trigger-training'],
  ['GET', '/admin/training-status'],
  ['GET', '/admin/training-stats'],
  ['POST', '/admin/cancel-training'],
] as const;

type Method = 'GET' | 'POST';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `read` until `done` holds (visibility and training progress are eventually there). */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const value = await read();
    if (done(value)) return value;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('training admin API (POST /admin/trigger-training, GET training-status and training-stats, POST cancel-training)', () => {
  let pipeline: Pipeline;
  let server: InferenceServer;

  beforeAll(async () => {
    process.env.TEMPORAL_ADDRESS = inject('temporalAddress');
    pipeline = await createPipeline({
      gate: PERMISSIVE_GATE,
      hyperparams: { hiddenUnits: 16, batchSize: 64, seed: 4 },
    });
    server = createServer({
      registry: pipeline.deps.registry,
      apiKey: API_KEY,
      temporal: { client: pipeline.client, taskQueue: pipeline.taskQueue },
    });
  });
  afterAll(async () => {
    await server?.app.close();
    await pipeline?.cleanup();
  });

  const call = (method: Method, url: string, body?: object, key: string | null = API_KEY) =>
    server.app.inject({
      method,
      url,
      headers: key === null ? {} : { 'x-api-key': key },
      ...(body === undefined ? {} : { payload: body }),
    });
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
    const model = pipeline.spec.name;
    for (const [method, url] of ROUTES) {
      for (const key of [null, 'wrong-key-0123456789abcdef']) {
        const res = await call(method, `${url}?model=${model}`, { model }, key);
        expect(res.statusCode, `${method} ${url} key=${key}`).toBe(401);
        expect(json(res)).toEqual({ error: 'missing or wrong X-API-Key header' });
      }
    }
    expect(await runsOf(model)).toEqual([]);
  });

  it('a server without a Temporal client answers 503 on the training routes, still checks the key and serves the rest', async () => {
    const bare = createServer({ registry: pipeline.deps.registry, apiKey: API_KEY });
    try {
      for (const [method, url] of ROUTES) {
        const res = await bare.app.inject({
          method,
          url: `${url}?model=${pipeline.spec.name}`,
          headers: { 'x-api-key': API_KEY },
          payload: method === 'POST' ? { model: pipeline.spec.name } : undefined,
        });
        expect(res.statusCode, `${method} ${url}`).toBe(503);
        expect(json(res).error).toMatch(/^training API unavailable: this server has no Temporal connection/);
        const anonymous = await bare.app.inject({ method, url });
        expect(anonymous.statusCode).toBe(401);
      }
      expect((await bare.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      const info = await bare.app.inject({
        method: 'GET',
        url: '/admin/model-info',
        headers: { 'x-api-key': API_KEY },
      });
      expect(info.statusCode).toBe(200);
    } finally {
      await bare.app.close();
    }
  });

  it('names what is wrong in a bad request (400) or an unknown model or run (404), and starts nothing', async () => {
    const model = pipeline.spec.name;
    const cases: [Method, string, object | undefined, number, RegExp][] = [
      ['POST', '/admin/trigger-training', {}, 400, /^invalid request: .*model/],
      ['POST', '/admin/trigger-training', { model, epochs: 0 }, 400, /^invalid request: .*epochs/],
      ['POST', '/admin/trigger-training', { model: 'Not A Slug' }, 400, /^invalid request: .*model/],
      [
        'POST',
        '/admin/trigger-training',
        { model, reloadTargets: ['http://evil.example'] },
        400,
        /reloadTargets/,
      ],
      ['POST', '/admin/trigger-training', { model: 'no-such-model' }, 404, /^unknown model no-such-model$/],
      ['GET', '/admin/training-status', undefined, 400, /give either model or workflowId/],
      [
        'GET',
        `/admin/training-status?model=${model}`,
        undefined,
        404,
        new RegExp(`^no retrain run of ${model}$`),
      ],
      [
        'GET',
        '/admin/training-status?workflowId=retrain-nope-20000101T000000Z',
        undefined,
        404,
        /^no retrain run with id retrain-nope-20000101T000000Z$/,
      ],
      ['GET', '/admin/training-stats?model=no-such-model', undefined, 404, /^unknown model no-such-model$/],
      ['GET', `/admin/training-stats?model=${model}&limit=0`, undefined, 400, /limit/],
      ['POST', '/admin/cancel-training', { model, workflowId: 'x' }, 400, /give either model or workflowId/],
      ['POST', '/admin/cancel-training', { model }, 404, new RegExp(`^no running retrain run of ${model}$`)],
      [
        'POST',
        '/admin/cancel-training',
        { workflowId: 'retrain-nope-20000101T000000Z' },
        404,
        /^no retrain run with id retrain-nope-20000101T000000Z$/,
      ],
    ];
    for (const [method, url, body, status, error] of cases) {
      const res = await call(method, url, body);
      expect(res.statusCode, `${method} ${url} ${JSON.stringify(body)}: ${res.body}`).toBe(status);
      expect(json(res).error).toMatch(error);
    }
    expect(await runsOf(model)).toEqual([]);
    expect(await runsOf('no-such-model')).toEqual([]);
  });

  it('trigger starts a real run (409 for a second one while it runs), cancel ends it cancelled, a new trigger completes, stats count both', async () => {
    const model = pipeline.spec.name;
    const status = (query: string) =>
      call('GET', `/admin/training-status?${query}`).then((r) => json<LiveStatus>(r));

    const { firstId, conflict, cancel, cancelled, secondId, early, done, result } =
      await pipeline.withWorkers(async () => {
        const first = await call('POST', '/admin/trigger-training', {
          model,
          epochs: 400,
          incremental: false,
        });
        expect(first.statusCode, first.body).toBe(202);
        const { workflowId: firstId, runId } = json<{ workflowId: string; runId: string }>(first);
        expect(firstId).toMatch(new RegExp(`^retrain-${model}-\\d{8}T\\d{6}Z$`));
        expect(runId).toMatch(/^[0-9a-f-]{36}$/);
        // By model: the latest run from visibility, running and training.
        await until(
          () => status(`model=${model}`),
          (s) => s.workflowId === firstId && s.status === 'RUNNING' && (s.progress?.epoch ?? 0) >= 1,
          'the first run to train',
        );
        const conflict = await call('POST', '/admin/trigger-training', { model, epochs: 2 });
        const cancel = await call('POST', '/admin/cancel-training', { model, reason: 'daemon says stop' });
        const cancelled = (await pipeline.client.workflow.getHandle(firstId).result()) as RetrainResult;

        const second = await call('POST', '/admin/trigger-training', { model, epochs: 2 });
        expect(second.statusCode, second.body).toBe(202);
        const secondId = json<{ workflowId: string }>(second).workflowId;
        const early = await status(`workflowId=${secondId}`);
        const result = (await pipeline.client.workflow.getHandle(secondId).result()) as RetrainResult;
        const done = await status(`workflowId=${secondId}`);
        return { firstId, conflict, cancel, cancelled, secondId, early, done, result };
      });

    expect(conflict.statusCode, conflict.body).toBe(409);
    expect(json(conflict)).toEqual({
      error: `${model} is already training in ${firstId}; one run per model at a time`,
      workflowId: firstId,
    });
    expect(cancel.statusCode, cancel.body).toBe(202);
    expect(json(cancel)).toEqual({ workflowId: firstId });
    expect(cancelled).toMatchObject({ status: 'cancelled', reason: 'daemon says stop' });

    expect(secondId).not.toBe(firstId);
    expect(early).toMatchObject({ workflowId: secondId, status: 'RUNNING' });
    expect(result.status).toBe('completed');
    expect(result.version).toMatch(/^v\d+$/);
    expect(done).toMatchObject({
      workflowId: secondId,
      status: 'COMPLETED',
      progress: { stage: 'done', status: 'completed', version: result.version },
      result: { status: 'completed', version: result.version },
    });
    const afterwards = await call('POST', '/admin/cancel-training', { workflowId: secondId });
    expect(afterwards.statusCode).toBe(404);
    expect(json(afterwards).error).toBe(`${secondId} is not running (completed)`);

    const stats = await until(
      () => call('GET', `/admin/training-stats?model=${model}`).then((r) => json(r)),
      (s) => s.runs === 2 && (s.byStatus as Record<string, number>).COMPLETED === 2,
      'visibility to show both runs closed',
    );
    expect(stats).toEqual({
      model,
      runs: 2,
      limit: 50,
      byStatus: { COMPLETED: 2 },
      byResult: { completed: 1, rejected: 0, cancelled: 1, failed: 0 },
      running: null,
      lastCompleted: { workflowId: secondId, version: result.version, closeTime: expect.any(String) },
      production: expect.objectContaining({ version: result.version, workflowId: secondId }),
    });
    const newest = await call('GET', `/admin/training-stats?model=${model}&limit=1`);
    expect(json(newest)).toMatchObject({ runs: 1, byResult: { completed: 1, cancelled: 0 } });
  });
});
