import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import readline from 'node:readline';
import { ROOT } from '../../scripts/lib/processes';
import { eventually } from './eventually';

// The Python trainer worker (trainers/python, `python -m retrain_trainer`) as a child process of a
// test, on its own task queue and store; its virtual environment is built first when missing.

interface PythonEnv {
  ensurePythonEnv(options?: { log?: (line: string) => void }): string;
}

/** The venv's python, building `.tools/py` (minutes: PyTorch) when it is missing or stale. */
export function pythonForTests(): string {
  // Plain CommonJS: it runs before npm install, so it has no types of its own.
  const env = createRequire(__filename)('../../scripts/lib/python-env.js') as PythonEnv;
  return env.ensurePythonEnv({ log: (line) => process.stderr.write(`[python-env] ${line}\n`) });
}

export interface PythonWorker {
  child: ChildProcess;
  /** Every line it printed (JSON logs), stdout and stderr. */
  lines: string[];
  /** SIGTERM, then waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts `python -m retrain_trainer` polling `taskQueue` on `temporalAddress`, reading and writing
 * the store at `storeUri`; resolves once it says it polls.
 */
export async function startPythonWorker(opts: {
  storeUri: string;
  taskQueue: string;
  temporalAddress: string;
  python?: string;
  /** More environment for the worker, e.g. `RETRAIN_PY_TRAINERS`. */
  env?: Record<string, string>;
}): Promise<PythonWorker> {
  const python = opts.python ?? pythonForTests();
  const child = spawn(python, ['-m', 'retrain_trainer'], {
    cwd: ROOT,
    env: {
      ...process.env,
      RETRAIN_STORE: opts.storeUri,
      TEMPORAL_ADDRESS: opts.temporalAddress,
      RETRAIN_PY_TASK_QUEUE: opts.taskQueue,
      RETRAIN_PY_METRICS_PORT: '0',
      PYTHONUNBUFFERED: '1',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr])
    readline.createInterface({ input: stream }).on('line', (line) => lines.push(line));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await eventually(
      `the python trainer worker polling ${opts.taskQueue}`,
      () => {
        if (child.exitCode !== null)
          throw new Error(`it exited with ${child.exitCode}: ${lines.slice(-5).join('\n')}`);
        return lines.some((line) => line.includes('python trainer worker polling'));
      },
      60_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, lines, stop };
}
