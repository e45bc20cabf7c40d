import { spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { Client, Connection } from '@temporalio/client';

import { ModelNameAttribute } from '../common/messages';
import { CPU_TASK_QUEUE } from '../common/task-queues';
import type { retrainWorkflow } from '../workflows';
import { ROOT } from '../scripts/lib/processes';
import { startDevServer } from '../scripts/lib/temporal-server';
import { machine, median, round } from './figures';

/** What a user waits for before the first line: well under a second, or the command line feels slow. */
const GOAL_SECONDS = 0.5;
/** A command still running after this is killed and reported as timed out. */
const RUN_TIMEOUT_MS = 10_000;

/** One command line run: wall seconds, exit code (null: killed at the timeout) and its stderr. */
export interface Run {
  seconds: number;
  code: number | null;
  stderr: string;
}

/** `node bin/retrain.js <args>` in a fresh process, as a user's shell runs it; wall time to exit. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = RUN_TIMEOUT_MS): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'retrain.js'), ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ seconds: (performance.now() - started) / 1000, code, stderr });
    });
  });
}

/**
 * Start-up time of `retrain --help`, `retrain list` and `retrain status <id>` against an in-memory
 * Temporal dev server of its own, with one retrain run that no worker picks up (status must still
 * answer). One unmeasured run per command first (tsx's transform cache), then the median of `--runs`.
 */
export async function cliBench(runs = 10): Promise<CliBenchResult> {
  const temporal = await startDevServer({ log: path.join(ROOT, '.data', 'bench', 'temporal.log') });
  try {
    const { address } = temporal;
    const connection = await Connection.connect({ address });
    const workflowId = `retrain-bench-cli-${Date.now()}`;
    try {
      const client = new Client({ connection });
      await client.workflow.start<typeof retrainWorkflow>('retrainWorkflow', {
        workflowId,
        taskQueue: CPU_TASK_QUEUE,
        args: [{ model: 'bench-cli' }],
        typedSearchAttributes: [{ key: ModelNameAttribute, value: 'bench-cli' }],
      });
    } finally {
      await connection.close();
    }

    const env = { ...process.env, TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: 'default' };
    const commands = [['--help'], ['list'], ['status', workflowId]];
    const rows: string[][] = [];
    for (const args of commands) {
      const name = `retrain ${args[0] === 'status' ? 'status <id>' : args.join(' ')}`;
      const first = await runCli(args, env);
      if (first.code === null) {
        // Ten more runs would only wait for the same timeout.
        rows.push([name, '-', '-', '-', `> ${RUN_TIMEOUT_MS / 1000}`, 'killed', 'no']);
        process.stderr.write(`${name} still ran after ${RUN_TIMEOUT_MS / 1000} s and was killed\n`);
        continue;
      }
      const measured: Run[] = [];
      for (let i = 0; i < runs; i++) measured.push(await runCli(args, env));
      const seconds = measured.map((r) => r.seconds);
      const codes = [...new Set(measured.map((r) => (r.code === null ? 'killed' : String(r.code))))];
      const mid = median(seconds);
      rows.push([
        name,
        round(mid, 2).toFixed(2),
        round(Math.min(...seconds), 2).toFixed(2),
        round(Math.max(...seconds), 2).toFixed(2),
        round(first.seconds, 2).toFixed(2),
        codes.join('/'),
        mid < GOAL_SECONDS ? 'yes' : 'no',
      ]);
      const failed = measured.find((r) => r.code !== 0);
      if (failed && args[0] !== '--help') {
        process.stderr.write(
          `${name} exited ${failed.code ?? 'killed'}: ${failed.stderr.trim().slice(0, 300)}\n`,
        );
      }
    }
    return {
      header: ['command', 'median s', 'min s', 'max s', 'first s', 'exit', `< ${GOAL_SECONDS} s`],
      rows,
      title: `retrain start-up: node bin/retrain.js, median of ${runs} runs after one unmeasured, Temporal dev server at ${address}`,
    };
  } finally {
    await temporal.stop();
  }
}

function printTable(table: string[][], title: string): void {
  const widths = table[0]!.map((_, col) => Math.max(...table.map((row) => row[col]!.length)));
  console.log(title);
  console.log(`machine: ${machine()}, node ${process.version}`);
  for (const row of table)
    console.log(
      row
        .map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!)))
        .join('  '),
    );
}

/** One row per command: name, median, min, max and first-run seconds, exit codes, under the goal. */
export interface CliBenchResult {
  header: string[];
  rows: string[][];
  title: string;
}

if (require.main === module) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
  cliBench(Number(values.runs))
    .then(({ header, rows, title }) => printTable([header, ...rows], title))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
