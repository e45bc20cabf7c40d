import fs from 'node:fs/promises';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadFlightsIntoBuffer } from '../../storage/demo-data';
import { withDuckDb } from '../../storage/duckdb';
import { checkReadiness } from '../../storage/readiness';
import { loadCheckedBatch } from '../../storage/row-check';
import {
  bufferSource,
  createBufferFixture,
  hashTree,
  readBuffer,
  type BufferFixture,
} from '../helpers/buffer-fixture';

let fx: BufferFixture;

afterEach(async () => {
  await fx.cleanup();
});

/** One row per listed day at noon, for host `h`. */
function rowsOn(days: string[], host = 'h') {
  return days.map((day, i) => ({ ts: `${day}T12:00:00Z`, host, cpu: i, mem: 1 }));
}

describe('retention', () => {
  beforeEach(async () => {
    fx = await createBufferFixture({ maxDelayMs: 10, retentionDays: 3 });
  });

  it('deletes exactly the days older than N days before the newest day, not by the wall clock', async () => {
    const days = ['2001-01-01', '2001-01-05', '2001-01-07', '2001-01-08', '2001-01-09'];
    const first = await fx.ingestor.ingestRows(fx.spec.name, rowsOn(days.slice(0, 1)));
    expect(first.expiredDays).toEqual([]);
    const result = await fx.ingestor.ingestRows(fx.spec.name, rowsOn(days));
    expect(result.expiredDays).toEqual(['2001-01-01', '2001-01-05']);
    const left = [...new Set((await fx.buffer.partFiles(fx.spec.name)).map((p) => p.day))];
    expect(left).toEqual(['2001-01-07', '2001-01-08', '2001-01-09']);
    expect((await readBuffer(fx.buffer, fx.spec.name)).map((r) => r.ts.slice(0, 10))).toEqual(left);
    expect(await fx.buffer.applyRetention(fx.spec.name, 3)).toEqual([]);
    expect(await fx.buffer.applyRetention(fx.spec.name, 2)).toEqual(['2001-01-07']);
  });
});

describe('group commit', () => {
  beforeEach(async () => {
    fx = await createBufferFixture({ maxDelayMs: 300, maxRows: 100_000 });
  });

  it('turns N concurrent appends into fewer part files, each resolving once its rows are readable', async () => {
    const n = 24;
    const readable: boolean[] = [];
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const ts = `2001-02-01T00:${String(i).padStart(2, '0')}:00Z`;
        const result = await fx.ingestor.ingestRows(fx.spec.name, [{ ts, host: 'h', cpu: i, mem: 1 }]);
        expect(result).toMatchObject({ received: 1, inserted: 1, duplicates: 0 });
        const rows = await readBuffer(fx.buffer, fx.spec.name);
        readable[i] = rows.some((r) => r.ts === ts && r.cpu === i);
      }),
    );
    expect(readable).toEqual(Array.from({ length: n }, () => true));
    const files = await fx.buffer.partFiles(fx.spec.name);
    expect(files.length).toBeGreaterThanOrEqual(1);
    expect(files.length).toBeLessThan(n / 2);
    expect((await readBuffer(fx.buffer, fx.spec.name)).length).toBe(n);
  });
});

describe('closing the writer', () => {
  beforeEach(async () => {
    // No timer fires during the test: only close() can flush.
    fx = await createBufferFixture({ maxDelayMs: 600_000 });
  });

  it('waits for a batch being built and flushes it, so its append resolves with the rows written', async () => {
    const rows = rowsOn(['2001-02-02']);
    const pending = fx.writer.submit(
      fx.spec.name,
      { timeColumn: 'ts', entityColumn: 'host' },
      (conn, table) => loadCheckedBatch(conn, fx.spec, [{ kind: 'rows', rows }], table),
    );
    await fx.writer.close();
    expect(await pending).toEqual({ received: 1, inserted: 1, duplicates: 0, expiredDays: [] });
    expect(await readBuffer(fx.buffer, fx.spec.name)).toHaveLength(1);
    await expect(fx.ingestor.ingestRows(fx.spec.name, rows)).rejects.toThrow('The buffer writer is closed');
  });
});

describe('atomic writes', () => {
  beforeEach(async () => {
    fx = await createBufferFixture({ maxDelayMs: 10 });
  });

  it('undoes the renames of a write that fails half-way, leaving the buffer byte-for-byte unchanged', async () => {
    await fx.ingestor.ingestRows(fx.spec.name, rowsOn(['2001-01-01']));
    // A file where the second day's directory should go makes that rename fail after the first one.
    await fs.writeFile(path.join(fx.buffer.modelDir(fx.spec.name), 'day=2001-01-03'), 'in the way');
    const before = await hashTree(fx.bufferDir);
    await expect(
      fx.ingestor.ingestRows(fx.spec.name, rowsOn(['2001-01-02', '2001-01-03'])),
    ).rejects.toThrow();
    expect(await hashTree(fx.bufferDir)).toEqual(before);
  });
});

describe('stats and readiness', () => {
  beforeEach(async () => {
    fx = await createBufferFixture({ maxDelayMs: 10 });
  });

  it('reports records, files, days and bytes on disk', async () => {
    expect(await fx.buffer.stats(fx.spec.name)).toEqual({
      records: 0,
      files: 0,
      days: 0,
      firstDay: null,
      lastDay: null,
      bytes: 0,
    });
    await fx.ingestor.ingestRows(fx.spec.name, rowsOn(['2001-01-01', '2001-01-02']));
    await fx.ingestor.ingestRows(fx.spec.name, rowsOn(['2001-01-02'], 'g'));
    const files = await fx.buffer.partFiles(fx.spec.name);
    const bytes = (await Promise.all(files.map((f) => fs.stat(f.path)))).reduce((a, s) => a + s.size, 0);
    expect(await fx.buffer.stats(fx.spec.name)).toEqual({
      records: 3,
      files: 3,
      days: 2,
      firstDay: '2001-01-01',
      lastDay: '2001-01-02',
      bytes,
    });
  });

  it('counts the records and days of the last windowDays before the newest timestamp', async () => {
    let source = await fx.buffer.parquetSource(fx.spec.name);
    const input = (minRecords: number) => ({
      model: fx.spec.name,
      source,
      timeColumn: 'ts',
      windowDays: 2,
      minRecords,
    });
    expect(source).toBeUndefined();
    expect(await withDuckDb((conn) => checkReadiness(conn, input(1)))).toEqual({
      ready: false,
      reason: `Insufficient data: the buffer of ${fx.spec.name} is empty`,
      records: 0,
      days: 0,
      from: null,
      to: null,
    });
    await fx.ingestor.ingestRows(
      fx.spec.name,
      rowsOn(['2001-01-01', '2001-01-05', '2001-01-06', '2001-01-07']),
    );
    source = await fx.buffer.parquetSource(fx.spec.name);
    expect(await withDuckDb((conn) => checkReadiness(conn, input(3)))).toEqual({
      ready: false,
      reason: 'Insufficient data: 2 < 3 records in the last 2 days',
      records: 2,
      days: 2,
      from: '2001-01-06T12:00:00Z',
      to: '2001-01-07T12:00:00Z',
    });
    expect(await withDuckDb((conn) => checkReadiness(conn, input(2)))).toMatchObject({
      ready: true,
      records: 2,
    });
    // Enough records can still be too few days: a window with records on 2 days, 3 required.
    const days = (minDays: number) => withDuckDb((conn) => checkReadiness(conn, { ...input(2), minDays }));
    expect(await days(3)).toMatchObject({
      ready: false,
      reason: 'Insufficient data: 2 < 3 days with records in the last 2 days',
      days: 2,
    });
    expect(await days(2)).toMatchObject({
      ready: true,
      reason: 'Ready: 2 >= 2 records on 2 >= 2 days in the last 2 days',
    });
  });
});

describe('demo data', () => {
  beforeEach(async () => {
    fx = await createBufferFixture();
  });

  it('loads the flights through the atomic path, and loading twice adds nothing', async () => {
    const options = { topAirports: 3, fromDay: '2001-06-25' };
    const rows = await loadFlightsIntoBuffer(fx.buffer, ['flights-demo'], options);
    expect(rows).toBeGreaterThan(100);
    const first = await fx.buffer.stats('flights-demo');
    expect(first.records).toBe(rows);
    const before = await hashTree(fx.bufferDir);
    await loadFlightsIntoBuffer(fx.buffer, ['flights-demo'], options);
    expect(await hashTree(fx.bufferDir)).toEqual(before);
    const source = await bufferSource(fx.buffer, 'flights-demo');
    const keys = await withDuckDb(async (conn) => {
      const r = await conn.runAndReadAll(
        `SELECT count(*)::BIGINT AS n, count(DISTINCT (ts, origin))::BIGINT AS k
         FROM ${source}`,
      );
      return r.getRowObjectsJson()[0];
    });
    expect(keys).toEqual({ n: String(rows), k: String(rows) });
  });
});
