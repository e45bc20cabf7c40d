import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { inject } from 'vitest';
import { gpuTaskQueueFor } from '../../common/task-queues';
import type { Pipeline } from './pipeline';
import { testWorkflowBundle } from './workflow-bundle';

const ROOT = path.resolve(__dirname, '..', '..');
const READY_TIMEOUT_MS = 60_000;

/** `cpu`: `workers/cpu.ts` (the workflows and every activity but training); `gpu`: `workers/gpu.ts` (training). */
export type WorkerKind = 'cpu' | 'gpu';

/** A worker running as a child process, as in production. */
export interface WorkerProcess {
  kind: WorkerKind;
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with how it ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Options of {@link startWorkerProcess}. */
export interface WorkerProcessOptions {
  /** The Temporal server; the suite's (global setup) when absent. */
  address?: string;
  /** Also append its output to this file, which outlives the test (for a failed run's post-mortem). */
  logFile?: string;
}

/**
 * Starts `node --import tsx workers/<kind>.ts` polling the pipeline's queue (its `-gpu` pair for
 * `gpu`) as the pipeline's deployment version, with its store and buffer, on the test run's
 * workflow bundle and the pure-JS backend, metrics off; resolves once it polls (a cpu worker: and has
 * made its version current).
 */
export async function startWorkerProcess(
  pipeline: Pipeline,
  kind: WorkerKind,
  { address = inject('temporalAddress'), logFile }: WorkerProcessOptions = {},
): Promise<WorkerProcess> {
  const workflowBundle = await testWorkflowBundle();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join('workers', `${kind}.ts`)], {
    cwd: ROOT,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: 'default',
      RETRAIN_TASK_QUEUE: pipeline.taskQueue,
      RETRAIN_DEPLOYMENT_NAME: pipeline.deployment.deploymentName,
      RETRAIN_BUILD_ID: pipeline.deployment.buildId,
      RETRAIN_SET_CURRENT_VERSION: 'true',
      RETRAIN_WORKFLOW_BUNDLE: workflowBundle,
      RETRAIN_STORE: `file://${path.join(pipeline.dir, 'store')}`,
      RETRAIN_BUFFER_DIR: path.join(pipeline.dir, 'buffer'),
      TFJS_BACKEND: 'cpu',
      GPU_SLOTS: '1',
      CPU_METRICS_PORT: '0',
      GPU_METRICS_PORT: '0',
      RETRAIN_LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  if (logFile) fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const log = logFile ? fs.createWriteStream(logFile, { flags: 'a' }) : undefined;
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      log?.write(chunk);
    });
  }
  const exited = once(child, 'exit').then(([code, signal]) => {
    log?.end();
    return { code: code as number | null, signal: signal as NodeJS.Signals | null };
  });
  const worker = { kind, child, output: () => text, exited };
  const queue = kind === 'gpu' ? gpuTaskQueueFor(pipeline.taskQueue) : pipeline.taskQueue;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const polling = (line: string) =>
    line.includes('"msg":"polling"') && line.includes(`"taskQueue":"${queue}"`);
  const current = (line: string) => line.includes('"msg":"current version"');
  // Only the cpu worker (the workflow poller) makes its version current; a gpu worker joins it.
  const ready = () => {
    const lines = text.split('\n');
    return lines.some(polling) && (kind === 'gpu' || lines.some(current));
  };
  while (!ready()) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${kind} worker exited before polling:\n${text}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `${kind} worker did not poll (as the current version, for cpu) within ${READY_TIMEOUT_MS / 1000} s:\n${text}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return worker;
}

/** SIGKILL, as a crash would end it; resolves with the signal that ended it. */
export async function killWorkerProcess(worker: WorkerProcess): Promise<NodeJS.Signals | null> {
  worker.child.kill('SIGKILL');
  return (await worker.exited).signal;
}

/** Ends a worker this test started, if it still runs. */
export async function stopWorkerProcess(worker: WorkerProcess | undefined): Promise<void> {
  if (!worker || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  await killWorkerProcess(worker);
}
