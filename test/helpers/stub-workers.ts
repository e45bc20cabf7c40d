import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { createDeliverEvent, createEventSinks } from '../../activities/deliver-event';
import { createRequestFleetSlot, runningRuns, type FleetCap } from '../../activities/fleet-slots';
import { requestCancellation } from '../../activities/request-cancellation';
import type { EventSink } from '../../events/sink';
import type { BlobStore } from '../../storage/blob-store';
import { FileBlobStore } from '../../storage/file-store';
import { gpuTaskQueueFor } from '../../common/task-queues';
import { heartbeatWhileRunning } from '../../workers/activity-heartbeat';
import { pinnedTo, setCurrentVersion } from '../../workers/deployment';
import { passingActivities, type Activities } from './stub-activities';
import { testDeployment } from './test-deployment';
import { testWorkflowBundle } from './workflow-bundle';

export { passingActivities, stubSpec, type Activities } from './stub-activities';

type ModelActivity = Exclude<
  keyof Activities,
  'requestCancellation' | 'requestFleetSlot' | 'runningRuns' | 'loadRunSettings'
>;

/**
 * The real workflows on stub activities: one cpu and one gpu worker for a whole test file (on the
 * test run's workflow bundle), polling the suite's dev server as the current version of their own
 * Worker Deployment. Each test takes its own model with {@link StubWorkers.model}; activities of
 * that model run its overrides, all others pass.
 */
export interface StubWorkers {
  client: Client;
  taskQueue: string;
  /** The version the workers poll as, made current once they poll. */
  deployment: WorkerDeploymentVersion;
  /** A fresh model name whose activities are `overrides` (passing ones for the rest). */
  model(overrides?: Partial<Activities>): string;
  close(): Promise<void>;
}

/** Options of {@link stubWorkers}. */
export interface StubWorkersOptions {
  /** Where run events go; none when absent. */
  eventSinks?: EventSink[];
  /** Where events a sink never takes are dead-lettered; a temporary file store when absent. */
  store?: BlobStore;
  /** How old an event may get while a sink fails it (RETRAIN_EVENTS_MAX_AGE); 24 h when absent. */
  eventsMaxAgeMs?: number;
  /** Another set's queue and deployment, with a new build id: an upgrade. Fresh ones when absent. */
  taskQueue?: string;
  deployment?: WorkerDeploymentVersion;
  /** The deployment's cap on concurrent runs (RETRAIN_MAX_CONCURRENT_RUNS); no cap when absent. */
  fleetCap?: FleetCap;
}

/** Stub workers on the suite's dev server, or on the one at `address`. */
export async function stubWorkers(
  address: string = inject('temporalAddress'),
  { taskQueue = `stub-${randomUUID()}`, deployment = testDeployment(), ...options }: StubWorkersOptions = {},
): Promise<StubWorkers> {
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
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
  const ownStore = options.store ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'stub-dead-letters-'));
  const store = options.store ?? new FileBlobStore(ownStore as string);
  const cpuWorker = await Worker.create({
    connection: native,
    taskQueue,
    workflowBundle: { codePath: await testWorkflowBundle() },
    ...pinnedTo(deployment),
    activities: {
      loadSpec: dispatch('loadSpec'),
      // The model's own loadSpec, and the cap these workers were given.
      loadRunSettings: async (input: { model: string }) => ({
        spec: await dispatch('loadSpec')(input),
        fleetCapped: options.fleetCap !== undefined,
      }),
      exportDataset: dispatch('exportDataset'),
      validateModel: dispatch('validateModel'),
      registerModel: dispatch('registerModel'),
      reloadServers: dispatch('reloadServers'),
      measureTriggers: dispatch('measureTriggers'),
      recordEvaluation: dispatch('recordEvaluation'),
      // Real delivery to the sinks given (none: the relays end at once).
      eventSinks: createEventSinks(options),
      deliverEvent: createDeliverEvent({ ...options, store }),
      requestCancellation,
      requestFleetSlot: createRequestFleetSlot(options.fleetCap),
      runningRuns,
    },
    // As the real cpu worker: every activity heartbeats (the workflow's cpu heartbeat timeout).
    interceptors: { activity: [heartbeatWhileRunning] },
  });
  const gpuWorker = await Worker.create({
    connection: native,
    taskQueue: gpuTaskQueueFor(taskQueue),
    activities: { trainModel: dispatch('trainModel') },
    ...pinnedTo(deployment),
    // As the real gpu worker: cancellation reaches a training within a second.
    maxHeartbeatThrottleInterval: '1s',
  });
  const running = Promise.all([cpuWorker.run(), gpuWorker.run()]);
  const close = async () => {
    cpuWorker.shutdown();
    gpuWorker.shutdown();
    await running;
    await native.close();
    await connection.close();
    if (ownStore) fs.rmSync(ownStore, { recursive: true, force: true });
  };
  await setCurrentVersion(client, deployment).catch(async (err: unknown) => {
    await close();
    throw err;
  });
  return {
    client,
    taskQueue,
    deployment,
    model(overrides = {}) {
      const name = `m-${randomUUID().slice(0, 8)}`;
      byModel.set(name, overrides);
      return name;
    },
    close,
  };
}
