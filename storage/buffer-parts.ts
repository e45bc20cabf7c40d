import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent, sqlString } from './duckdb';

/** Columns whose names start with this are bookkeeping of the writers and never reach a part file. */
export const INTERNAL_PREFIX = '__retrain_';
const STAGED_DAY_DIR = new RegExp(`^${INTERNAL_PREFIX}day=(\\d{4}-\\d{2}-\\d{2})$`);

/**
 * The columns that identify a record: a row whose (time, entity) the buffer holds already is
 * skipped. Without an entity column (tabular specs) a row is identified by its time and every value
 * (`rowColumns`): only a row equal to a stored one is skipped, so rows sharing a time are all kept.
 */
export interface BufferKey {
  timeColumn: string;
  entityColumn?: string | undefined;
  /** Without an entity column: the value columns that, with the time, identify a row. */
  rowColumns?: readonly string[] | undefined;
}

/** The identifying columns of {@link BufferKey} other than the time, as SQL identifiers. */
export function keyColumns(key: BufferKey): string[] {
  return (key.entityColumn === undefined ? (key.rowColumns ?? []) : [key.entityColumn]).map(sqlIdent);
}

/** What one append did: rows written and rows skipped because their key was taken. */
export interface AppendResult {
  inserted: number;
  duplicates: number;
}

/** Figures of one model's buffer; `firstDay`/`lastDay` are `YYYY-MM-DD` (UTC), null when empty. */
export interface BufferStats {
  records: number;
  files: number;
  days: number;
  firstDay: string | null;
  lastDay: string | null;
  /** Size of the part files on disk. */
  bytes: number;
}

/** One Parquet part file of the buffer. */
export interface PartFile {
  day: string;
  path: string;
}

/** Options of {@link DataBuffer.appendQuery}. */
export interface AppendOptions {
  /** SQL ordering that decides which of several rows with one key is kept (the first). @default the key */
  orderBy?: string;
  /**
   * Name of a temp table to leave behind on the connection: the query's rows plus a BOOLEAN column
   * `__retrain_inserted`, for callers that count per request. Dropped when absent.
   */
  marks?: string;
}

/** The temp table an append marks its rows in: the caller's `marks`, else a fresh name (dropped after). */
export function marksTable(options: Pick<AppendOptions, 'marks'>): string {
  return options.marks ?? `${INTERNAL_PREFIX}marks_${randomUUID().replaceAll('-', '')}`;
}

/** DuckDB list literal of the part files' paths. */
export function fileList(parts: readonly PartFile[]): string {
  return `[${parts.map((p) => sqlString(p.path)).join(', ')}]`;
}

/** The UTC days (`YYYY-MM-DD`) of the query's time column: the days whose parts can hold its keys. */
export async function queryDays(conn: DuckDBConnection, query: string, key: BufferKey): Promise<string[]> {
  await conn.run(`SET TimeZone = 'UTC'`);
  const rows = await conn.runAndReadAll(
    `SELECT DISTINCT strftime(${sqlIdent(key.timeColumn)}, '%Y-%m-%d') AS d FROM (${query})`,
  );
  return rows.getRowObjectsJson().map((r) => String(r.d));
}

/**
 * Builds the temp table `marks`: the query's rows with their UTC day and whether each is new (the
 * first of its key in the query by `orderBy`, and not in `existing`); the counts.
 */
export async function markNewRows(
  conn: DuckDBConnection,
  query: string,
  key: BufferKey,
  existing: readonly PartFile[],
  marks: string,
  options: Pick<AppendOptions, 'orderBy'> = {},
): Promise<AppendResult> {
  const t = sqlIdent(key.timeColumn);
  const others = keyColumns(key);
  const keyOf = (alias: string) => [t, ...others].map((c) => `${alias}.${c}`).join(', ');
  await conn.run(`SET TimeZone = 'UTC'`);
  const unseen = existing.length
    ? `NOT EXISTS (SELECT 1 FROM read_parquet(${fileList(existing)}, hive_partitioning = false) k
                   WHERE k.${t} = x.${t}${others.map((c) => ` AND k.${c} IS NOT DISTINCT FROM x.${c}`).join('')})`
    : 'TRUE';
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE ${marks} AS
     SELECT x.*, strftime(x.${t}, '%Y-%m-%d') AS ${INTERNAL_PREFIX}day,
            (row_number() OVER (PARTITION BY ${keyOf('x')} ORDER BY ${options.orderBy ?? keyOf('x')}) = 1
             AND ${unseen}) AS ${INTERNAL_PREFIX}inserted
     FROM (${query}) x`,
  );
  const counts = await conn.runAndReadAll(
    `SELECT count(*)::BIGINT AS n, count(*) FILTER (${INTERNAL_PREFIX}inserted)::BIGINT AS inserted FROM ${marks}`,
  );
  const row = counts.getRowObjectsJson()[0];
  const inserted = Number(row?.inserted ?? 0);
  return { inserted, duplicates: Number(row?.n ?? 0) - inserted };
}

/**
 * Writes the new rows of `marks` as Parquet part files under `staging`, one directory per UTC day;
 * the files written, with their day.
 */
export async function stageMarked(
  conn: DuckDBConnection,
  marks: string,
  staging: string,
): Promise<{ day: string; from: string; name: string }[]> {
  const described = await conn.runAndReadAll(`DESCRIBE ${marks}`);
  const columns = described
    .getRowObjectsJson()
    .map((r) => String(r.column_name))
    .filter((c) => !c.startsWith(INTERNAL_PREFIX));
  await conn.run(
    `COPY (SELECT ${columns.map(sqlIdent).join(', ')}, ${INTERNAL_PREFIX}day FROM ${marks} WHERE ${INTERNAL_PREFIX}inserted)
     TO ${sqlString(staging)} (FORMAT parquet, PARTITION_BY (${INTERNAL_PREFIX}day), FILENAME_PATTERN 'part-{uuid}')`,
  );
  const staged: { day: string; from: string; name: string }[] = [];
  for (const entry of (await fs.readdir(staging)).sort()) {
    const day = STAGED_DAY_DIR.exec(entry)?.[1];
    if (!day) throw new Error(`Unexpected entry ${entry} in staging dir ${staging}`);
    for (const name of await fs.readdir(path.join(staging, entry)))
      staged.push({ day, from: path.join(staging, entry, name), name });
  }
  return staged;
}
