import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { createDeliverEvent, createEventSinks } from '../../activities/deliver-event';
import { requestCancellation } from '../../activities/request-cancellation';
import type { EventSink } from '../../events/sink';
import { gpuTaskQueueFor } from '../../common/task-queues';
import { heartbeatWhileRunning } from '../../workers/activity-heartbeat';
import { passingActivities, type Activities } from './stub-activities';

export { passingActivities, stubSpec, type Activities } from './stub-activities';

type ModelActivity = Exclude<keyof Activities, 'requestCancellation'>;

/**
 * The real workflows on stub activities: one cpu and one gpu worker for a whole test file (the
 * workflow bundle is built once), polling the suite's dev server. Each test takes its own model with
 * {@link StubWorkers.model}; activities of that model run its overrides, all others pass.
 */
export interface StubWorkers {
  client: Client;
  taskQueue: string;
  /** A fresh model name whose activities are `overrides` (passing ones for the rest). */
  model(overrides?: Partial<Activities>): string;
  close(): Promise<void>;
}

/** Stub workers on the suite's dev server, or on the one at `address`. */
export async function stubWorkers(
  address: string = inject('temporalAddress'),
  options: { eventSinks?: EventSink[] } = {},
): Promise<StubWorkers> {
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const taskQueue = `stub-${randomUUID()}`;
  const byModel = new Map<string, Partial<Activities>>();
  const passing = passingActivities();
  const dispatch = <K extends ModelActivity>(name: K) =>
    (async (input: { model: string }) => {
      const run = (byModel.get(input.model)?.[name] ?? passing[name]) as (
        arg: typeof input,
      ) => Promise<unknown>;
      return run(input);
    }) as Activities[K];
  const native = await NativeConnection.connect({ address });
  const cpuWorker = await Worker.create({
    connection: native,
    taskQueue,
    workflowsPath: path.join(__dirname, '..', '..', 'workflows'),
    activities: {
      loadSpec: dispatch('loadSpec'),
      exportDataset: dispatch('exportDataset'),
      validateModel: dispatch('validateModel'),
      registerModel: dispatch('registerModel'),
      reloadServers: dispatch('reloadServers'),
      measureTriggers: dispatch('measureTriggers'),
      recordEvaluation: dispatch('recordEvaluation'),
      // Real delivery to the sinks given (none: the relays end at once).
      eventSinks: createEventSinks(options),
      deliverEvent: createDeliverEvent(options),
      requestCancellation,
    },
    // As the real cpu worker: every activity heartbeats (the workflow's cpu heartbeat timeout).
    interceptors: { activity: [heartbeatWhileRunning] },
  });
  const gpuWorker = await Worker.create({
    connection: native,
    taskQueue: gpuTaskQueueFor(taskQueue),
    activities: { trainModel: dispatch('trainModel') },
    // As the real gpu worker: cancellation reaches a training within a second.
    maxHeartbeatThrottleInterval: '1s',
  });
  const running = Promise.all([cpuWorker.run(), gpuWorker.run()]);
  return {
    client,
    taskQueue,
    model(overrides = {}) {
      const name = `m-${randomUUID().slice(0, 8)}`;
      byModel.set(name, overrides);
      return name;
    },
    async close() {
      cpuWorker.shutdown();
      gpuWorker.shutdown();
      await running;
      await native.close();
      await connection.close();
    },
  };
}
