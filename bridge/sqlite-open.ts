import BetterSqlite3 from 'better-sqlite3';

/** What the job table needs of a SQLite connection: both drivers below give it. */
export interface SqliteStatement {
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint };
}
export interface SqliteDb {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  close(): void;
}

interface NodeSqlite {
  DatabaseSync: new (file: string) => SqliteDb;
}

/**
 * Opens a SQLite file with a busy timeout: through Node's own `node:sqlite` where the runtime has it
 * (Node 22.13 and later, the images' Node 24), else through better-sqlite3 (Node 20), whose native
 * binary is built for one Node ABI only, so a newer Node never loads it.
 */
export function openSqlite(file: string, busyTimeoutMs: number): SqliteDb {
  const builtin = process.getBuiltinModule?.('node:sqlite') as NodeSqlite | undefined;
  const db: SqliteDb = builtin ? new builtin.DatabaseSync(file) : new BetterSqlite3(file);
  db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.round(busyTimeoutMs))}`);
  return db;
}
