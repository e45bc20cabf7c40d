import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { CPU_TASK_QUEUE } from '../common/task-queues';
import { selectBackend } from '../ml/backend';
import { buildActivityDeps } from './activity-deps';
import { loadConfig } from './config';
import { createCpuWorker, createGpuWorker } from './worker-factory';

/** Entry point shared by the cpu and gpu workers: config, metrics endpoint, connection, run. */
export async function runWorker(kind: 'cpu' | 'gpu'): Promise<void> {
  const config = loadConfig();
  const metricsPort = kind === 'cpu' ? config.metricsPorts.cpu : config.metricsPorts.gpu;
  if (metricsPort > 0) {
    Runtime.install({
      telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${metricsPort}` } } },
    });
  }
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const clientConnection = await Connection.connect({ address: config.temporal.address });
  try {
    const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace });
    const deps = buildActivityDeps(config, client);
    const options = {
      connection,
      namespace: config.temporal.namespace,
      taskQueue: CPU_TASK_QUEUE,
      deps,
      gpuSlots: config.gpuSlots,
    };
    let worker: Worker;
    if (kind === 'gpu') {
      await selectBackend(config.backend, (line) => console.error(`[gpu worker] ${line}`));
      worker = await createGpuWorker(options);
    } else {
      worker = await createCpuWorker(options);
    }
    console.error(`[${kind} worker] polling ${worker.options.taskQueue} on ${config.temporal.address}`);
    await worker.run();
  } finally {
    await connection.close();
    await clientConnection.close();
  }
}
