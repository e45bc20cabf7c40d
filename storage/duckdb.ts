import {
  DuckDBDoubleVector,
  DuckDBInstance,
  DuckDBVarCharVector,
  type DuckDBConnection,
} from '@duckdb/node-api';
import { Sema } from 'async-sema';

/** The connection type, for code outside storage/ that runs SQL in {@link withDuckDb}. */
export type { DuckDBConnection };

/**
 * DuckDB sessions open at once in this process; more wait their turn. DuckDB's Node binding runs
 * its calls on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says otherwise): with more
 * sessions than threads `connect()` can wait forever for a thread that never frees, and every fs
 * call of the process waits with it (duckdb/duckdb-node-neo#325; 50 concurrent exports hung 3 of 3
 * load tests without this). `fn` must not open a second session itself.
 */
const MAX_SESSIONS = 2;
const sessions = new Sema(MAX_SESSIONS);

/** Runs `fn` with a fresh in-memory DuckDB connection, closed afterwards; see {@link MAX_SESSIONS}. */
export async function withDuckDb<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  await sessions.acquire();
  try {
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    try {
      return await fn(conn);
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  } finally {
    sessions.release();
  }
}

/** Quotes a string literal for DuckDB SQL (paths, dates). */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** Quotes an identifier; column names are validated as identifiers by the spec already. */
export function sqlIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The columns of one result chunk, valid only during the callback that receives them. */
export interface ResultChunk {
  rows: number;
  /** A DOUBLE column's values (a view, not a copy); NULL positions hold garbage: coalesce them in SQL. */
  doubles(column: number): Float64Array;
  /** A VARCHAR column's value at `row`. */
  text(column: number, row: number): string | null;
}

/**
 * Streams the result of `sql` to `onChunk` one DuckDB chunk (2048 rows) at a time, so memory
 * holds one chunk of the result however large it is; returns the rows seen.
 */
export async function forEachChunk(
  conn: DuckDBConnection,
  sql: string,
  onChunk: (chunk: ResultChunk, offset: number) => void,
): Promise<number> {
  const result = await conn.stream(sql);
  let offset = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) return offset;
    const vectors = new Map<number, unknown>();
    const column = <V>(c: number, type: new (...args: never[]) => V, name: string): V => {
      const vector = vectors.get(c) ?? chunk.getColumnVector(c);
      if (!(vector instanceof type)) throw new Error(`result column ${c} is not ${name}`);
      vectors.set(c, vector);
      return vector;
    };
    onChunk(
      {
        rows: chunk.rowCount,
        doubles: (c) => {
          const vector = column(c, DuckDBDoubleVector, 'DOUBLE');
          // The vector's own view of DuckDB's buffer (not in the typings); else one value at a time.
          const items: unknown = (vector as unknown as { items?: unknown }).items;
          if (items instanceof Float64Array && items.length === chunk.rowCount) return items;
          return Float64Array.from({ length: chunk.rowCount }, (_, i) => vector.getItem(i) ?? NaN);
        },
        text: (c, row) => column(c, DuckDBVarCharVector, 'VARCHAR').getItem(row),
      },
      offset,
    );
    offset += chunk.rowCount;
  }
}
