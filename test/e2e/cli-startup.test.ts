import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..', '..');

/**
 * Runs the command line as bin/retrain.js does (tsx registered, then clients/cli.ts), in a fresh
 * process so the module cache holds only what these commands loaded; nothing listens at
 * TEMPORAL_ADDRESS, so the commands that run fail fast with exit code 1.
 */
const CHILD = `
import('tsx').then(async () => {
  const { main } = require('./clients/cli.ts');
  const stderr = [];
  const out = { log() {}, progress() {}, endProgress() {}, result() {}, writeOut() {}, writeErr: (t) => stderr.push(t) };
  const heavy = () => Object.keys(require.cache).filter((p) => /@tensorflow|@duckdb/.test(p));
  const help = [];
  for (const argv of [['--help'], ['list', '--help'], ['status', '--help']]) help.push(await main(argv, out));
  const runs = await Promise.all([['list'], ['status', 'retrain-x-20260101T000000Z'], ['cancel', 'retrain-x-20260101T000000Z']].map((argv) => main(argv, out)));
  const loaded = heavy();
  // The check itself sees them once a command that needs DuckDB is loaded.
  require('./clients/commands/stats.ts');
  process.stdout.write(JSON.stringify({ help, runs, stderr, loaded, afterStats: heavy().length }));
});
`;

describe('retrain start-up', () => {
  it('--help, list, status and cancel load neither TensorFlow.js nor DuckDB', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', CHILD], {
      cwd: ROOT,
      env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' },
    });
    const result = JSON.parse(stdout) as {
      help: number[];
      runs: number[];
      stderr: string[];
      loaded: string[];
      afterStats: number;
    };
    expect(result.help).toEqual([0, 0, 0]);
    expect(result.runs).toEqual([1, 1, 1]);
    for (const line of result.stderr)
      expect(line).toMatch(/^retrain: cannot reach Temporal at 127\.0\.0\.1:1/);
    expect(result.loaded).toEqual([]);
    expect(result.afterStats).toBeGreaterThan(0);
  });
});
