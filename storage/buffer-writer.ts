import { randomUUID } from 'node:crypto';

import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { Sema } from 'async-sema';
import { INTERNAL_PREFIX, type BufferKey, type DataBuffer } from './buffer';

/** Options of {@link BufferWriter.open}. */
export interface BufferWriterOptions {
  /** Days each model keeps, counted back from its newest day; applied after every flush. */
  retentionDays: number;
  /** A model's pending rows are flushed as soon as this many wait. @default 50000 */
  maxRows?: number;
  /** ... and at the latest this long after the oldest pending append arrived. @default 100 */
  maxDelayMs?: number;
  /**
   * Connections to the writer's database open at once (batches being built, flushes); more
   * ingests wait their turn. DuckDB runs its calls on libuv's small thread pool, which the process's
   * file I/O shares (see storage/duckdb.ts), so a burst of ingests must not open one each.
   * @default 2
   */
  maxConnections?: number;
}

/** What one append got once its flush ended. */
export interface AppendOutcome {
  inserted: number;
  duplicates: number;
  /** Days that retention deleted after the flush that carried this append. */
  expiredDays: string[];
}

interface Pending {
  table: string;
  rows: number;
  key: BufferKey;
  resolve: (outcome: AppendOutcome) => void;
  reject: (err: unknown) => void;
}

interface ModelQueue {
  pending: Pending[];
  rows: number;
  oldestAt: number;
  timer?: NodeJS.Timeout;
  flushing?: Promise<void>;
}

const SEQ = `${INTERNAL_PREFIX}seq`;

/**
 * Group commit for the data buffer: appends of one model wait briefly and are written together as
 * one set of part files, so many small ingest requests do not become many small files. Each
 * append's promise resolves only once its rows are durable in the buffer (or rejects, with the
 * buffer unchanged). Batches are tables in the writer's own in-memory DuckDB, built through
 * {@link submit}; the writer drops them after their flush. Closing waits for batches being built.
 */
export class BufferWriter {
  private readonly queues = new Map<string, ModelQueue>();
  private readonly building = new Set<Promise<number>>();
  private closed = false;
  private readonly maxRows: number;
  private readonly maxDelayMs: number;
  private readonly connections: Sema;

  private constructor(
    readonly buffer: DataBuffer,
    private readonly db: DuckDBInstance,
    private readonly options: BufferWriterOptions,
  ) {
    this.maxRows = options.maxRows ?? 50_000;
    this.maxDelayMs = options.maxDelayMs ?? 100;
    const maxConnections = options.maxConnections ?? 2;
    if (!Number.isInteger(maxConnections) || maxConnections < 1)
      throw new Error(`maxConnections must be a whole number of at least 1, got ${maxConnections}`);
    this.connections = new Sema(maxConnections);
  }

  static async open(buffer: DataBuffer, options: BufferWriterOptions): Promise<BufferWriter> {
    return new BufferWriter(buffer, await DuckDBInstance.create(':memory:'), options);
  }

  /**
   * Builds one batch with `build` on a connection to the writer's database (it creates `table`
   * with the model's columns plus `__retrain_src` and `__retrain_row`, and returns its row count),
   * then queues it for the model's next flush and resolves once that flush is durable. Across the
   * batches of one flush, and against the buffer, the first row of each (time, entity) wins. When
   * `build` throws, nothing is queued and the error is passed on.
   */
  async submit(
    model: string,
    key: BufferKey,
    build: (conn: DuckDBConnection, table: string) => Promise<number>,
  ): Promise<AppendOutcome & { received: number }> {
    if (this.closed) throw new Error('The buffer writer is closed');
    const table = `${INTERNAL_PREFIX}batch_${randomUUID().replaceAll('-', '')}`;
    const building = this.build(table, build);
    this.building.add(building);
    let received: number;
    try {
      received = await building;
    } finally {
      this.building.delete(building);
    }
    if (received === 0) {
      await this.dropTable(table);
      return { received, inserted: 0, duplicates: 0, expiredDays: [] };
    }
    const outcome = await new Promise<AppendOutcome>((resolve, reject) => {
      const queue = this.queueOf(model);
      if (queue.pending.length === 0) queue.oldestAt = Date.now();
      queue.pending.push({ table, rows: received, key, resolve, reject });
      queue.rows += received;
      this.schedule(model, queue);
    });
    return { received, ...outcome };
  }

  /** Waits for batches being built, flushes what is pending, waits for every flush, then closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.building]);
    for (const [model, queue] of this.queues) this.schedule(model, queue);
    for (;;) {
      const busy = [...this.queues.values()].map((q) => q.flushing).filter(Boolean);
      if (busy.length === 0) break;
      await Promise.all(busy);
    }
    this.db.closeSync();
  }

  /** Runs `fn` on a connection of its own, one of at most `maxConnections` open at once. */
  private async withConnection<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    await this.connections.acquire();
    try {
      const conn = await this.db.connect();
      try {
        return await fn(conn);
      } finally {
        conn.closeSync();
      }
    } finally {
      this.connections.release();
    }
  }

  private build(
    table: string,
    build: (conn: DuckDBConnection, table: string) => Promise<number>,
  ): Promise<number> {
    return this.withConnection(async (conn) => {
      try {
        return await build(conn, table);
      } catch (err) {
        await conn.run(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
        throw err;
      }
    });
  }

  private dropTable(table: string): Promise<void> {
    return this.withConnection(async (conn) => {
      await conn.run(`DROP TABLE IF EXISTS ${table}`);
    });
  }

  private queueOf(model: string): ModelQueue {
    let queue = this.queues.get(model);
    if (!queue) {
      queue = { pending: [], rows: 0, oldestAt: 0 };
      this.queues.set(model, queue);
    }
    return queue;
  }

  private schedule(model: string, queue: ModelQueue): void {
    if (queue.flushing || queue.pending.length === 0) return;
    const wait =
      this.closed || queue.rows >= this.maxRows ? 0 : queue.oldestAt + this.maxDelayMs - Date.now();
    if (wait <= 0) {
      this.startFlush(model, queue);
    } else {
      queue.timer ??= setTimeout(() => this.startFlush(model, queue), wait);
    }
  }

  private startFlush(model: string, queue: ModelQueue): void {
    clearTimeout(queue.timer);
    queue.timer = undefined;
    if (queue.flushing) return;
    const batch = queue.pending.splice(0);
    queue.rows = 0;
    queue.flushing = this.flush(model, batch).finally(() => {
      queue.flushing = undefined;
      this.schedule(model, queue);
    });
  }

  /** Writes the appends of one flush; appends with another key (the spec changed) go in their own write. */
  private async flush(model: string, batch: Pending[]): Promise<void> {
    const byKey = new Map<string, Pending[]>();
    for (const p of batch) {
      const id = JSON.stringify(p.key);
      byKey.set(id, [...(byKey.get(id) ?? []), p]);
    }
    for (const group of byKey.values()) await this.write(model, group);
  }

  private write(model: string, group: Pending[]): Promise<void> {
    return this.withConnection((conn) => this.writeOn(conn, model, group));
  }

  private async writeOn(conn: DuckDBConnection, model: string, group: Pending[]): Promise<void> {
    const marks = `${INTERNAL_PREFIX}flush_marks`;
    try {
      const union = group
        .map((p, i) => `SELECT ${i} AS ${SEQ}, * FROM ${p.table}`)
        .join(' UNION ALL BY NAME ');
      await this.buffer.appendQuery(conn, model, union, (group[0] as Pending).key, {
        orderBy: `${SEQ}, ${INTERNAL_PREFIX}src, ${INTERNAL_PREFIX}row`,
        marks,
      });
      const counts = await conn.runAndReadAll(
        `SELECT ${SEQ} AS seq, count(*)::BIGINT AS n, count(*) FILTER (${INTERNAL_PREFIX}inserted)::BIGINT AS inserted
         FROM ${marks} GROUP BY ${SEQ}`,
      );
      const bySeq = new Map(counts.getRowObjectsJson().map((r) => [Number(r.seq), r]));
      const expiredDays = await this.buffer.applyRetention(model, this.options.retentionDays);
      group.forEach((p, i) => {
        const row = bySeq.get(i);
        const inserted = Number(row?.inserted ?? 0);
        p.resolve({ inserted, duplicates: Number(row?.n ?? 0) - inserted, expiredDays });
      });
    } catch (err) {
      for (const p of group) p.reject(err);
    } finally {
      await conn.run(`DROP TABLE IF EXISTS ${marks}`).catch(() => undefined);
      for (const p of group) await conn.run(`DROP TABLE IF EXISTS ${p.table}`).catch(() => undefined);
    }
  }
}
