import fs from 'node:fs/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createServer, type InferenceServer } from '../../serving/server';
import { sqlString, withDuckDb } from '../../storage/duckdb';
import { loadConfig } from '../../config/config';
import { createBufferFixture, csv, hashTree, type BufferFixture } from '../helpers/buffer-fixture';
import { cliWith, type CliResult } from '../helpers/run-cli';

const API_KEY = 'bad-input-ingest-key-0123456789';
const HEADER = 'ts,host,cpu,mem';
const GOOD = '2001-03-01T00:00:00Z,web-1,0.5,10';
const row = (over: Record<string, unknown> = {}) => ({
  ts: '2001-03-02T00:00:00Z',
  host: 'web-1',
  cpu: 0.5,
  mem: 10,
  ...over,
});
const jsonl = (...rows: unknown[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;
// A 50 MB line refused naming the 8 MiB limit: the chunked line check stopped it before a reader took it whole.
const BIG = 50 * 1024 * 1024;
const SPEC_COLUMNS = "the spec's columns are ts, host, cpu, mem";

/** A file of a batch: its name, and its content or how to make it in the fixture's dir. */
interface FileCase {
  what: string;
  name: string;
  content?: string | Buffer;
  make?: (path: string) => Promise<void>;
  /** Matched against the CLI's stderr, after the file's path. */
  error: string | RegExp;
}

const parquetOf = (select: string) => async (path: string) => {
  await withDuckDb((conn) => conn.run(`COPY (${select}) TO ${sqlString(path)} (FORMAT parquet)`));
};

const FILE_CASES: FileCase[] = [
  { what: 'an empty CSV', name: 'empty.csv', content: '', error: 'empty file (0 bytes)' },
  { what: 'an empty JSONL', name: 'empty.jsonl', content: '', error: 'empty file (0 bytes)' },
  { what: 'an empty Parquet', name: 'empty.parquet', content: '', error: 'empty file (0 bytes)' },
  {
    what: 'a CSV with a header only',
    name: 'header.csv',
    content: `${HEADER}\n`,
    error: 'no rows after the header',
  },
  {
    what: 'a CSV of blank lines',
    name: 'blank.csv',
    content: '\n\n',
    error: 'empty file, expected a header row',
  },
  {
    what: 'binary garbage as CSV',
    name: 'garbage.csv',
    content: Buffer.from([0x89, 0x50, 0x00, 0xff, 0xfe, 0x01, 0x02, 0x0a, 0xc3, 0x28]),
    error: 'binary data (NUL bytes) in the header, not a CSV text file',
  },
  {
    what: 'binary garbage as JSONL',
    name: 'garbage.jsonl',
    content: Buffer.from([0x89, 0x50, 0x00, 0xff, 0xfe, 0x01, 0x02, 0x0a]),
    error: /Malformed JSON .* line 2/,
  },
  {
    what: 'binary garbage as Parquet',
    name: 'garbage.parquet',
    content: Buffer.alloc(4096, 0xab),
    error: /No magic bytes|not a Parquet file|too small/,
  },
  { what: 'a CSV named .parquet', name: 'csv.parquet', content: csv(HEADER, [GOOD]), error: /magic bytes/ },
  {
    what: 'a CSV that is not UTF-8',
    name: 'latin1.csv',
    content: Buffer.concat([
      Buffer.from(`${HEADER}\n2001-03-01T00:00:00Z,w`),
      Buffer.from([0xe9]),
      Buffer.from(',1,1\n'),
    ]),
    error: /Line: 2.*not utf-8 encoded/,
  },
  {
    what: 'a text value for a number',
    name: 'type.csv',
    content: csv(HEADER, [GOOD, '2001-03-01T01:00:00Z,web-1,abc,1']),
    error: 'row 2: cpu is "abc", expected a number',
  },
  {
    what: 'a JSON string for a number',
    name: 'type.jsonl',
    content: jsonl(row({ mem: '12' })),
    error: 'row 1: mem is "12", expected a number',
  },
  {
    what: 'a JSON boolean for a number',
    name: 'bool.jsonl',
    content: jsonl(row({ cpu: true })),
    error: 'row 1: cpu is true, expected a number',
  },
  {
    what: 'a number for the entity',
    name: 'entity.jsonl',
    content: jsonl(row({ host: 1.5 })),
    error: 'row 1: host is 1.5, expected a non-empty string',
  },
  {
    what: 'a JSON line that is not an object',
    name: 'array.jsonl',
    content: '[1,2]\n',
    error: 'row 1: expected a JSON object, got [1,2]',
  },
  {
    what: 'a missing value',
    name: 'hole.csv',
    content: csv(HEADER, ['2001-03-01T00:00:00Z,web-1,,1']),
    error: 'row 1: cpu is missing',
  },
  {
    what: 'a missing JSON key',
    name: 'hole.jsonl',
    content: jsonl({ ts: '2001-03-01T00:00:00Z', host: 'a', cpu: 1 }),
    error: 'row 1: mem is missing',
  },
  {
    what: 'a missing column',
    name: 'nomem.csv',
    content: csv('ts,host,cpu', ['2001-03-01T00:00:00Z,web-1,1']),
    error: ': no column mem (it has ts, host, cpu)',
  },
  {
    what: 'a missing Parquet column',
    name: 'nomem.parquet',
    make: parquetOf(`SELECT TIMESTAMP '2001-03-01' AS ts, 'a' AS host, 1.0 AS cpu`),
    error: ': no column mem',
  },
  {
    what: 'a short CSV line',
    name: 'short.csv',
    content: csv(HEADER, ['2001-03-01T00:00:00Z,web-1']),
    error: /Line: 2.*Expected Number of Columns: 4 Found: 2/,
  },
  {
    what: 'a long CSV line',
    name: 'ragged.csv',
    content: csv(HEADER, [`${GOOD},7`]),
    error: /Line: 2.*Expected Number of Columns: 4 Found: 5/,
  },
  {
    what: 'an extra CSV column',
    name: 'extra.csv',
    content: csv(`${HEADER},note`, [`${GOOD},x`]),
    error: `: unknown column "note"; ${SPEC_COLUMNS}`,
  },
  {
    what: 'extra JSON keys',
    name: 'extra.jsonl',
    content: jsonl(row(), row({ ts: '2001-03-02T01:00:00Z', zz: 1, note: 'x' })),
    error: `row 2: unknown columns "note", "zz"; ${SPEC_COLUMNS}`,
  },
  {
    what: 'an extra Parquet column',
    name: 'extra.parquet',
    make: parquetOf(
      `SELECT TIMESTAMP '2001-03-01' AS ts, 'a' AS host, 1.0 AS cpu, 2.0 AS mem, 'x' AS cpu_pct`,
    ),
    error: `: unknown column "cpu_pct"; ${SPEC_COLUMNS}`,
  },
  {
    what: 'a repeated CSV column',
    name: 'twice.csv',
    content: csv('ts,host,cpu,cpu,mem', ['2001-03-01T00:00:00Z,a,1,2,3']),
    error: ': column "cpu" appears twice in the header',
  },
  {
    what: 'a repeated JSON key',
    name: 'twice.jsonl',
    content: '{"ts":"2001-03-01T00:00:00Z","host":"a","cpu":1,"cpu":2,"mem":1}\n',
    error: 'row 1: key "cpu" appears more than once',
  },
  {
    what: 'a timestamp that is not one',
    name: 'ts.csv',
    content: csv(HEADER, ['yesterday,web-1,1,1']),
    error: 'row 1: ts is "yesterday", expected a timestamp such as 2001-01-31T14:00:00Z',
  },
  {
    what: 'month 13',
    name: 'month.csv',
    content: csv(HEADER, ['2001-13-45T00:00:00Z,web-1,1,1']),
    error: 'row 1: ts is "2001-13-45T00:00:00Z", expected a timestamp',
  },
  {
    what: 'an epoch number for a timestamp',
    name: 'epoch.jsonl',
    content: jsonl(row({ ts: 983404800 })),
    error: 'row 1: ts is 983404800, expected a timestamp',
  },
  {
    what: 'a timestamp in the far future',
    name: 'future.csv',
    content: csv(HEADER, ['2999-01-01T00:00:00Z,web-1,1,1']),
    error: 'row 1: ts is "2999-01-01T00:00:00Z", expected a timestamp no more than a day in the future',
  },
  {
    what: 'NaN',
    name: 'nan.csv',
    content: csv(HEADER, ['2001-03-01T00:00:00Z,web-1,NaN,1']),
    error: 'row 1: cpu is "NaN", expected a finite number',
  },
  {
    what: 'Infinity',
    name: 'infinity.csv',
    content: csv(HEADER, ['2001-03-01T00:00:00Z,web-1,1,Infinity']),
    error: 'row 1: mem is "Infinity", expected a finite number',
  },
  {
    what: '"inf"',
    name: 'inf.csv',
    content: csv(HEADER, ['2001-03-01T00:00:00Z,web-1,-inf,1']),
    error: 'row 1: cpu is "-inf", expected a finite number',
  },
  {
    what: 'a NaN JSON literal',
    name: 'nan.jsonl',
    content: '{"ts":"2001-03-01T00:00:00Z","host":"a","cpu":NaN,"mem":1}\n',
    error: 'row 1: cpu is NaN, expected a finite number',
  },
  {
    what: 'a JSON number beyond double',
    name: 'big.jsonl',
    content: jsonl(row()).replace('"cpu":0.5', '"cpu":1e999'),
    error: 'row 1: cpu is 1e999, expected a finite number',
  },
  {
    what: 'one key twice with other values',
    name: 'dup.csv',
    content: csv(HEADER, [GOOD, '2001-03-01T00:00:00Z,web-1,0.9,10']),
    error: 'row 2: ts 2001-03-01T00:00:00Z and host "web-1" repeat',
  },
  {
    what: 'a 50 MB single-line JSONL',
    name: 'huge.jsonl',
    make: (path) =>
      fs.writeFile(path, `{"ts":"2001-03-01T00:00:00Z","host":"${'x'.repeat(BIG)}","cpu":1,"mem":1}\n`),
    error: 'line 1: longer than 8 MiB, the most one row may take',
  },
  {
    what: 'a 50 MB CSV line',
    name: 'huge.csv',
    make: (path) => fs.writeFile(path, `${HEADER}\n${GOOD}\n2001-03-01T01:00:00Z,${'x'.repeat(BIG)},1,1\n`),
    error: 'line 3: longer than 8 MiB, the most one row may take',
  },
  {
    what: 'a 50 MB CSV header',
    name: 'header50.csv',
    make: (path) => fs.writeFile(path, `${'x'.repeat(BIG)}\n`),
    error: 'line 1: longer than 8 MiB',
  },
  {
    what: 'a .txt file',
    name: 'data.txt',
    content: csv(HEADER, [GOOD]),
    error: 'unsupported file type; expected .csv, .parquet, .jsonl, .ndjson',
  },
  {
    what: 'a .json file',
    name: 'data.json',
    content: JSON.stringify([row()]),
    error: 'unsupported file type',
  },
  { what: 'no extension', name: 'data', content: csv(HEADER, [GOOD]), error: 'unsupported file type' },
  { what: 'a directory', name: 'dir.csv', make: (path) => fs.mkdir(path), error: ': no such file' },
  { what: 'a missing file', name: 'missing.csv', make: async () => {}, error: ': no such file' },
];

/** A POST /ingest body, and what the 400 must say. */
interface BodyCase {
  what: string;
  body: (model: string) => string;
  status: number;
  error: string | RegExp;
}

const body = (over: Record<string, unknown>) => (model: string) =>
  JSON.stringify({ model, rows: [row()], ...over });
const withRow = (r: unknown) => body({ rows: [row(), r] });

const BODY_CASES: BodyCase[] = [
  { what: 'a body that is not JSON', body: () => '{"model":', status: 400, error: /JSON/ },
  {
    what: 'a JSON array body',
    body: () => '[]',
    status: 400,
    error: /model:.*expected object|expected object/,
  },
  { what: 'no rows field', body: (model) => JSON.stringify({ model }), status: 400, error: 'rows:' },
  { what: 'rows that are not an array', body: body({ rows: { a: 1 } }), status: 400, error: 'rows:' },
  { what: 'no rows', body: body({ rows: [] }), status: 400, error: 'rows: rows must hold at least one row' },
  {
    what: 'a row that is a number',
    body: withRow(7),
    status: 400,
    error: 'row 2: expected a JSON object, got 7',
  },
  {
    what: 'a row that is null',
    body: withRow(null),
    status: 400,
    error: 'row 2: expected a JSON object, got null',
  },
  {
    what: 'a row that is an array',
    body: withRow([1]),
    status: 400,
    error: 'row 2: expected a JSON object, got [1]',
  },
  {
    what: 'a string for a number',
    body: withRow(row({ cpu: '0.5' })),
    status: 400,
    error: 'row 2: cpu is "0.5", expected a number',
  },
  {
    what: 'null for a number',
    body: withRow(row({ mem: null })),
    status: 400,
    error: 'row 2: mem is null, expected a number',
  },
  {
    what: 'an object for a number',
    body: withRow(row({ mem: { v: 1 } })),
    status: 400,
    error: 'row 2: mem is {"v":1}, expected a number',
  },
  {
    what: 'an empty entity',
    body: withRow(row({ host: '' })),
    status: 400,
    error: 'row 2: host is "", expected a non-empty string',
  },
  {
    what: 'a missing key',
    body: withRow({ ts: '2001-03-02T00:00:00Z', host: 'a', cpu: 1 }),
    status: 400,
    error: 'row 2: mem is missing',
  },
  {
    what: 'an extra key',
    body: withRow(row({ cpu_pct: 3 })),
    status: 400,
    error: `row 2: unknown column "cpu_pct"; ${SPEC_COLUMNS}`,
  },
  {
    what: 'a bad timestamp',
    body: withRow(row({ ts: '2001-02-30T00:00:00Z' })),
    status: 400,
    error: 'row 2: ts is "2001-02-30T00:00:00Z", expected a timestamp',
  },
  {
    what: 'a numeric timestamp',
    body: withRow(row({ ts: 983404800000 })),
    status: 400,
    error: 'row 2: ts is 983404800000, expected a timestamp',
  },
  {
    what: 'a far-future timestamp',
    body: withRow(row({ ts: '2999-01-01T00:00:00Z' })),
    status: 400,
    error: 'expected a timestamp no more than a day in the future',
  },
  {
    what: 'a number beyond double (1e999)',
    body: (model) => body({})(model).replace('"cpu":0.5', '"cpu":1e999'),
    status: 400,
    error: 'row 1: cpu is "Infinity", expected a number',
  },
  {
    what: '"NaN" as text',
    body: withRow(row({ cpu: 'NaN' })),
    status: 400,
    error: 'row 2: cpu is "NaN", expected a number',
  },
  {
    what: 'one key twice with other values',
    body: body({ rows: [row(), row({ cpu: 0.9 })] }),
    status: 400,
    error: 'row 2: ts 2001-03-02T00:00:00Z and host "web-1" repeat row 1 with different values',
  },
  { what: 'an unknown onConflict', body: body({ onConflict: 'newest' }), status: 400, error: 'onConflict:' },
  {
    what: 'an unknown extraColumns',
    body: body({ extraColumns: 'keep' }),
    status: 400,
    error: 'extraColumns:',
  },
  {
    what: 'a model name with a path',
    body: (model) => body({})(model).replace(`"${model}"`, '"../x"'),
    status: 400,
    error: 'model: model name must be a lowercase slug',
  },
  {
    what: 'an unknown model',
    body: (model) => body({})(model).replace(`"${model}"`, '"no-such-model"'),
    status: 404,
    error: 'unknown model no-such-model',
  },
  {
    what: 'a 10 MB string value',
    body: withRow(row({ host: 'h'.repeat(10 * 1024 * 1024), cpu: 'x' })),
    status: 400,
    error: /row 2: cpu is "x"/,
  },
  {
    what: 'a 20 MB body',
    body: withRow(row({ host: 'h'.repeat(20 * 1024 * 1024) })),
    status: 413,
    error: 'request body over 16 MiB: send the rows in smaller batches',
  },
];

let fx: BufferFixture;
let retrain: (...argv: string[]) => Promise<CliResult>;
let server: InferenceServer;
const counts: Record<string, number> = {};

// One fixture for the file: each refusal compares the buffer before and after itself.
beforeAll(async () => {
  fx = await createBufferFixture({ maxDelayMs: 10 });
  // Stored rows, so "nothing written" compares real part files, not an empty directory.
  await fx.ingestor.ingestRows(fx.spec.name, [row({ ts: '2001-02-01T00:00:00Z' })]);
  retrain = cliWith(
    loadConfig({ RETRAIN_STORE: `file://${fx.storeDir}`, RETRAIN_BUFFER_DIR: fx.bufferDir }, fx.dir),
  );
  server = createServer({ registry: fx.registry, apiKey: API_KEY, ingestor: fx.ingestor });
  await server.app.ready();
});

afterAll(async () => {
  console.log(`bad-input catalogue cases: ${JSON.stringify(counts)}`);
  await server?.app.close();
  await fx?.cleanup();
});

describe('retrain ingest refuses each bad file with its path and reason, writing nothing', () => {
  it.each(FILE_CASES)('$what ($name)', async ({ name, content, make, error }) => {
    counts['retrain ingest (files)'] = (counts['retrain ingest (files)'] ?? 0) + 1;
    const file = `${fx.dir}/${name}`;
    if (make) await make(file);
    else await fs.writeFile(file, content ?? '');
    const good = await fx.file('good.csv', csv(HEADER, ['2001-03-05T00:00:00Z,web-9,1,1']));
    const before = await hashTree(fx.bufferDir);

    // The good file first: a bad file later in the batch keeps all of it out too.
    const result = await retrain('ingest', '--model', fx.spec.name, good, file);

    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toBe('');
    const line = result.stderr.trim();
    expect(line.startsWith(`retrain: ${file}`), line).toBe(true);
    if (typeof error === 'string') expect(line).toContain(error);
    else expect(line).toMatch(error);
    expect(await hashTree(fx.bufferDir)).toEqual(before);
  });

  it('drops extra columns only when asked to (--extra-columns drop)', async () => {
    counts['retrain ingest (files)'] = (counts['retrain ingest (files)'] ?? 0) + 1;
    const file = await fx.file('extra.csv', csv(`${HEADER},note`, [`${GOOD},x`]));
    const refused = await retrain('ingest', '--model', fx.spec.name, file);
    expect(refused.code).toBe(1);
    const dropped = await retrain(
      'ingest',
      '--model',
      fx.spec.name,
      file,
      '--extra-columns',
      'drop',
      '--json',
    );
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(JSON.parse(dropped.stdout)).toMatchObject({ received: 1, inserted: 1 });
    const bad = await retrain('ingest', '--model', fx.spec.name, file, '--extra-columns', 'keep');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--extra-columns <policy>' argument 'keep' is invalid");
  });
});

describe('POST /ingest refuses each bad body naming the field or row, writing nothing', () => {
  it.each(BODY_CASES)('$what: $status', async ({ body: make, status, error }) => {
    counts['POST /ingest'] = (counts['POST /ingest'] ?? 0) + 1;
    const before = await hashTree(fx.bufferDir);

    const res = await server.app.inject({
      method: 'POST',
      url: '/ingest',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      payload: make(fx.spec.name),
    });

    expect(res.statusCode, res.body).toBe(status);
    const message = String(res.json().error);
    if (typeof error === 'string') expect(message).toContain(error);
    else expect(message).toMatch(error);
    expect(message.length).toBeLessThan(1000);
    expect(await hashTree(fx.bufferDir)).toEqual(before);
  });

  it('drops extra keys only when the body says extraColumns: drop', async () => {
    counts['POST /ingest'] = (counts['POST /ingest'] ?? 0) + 1;
    const res = await server.app.inject({
      method: 'POST',
      url: '/ingest',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      payload: { model: fx.spec.name, rows: [row({ note: 'x' })], extraColumns: 'drop' },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ received: 1, inserted: 1 });
  });
});
