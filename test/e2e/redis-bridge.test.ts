import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisBridge } from '../../bridge/redis-bridge';
import { RetrainInputSchema } from '../../common/retrain';
import { retrainStartOptions } from '../../runs';
import { redisJobWorkflowId } from '../../common/workflow-ids';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { eventually } from '../helpers/eventually';
import { startRedis, type RedisServer } from '../helpers/redis';
import { RedisBridges } from '../helpers/redis-bridges';
import { stubSpec, stubWorkers, type StubWorkers } from '../helpers/stub-workers';

const STREAM = 'quantum:stream:model.retrain';
const FAILED = 'quantum:stream:learning.retraining.failed';
const GROUP = 'retrain-bridge';

describe('retrain bridge redis', () => {
  let env: StubWorkers;
  let redis: RedisServer;
  let producer: Redis;
  let dir: string;
  let registry: ModelRegistry;
  let bridges: RedisBridges;

  beforeAll(async () => {
    env = await stubWorkers();
    redis = await startRedis();
    producer = new Redis(redis.url);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-bridge-'));
    registry = new ModelRegistry(new FileBlobStore(dir));
    bridges = new RedisBridges(redis.url, env.client, registry, {
      stream: STREAM,
      group: GROUP,
      failedStream: FAILED,
      claimIdleMs: 500,
      blockMs: 200,
      taskQueue: env.taskQueue,
    });
  });
  afterAll(async () => {
    await bridges?.close();
    producer?.disconnect();
    await redis?.stop();
    await env?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** A bridge as its own consumer; `start: false` leaves it to the test to drive. */
  const bridge = (consumer: string, start = true): RedisBridge => bridges.add(consumer, {}, start);
  const stopAll = () => bridges.stopAll();

  const listed = (name: string) =>
    eventually(`the runs of ${name} listed`, async () => {
      const ids = await runsOf(name);
      return ids.length > 0 && ids;
    });

  async function model(): Promise<string> {
    const name = env.model();
    await registry.saveSpec(stubSpec(name));
    return name;
  }

  async function runsOf(name: string): Promise<string[]> {
    const ids: string[] = [];
    for await (const r of env.client.workflow.list({
      query: `WorkflowType = 'retrainWorkflow' AND ModelName = '${name}'`,
    }))
      ids.push(r.workflowId);
    return ids;
  }

  const pending = async () => Number(((await producer.xpending(STREAM, GROUP)) as [number])[0]);
  const metric = async (b: RedisBridge, outcome: string) =>
    Number(
      (await b.metrics.getSingleMetricAsString('retrain_bridge_jobs_total')).match(
        new RegExp(`outcome="${outcome}"} (\\d+)`),
      )?.[1] ?? 0,
    );

  it('a good job starts one run with its hyperparameters, and is ACKed once Temporal took it', async () => {
    const b = bridge('good');
    await b.ensureGroup();
    const name = await model();
    const id = (await producer.xadd(
      STREAM,
      '*',
      'model',
      name,
      'learning_rate',
      '0.002',
      'optimizer',
      'sgd',
      'epochs',
      '3',
    )) as string;
    const handle = env.client.workflow.getHandle(redisJobWorkflowId(name, id));
    expect(await eventually('the run', () => handle.result())).toMatchObject({ status: 'completed' });
    const input = (await (await handle.describe()).memo)?.input;
    expect(input).toMatchObject({
      model: name,
      epochs: 3,
      hyperparams: { learningRate: 0.002, optimizer: 'sgd' },
    });
    expect(await eventually('no job pending', async () => (await pending()) === 0)).toBe(true);
    expect(await listed(name)).toEqual([handle.workflowId]);
    await stopAll();
  });

  it('a bad job is ACKed and lands in the failed stream with its reason; no run starts', async () => {
    const b = bridge('bad', false);
    await b.ensureGroup();
    const name = await model();
    for (const [fields, reason] of [
      [['model', name, 'learning_rate', 'fast'], 'invalid job: learning_rate: must be a number'],
      [['model', name, 'learning_rat', '0.1'], 'invalid job: (root): Unrecognized key: "learning_rat"'],
      [['model', 'Not A Slug'], 'invalid job: model: model name must be a lowercase slug'],
      [['model', 'nobody-declared-me'], 'invalid job: unknown model nobody-declared-me'],
    ] as const) {
      const id = (await producer.xadd(STREAM, '*', ...fields)) as string;
      const read = (await producer.xreadgroup('GROUP', GROUP, 'bad', 'COUNT', 1, 'STREAMS', STREAM, '>')) as [
        string,
        [string, string[]][],
      ][];
      const [msgId, flat] = read[0]![1][0]!;
      expect(msgId).toBe(id);
      expect(await b.handle(msgId, flat)).toBe('invalid');
      const failed = (await producer.xrevrange(FAILED, '+', '-', 'COUNT', 1))[0]![1];
      const entry = Object.fromEntries(failed.flatMap((_, i) => (i % 2 ? [] : [[failed[i], failed[i + 1]]])));
      expect(entry).toMatchObject({ job_id: id, status: 'invalid' });
      expect(entry.reason).toContain(reason);
      expect(JSON.parse(entry.job!)).toEqual(
        Object.fromEntries([[fields[0], fields[1]], ...(fields.length > 2 ? [[fields[2], fields[3]]] : [])]),
      );
    }
    expect(await pending()).toBe(0);
    expect(await runsOf(name)).toEqual([]);
    expect(await metric(b, 'invalid')).toBe(4);
  });

  it("a dead consumer's pending job is claimed, and its redelivery starts no second run", async () => {
    // A consumer read the job, started its run, and died before ACKing it.
    const name = await model();
    const first = bridge('dead', false);
    await first.ensureGroup();
    const id = (await producer.xadd(STREAM, '*', 'model', name)) as string;
    const read = (await producer.xreadgroup('GROUP', GROUP, 'dead', 'COUNT', 1, 'STREAMS', STREAM, '>')) as [
      string,
      [string, string[]][],
    ][];
    const [, flat] = read[0]![1][0]!;
    const runId = redisJobWorkflowId(name, id);
    await env.client.workflow.start('retrainWorkflow', {
      ...retrainStartOptions(
        RetrainInputSchema.parse({ model: name }),
        'a consumer that died',
        env.taskQueue,
      ),
      workflowId: runId,
    });
    await env.client.workflow.getHandle(runId).result();
    expect(Number(((await producer.xpending(STREAM, GROUP, '-', '+', 10, 'dead')) as unknown[]).length)).toBe(
      1,
    );
    // A live bridge claims it after the idle time: the run it finds is the dead consumer's.
    const live = bridge('live');
    expect(await eventually('the claim', async () => (await pending()) === 0, 20_000)).toBe(true);
    expect(await metric(live, 'duplicate')).toBeGreaterThanOrEqual(1);
    expect(await listed(name)).toEqual([runId]);
    // And handed the same message once more (a redelivery), still nothing new.
    expect(await live.handle(id, flat)).toBe('duplicate');
    expect(await listed(name)).toEqual([runId]);
    await stopAll();
  });
});
