import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { loadFlightsIntoBuffer } from '../../storage/demo-data';
import { epochProgressSignal } from '../../common/messages';
import type { ModelSpec, ModelSpecInput } from '../../common/model-spec';
import type { BlobStore } from '../../storage/blob-store';
import { setCurrentVersion } from '../../workers/deployment';
import { createCpuWorker, createGpuWorker } from '../../workers/worker-factory';
import { flightSpec, localDeps, TEST_FLIGHTS } from './local-pipeline';
import { testDeployment } from './test-deployment';
import { testWorkflowBundle } from './workflow-bundle';

export { flightSpec, localDeps, PERMISSIVE_GATE, TEST_FLIGHTS } from './local-pipeline';

export interface Pipeline {
  client: Client;
  deps: ActivityDeps;
  spec: ModelSpec;
  taskQueue: string;
  /** The Worker Deployment Version of this pipeline's workers, in process or not; current once they poll. */
  deployment: WorkerDeploymentVersion;
  /** The temp dir holding `store/` (unless a store was given) and `buffer/`: for worker child processes. */
  dir: string;
  /**
   * Runs `fn` while a cpu and a gpu worker poll this pipeline's queues; `gpu: false` leaves the gpu
   * queue to workers started elsewhere (e.g. a child process).
   */
  withWorkers<T>(fn: () => Promise<T>, options?: WithWorkersOptions): Promise<T>;
  cleanup(): Promise<void>;
}

export interface WithWorkersOptions {
  /** @default true */
  gpu?: boolean;
  /** @default 1 */
  gpuSlots?: number;
}

/** A store (a file store in a temp dir unless given) and a buffer in a temp dir, a forecaster spec, and a Temporal client. */
export async function createPipeline(
  overrides: Partial<ModelSpecInput> = {},
  queue = `test-${randomUUID()}`,
  givenStore?: BlobStore,
): Promise<Pipeline> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-test-'));
  const local = localDeps(dir, givenStore);
  const spec = flightSpec({ name: `m-${randomUUID().slice(0, 8)}`, epochs: 3, ...overrides });
  await local.registry.saveSpec(spec);
  await loadFlightsIntoBuffer(local.buffer, [spec.name], TEST_FLIGHTS);
  const address = inject('temporalAddress');
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const deployment = testDeployment();
  const deps: ActivityDeps = {
    ...local,
    reportEpoch: (workflowId, progress) =>
      client.workflow.getHandle(workflowId).signal(epochProgressSignal, progress),
  };
  return {
    client,
    deps,
    spec,
    taskQueue: queue,
    deployment,
    dir,
    async withWorkers(fn, { gpu = true, gpuSlots = 1 } = {}) {
      const native = await NativeConnection.connect({ address });
      const options = {
        connection: native,
        namespace: 'default',
        taskQueue: queue,
        deps,
        gpuSlots,
        deployment,
        workflowBundle: await testWorkflowBundle(),
      };
      // Runs reach the version once it is current, which it can be once its workers poll.
      const current = async () => {
        await setCurrentVersion(client, deployment);
        return fn();
      };
      try {
        const cpuWorker: Worker = await createCpuWorker(options);
        if (!gpu) return await cpuWorker.runUntil(current);
        const gpuWorker: Worker = await createGpuWorker(options);
        return await cpuWorker.runUntil(gpuWorker.runUntil(current));
      } finally {
        await native.close();
      }
    },
    async cleanup() {
      await connection.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** POST /predict with four hours of made-up ORD metrics, enough for the test specs' lookback. */
export function predictOrd(serverUrl: string, model: string): Promise<Response> {
  const rows = [0, 1, 2, 3].map((h) => ({
    ts: `2001-06-30T1${h}:00:00Z`,
    origin: 'ORD',
    flights: 40 + h,
    mean_delay: 10 + h,
    late_share: 0.3,
  }));
  return fetch(`${serverUrl}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, rows }),
  });
}
