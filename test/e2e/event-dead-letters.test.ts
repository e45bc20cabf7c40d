import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerMetric } from '../../common/metric-names';
import type { RunEvent } from '../../common/run-events';
import { loadConfig } from '../../config/config';
import { createLogger } from '../../config/logger';
import { webhookSink } from '../../events/webhook-sink';
import { freePort } from '../../scripts/lib/processes';
import type { DeadLetter } from '../../storage/event-dead-letters';
import { FileBlobStore } from '../../storage/file-store';
import { workerRuntimeOptions } from '../../workers/runtime';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { samplesOf, scrape } from '../helpers/prometheus';
import { cliWith } from '../helpers/run-cli';
import { stubWorkers, type StubWorkers } from '../helpers/stub-workers';
import { WebhookReceiver } from '../helpers/webhook-receiver';

const SECRET = 'dead-letter-test-secret-0123';
const EVENTS_OF_A_RUN = 7;

/** Stub workers whose webhook sink posts to a fresh receiver, with dead letters in a fresh store. */
async function relayTo(maxAgeMs: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dead-letters-'));
  const receiver = await new WebhookReceiver(SECRET).start();
  const env: StubWorkers = await stubWorkers(undefined, {
    eventSinks: [webhookSink({ url: receiver.url, secret: SECRET, timeoutMs: 2000 })],
    store: new FileBlobStore(dir),
    eventsMaxAgeMs: maxAgeMs,
  });
  const retrain = cliWith(
    loadConfig(
      {
        RETRAIN_STORE: `file://${dir}`,
        RETRAIN_EVENTS_WEBHOOK_URL: receiver.url,
        RETRAIN_EVENTS_WEBHOOK_SECRET: SECRET,
      },
      dir,
    ),
  );
  const run = async () => {
    const model = env.model();
    const handle = await env.client.workflow.start(retrainWorkflow, {
      taskQueue: env.taskQueue,
      workflowId: `retrain-${model}-${randomUUID().slice(0, 8)}`,
      args: [{ model }],
    });
    return handle;
  };
  const deadLetters = async (): Promise<DeadLetter[]> => {
    const listed = await retrain('events', 'dead-letter', 'list', '--json');
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    return JSON.parse(listed.stdout) as DeadLetter[];
  };
  const close = async () => {
    await env.close();
    await receiver.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { receiver, run, retrain, deadLetters, close };
}

describe('event relays give up into dead letters that `retrain events` lists and replays', () => {
  let metricsUrl: string;
  beforeAll(async () => {
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    // Process-global, installed before any worker connects (each test file is its own process).
    Runtime.install(
      workerRuntimeOptions({
        logger: createLogger({ name: 'test-worker', level: 'warn' }),
        metricsAddress: `127.0.0.1:${port}`,
      }),
    );
  });

  /** retrain_event_dead_letters_total for the webhook sink and `reason`, summed over the SDK's labels. */
  const deadLettered = async (reason: string) =>
    samplesOf(await scrape(metricsUrl), WorkerMetric.eventDeadLetters, { sink: 'webhook', reason }).reduce(
      (sum, s) => sum + s.value,
      0,
    );

  let relay: Awaited<ReturnType<typeof relayTo>> | undefined;
  afterAll(async () => {
    await relay?.close();
  });

  it('a 410 ends each event in a dead letter after one attempt; replay delivers it once the receiver takes it', async () => {
    relay = await relayTo(24 * 3600 * 1000);
    const { receiver, run, retrain, deadLetters } = relay;
    receiver.answer = () => 410;
    const before = await deadLettered('refused');
    const handle = await run();
    expect(await handle.result()).toMatchObject({ status: 'completed' });
    const letters = await eventually('the run events in the dead letters', async () => {
      const got = (await deadLetters()).filter((l) => l.event.workflowId === handle.workflowId);
      return got.length === EVENTS_OF_A_RUN && got;
    });
    const ids = letters.map((l) => l.event.id);
    expect(ids).toEqual(
      Array.from(
        { length: EVENTS_OF_A_RUN },
        (_, i) => `${handle.workflowId}/${handle.firstExecutionRunId}/${i + 1}`,
      ),
    );
    for (const letter of letters)
      expect(letter).toMatchObject({
        sink: 'webhook',
        reason: 'refused',
        attempts: 1,
        lastError: expect.stringMatching(
          /^webhook http:\/\/127\.0\.0\.1:\d+\/hooks\/retrain answered 410 \(/,
        ),
      });
    // Not retried: one request per event.
    expect(receiver.requests.map((r) => r.id)).toEqual(ids);
    await eventually(
      'the dead letters counted',
      async () => (await deadLettered('refused')) - before === EVENTS_OF_A_RUN,
    );

    // Still refused: replay keeps them all and says why.
    const refused = await retrain('events', 'dead-letter', 'replay', '--all');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/retrain: 7 of 7 dead letter\(s\) not replayed: webhook .* answered 410/);
    expect(await deadLetters()).toHaveLength(EVENTS_OF_A_RUN);

    receiver.answer = () => undefined;
    const one = await retrain('events', 'dead-letter', 'replay', letters[6]!.id, '--json');
    expect(one).toMatchObject({ code: 0 });
    expect(JSON.parse(one.stdout)).toEqual({ replayed: [letters[6]!.id], failed: [] });
    expect(receiver.handledIds).toEqual([ids[6]]);
    const rest = await retrain('events', 'dead-letter', 'replay', '--all');
    expect(rest).toMatchObject({ code: 0 });
    expect(receiver.handledIds).toEqual([ids[6], ...ids.slice(0, 6)]);
    const completed = receiver.requests.find(
      (r) => r.id === ids[6] && r.verdict === 'accepted' && r.status === 204,
    );
    expect((JSON.parse(completed!.body) as RunEvent).data).toMatchObject({ status: 'completed' });
    expect(await deadLetters()).toEqual([]);
    await relay.close();
    relay = undefined;
  });

  it('a 503 is retried until the event is older than the max age, then dead-lettered as expired', async () => {
    relay = await relayTo(3000);
    const { receiver, run, deadLetters } = relay;
    receiver.answer = () => 503;
    const before = await deadLettered('expired');
    const handle = await run();
    expect(await handle.result()).toMatchObject({ status: 'completed' });
    const letters = await eventually(
      'the run events in the dead letters',
      async () => {
        const got = (await deadLetters()).filter((l) => l.event.workflowId === handle.workflowId);
        return got.length === EVENTS_OF_A_RUN && got;
      },
      60_000,
    );
    expect(letters.map((l) => l.reason)).toEqual(Array(EVENTS_OF_A_RUN).fill('expired'));
    expect(letters[0]).toMatchObject({ lastError: expect.stringMatching(/answered 503$/) });
    // The first event was retried (1, 2 s apart) before it aged out.
    expect(letters[0]!.attempts).toBeGreaterThan(1);
    const first = receiver.requests.filter((r) => r.id === letters[0]!.event.id);
    expect(first).toHaveLength(letters[0]!.attempts);
    expect(first.every((r) => r.verdict === 'accepted' && r.status === 503)).toBe(true);
    for (const letter of letters)
      expect(Date.parse(letter.deadLetteredAt) - Date.parse(letter.event.time)).toBeGreaterThanOrEqual(3000);
    await eventually(
      'the dead letters counted',
      async () => (await deadLettered('expired')) - before === EVENTS_OF_A_RUN,
    );
  });
});
