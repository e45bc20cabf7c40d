import { DuckDBInstance } from '@duckdb/node-api';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { BufferWriter } from '../../storage/buffer-writer';
import { createBufferFixture, readBuffer, type BufferFixture } from '../helpers/buffer-fixture';

/** Counts the connections open at once on each DuckDB database; `most()` is the highest count seen on any. */
function countConnections() {
  const open = new Map<DuckDBInstance, number>();
  let most = 0;
  let opened = 0;
  const connect = DuckDBInstance.prototype.connect;
  vi.spyOn(DuckDBInstance.prototype, 'connect').mockImplementation(async function (this: DuckDBInstance) {
    const conn = await connect.call(this);
    const now = (open.get(this) ?? 0) + 1;
    open.set(this, now);
    most = Math.max(most, now);
    opened += 1;
    const close = conn.closeSync.bind(conn);
    conn.closeSync = () => {
      open.set(this, (open.get(this) ?? 1) - 1);
      close();
    };
    return conn;
  });
  return { most: () => most, opened: () => opened };
}

describe('the buffer writer caps its DuckDB connections', () => {
  let fx: BufferFixture | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await fx?.cleanup();
    fx = undefined;
  });

  it.each([
    { cap: undefined, expected: 2 },
    { cap: 3, expected: 3 },
  ])(
    '30 concurrent ingests open at most $expected at once (maxConnections $cap), and every row lands',
    async ({ cap, expected }) => {
      fx = await createBufferFixture({ maxDelayMs: 5, ...(cap ? { maxConnections: cap } : {}) });
      const { ingestor, spec } = fx;
      const connections = countConnections();
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          ingestor.ingestRows(spec.name, [
            { ts: `2001-03-01T${String(i % 24).padStart(2, '0')}:00:00Z`, host: `h-${i}`, cpu: i, mem: 1 },
          ]),
        ),
      );
      vi.restoreAllMocks();
      expect(results.map((r) => r.inserted)).toEqual(Array.from({ length: 30 }, () => 1));
      expect(connections.opened()).toBeGreaterThanOrEqual(30);
      expect(connections.most()).toBeLessThanOrEqual(expected);
      expect(await readBuffer(fx.buffer, spec.name)).toHaveLength(30);
    },
  );

  it('refuses a cap that is not a whole number of at least 1, naming it', async () => {
    fx = await createBufferFixture();
    await expect(BufferWriter.open(fx.buffer, { retentionDays: 1, maxConnections: 0 })).rejects.toThrow(
      'maxConnections must be a whole number of at least 1, got 0',
    );
  });
});
