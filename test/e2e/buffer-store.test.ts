import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { createCompactBuffer } from '../../activities/compact-buffer';
import type { BlobStore } from '../../storage/blob-store';
import { DataBuffer } from '../../storage/buffer';
import { withDuckDb } from '../../storage/duckdb';
import { FileBlobStore } from '../../storage/file-store';
import { loadConfig } from '../../config/config';
import { cliWith } from '../helpers/run-cli';
import { ensureBucket, removeBucket, s3StoreOn, type MinioConnection } from '../helpers/minio';

const ROOT = path.resolve(__dirname, '..', '..');
const CHILD = path.join(ROOT, 'test', 'helpers', 'buffer-store-child.ts');
const KEY = { timeColumn: 'ts', entityColumn: 'host' };

let dir: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-buffer-store-'));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A host's view of the shared buffer: the store, and a cache directory of its own. */
function host(store: BlobStore): DataBuffer {
  return new DataBuffer(path.join(dir, `host-${randomUUID()}`), store);
}

/** Rows `i` of [from, to) on `day`: ts day + i minutes, host h<i % 3>, cpu i. */
function rows(from: number, to: number, day = '2001-03-01'): string {
  return `SELECT TIMESTAMP '${day} 00:00:00' + to_minutes(i) AS ts, 'h' || (i % 3) AS host, i::DOUBLE AS cpu
          FROM range(${from}, ${to}) t(i)`;
}

function append(buffer: DataBuffer, model: string, query: string) {
  return withDuckDb((conn) => buffer.appendQuery(conn, model, query, KEY));
}

/** Rows in the buffer, and distinct keys among them, as `buffer` reads them. */
async function counted(buffer: DataBuffer, model: string): Promise<{ rows: number; keys: number }> {
  const source = await buffer.parquetSource(model);
  if (!source) return { rows: 0, keys: 0 };
  return withDuckDb(async (conn) => {
    const reader = await conn.runAndReadAll(
      `SELECT count(*)::INTEGER AS rows, count(DISTINCT (ts, host))::INTEGER AS keys FROM ${source}`,
    );
    return reader.getRowObjectsJson()[0] as { rows: number; keys: number };
  });
}

/** The child writer (another process, no shared lock) appending rows [from, to) in `batches` appends. */
function childWriter(
  env: Record<string, string>,
  model: string,
  from: number,
  to: number,
  batches: number,
): Promise<{ inserted: number; duplicates: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--require',
        'tsx/cjs',
        CHILD,
        path.join(dir, `child-${randomUUID()}`),
        model,
        `${from}`,
        `${to}`,
        `${batches}`,
      ],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim())) : reject(new Error(`writer exited ${code}: ${err}`)),
    );
  });
}

function storeContract(open: () => { store: BlobStore; env: Record<string, string> }) {
  it('counts each appended row once, read the same by another host, with figures from its manifest', async () => {
    const { store } = open();
    const model = `m-${randomUUID().slice(0, 8)}`;
    const a = host(store);
    expect(await append(a, model, rows(0, 100))).toEqual({ inserted: 100, duplicates: 0 });
    expect(await append(a, model, rows(50, 150))).toEqual({ inserted: 50, duplicates: 50 });
    const b = host(store);
    expect(await counted(b, model)).toEqual({ rows: 150, keys: 150 });
    expect(await append(b, model, rows(140, 160))).toEqual({ inserted: 10, duplicates: 10 });
    expect(await counted(a, model)).toEqual({ rows: 160, keys: 160 });
    expect(await b.stats(model)).toMatchObject({ records: 160, files: 3, days: 1, firstDay: '2001-03-01' });
    expect(a.inStore).toBe(true);
  });

  it('two writer processes without a shared lock append overlapping rows: every key once, counts exact', async () => {
    const { store, env } = open();
    const model = `m-${randomUUID().slice(0, 8)}`;
    const [first, second] = await Promise.all([
      childWriter(env, model, 0, 600, 6),
      childWriter(env, model, 300, 900, 6),
    ]);
    expect(first.inserted + second.inserted).toBe(900);
    expect(first.duplicates + second.duplicates).toBe(300);
    expect(await counted(host(store), model)).toEqual({ rows: 900, keys: 900 });
  });

  it('a writer that loses the manifest swap checks its rows again against the parts the winner added', async () => {
    const { store } = open();
    const model = `m-${randomUUID().slice(0, 8)}`;
    // The loser's store: just before its first manifest swap, the winner appends and commits.
    let winner: Promise<unknown> | undefined;
    const losing = Object.create(store) as BlobStore;
    losing.put = async (key, body, options) => {
      if (key.endsWith('/manifest.json') && winner === undefined) {
        winner = append(host(store), model, rows(50, 150));
        await winner;
      }
      return store.put(key, body, options);
    };
    const loser = await append(host(losing), model, rows(0, 100));
    expect(await winner).toEqual({ inserted: 100, duplicates: 0 });
    expect(loser).toEqual({ inserted: 50, duplicates: 50 });
    expect(await counted(host(store), model)).toEqual({ rows: 150, keys: 150 });
    // Its first, uncommitted parts are gone from the store.
    const manifest = JSON.parse(
      new TextDecoder().decode((await store.get(`buffer/${model}/manifest.json`))!.body),
    );
    const stored = (await store.list(`buffer/${model}/`)).filter((k) => k.endsWith('.parquet'));
    expect(stored).toHaveLength(manifest.parts.length);
  });

  it('compaction merges each day into one part with every row once, and a reader of the old snapshot reads on', async () => {
    const { store } = open();
    const model = `m-${randomUUID().slice(0, 8)}`;
    const a = host(store);
    for (let i = 0; i < 5; i++) {
      await append(a, model, rows(i * 10, i * 10 + 10));
      await append(a, model, rows(i * 4, i * 4 + 4, '2001-03-02'));
    }
    expect(await a.stats(model)).toMatchObject({ records: 70, files: 10, days: 2 });
    // A host that read the parts before the compaction keeps its copies.
    const early = host(store);
    expect(await counted(early, model)).toEqual({ rows: 70, keys: 70 });

    expect(await a.compact(model)).toEqual({
      days: ['2001-03-01', '2001-03-02'],
      partsBefore: 10,
      partsAfter: 2,
    });
    expect(await host(store).stats(model)).toMatchObject({ records: 70, files: 2, days: 2 });
    expect(await counted(host(store), model)).toEqual({ rows: 70, keys: 70 });
    expect((await store.list(`buffer/${model}/`)).filter((k) => k.endsWith('.parquet'))).toHaveLength(2);
    // Its copies of the merged parts go once they are an hour old; the merged ones stay.
    const late = await fs.readdir(path.join(early.dir, '.store-cache', model), { recursive: true });
    const cachedParts = late.filter((f) => f.endsWith('.parquet'));
    expect(cachedParts).toHaveLength(10);
    const hourAgo = new Date(Date.now() - 2 * 3_600_000);
    for (const f of cachedParts)
      await fs.utimes(path.join(early.dir, '.store-cache', model, f), hourAgo, hourAgo);
    expect(await counted(early, model)).toEqual({ rows: 70, keys: 70 });
    const kept = (await fs.readdir(path.join(early.dir, '.store-cache', model), { recursive: true })).filter(
      (f) => f.endsWith('.parquet'),
    );
    expect(kept).toHaveLength(2);
    expect(await a.compact(model)).toEqual({ days: [], partsBefore: 2, partsAfter: 2 });
    expect(await append(early, model, rows(45, 55))).toEqual({ inserted: 5, duplicates: 5 });
  });

  it('a writer committing during a compaction makes it start again: nothing of either is lost', async () => {
    const { store } = open();
    const model = `m-${randomUUID().slice(0, 8)}`;
    const a = host(store);
    await append(a, model, rows(0, 10));
    await append(a, model, rows(10, 20));
    let wrote = false;
    const racing = Object.create(store) as BlobStore;
    racing.put = async (key, body, options) => {
      // Just before the compaction's first manifest swap, another host appends.
      if (key.endsWith('/manifest.json') && !wrote) {
        wrote = true;
        await append(host(store), model, rows(20, 30));
      }
      return store.put(key, body, options);
    };
    expect(await host(racing).compact(model)).toEqual({
      days: ['2001-03-01'],
      partsBefore: 3,
      partsAfter: 1,
    });
    expect(await counted(host(store), model)).toEqual({ rows: 30, keys: 30 });
    const manifest = JSON.parse(
      new TextDecoder().decode((await store.get(`buffer/${model}/manifest.json`))!.body),
    );
    const stored = (await store.list(`buffer/${model}/`)).filter((k) => k.endsWith('.parquet'));
    expect(stored).toHaveLength(manifest.parts.length);
  });

  it('retention takes whole days out of the manifest, then their parts out of the store', async () => {
    const { store } = open();
    const model = `m-${randomUUID().slice(0, 8)}`;
    const a = host(store);
    for (const day of ['2001-03-01', '2001-03-05', '2001-03-06', '2001-03-07'])
      await append(a, model, rows(0, 3, day));
    expect(await a.applyRetention(model, 2)).toEqual(['2001-03-01', '2001-03-05']);
    const left = await host(store).partFiles(model);
    expect([...new Set(left.map((p) => p.day))]).toEqual(['2001-03-06', '2001-03-07']);
    const keys = await store.list(`buffer/${model}/`);
    expect(keys.filter((k) => k.includes('day=2001-03-0')).map((k) => k.split('/')[2])).toEqual([
      'day=2001-03-06',
      'day=2001-03-07',
    ]);
    expect(await a.applyRetention(model, 2)).toEqual([]);
  });

  it("imports a host's local buffer once: a second import adds nothing", async () => {
    const { store } = open();
    const model = `m-${randomUUID().slice(0, 8)}`;
    const local = new DataBuffer(path.join(dir, `local-${randomUUID()}`));
    await append(local, model, rows(0, 40));
    await append(local, model, rows(0, 10, '2001-03-02'));
    const shared = host(store);
    const parts = await local.partFiles(model);
    expect(await shared.storeParts?.importParts(model, parts)).toBe(parts.length);
    expect(await shared.storeParts?.importParts(model, parts)).toBe(0);
    expect(await counted(host(store), model)).toEqual({ rows: 50, keys: 50 });
    expect(await append(shared, model, rows(35, 45))).toEqual({ inserted: 5, duplicates: 5 });
  });
}

describe('retrain import-buffer', () => {
  it("moves every model of a host's local buffer into the store's, once, and says what it added", async () => {
    const storeDir = path.join(dir, `store-${randomUUID()}`);
    const from = path.join(dir, `old-buffer-${randomUUID()}`);
    const [a, b] = [`m-${randomUUID().slice(0, 8)}`, `m-${randomUUID().slice(0, 8)}`];
    const local = new DataBuffer(from);
    await append(local, a, rows(0, 30));
    await append(local, b, rows(0, 12, '2001-03-02'));
    await append(local, b, rows(0, 12, '2001-03-03'));
    const config = loadConfig(
      {
        RETRAIN_STORE: `file://${storeDir}`,
        RETRAIN_BUFFER_IN_STORE: 'true',
        RETRAIN_BUFFER_DIR: path.join(dir, `cache-${randomUUID()}`),
      },
      dir,
    );
    const retrain = cliWith(config);
    const first = await retrain('import-buffer', '--from', from, '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).models).toEqual(
      [
        { model: a, localParts: 1, added: 1 },
        { model: b, localParts: 2, added: 2 },
      ].sort((x, y) => x.model.localeCompare(y.model)),
    );
    const again = await retrain('import-buffer', '--from', from, '--model', b);
    expect(again.stdout).toContain(`${b}: 0 of 2 part files added`);
    const shared = host(new FileBlobStore(storeDir));
    expect(await counted(shared, a)).toEqual({ rows: 30, keys: 30 });
    expect(await counted(shared, b)).toEqual({ rows: 24, keys: 24 });
  });

  it('refuses where the buffer is not in the store, saying how to put it there', async () => {
    const config = loadConfig({ RETRAIN_STORE: `file://${path.join(dir, 'elsewhere')}` }, dir);
    const result = await cliWith(config)('import-buffer', '--from', dir);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('set RETRAIN_BUFFER_IN_STORE=true');
  });
});

describe('the compactBuffer activity (the scheduled maintenance of one model)', () => {
  it('compacts a buffer in the store and applies retention; leaves a local buffer alone', async () => {
    const store = new FileBlobStore(path.join(dir, `store-${randomUUID()}`));
    const model = `m-${randomUUID().slice(0, 8)}`;
    const shared = host(store);
    const days = ['2001-01-01', '2001-03-01', '2001-03-01', '2001-03-02', '2001-03-02'];
    for (const [i, day] of days.entries()) await append(shared, model, rows(i * 5, i * 5 + 5, day));
    const deps = { buffer: shared, bufferRetentionDays: 30 } as unknown as ActivityDeps;
    expect(await createCompactBuffer(deps)({ model })).toEqual({
      model,
      inStore: true,
      compactedDays: ['2001-03-01', '2001-03-02'],
      partsBefore: 5,
      partsAfter: 3,
      expiredDays: ['2001-01-01'],
    });
    const local = {
      buffer: new DataBuffer(path.join(dir, `local-${randomUUID()}`)),
    } as unknown as ActivityDeps;
    expect(await createCompactBuffer(local)({ model })).toMatchObject({ inStore: false, compactedDays: [] });
  });
});

describe('the data buffer in a file store', () => {
  storeContract(() => {
    const storeDir = path.join(dir, `store-${randomUUID()}`);
    return { store: new FileBlobStore(storeDir), env: { RETRAIN_STORE: `file://${storeDir}` } };
  });
});

describe('the data buffer in S3 (MinIO)', () => {
  const bucket = `test-${randomUUID()}`;
  const minio: MinioConnection = inject('minio');
  beforeAll(() => ensureBucket(minio, bucket), 30_000);
  afterAll(() => removeBucket(minio, bucket), 30_000);
  storeContract(() => {
    const store = s3StoreOn(minio, bucket);
    return {
      store,
      env: {
        RETRAIN_STORE: store.uri,
        S3_ENDPOINT: minio.endpoint,
        AWS_REGION: minio.region,
        AWS_ACCESS_KEY_ID: minio.accessKeyId,
        AWS_SECRET_ACCESS_KEY: minio.secretAccessKey,
      },
    };
  });
});
