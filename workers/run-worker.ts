import fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import { NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import { bufferMaintenanceScheduleId } from '../common/workflow-ids';
import { selectBackend } from '../ml/backend';
import { ensureBufferMaintenanceSchedule } from './buffer-maintenance-schedule';
import { buildActivityDeps } from './activity-deps';
import { defaultBuildId } from './build-id';
import { loadConfig, type Config } from '../config/config';
import { createLogger } from '../config/logger';
import { setCurrentVersion } from './deployment';
import { workerRuntimeOptions } from './runtime';
import { createCpuWorker, createGpuWorker, type WorkerOptions } from './worker-factory';

const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Entry point shared by the cpu and gpu workers: config, logs and metrics endpoint, connection, run.
 * The worker polls as its build of the Worker Deployment; with RETRAIN_SET_CURRENT_VERSION it then
 * makes that build current. SIGINT or SIGTERM stops polling; running trainings are cancelled after
 * the grace time, save a checkpoint and fail retryably, so another worker resumes them. Resolves
 * once the worker has drained, which lets the process exit with code 0.
 */
export async function runWorker(kind: 'cpu' | 'gpu'): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: `${kind}-worker`, format: config.logFormat, level: config.logLevel });
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
    const deployment = {
      deploymentName: config.deployment.name,
      buildId: config.deployment.buildId ?? defaultBuildId(),
    };
    const options: WorkerOptions = {
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.taskQueue,
      deps: await buildActivityDeps(config, client),
      gpuSlots: config.gpuSlots,
      deployment,
    };
    const worker = await createWorker(kind, options, config, logger);
    if (kind === 'cpu' && config.bufferInStore)
      await scheduleBufferMaintenance(client, config.taskQueue, logger);
    await runUntilStopped(
      worker,
      logger,
      {
        address: config.temporal.address,
        namespace: config.temporal.namespace,
        ...deployment,
        ...(metricsAddress ? { metrics: `http://${metricsAddress}/metrics` } : {}),
      },
      // Only the worker that polls workflow tasks may make its build current: a version without a
      // workflow poller would take every new run and start none of them.
      kind === 'cpu' && config.deployment.setCurrent
        ? () => setCurrentVersion(client, deployment)
        : undefined,
    );
  } finally {
    await connection.close();
    await clientConnection.close();
  }
}

/**
 * Makes sure the buffer in the store is compacted and trimmed on a schedule (created by the first cpu
 * worker to start); a failure is logged, and the next worker start tries again.
 */
async function scheduleBufferMaintenance(client: Client, taskQueue: string, logger: Logger): Promise<void> {
  try {
    if (await ensureBufferMaintenanceSchedule(client, taskQueue))
      logger.info(
        { scheduleId: bufferMaintenanceScheduleId(taskQueue) },
        'created the buffer maintenance schedule',
      );
  } catch (err) {
    logger.warn(
      { error: err instanceof Error ? err.message : String(err) },
      'could not create the buffer maintenance schedule',
    );
  }
}

/** The gpu worker on its backend, or the cpu worker on the prebuilt workflow bundle when there is one. */
async function createWorker(
  kind: 'cpu' | 'gpu',
  options: WorkerOptions,
  config: Config,
  logger: Logger,
): Promise<Worker> {
  if (kind === 'gpu') {
    await selectBackend(config.backend, (line, fields = {}) => logger.info(fields, line));
    return createGpuWorker(options);
  }
  const bundle = config.workflowBundle;
  const exists = fs.existsSync(bundle.path);
  if (bundle.required && !exists)
    throw new Error(
      `RETRAIN_WORKFLOW_BUNDLE names ${bundle.path}, which does not exist: run npm run build:workflows`,
    );
  if (exists) logger.info({ workflowBundle: bundle.path }, 'workflows from the prebuilt bundle');
  else logger.info({ workflowBundle: bundle.path }, 'no prebuilt workflow bundle: bundling the workflows');
  return createCpuWorker({ ...options, ...(exists ? { workflowBundle: bundle.path } : {}) });
}

/**
 * Runs `worker` until SIGINT or SIGTERM (twice: exit at once) and it has drained; once it polls,
 * `makeCurrent` (if given) makes its version current, and a failure to do so shuts it down.
 */
async function runUntilStopped(
  worker: Worker,
  logger: Logger,
  fields: Record<string, unknown> & WorkerDeploymentVersion,
  makeCurrent: (() => Promise<void>) | undefined,
): Promise<void> {
  const log = (line: string, extra: Record<string, unknown> = {}) => logger.info(extra, line);
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
  log('polling', { taskQueue: worker.options.taskQueue, ...fields });
  let failure: unknown;
  const current = makeCurrent?.().then(
    () => log('current version', { deploymentName: fields.deploymentName, buildId: fields.buildId }),
    (err: unknown) => {
      failure = err;
      if (worker.getState() === 'RUNNING') worker.shutdown();
    },
  );
  try {
    await running;
    // After a stop the version need not become current: the next worker's start does it.
    if (!stopping) await current;
  } finally {
    for (const signal of SHUTDOWN_SIGNALS) process.off(signal, stop);
  }
  if (failure) throw failure;
  log('stopped');
}
