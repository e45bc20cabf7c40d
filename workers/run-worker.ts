import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { selectBackend } from '../ml/backend';
import { buildActivityDeps } from './activity-deps';
import { loadConfig } from '../config/config';
import { createLogger } from '../config/logger';
import { workerRuntimeOptions } from './runtime';
import { createCpuWorker, createGpuWorker } from './worker-factory';

const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Entry point shared by the cpu and gpu workers: config, logs and metrics endpoint, connection, run.
 * SIGINT or SIGTERM stops polling; running trainings are cancelled after the grace time, save a
 * checkpoint and fail retryably, so another worker resumes them. Resolves once the worker has
 * drained, which lets the process exit with code 0.
 */
export async function runWorker(kind: 'cpu' | 'gpu'): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: `${kind}-worker`, format: config.logFormat, level: config.logLevel });
  const log = (line: string, fields: Record<string, unknown> = {}) => logger.info(fields, line);
  const metricsPort = kind === 'cpu' ? config.metricsPorts.cpu : config.metricsPorts.gpu;
  const metricsAddress = metricsPort > 0 ? `${config.metricsHost}:${metricsPort}` : undefined;
  Runtime.install({
    ...workerRuntimeOptions({ logger, metricsAddress }),
    // Handled below, so the log says what happens to running work.
    shutdownSignals: [],
  });
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const clientConnection = await Connection.connect({ address: config.temporal.address });
  try {
    const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace });
    const deps = await buildActivityDeps(config, client);
    const options = {
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.taskQueue,
      deps,
      gpuSlots: config.gpuSlots,
    };
    let worker: Worker;
    if (kind === 'gpu') {
      await selectBackend(config.backend, log);
      worker = await createGpuWorker(options);
    } else {
      worker = await createCpuWorker(options);
    }
    // run() is RUNNING synchronously, so a signal from here on can shut it down.
    const running = worker.run();
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, `${signal} again: exiting without waiting for running activities`);
        process.exit(1);
      }
      stopping = true;
      log(`${signal}: no new tasks; running activities finish or checkpoint, then the worker exits`, {
        signal,
      });
      if (worker.getState() === 'RUNNING') worker.shutdown();
    };
    for (const signal of SHUTDOWN_SIGNALS) process.on(signal, stop);
    log('polling', {
      taskQueue: worker.options.taskQueue,
      address: config.temporal.address,
      namespace: config.temporal.namespace,
      ...(metricsAddress ? { metrics: `http://${metricsAddress}/metrics` } : {}),
    });
    try {
      await running;
    } finally {
      for (const signal of SHUTDOWN_SIGNALS) process.off(signal, stop);
    }
    log('stopped');
  } finally {
    await connection.close();
    await clientConnection.close();
  }
}
