import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { sqlString, withDuckDb } from '../../storage/duckdb';
import { RowCheckError } from '../../storage/ingest';
import { ModelNotFoundError } from '../../storage/registry';
import { loadConfig } from '../../config/config';
import { cliWith } from '../helpers/run-cli';
import {
  createBufferFixture,
  csv,
  hashTree,
  readBuffer,
  type BufferFixture,
} from '../helpers/buffer-fixture';

const HEADER = 'ts,host,cpu,mem';
const GOOD_LINES = [
  '2001-03-01T00:00:00Z,web-1,0.5,10',
  '2001-03-01T01:00:00Z,web-1,0.25,11',
  '2001-03-02 00:00:00,web-2,1,12',
];
const EXPECTED = [
  { ts: '2001-03-01T00:00:00Z', host: 'web-1', cpu: 0.5, mem: 10 },
  { ts: '2001-03-01T01:00:00Z', host: 'web-1', cpu: 0.25, mem: 11 },
  { ts: '2001-03-02T00:00:00Z', host: 'web-2', cpu: 1, mem: 12 },
];

let fx: BufferFixture;

beforeEach(async () => {
  fx = await createBufferFixture({ maxDelayMs: 10 });
});

afterEach(async () => {
  await fx.cleanup();
});

describe('ingestion of each format', () => {
  it('CSV: the buffer ends with exactly the file rows, extra columns dropped when asked to, types normalised', async () => {
    const file = await fx.file(
      'metrics.csv',
      csv(
        `${HEADER},note`,
        GOOD_LINES.map((line) => `${line},a`),
      ),
    );
    const result = await fx.ingestor.ingestFiles(fx.spec.name, [file], { extraColumns: 'drop' });
    expect(result).toEqual({
      model: fx.spec.name,
      received: 3,
      inserted: 3,
      duplicates: 0,
      conflictsResolved: 0,
      expiredDays: [],
    });
    expect(await readBuffer(fx.buffer, fx.spec.name)).toEqual(EXPECTED);
    const parts = await fx.buffer.partFiles(fx.spec.name);
    expect(parts.map((p) => p.day)).toEqual(['2001-03-01', '2001-03-02']);
    const columns = await withDuckDb(async (conn) => {
      const r = await conn.runAndReadAll(
        `DESCRIBE SELECT * FROM read_parquet(${sqlString(parts[0]!.path)}, hive_partitioning = false)`,
      );
      return r.getRowObjectsJson().map((c) => `${String(c.column_name)}:${String(c.column_type)}`);
    });
    expect(columns).toEqual(['ts:TIMESTAMP', 'host:VARCHAR', 'cpu:DOUBLE', 'mem:DOUBLE']);
  });

  it('Parquet: the buffer ends with exactly the file rows (extra columns dropped when asked to)', async () => {
    const file = `${fx.dir}/metrics.parquet`;
    await withDuckDb((conn) =>
      conn.run(
        `COPY (SELECT * FROM (VALUES
           (TIMESTAMP '2001-03-01 00:00:00', 'web-1', 0.5, 10, 'a'),
           (TIMESTAMP '2001-03-01 01:00:00', 'web-1', 0.25, 11, 'b'),
           (TIMESTAMP '2001-03-02 00:00:00', 'web-2', 1.0, 12, 'c')) t(ts, host, cpu, mem, note))
         TO ${sqlString(file)} (FORMAT parquet)`,
      ),
    );
    const result = await fx.ingestor.ingestFiles(fx.spec.name, [file], { extraColumns: 'drop' });
    expect(result.inserted).toBe(3);
    expect(await readBuffer(fx.buffer, fx.spec.name)).toEqual(EXPECTED);
  });

  it('JSONL: the buffer ends with exactly the file rows (blank lines are not rows; extra keys dropped when asked to)', async () => {
    const lines = EXPECTED.map((r) => JSON.stringify({ ...r, note: 'x' }));
    const file = await fx.file('metrics.jsonl', `${lines[0]}\n\n${lines[1]}\n${lines[2]}\n`);
    const result = await fx.ingestor.ingestFiles(fx.spec.name, [file], { extraColumns: 'drop' });
    expect(result.inserted).toBe(3);
    expect(await readBuffer(fx.buffer, fx.spec.name)).toEqual(EXPECTED);
  });
});

describe('a rejected batch', () => {
  it('leaves the buffer byte-for-byte unchanged and names the file, row and reason (CSV)', async () => {
    await fx.ingestor.ingestFiles(fx.spec.name, [await fx.file('first.csv', csv(HEADER, GOOD_LINES))]);
    const before = await hashTree(fx.bufferDir);
    const bad = await fx.file(
      'orders.csv',
      csv(HEADER, [
        '2001-03-03T00:00:00Z,web-1,1,1',
        '2001-03-03T01:00:00Z,web-1,abc,1',
        '2001-03-04T00:00:00Z,web-1,1,1',
      ]),
    );
    const error = await fx.ingestor.ingestFiles(fx.spec.name, [bad]).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(RowCheckError);
    expect((error as Error).message).toBe(`${bad} row 2: cpu is "abc", expected a number`);
    expect(await hashTree(fx.bufferDir)).toEqual(before);
  });

  it('writes nothing of a good file when another file of the same batch has a bad row (JSONL)', async () => {
    const before = await hashTree(fx.bufferDir);
    const good = await fx.file('good.csv', csv(HEADER, GOOD_LINES));
    const bad = await fx.file(
      'bad.jsonl',
      [
        JSON.stringify({ ts: '2001-03-05T00:00:00Z', host: 'web-1', cpu: 1, mem: 1 }),
        JSON.stringify({ ts: '2001-03-05T01:00:00Z', host: 'web-1', cpu: 1, mem: 1 }),
        JSON.stringify({ ts: 'soon', host: 'web-1', cpu: 1, mem: 1 }),
      ].join('\n'),
    );
    await expect(fx.ingestor.ingestFiles(fx.spec.name, [good, bad])).rejects.toThrow(
      `${bad} row 3: ts is "soon", expected a timestamp such as 2001-01-31T14:00:00Z`,
    );
    expect(await hashTree(fx.bufferDir)).toEqual(before);
    expect(await fx.buffer.hasData(fx.spec.name)).toBe(false);
  });

  it.each([
    ['a missing value', '2001-03-01T00:00:00Z,web-1,,1', 'cpu is missing'],
    ['an infinite number', '2001-03-01T00:00:00Z,web-1,inf,1', 'cpu is "inf", expected a finite number'],
    ['an empty entity', '2001-03-01T00:00:00Z, ,1,1', 'host is " ", expected a non-empty string'],
    [
      'a time far in the future',
      '2999-01-01T00:00:00Z,web-1,1,1',
      'ts is "2999-01-01T00:00:00Z", expected a timestamp no more than a day in the future',
    ],
  ])('rejects %s with the reason', async (_what, line, reason) => {
    const file = await fx.file('one.csv', csv(HEADER, [GOOD_LINES[0]!, line]));
    await expect(fx.ingestor.ingestFiles(fx.spec.name, [file])).rejects.toThrow(`${file} row 2: ${reason}`);
    expect(await fx.buffer.hasData(fx.spec.name)).toBe(false);
  });

  it('rejects a file without a spec column, naming it', async () => {
    const file = await fx.file('nomem.csv', csv('ts,host,cpu', ['2001-03-01T00:00:00Z,web-1,1']));
    await expect(fx.ingestor.ingestFiles(fx.spec.name, [file])).rejects.toThrow(
      `${file}: no column mem (it has ts, host, cpu)`,
    );
  });

  it('rejects two rows with the same time and entity but different values, naming both', async () => {
    const a = await fx.file('a.csv', csv(HEADER, GOOD_LINES));
    const b = await fx.file('b.csv', csv(HEADER, ['2001-03-01T01:00:00Z,web-1,0.9,11']));
    await expect(fx.ingestor.ingestFiles(fx.spec.name, [a, b])).rejects.toThrow(
      `${b} row 1: ts 2001-03-01T01:00:00Z and host "web-1" repeat ${a} row 2 with different values`,
    );
    expect(await fx.buffer.hasData(fx.spec.name)).toBe(false);
  });

  it('rejects an unknown model with ModelNotFoundError and an unsupported extension by name', async () => {
    const file = await fx.file('good.csv', csv(HEADER, GOOD_LINES));
    await expect(fx.ingestor.ingestFiles('no-such-model', [file])).rejects.toBeInstanceOf(ModelNotFoundError);
    const txt = await fx.file('data.txt', 'x');
    await expect(fx.ingestor.ingestFiles(fx.spec.name, [txt])).rejects.toThrow(
      `${txt}: unsupported file type; expected .csv, .parquet, .jsonl, .ndjson`,
    );
  });
});

describe('deduplication', () => {
  it('re-ingesting the same file inserts 0 rows and reports them as duplicates', async () => {
    const file = await fx.file('metrics.csv', csv(HEADER, GOOD_LINES));
    await fx.ingestor.ingestFiles(fx.spec.name, [file]);
    const before = await hashTree(fx.bufferDir);
    const again = await fx.ingestor.ingestFiles(fx.spec.name, [file]);
    expect(again).toMatchObject({ received: 3, inserted: 0, duplicates: 3 });
    expect(await hashTree(fx.bufferDir)).toEqual(before);
    expect(await readBuffer(fx.buffer, fx.spec.name)).toEqual(EXPECTED);
  });

  it('keeps the stored row when a later batch repeats its key with other values, and collapses identical repeats', async () => {
    await fx.ingestor.ingestFiles(fx.spec.name, [await fx.file('a.csv', csv(HEADER, GOOD_LINES))]);
    const result = await fx.ingestor.ingestRows(fx.spec.name, [
      { ts: '2001-03-01T00:00:00Z', host: 'web-1', cpu: 99, mem: 99 },
      { ts: '2001-03-03T00:00:00Z', host: 'web-3', cpu: 2, mem: 3 },
      { ts: '2001-03-03T00:00:00Z', host: 'web-3', cpu: 2, mem: 3 },
    ]);
    expect(result).toMatchObject({ received: 3, inserted: 1, duplicates: 2 });
    expect(await readBuffer(fx.buffer, fx.spec.name)).toEqual([
      ...EXPECTED,
      { ts: '2001-03-03T00:00:00Z', host: 'web-3', cpu: 2, mem: 3 },
    ]);
  });
});

describe('retrain ingest --on-conflict', () => {
  // web-1 at 01:00 appears three times: b.csv row 1 agrees with nobody, row 2 repeats a.csv row 2.
  const conflicting = async () => [
    await fx.file('a.csv', csv(HEADER, GOOD_LINES)),
    await fx.file(
      'b.csv',
      csv(HEADER, ['2001-03-01T01:00:00Z,web-1,0.9,90', '2001-03-01T01:00:00Z,web-1,0.7,70']),
    ),
  ];
  const retrain = () =>
    cliWith(loadConfig({ RETRAIN_STORE: `file://${fx.storeDir}`, RETRAIN_BUFFER_DIR: fx.bufferDir }, fx.dir));

  it('reject (the default) fails naming both rows and writes nothing', async () => {
    const [a, b] = await conflicting();
    for (const flags of [[], ['--on-conflict', 'reject']]) {
      const run = await retrain()('ingest', '--model', fx.spec.name, a!, b!, ...flags);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain(
        `${b} row 1: ts 2001-03-01T01:00:00Z and host "web-1" repeat ${a} row 2 with different values`,
      );
    }
    expect(await fx.buffer.hasData(fx.spec.name)).toBe(false);
  });

  it.each([
    ['first', { cpu: 0.25, mem: 11 }],
    ['last', { cpu: 0.7, mem: 70 }],
  ])('%s keeps that row of the key, reports the rows dropped and prints them', async (policy, kept) => {
    const [a, b] = await conflicting();
    const json = await retrain()(
      'ingest',
      '--model',
      fx.spec.name,
      a!,
      b!,
      '--on-conflict',
      policy,
      '--json',
    );
    expect(json).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(json.stdout)).toMatchObject({
      received: 5,
      inserted: 3,
      duplicates: 0,
      conflictsResolved: 2,
    });
    expect(await readBuffer(fx.buffer, fx.spec.name)).toEqual([
      EXPECTED[0],
      { ...EXPECTED[1], ...kept },
      EXPECTED[2],
    ]);
    const text = await retrain()('ingest', '--model', fx.spec.name, a!, b!, '--on-conflict', policy);
    expect(text.stdout).toBe(
      `${fx.spec.name}: 5 rows read, 0 inserted, 3 duplicates skipped, 2 conflicting rows dropped (--on-conflict ${policy})`,
    );
  });

  it('keeps the stored row over a resolved one, counting it as a duplicate', async () => {
    const [a, b] = await conflicting();
    await fx.ingestor.ingestFiles(fx.spec.name, [a!]);
    const result = await fx.ingestor.ingestFiles(fx.spec.name, [b!], { onConflict: 'last' });
    expect(result).toMatchObject({ received: 2, inserted: 0, duplicates: 1, conflictsResolved: 1 });
    expect(await readBuffer(fx.buffer, fx.spec.name)).toEqual(EXPECTED);
  });

  it('refuses a policy it does not know', async () => {
    const [a] = await conflicting();
    const run = await retrain()('ingest', '--model', fx.spec.name, a!, '--on-conflict', 'newest');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('reject, first, last');
    expect(await fx.buffer.hasData(fx.spec.name)).toBe(false);
  });
});
