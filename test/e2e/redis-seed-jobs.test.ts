import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisBridge } from '../../bridge/redis-bridge';
import { redisJobWorkflowId } from '../../common/workflow-ids';
import { DEFAULT_COUNTERS, redisSink } from '../../events/redis-sink';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { eventually } from '../helpers/eventually';
import { startRedis, type RedisServer } from '../helpers/redis';
import { seedBlock, seedFile } from '../helpers/seed-blocks';
import { RedisBridges } from '../helpers/redis-bridges';
import { stubSpec, stubWorkers, type StubWorkers } from '../helpers/stub-workers';

/** The Redis-stream retraining worker that `retrain bridge redis` replaces. */
const SEED = seedFile('000_4f8a73bc39d6aa4e.txt');
const PREFIX = 'quantum:stream:';
const FAILED = `${PREFIX}learning.retraining.failed`;

/** A stream entry's flat fields as an object. */
const asObject = (flat: string[]) =>
  Object.fromEntries(flat.flatMap((_, i) => (i % 2 ? [] : [[flat[i], flat[i + 1]]]))) as Record<
    string,
    string
  >;

describe("the retraining worker's producers and consumers against retrain bridge redis", () => {
  let env: StubWorkers;
  let redis: RedisServer;
  let producer: Redis;
  let dir: string;
  let registry: ModelRegistry;
  let bridges: RedisBridges;

  beforeAll(async () => {
    redis = await startRedis();
    // The workers publish run events to the seed's streams, with its counters (the defaults).
    env = await stubWorkers(undefined, {
      eventSinks: [redisSink({ url: redis.url, prefix: PREFIX, streams: {} })],
    });
    producer = new Redis(redis.url, { maxRetriesPerRequest: null });
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'retrain-seed-jobs-'));
    registry = new ModelRegistry(new FileBlobStore(dir));
    bridges = new RedisBridges(redis.url, env.client, registry, {
      stream: `${PREFIX}model.retrain`,
      group: 'retrain-bridge',
      failedStream: FAILED,
      claimIdleMs: 60_000,
      blockMs: 200,
      taskQueue: env.taskQueue,
    });
  });
  afterAll(async () => {
    await bridges?.close();
    producer?.disconnect();
    await env?.close();
    await redis?.stop();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  /** A running bridge reading `stream` into a new group from `groupStart` (default `$`). */
  const bridge = (stream: string, groupStart?: string): RedisBridge =>
    bridges.add(`c-${randomUUID().slice(0, 8)}`, { stream, ...(groupStart ? { groupStart } : {}) });

  /** The entries of `stream` (after the prefix) that belong to one run. */
  async function entriesOf(stream: string, workflowId: string): Promise<Record<string, string>[]> {
    return (await producer.xrange(`${PREFIX}${stream}`, '-', '+'))
      .map(([, flat]) => asObject(flat))
      .filter((entry) => entry.workflow_id === workflowId);
  }

  const counter = async (key: string) => Number((await producer.get(key)) ?? 0);

  it("the seed's documented job trains the model that lists its name as an alias; events echo the producer's fields; counters count", async () => {
    // The job as the worker's README documents it, cut from it verbatim.
    const job = JSON.parse(seedBlock(SEED, 'Job Format', 'json')) as Record<string, string>;
    expect(job.model).toBe('xgboost');
    const model = env.model();
    await registry.saveSpec({ ...stubSpec(model), aliases: [job.model as string] });
    const stream = `${PREFIX}model.retrain`;
    const b = bridge(stream);
    await b.ensureGroup();
    const [startedBefore, completedBefore] = [
      await counter(DEFAULT_COUNTERS.started),
      await counter(DEFAULT_COUNTERS.completed),
    ];
    const producerFields = {
      job_id: 'evo-4t-000123',
      timestamp: '2026-01-05T02:00:00Z',
      source: 'strategic_evolution',
      requested_by: 'phase-4t',
    };
    const id = (await producer.xadd(
      stream,
      '*',
      ...Object.entries({ ...job, ...producerFields }).flat(),
    )) as string;

    const handle = env.client.workflow.getHandle(redisJobWorkflowId(model, id));
    expect(await eventually('the run of the job', () => handle.result())).toMatchObject({
      status: 'completed',
      model,
    });
    const input = (await handle.describe()).memo?.input;
    expect(input).toMatchObject({
      model,
      hyperparams: { learningRate: 0.002, optimizer: 'adam' },
      admission: 'queue',
      labels: { ...producerFields, requested_model: 'xgboost' },
    });

    for (const [stream, status] of [
      ['learning.retraining.started', 'started'],
      ['learning.retraining.completed', 'completed'],
    ] as const) {
      const [entry] = await eventually(`the ${status} entry`, async () => {
        const found = await entriesOf(stream, handle.workflowId);
        return found.length > 0 && found;
      });
      expect(entry).toMatchObject({ ...producerFields, requested_model: 'xgboost', model, status });
      expect(entry!.event_time).toMatch(/^\d{4}-\d\d-\d\dT/);
    }
    expect(
      await eventually('both counters counted the run', async () => {
        const counts = [
          (await counter(DEFAULT_COUNTERS.started)) - startedBefore,
          (await counter(DEFAULT_COUNTERS.completed)) - completedBefore,
        ];
        return counts[1] === 1 && counts;
      }),
    ).toEqual([1, 1]);
  });

  it('a job for a model nobody declared, by name or alias, lands in the failed stream with its producer fields', async () => {
    const stream = `${PREFIX}model.retrain.${randomUUID().slice(0, 8)}`;
    const b = bridge(stream);
    await b.ensureGroup();
    const id = (await producer.xadd(
      stream,
      '*',
      'model',
      'catboost',
      'job_id',
      'evo-9',
      'source',
      'evo',
    )) as string;
    const entry = await eventually('the failed entry', async () => {
      const found = (await producer.xrange(FAILED, '-', '+')).map(([, flat]) => asObject(flat));
      return found.find((e) => e.message_id === id);
    });
    expect(entry).toMatchObject({ job_id: 'evo-9', source: 'evo', status: 'invalid', model: 'catboost' });
    expect(entry.reason).toBe('invalid job: unknown model catboost (no model has that name or alias)');
  });

  it('--from-start: a new group reads the backlog written before it existed; the default group does not', async () => {
    // One model per stream: entry ids are per stream, so both jobs may have the same id.
    const [model, otherModel] = [env.model(), env.model()];
    for (const name of [model, otherModel]) await registry.saveSpec(stubSpec(name));
    const backlog = `${PREFIX}model.retrain.${randomUUID().slice(0, 8)}`;
    const other = `${PREFIX}model.retrain.${randomUUID().slice(0, 8)}`;
    const ids = [
      (await producer.xadd(backlog, '*', 'model', model, 'epochs', '2')) as string,
      (await producer.xadd(other, '*', 'model', otherModel, 'epochs', '2')) as string,
    ];
    const fromStart = bridge(backlog, '0');
    const fromEnd = bridge(other);
    const handle = env.client.workflow.getHandle(redisJobWorkflowId(model, ids[0] as string));
    expect(await eventually('the backlog job run', () => handle.result())).toMatchObject({
      status: 'completed',
    });
    expect(
      await eventually('the backlog job ACKed', async () => {
        const [count] = (await producer.xpending(backlog, 'retrain-bridge')) as [number];
        return Number(count) === 0;
      }),
    ).toBe(true);
    // A group made at `$` starts after the stream's last entry: the job written before it is behind it.
    const groupOf = async (stream: string) =>
      asObject(((await producer.xinfo('GROUPS', stream)) as string[][])[0] ?? []);
    await eventually('the default group', async () => (await groupOf(other)).name === 'retrain-bridge');
    expect((await groupOf(other))['last-delivered-id']).toBe(ids[1]);
    expect((await groupOf(backlog))['last-delivered-id']).toBe(ids[0]);
    await expect(
      env.client.workflow.getHandle(redisJobWorkflowId(otherModel, ids[1] as string)).describe(),
    ).rejects.toThrow(/not found/i);
    // A group that exists keeps its place, whatever the bridge is told.
    expect(await fromStart.ensureGroup()).toBe(false);
    expect(await fromEnd.ensureGroup()).toBe(false);
  });
});
