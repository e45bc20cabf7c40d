import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { inject } from 'vitest';
import type { Pipeline } from './pipeline';

const ROOT = path.resolve(__dirname, '..', '..');
const READY_TIMEOUT_MS = 60_000;

/** A gpu worker (`workers/gpu.ts`) running as a child process, as in production. */
export interface WorkerProcess {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with how it ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `node --import tsx workers/gpu.ts` against the test Temporal server, polling the pipeline's
 * gpu queue with its store, on the pure-JS backend; resolves once it polls.
 */
export async function startGpuWorkerProcess(pipeline: Pipeline): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join('workers', 'gpu.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_NAMESPACE: 'default',
      RETRAIN_TASK_QUEUE: pipeline.taskQueue,
      RETRAIN_STORE: `file://${path.join(pipeline.dir, 'store')}`,
      RETRAIN_BUFFER_DIR: path.join(pipeline.dir, 'buffer'),
      TFJS_BACKEND: 'cpu',
      GPU_SLOTS: '1',
      GPU_METRICS_PORT: '0',
      RETRAIN_LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const worker = { child, output: () => text, exited };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const polling = (line: string) =>
    line.includes('"msg":"polling"') && line.includes(`"taskQueue":"${pipeline.taskQueue}-gpu"`);
  while (!text.split('\n').some(polling)) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`gpu worker exited before polling:\n${text}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gpu worker did not poll within ${READY_TIMEOUT_MS / 1000} s:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return worker;
}

/** Ends a worker this test started, if it still runs. */
export async function stopWorkerProcess(worker: WorkerProcess | undefined): Promise<void> {
  if (!worker || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
  worker.child.kill('SIGKILL');
  await worker.exited;
}
