import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDeliverEvent } from '../../activities/deliver-event';
import { ErrorType } from '../../common/errors';
import type { RunEvent } from '../../common/run-events';
import type { EventSink } from '../../events/sink';
import { deadLetterId, EventDeadLetters } from '../../storage/event-dead-letters';
import { FileBlobStore } from '../../storage/file-store';

const MAX_AGE_MS = 60_000;

const eventAged = (ageMs: number, n = 1): RunEvent => ({
  specversion: '1.0',
  id: `retrain-m-20261208T000000Z/run-1/${n}`,
  type: 'retrain.run.started',
  time: new Date(Date.now() - ageMs).toISOString(),
  model: 'm',
  workflowId: 'retrain-m-20261208T000000Z',
  runId: 'run-1',
  data: {},
});

/** A sink (stub: the unit is the activity around it) that fails every delivery with `error`. */
const failing = (error: Error): EventSink => ({
  name: 'webhook',
  deliver: async () => {
    throw error;
  },
  close: async () => undefined,
});

describe('deliverEvent', () => {
  let dir: string;
  let store: FileBlobStore;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deliver-event-'));
    store = new FileBlobStore(dir);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const deliver = (sink: EventSink, event: RunEvent, attempt = 1) =>
    new MockActivityEnvironment({ attempt }).run(
      createDeliverEvent({ eventSinks: [sink], store, eventsMaxAgeMs: MAX_AGE_MS }),
      { sink: 'webhook', event },
    );

  it('rethrows a retryable failure of an event younger than the max age, and dead-letters nothing', async () => {
    await expect(deliver(failing(new Error('webhook answered 503')), eventAged(1000))).rejects.toThrow(
      'webhook answered 503',
    );
    expect(await new EventDeadLetters(store).list()).toEqual([]);
  });

  it('dead-letters a refused event at once, with its sink, error, attempts and times', async () => {
    const event = eventAged(1000);
    const refusal = ApplicationFailure.nonRetryable('webhook answered 410', ErrorType.EventRefused);
    expect(await deliver(failing(refusal), event)).toEqual({ deadLetter: deadLetterId('webhook', event) });
    const [letter, ...others] = await new EventDeadLetters(store).list();
    expect(others).toEqual([]);
    expect(letter).toMatchObject({
      id: deadLetterId('webhook', event),
      sink: 'webhook',
      reason: 'refused',
      lastError: 'webhook answered 410',
      attempts: 1,
      event,
    });
    expect(Date.parse(letter!.deadLetteredAt)).toBeGreaterThanOrEqual(Date.parse(event.time));
    expect(fs.existsSync(path.join(dir, 'events', 'dead-letter', `${letter!.id}.json`))).toBe(true);
  });

  it('dead-letters an event past the max age that still fails, with the last error and attempt count', async () => {
    const event = eventAged(MAX_AGE_MS + 1000);
    expect(await deliver(failing(new Error('webhook answered 503')), event, 9)).toEqual({
      deadLetter: deadLetterId('webhook', event),
    });
    expect(await new EventDeadLetters(store).get(deadLetterId('webhook', event))).toMatchObject({
      reason: 'expired',
      lastError: 'webhook answered 503',
      attempts: 9,
    });
  });

  it('a second attempt at the same dead letter replaces it: one per event and sink', async () => {
    const event = eventAged(MAX_AGE_MS + 1000);
    await deliver(failing(new Error('first')), event, 3);
    await deliver(failing(new Error('second')), event, 4);
    expect((await new EventDeadLetters(store).list()).map((l) => [l.attempts, l.lastError])).toEqual([
      [4, 'second'],
    ]);
  });

  it('refuses a malformed dead letter id, naming it', async () => {
    await expect(new EventDeadLetters(store).get('../models/x')).rejects.toThrow(
      /"\.\.\/models\/x" is not a dead letter id/,
    );
  });
});
