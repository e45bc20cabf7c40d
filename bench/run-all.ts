import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../scripts/lib/processes';
import { BENCHES, ROWS_MARK } from './child';
import { environmentLine, markdownTable, type BenchRow } from './table';

/** Where the last full table is written, for the README to embed. */
const LATEST = path.join(ROOT, '.data', 'bench', 'latest.md');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
/** A bench still running after this is killed and its row says so; the others still run. */
const JOB_TIMEOUT_MS = 20 * 60_000;

interface Job {
  bench: string;
  backend: string;
}

/** Every bench in its own fresh process. */
const JOBS: Job[] = [
  { bench: 'export', backend: 'auto' },
  // Every TensorFlow.js backend (each in its own process) and the python kinds beside the PyTorch yardstick.
  { bench: 'train', backend: 'all' },
  { bench: 'memory', backend: 'auto' },
  { bench: 'serve', backend: 'auto' },
  { bench: 'pipeline', backend: 'cpu' },
  { bench: 'cli', backend: 'auto' },
  { bench: 'quality', backend: 'auto' },
  { bench: 'quality-kinds', backend: 'auto' },
  { bench: 'failure-predictor', backend: 'auto' },
  { bench: 'triggers', backend: 'auto' },
  { bench: 'scale', backend: 'cpu' },
];

/** Whether the native backend's package is in node_modules (it is optional and built offline). */
function nativeInstalled(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node', { paths: [ROOT] });
    return true;
  } catch {
    return false;
  }
}

/** Runs one job in a child process; a failure becomes a row saying so, so the table still prints. */
function runJob(job: Job, quick: boolean): Promise<BenchRow[]> {
  const args = ['bench/child.ts', job.bench, '--backend', job.backend, ...(quick ? ['--quick'] : [])];
  process.stderr.write(`bench ${job.bench} (${job.backend})...\n`);
  const started = Date.now();
  return new Promise((resolve) => {
    // Its own process group, so a timeout also ends what it started (servers, workers, clients).
    const child = spawn(TSX, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, JOB_TIMEOUT_MS);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.once('close', (code) => {
      clearTimeout(timer);
      process.stderr.write(
        `bench ${job.bench} (${job.backend}) took ${Math.round((Date.now() - started) / 1000)} s\n`,
      );
      const line = out.split('\n').find((l) => l.startsWith(ROWS_MARK));
      if (code === 0 && line) return resolve(JSON.parse(line.slice(ROWS_MARK.length)) as BenchRow[]);
      const reason = timedOut
        ? `timed out after ${JOB_TIMEOUT_MS / 60_000} min`
        : (err.trim().split('\n').filter(Boolean).at(-1) ?? `exit ${code}`);
      process.stderr.write(err);
      resolve([
        { bench: job.bench, backend: job.backend, figure: 'run', value: `failed: ${reason.slice(0, 200)}` },
      ]);
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { only: { type: 'string' }, quick: { type: 'boolean', default: false } },
  });
  const only = values.only?.split(',');
  const unknown = only?.filter((name) => !(name in BENCHES));
  if (unknown?.length)
    throw new Error(`unknown bench ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
  const rows: BenchRow[] = [];
  for (const job of JOBS.filter((j) => !only || only.includes(j.bench))) {
    if (job.backend === 'tensorflow' && !nativeInstalled()) {
      rows.push({
        bench: job.bench,
        backend: 'tensorflow',
        figure: 'training samples/s',
        value: 'not installed',
      });
      continue;
    }
    rows.push(...(await runJob(job, values.quick)));
  }
  const title = `retrain benchmarks${values.quick ? ' (--quick: smaller runs, not comparable)' : ''}: ${environmentLine()}`;
  const table = markdownTable(rows);
  console.log(`${title}\n\n${table}`);
  if (!only && !values.quick) {
    await fs.mkdir(path.dirname(LATEST), { recursive: true });
    await fs.writeFile(LATEST, `${title}\n\n${table}\n`);
    process.stderr.write(`written to ${path.relative(ROOT, LATEST)}\n`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
