import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admissionUpdate, cancelRetrainSignal } from '../../common/messages';
import { RunEventSchema, type RunEvent } from '../../common/run-events';
import { TriggersSchema } from '../../common/triggers';
import { redisSink } from '../../events/redis-sink';
import { webhookSink } from '../../events/webhook-sink';
import { retrainWorkflow, triggerCheckWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { startRedis, type RedisServer } from '../helpers/redis';
import { stubWorkers, type StubWorkers } from '../helpers/stub-workers';
import { webhookProblem } from '../helpers/webhook-receiver';

const SECRET = 'events-test-secret-0123456789';
const PREFIX = 'test:stream:';

/** A webhook receiver: records each delivery; answers 503 while `down`, 500 to the first delivery of ids in `failOnce`. */
class Receiver {
  readonly received: { body: string; headers: http.IncomingHttpHeaders }[] = [];
  /** The workflow ids of deliveries answered 503 while `down`. */
  readonly refused: string[] = [];
  down = false;
  readonly failOnce = new Set<string>();
  private readonly server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (this.down) {
        this.refused.push((JSON.parse(body) as RunEvent).workflowId);
        return void res.writeHead(503).end();
      }
      this.received.push({ body, headers: req.headers });
      const id = req.headers['webhook-id'] as string;
      if (this.failOnce.delete(id)) return void res.writeHead(500).end();
      res.writeHead(204).end();
    });
  });
  url = '';
  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/retrain?token=abc`;
  }
  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
  }
  /**
   * The events of one workflow, as delivered (duplicates kept), each checked as a Standard Webhook
   * (signature, timestamp) whose webhook-id is the event's id.
   */
  eventsOf(workflowId: string): RunEvent[] {
    return this.received
      .filter((r) => (JSON.parse(r.body) as RunEvent).workflowId === workflowId)
      .map((r) => {
        const problem = webhookProblem(SECRET, r.headers, r.body);
        if (problem) throw new Error(`${problem} on ${r.body}`);
        const event = RunEventSchema.parse(JSON.parse(r.body));
        if (r.headers['webhook-id'] !== event.id)
          throw new Error(`webhook-id is not the event's id on ${r.body}`);
        return event;
      });
  }
}

const RUN_TYPES = [
  'retrain.run.started',
  ...Array.from({ length: 5 }, () => 'retrain.stage.ended'),
  'retrain.run.completed',
];

describe('run events to a webhook and Redis streams', () => {
  let env: StubWorkers;
  let redis: RedisServer;
  let reader: Redis;
  const receiver = new Receiver();

  beforeAll(async () => {
    redis = await startRedis();
    await receiver.start();
    env = await stubWorkers(undefined, {
      eventSinks: [
        webhookSink({ url: receiver.url, secret: SECRET, timeoutMs: 2000 }),
        redisSink({ url: redis.url, prefix: PREFIX, streams: {} }),
      ],
    });
    reader = new Redis(redis.url, { maxRetriesPerRequest: null });
    reader.on('error', () => undefined);
  });
  afterAll(async () => {
    await env?.close();
    reader?.disconnect();
    await receiver.close();
    await redis?.stop();
  });

  /** Stream entries of one workflow as field objects. */
  async function entries(stream: string, workflowId: string): Promise<Record<string, string>[]> {
    const raw = await reader.xrange(`${PREFIX}${stream}`, '-', '+');
    return raw
      .map(([, fields]) =>
        Object.fromEntries(fields.flatMap((_, i) => (i % 2 ? [] : [[fields[i], fields[i + 1]]]))),
      )
      .filter((f: Record<string, string>) => f.workflow_id === workflowId);
  }

  const run = (model: string) =>
    env.client.workflow.start(retrainWorkflow, {
      taskQueue: env.taskQueue,
      workflowId: `retrain-${model}-${randomUUID().slice(0, 8)}`,
      args: [{ model }],
    });

  it('a run delivers started, each stage and completed, in order and signed, to both sinks', async () => {
    const model = env.model();
    const handle = await run(model);
    expect(await handle.result()).toMatchObject({ status: 'completed' });
    const events = await eventually('7 webhook events', () => {
      const got = receiver.eventsOf(handle.workflowId);
      return got.length >= 7 && got;
    });
    expect(events.map((e) => e.type)).toEqual(RUN_TYPES);
    expect(events.map((e) => e.id)).toEqual(
      events.map((_, i) => `${handle.workflowId}/${handle.firstExecutionRunId}/${i + 1}`),
    );
    expect(events.map((e) => e.data.name ?? null).slice(1, 6)).toEqual([
      'exportDataset',
      'trainModel',
      'validateModel',
      'registerModel',
      'reloadServers',
    ]);
    expect(events[6]).toMatchObject({
      specversion: '1.0',
      model,
      data: { status: 'completed', version: 'v1' },
    });
    const started = await eventually('the started entry', async () => {
      const found = await entries('learning.retraining.started', handle.workflowId);
      return found.length > 0 && found;
    });
    expect(started).toEqual([
      expect.objectContaining({
        event_id: events[0]!.id,
        model,
        type: 'retrain.run.started',
        status: 'started',
      }),
    ]);
    const completed = await eventually('the completed entry', async () => {
      const found = await entries('learning.retraining.completed', handle.workflowId);
      return found.length > 0 && found;
    });
    expect(completed).toEqual([
      expect.objectContaining({
        event_id: events[6]!.id,
        status: 'completed',
        version: 'v1',
        job_id: handle.workflowId,
      }),
    ]);
    expect(JSON.parse(completed[0]!.data!)).toEqual(events[6]!.data);
    expect((await entries('learning.retraining.stage', handle.workflowId)).map((e) => e.event_id)).toEqual(
      events.slice(1, 6).map((e) => e.id),
    );
  });

  it('failed, gate-rejected and cancelled runs land in the failed stream with their status and reason', async () => {
    const failing = env.model({
      registerModel: async () => {
        throw ApplicationFailure.nonRetryable('store refused the version', 'RegistryRefused');
      },
    });
    const failed = await run(failing);
    await expect(failed.result()).rejects.toThrow();
    const rejectedModel = env.model({
      validateModel: async () => ({
        passed: false,
        reason: 'candidate mae 3.0000 is worse than lastValue 2.0000',
        metric: 'mae',
        decision: { by: 'baseline', against: 'lastValue', candidate: 3, reference: 2 },
        gate: { metric: 'mae', mustBeatBaseline: true, tolerance: 0.05 },
        candidate: { mae: 3 },
        baselines: { lastValue: { mae: 2 } },
      }),
    });
    const rejected = await run(rejectedModel);
    expect(await rejected.result()).toMatchObject({ status: 'rejected' });
    const cancelledModel = env.model({
      trainModel: async () => {
        const ctx = Context.current();
        for (;;) {
          ctx.heartbeat();
          await ctx.sleep(50);
        }
      },
    });
    const cancelled = await run(cancelledModel);
    await cancelled.executeUpdate(admissionUpdate);
    await cancelled.signal(cancelRetrainSignal, { reason: 'stopped by the events test' });
    await expect(cancelled.result()).rejects.toThrow();
    for (const [handle, status, reason] of [
      [cancelled, 'cancelled', /^stopped by the events test$/],
      [failed, 'failed', /^registerModel failed: /],
      [rejected, 'rejected', /^candidate mae 3.0000 is worse than lastValue/],
    ] as const) {
      const found = await eventually(`the ${status} entry`, async () => {
        const got = await entries('learning.retraining.failed', handle.workflowId);
        return got.length > 0 && got;
      });
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({ status, type: `retrain.run.${status}` });
      expect(found[0]!.reason).toMatch(reason);
    }
  }, 120_000);

  it('sinks that are down delay the events, never the run, and lose none; a redelivery keeps its id', async () => {
    const model = env.model();
    receiver.down = true;
    await redis.stop();
    const handle = await run(model);
    expect(await handle.result()).toMatchObject({ status: 'completed' });
    await eventually('a delivery refused while the webhook is down', () =>
      receiver.refused.includes(handle.workflowId),
    );
    expect(receiver.eventsOf(handle.workflowId)).toEqual([]);
    // Back up: the first delivery of the completed event is answered 500, so it comes twice.
    receiver.failOnce.add(`${handle.workflowId}/${handle.firstExecutionRunId}/7`);
    receiver.down = false;
    await redis.start();
    const events = await eventually(
      'every event after the outage',
      () => {
        const got = receiver.eventsOf(handle.workflowId);
        return got.length >= 8 && got;
      },
      90_000,
    );
    const ids = events.map((e) => e.id);
    expect(new Set(ids).size).toBe(7);
    expect(ids.filter((id) => id.endsWith('/7'))).toHaveLength(2);
    expect([...new Set(events.map((e) => `${e.id} ${e.type}`))].map((s) => s.split(' ')[1])).toEqual(
      RUN_TYPES,
    );
    const streams = await eventually(
      'the stream entries after the outage',
      async () => {
        const got = [
          ...(await entries('learning.retraining.started', handle.workflowId)),
          ...(await entries('learning.retraining.stage', handle.workflowId)),
          ...(await entries('learning.retraining.completed', handle.workflowId)),
        ];
        return got.length >= 7 && got;
      },
      90_000,
    );
    expect(streams.map((e) => e.event_id).sort()).toEqual([...new Set(ids)].sort());
  }, 150_000);

  it('a trigger check tells its decision as an event', async () => {
    const model = env.model({
      measureTriggers: async () => ({
        triggers: TriggersSchema.parse({ newRecords: 100 }),
        figures: { production: 'v1', newRecords: 5, drift: {} },
        scanned: { predictions: 0, records: 5 },
      }),
    });
    const workflowId = `retrain-monitor-${model}-${randomUUID()}`;
    await env.client.workflow.execute(triggerCheckWorkflow, {
      taskQueue: env.taskQueue,
      workflowId,
      args: [{ model }],
    });
    const [event] = await eventually('the evaluation event', () => {
      const got = receiver.eventsOf(workflowId);
      return got.length > 0 && got;
    });
    expect(event).toMatchObject({
      type: 'retrain.trigger.evaluated',
      model,
      data: {
        decision: 'notTriggered',
        reason: "not triggered: 5 new records since v1's training window (< 100)",
      },
    });
    const entry = await eventually('the trigger entry', async () => {
      const got = await entries('learning.retraining.trigger', workflowId);
      return got.length > 0 && got;
    });
    expect(entry[0]).toMatchObject({ event_id: event!.id, status: 'notTriggered' });
  });
});
