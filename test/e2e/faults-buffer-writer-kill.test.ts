import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DataBuffer } from '../../storage/buffer';
import { BufferWriter } from '../../storage/buffer-writer';
import { withDuckDb } from '../../storage/duckdb';
import { buildHourlyBatch, HOURLY_KEY } from '../helpers/flush-batch';

const ROOT = path.resolve(__dirname, '..', '..');
const CHILD = path.join(ROOT, 'test', 'helpers', 'buffer-flush-child.ts');
/** One part file per day: 200 files to stage, sync and rename, so the flush has phases to land in. */
const DAYS = 200;
const HOSTS = 20;
const ROWS = DAYS * 24 * HOSTS;
const PART_FILE = /^day=\d{4}-\d{2}-\d{2}\/part-[^/]+\.parquet$/;

/** Entries of a model dir during a flush: what the kill landed in. */
interface KillPoint {
  entries: string[];
  /** Part files already renamed into day dirs at that moment. */
  renamed: number;
}

/**
 * Starts the writer child on `model` and SIGKILLs it the moment its model dir shows `phase`; fails
 * when the child finishes first, so a passing test really killed a flush in progress.
 */
async function killDuring(
  buffer: DataBuffer,
  model: string,
  phase: (entries: string[], renamed: number) => boolean,
): Promise<KillPoint> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CHILD, buffer.dir, model, `${DAYS}`, `${HOSTS}`],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = once(child, 'exit');
  const dir = buffer.modelDir(model);
  const deadline = Date.now() + 90_000;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the writer finished before the kill:\n${output}`);
      if (Date.now() > deadline) throw new Error(`the flush never reached the phase to kill in:\n${output}`);
      let entries: string[] = [];
      try {
        entries = fsSync.readdirSync(dir);
      } catch {
        // Not created yet.
      }
      // A day dir is created just before its first file is renamed in: count files, not dirs.
      const renamed = entries
        .filter((e) => e.startsWith('day='))
        .reduce((n, e) => n + safeCount(path.join(dir, e)), 0);
      if (phase(entries, renamed)) {
        child.kill('SIGKILL');
        const [, signal] = await exited;
        expect(signal).toBe('SIGKILL');
        return { entries, renamed };
      }
      await yieldToLoop();
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function safeCount(dayDir: string): number {
  try {
    return fsSync.readdirSync(dayDir).length;
  } catch {
    return 0;
  }
}

/** Rows the buffer's readers (export, readiness) see: `parquetSource`, the committed part files. */
async function rowsRead(buffer: DataBuffer, model: string): Promise<number> {
  const source = await buffer.parquetSource(model);
  if (!source) return 0;
  return withDuckDb(async (conn) => {
    const reader = await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM ${source}`);
    return Number(reader.getRowObjectsJson()[0]?.n);
  });
}

// Concurrent: each kill's next ingest waits out the dead writer's 30 s lock heartbeat; the two waits overlap.
describe('the buffer writer SIGKILLed mid-flush', { timeout: 150_000, concurrent: true }, () => {
  let dir: string;
  let buffer: DataBuffer;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-writer-kill-'));
    buffer = new DataBuffer(dir);
  });

  afterAll(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  /**
   * After the kill the buffer holds all of the batch or none of it, counting only part files; the next
   * writer takes the dead one's lock over, clears what it left and appends; nothing stray remains.
   */
  async function expectWholeOrNoneThenUsable(model: string, killed: KillPoint): Promise<number> {
    const parts = await buffer.partFiles(model);
    for (const part of parts) expect(path.relative(buffer.modelDir(model), part.path)).toMatch(PART_FILE);
    const stats = await buffer.stats(model);
    expect([0, ROWS]).toContain(stats.records);
    expect(await rowsRead(buffer, model)).toBe(stats.records);
    expect(stats.files).toBe(stats.records === 0 ? 0 : DAYS);
    expect(killed.entries).toContain('.lock');

    // The next ingest, through a writer of this process: waits out the dead holder's heartbeat, takes
    // the lock over, and the batch (sent again, as a client whose request failed would) is whole once.
    const writer = await BufferWriter.open(buffer, { retentionDays: 100_000 });
    try {
      const again = await writer.submit(model, HOURLY_KEY, buildHourlyBatch(DAYS, HOSTS));
      expect(again.inserted + again.duplicates).toBe(ROWS);
      expect(again.duplicates).toBe(stats.records);
    } finally {
      await writer.close();
    }
    const after = await buffer.stats(model);
    expect(after).toMatchObject({ records: ROWS, files: DAYS });
    expect(await rowsRead(buffer, model)).toBe(ROWS);
    // No staging dir, commit record or lock left beside the days.
    const leftovers = (await fs.readdir(buffer.modelDir(model))).filter((e) => !e.startsWith('day='));
    expect(leftovers).toEqual([]);
    return stats.records;
  }

  it('while DuckDB writes the staged part files: none of the batch is visible, and the next ingest adds it whole', async () => {
    const model = 'killed-staging';
    const killed = await killDuring(
      buffer,
      model,
      (entries) =>
        entries.some((e) => e.startsWith('.staging-')) && !entries.some((e) => e.startsWith('.commit-')),
    );
    expect(killed.renamed).toBe(0);
    expect(await expectWholeOrNoneThenUsable(model, killed)).toBe(0);
  });

  it('once part files are renamed into their days but before the commit: they are not visible, and are undone', async () => {
    const model = 'killed-renaming';
    const killed = await killDuring(
      buffer,
      model,
      (entries, renamed) =>
        entries.some((e) => e.startsWith('.commit-') && e.endsWith('.json')) && renamed > 0,
    );
    // The commit record was there and files had moved into days: the kill landed inside the commit.
    expect(killed.entries.filter((e) => e.startsWith('.commit-'))).toHaveLength(1);
    expect(killed.renamed).toBeGreaterThan(0);
    await expectWholeOrNoneThenUsable(model, killed);
  });
});
