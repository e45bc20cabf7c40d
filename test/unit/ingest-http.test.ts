import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createServer, type InferenceServer } from '../../serving/server';
import { createBufferFixture, hashTree, readBuffer, type BufferFixture } from '../helpers/buffer-fixture';

const API_KEY = 'ingest-test-key-0123456789';

let fx: BufferFixture;
let server: InferenceServer;

beforeEach(async () => {
  fx = await createBufferFixture({ maxDelayMs: 20 });
  server = createServer({ registry: fx.registry, apiKey: API_KEY, ingestor: fx.ingestor });
  await server.app.ready();
});

afterEach(async () => {
  await server.app.close();
  await fx.cleanup();
});

/** `key: null` sends no X-API-Key header. */
function post(body: unknown, key: string | null = API_KEY) {
  return server.app.inject({
    method: 'POST',
    url: '/ingest',
    headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'x-api-key': key }) },
    payload: JSON.stringify(body),
  });
}

const rows = [
  { ts: '2001-05-01T00:00:00Z', host: 'db-1', cpu: 0.5, mem: 3 },
  { ts: '2001-05-01T01:00:00Z', host: 'db-1', cpu: 0.75, mem: 4 },
];

describe('POST /ingest', () => {
  it('answers 401 without a key or with a wrong one, and writes nothing', async () => {
    for (const key of [null, 'wrong-key-0123456789abcdef']) {
      const res = await post({ model: fx.spec.name, rows }, key);
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({ error: 'missing or wrong X-API-Key header' });
    }
    expect(await fx.buffer.hasData(fx.spec.name)).toBe(false);
  });

  it('answers 200 with the counts once the rows are in the buffer, and counts a resend as duplicates', async () => {
    const res = await post({ model: fx.spec.name, rows });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      model: fx.spec.name,
      received: 2,
      inserted: 2,
      duplicates: 0,
      conflictsResolved: 0,
    });
    expect(await readBuffer(fx.buffer, fx.spec.name)).toEqual(rows);
    const again = await post({ model: fx.spec.name, rows });
    expect(again.json()).toEqual({
      model: fx.spec.name,
      received: 2,
      inserted: 0,
      duplicates: 2,
      conflictsResolved: 0,
    });
  });

  it('answers 400 naming the row and reason of a bad row, leaving the buffer byte-for-byte unchanged', async () => {
    await post({ model: fx.spec.name, rows });
    const before = await hashTree(fx.bufferDir);
    const res = await post({
      model: fx.spec.name,
      rows: [
        { ts: '2001-05-02T00:00:00Z', host: 'db-1', cpu: 1, mem: 1 },
        { ts: '2001-05-02T01:00:00Z', host: 'db-1', cpu: 'high', mem: 1 },
        { ts: '2001-05-02T02:00:00Z', host: 'db-1', cpu: 1, mem: 1 },
      ],
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'row 2: cpu is "high", expected a number' });
    expect(await hashTree(fx.bufferDir)).toEqual(before);
  });

  it('answers 400 for a body that is not { model, rows: [...] }', async () => {
    const res = await post({ model: fx.spec.name, rows: [] });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toContain('rows must hold at least one row');
  });

  describe('onConflict', () => {
    const repeated = [...rows, { ts: '2001-05-01T00:00:00Z', host: 'db-1', cpu: 0.9, mem: 9 }];

    it('reject (the default) answers 400 naming both rows and writes nothing', async () => {
      for (const onConflict of [undefined, 'reject']) {
        const res = await post({ model: fx.spec.name, rows: repeated, onConflict });
        expect(res.statusCode).toBe(400);
        expect(res.json()).toEqual({
          error: 'row 3: ts 2001-05-01T00:00:00Z and host "db-1" repeat row 1 with different values',
        });
      }
      expect(await fx.buffer.hasData(fx.spec.name)).toBe(false);
    });

    it.each([
      ['first', rows[0]],
      ['last', repeated[2]],
    ])('%s keeps that row and answers how many were resolved', async (onConflict, kept) => {
      const res = await post({ model: fx.spec.name, rows: repeated, onConflict });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        model: fx.spec.name,
        received: 3,
        inserted: 2,
        duplicates: 0,
        conflictsResolved: 1,
      });
      expect(await readBuffer(fx.buffer, fx.spec.name)).toEqual([kept, rows[1]]);
    });

    it('answers 400 naming onConflict for a policy it does not know', async () => {
      const res = await post({ model: fx.spec.name, rows, onConflict: 'newest' });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toContain('onConflict');
    });
  });

  it('answers 404 for a model without a spec', async () => {
    const res = await post({ model: 'no-such-model', rows });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'unknown model no-such-model' });
  });

  it('answers 413 with a clear message above 16 MiB', async () => {
    const filler = 'x'.repeat(17 * 1024 * 1024);
    const res = await post({ model: fx.spec.name, rows: [{ filler }] });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({ error: 'request body over 16 MiB: send the rows in smaller batches' });
  });
});
