import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/** The connection type, for code outside storage/ that runs SQL in {@link withDuckDb}. */
export type { DuckDBConnection };

/** Runs `fn` with a fresh in-memory DuckDB connection, closed afterwards. */
export async function withDuckDb<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    return await fn(conn);
  } finally {
    conn.closeSync();
    instance.closeSync();
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
