import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ROOT } from '../scripts/lib/processes';

// The Python trainer's virtual environment as benches use it: never built here (that takes minutes
// and gigabytes; `node scripts/lib/python-env.js` does), only found, and its scripts run.

interface PythonEnvPaths {
  pythonEnvPaths(root?: string): { venv: string; python: string };
}

/** The venv's python, or undefined when `.tools/py` is not built. */
export function benchPython(): string | undefined {
  // Plain CommonJS: it runs before npm install, so it has no types of its own.
  const env = createRequire(__filename)('../scripts/lib/python-env.js') as PythonEnvPaths;
  const { python } = env.pythonEnvPaths(ROOT);
  return fs.existsSync(python) ? python : undefined;
}

/** Why python benches are skipped, for their rows. */
export const NO_PYTHON = 'not installed (.tools/py: node scripts/lib/python-env.js)';

/**
 * Runs `bench/python/<script>` with the venv's python and parses the last line of its stdout as
 * JSON; its stderr passes through to ours. Rejects with the script's last stderr lines when it fails.
 */
export function runPythonJson<T>(script: string, args: string[], python = benchPython()): Promise<T> {
  if (!python) return Promise.reject(new Error(NO_PYTHON));
  return new Promise((resolve, reject) => {
    const child = spawn(python, [path.join(ROOT, 'bench', 'python', script), ...args], {
      cwd: ROOT,
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
      process.stderr.write(chunk);
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && last) {
        try {
          return resolve(JSON.parse(last) as T);
        } catch (parseErr) {
          return reject(parseErr as Error);
        }
      }
      reject(new Error(`${script} exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}
