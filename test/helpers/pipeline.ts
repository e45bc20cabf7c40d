import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { loadFlightsIntoBuffer } from '../../clients/demo-data';
import { epochProgressSignal } from '../../common/messages';
import { ModelSpecSchema, type ModelSpec, type ModelSpecInput } from '../../common/model-spec';
import { DataBuffer } from '../../storage/buffer';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { createCpuWorker, createGpuWorker } from '../../workers/worker-factory';

export interface Pipeline {
  client: Client;
  deps: ActivityDeps;
  spec: ModelSpec;
  taskQueue: string;
  /** Runs `fn` while a cpu and a gpu worker poll this pipeline's queues. */
  withWorkers<T>(fn: () => Promise<T>): Promise<T>;
  cleanup(): Promise<void>;
}

/** A small slice of the real demo data: the 12 busiest airports over the last three weeks. */
export const TEST_FLIGHTS = { topAirports: 12, fromDay: '2001-06-10' };

/** A file store and a buffer in a temp dir, a forecaster spec, and a Temporal client. */
export async function createPipeline(
  overrides: Partial<ModelSpecInput> = {},
  queue = `test-${randomUUID()}`,
): Promise<Pipeline> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-test-'));
  const store = new FileBlobStore(path.join(dir, 'store'));
  const registry = new ModelRegistry(store);
  const buffer = new DataBuffer(path.join(dir, 'buffer'));
  const spec = ModelSpecSchema.parse({
    name: `m-${randomUUID().slice(0, 8)}`,
    task: 'forecast',
    timeColumn: 'ts',
    entityColumn: 'origin',
    features: ['flights', 'mean_delay', 'late_share'],
    target: 'mean_delay',
    lookback: 4,
    windowDays: 21,
    minRecords: 1000,
    epochs: 3,
    hyperparams: { hiddenUnits: 16, batchSize: 128, seed: 3 },
    ...overrides,
  });
  await registry.saveSpec(spec);
  await loadFlightsIntoBuffer(buffer, [spec.name], TEST_FLIGHTS);
  const address = inject('temporalAddress');
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const deps: ActivityDeps = {
    store,
    registry,
    buffer,
    backend: 'cpu',
    servingUrls: [],
    reportEpoch: (workflowId, progress) =>
      client.workflow.getHandle(workflowId).signal(epochProgressSignal, progress),
  };
  return {
    client,
    deps,
    spec,
    taskQueue: queue,
    async withWorkers(fn) {
      const native = await NativeConnection.connect({ address });
      const options = { connection: native, namespace: 'default', taskQueue: queue, deps };
      const workers: Worker[] = [await createCpuWorker(options), await createGpuWorker(options)];
      try {
        const [a, b] = workers as [Worker, Worker];
        return await a.runUntil(b.runUntil(fn));
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
