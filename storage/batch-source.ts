import fs from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent, sqlString } from './duckdb';

/** File formats `retrain ingest` reads, by extension. */
export const FORMAT_BY_EXTENSION = {
  '.csv': 'csv',
  '.parquet': 'parquet',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
} as const;

/**
 * The longest line (one CSV record or JSONL object) a file may hold. Checked before DuckDB reads the
 * file: its CSV reader skips a line longer than its buffer without a word.
 */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;

/** One input of a batch: a file, or the rows of a `POST /ingest` body. */
export type BatchSource = { kind: 'file'; path: string } | { kind: 'rows'; rows: unknown[] };

/**
 * Thrown when a batch cannot be ingested because of its content: a bad row, a missing column, a
 * malformed or unsupported file. The message names the file (if any), the row and the reason.
 */
export class RowCheckError extends Error {
  override readonly name = 'RowCheckError';
}

/**
 * A source loaded into a temp table: `__retrain_row` (1-based data row) plus either the file's own
 * columns (`columns`, name -> DuckDB type) or one JSON object per row in `__retrain_obj`.
 */
export interface RawTable {
  table: string;
  /** Column types of a CSV/Parquet source; undefined for JSON sources. */
  columns?: Map<string, string>;
}

export const ROW = '__retrain_row';
export const OBJ = '__retrain_obj';

/** Name used in messages: the path as given, or nothing for request rows. */
export function sourceLabel(source: BatchSource): string {
  return source.kind === 'file' ? source.path : '';
}

/**
 * Loads one source into `table` on `conn`. Row numbers: CSV data rows after the header (blank lines
 * are not rows), JSONL non-empty lines, Parquet rows, request rows by array position; all 1-based.
 */
export async function loadRaw(conn: DuckDBConnection, source: BatchSource, table: string): Promise<RawTable> {
  if (source.kind === 'rows') {
    await conn.run(
      `CREATE TEMP TABLE ${table} AS SELECT key::BIGINT + 1 AS ${ROW}, value AS ${OBJ} FROM json_each($1::JSON)`,
      // JSON has no Infinity or NaN; shown as text, they are refused as "expected a number".
      [JSON.stringify(source.rows, (_key, value: unknown) => nonFiniteAsText(value))],
    );
    return { table };
  }
  const label = source.path;
  const format =
    FORMAT_BY_EXTENSION[path.extname(source.path).toLowerCase() as keyof typeof FORMAT_BY_EXTENSION];
  if (!format) {
    throw new RowCheckError(
      `${label}: unsupported file type; expected ${Object.keys(FORMAT_BY_EXTENSION).join(', ')}`,
    );
  }
  const file = path.resolve(source.path);
  const stat = await fs.stat(file).catch(() => undefined);
  if (!stat?.isFile()) throw new RowCheckError(`${label}: no such file`);
  if (stat.size === 0) throw new RowCheckError(`${label}: empty file (0 bytes)`);
  if (format !== 'parquet') await checkLineLengths(file, label);
  try {
    if (format === 'jsonl') {
      await conn.run(
        `CREATE TEMP TABLE ${table}_lines AS SELECT json AS ${OBJ} FROM read_json_objects(${sqlString(file)}, format = 'newline_delimited', maximum_object_size = ${MAX_LINE_BYTES})`,
      );
      await conn.run(`CREATE TEMP TABLE ${table} AS SELECT rowid + 1 AS ${ROW}, ${OBJ} FROM ${table}_lines`);
      await conn.run(`DROP TABLE ${table}_lines`);
    } else if (format === 'parquet') {
      await conn.run(
        `CREATE TEMP TABLE ${table} AS SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS ${ROW}
         FROM read_parquet(${sqlString(file)}, file_row_number = true)`,
      );
    } else {
      const header = await readCsvHeader(file, label);
      // Every field as text with the dialect fixed: the checks decide what a value means, and a
      // ragged line fails with its line number instead of confusing the sniffer.
      const columns = header.map((c) => `${sqlString(c)}: 'VARCHAR'`).join(', ');
      await conn.run(
        `CREATE TEMP TABLE ${table}_lines AS SELECT * FROM read_csv(${sqlString(file)}, auto_detect = false,
           header = true, delim = ',', quote = '"', escape = '"', max_line_size = ${MAX_LINE_BYTES},
           columns = {${columns}})`,
      );
      await conn.run(`CREATE TEMP TABLE ${table} AS SELECT *, rowid + 1 AS ${ROW} FROM ${table}_lines`);
      await conn.run(`DROP TABLE ${table}_lines`);
    }
  } catch (err) {
    if (err instanceof RowCheckError) throw err;
    throw new RowCheckError(`${label}: ${briefDuckDbError(err)}`, { cause: err });
  }
  const count = await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM ${table}`);
  if (Number(count.getRowObjectsJson()[0]?.n ?? 0) === 0) {
    throw new RowCheckError(`${label}: no rows${format === 'csv' ? ' after the header' : ''}`);
  }
  if (format === 'jsonl') return { table };
  const described = await conn.runAndReadAll(`DESCRIBE ${table}`);
  const columns = new Map(
    described.getRowObjectsJson().map((r) => [String(r.column_name), String(r.column_type)] as const),
  );
  columns.delete(ROW);
  return { table, columns };
}

/** SQL for a column of a loaded source, as its own type or JSON. */
export function rawColumn(raw: RawTable, column: string): string {
  return raw.columns ? sqlIdent(column) : `(${OBJ}->${sqlString(column)})`;
}

/** Fails on the first line longer than {@link MAX_LINE_BYTES}, naming it; reads in chunks, so memory stays bounded. */
async function checkLineLengths(file: string, label: string): Promise<void> {
  const handle = await fs.open(file, 'r');
  try {
    const chunk = Buffer.alloc(1024 * 1024);
    let line = 1;
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) return;
      const data = chunk.subarray(0, bytesRead);
      for (let start = 0; ;) {
        const nl = data.indexOf(10, start);
        length += (nl === -1 ? bytesRead : nl) - start;
        if (length > MAX_LINE_BYTES) {
          throw new RowCheckError(
            `${label} line ${line}: longer than ${MAX_LINE_BYTES / 1024 / 1024} MiB, the most one row may take`,
          );
        }
        if (nl === -1) break;
        line++;
        length = 0;
        start = nl + 1;
      }
    }
  } finally {
    await handle.close();
  }
}

function nonFiniteAsText(value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

/** The header names of a comma-separated file (RFC 4180 quoting), from its first line. */
async function readCsvHeader(file: string, label: string): Promise<string[]> {
  const handle = await fs.open(file, 'r');
  let text: string;
  try {
    const chunk = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, 0);
    text = chunk
      .subarray(0, bytesRead)
      .toString('utf8')
      .replace(/^\uFEFF/, '');
  } finally {
    await handle.close();
  }
  const names: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  for (; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      names.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') break;
    else field += ch;
  }
  names.push(field);
  if (i === text.length && text.length === 64 * 1024)
    throw new RowCheckError(`${label}: header line too long`);
  if (names.length === 1 && names[0] === '')
    throw new RowCheckError(`${label}: empty file, expected a header row`);
  if (text.slice(0, i).includes('\u0000'))
    throw new RowCheckError(`${label}: binary data (NUL bytes) in the header, not a CSV text file`);
  const trimmed = names.map((n) => n.trim());
  const twice = trimmed.find((name, k) => trimmed.indexOf(name) !== k);
  if (twice !== undefined)
    throw new RowCheckError(`${label}: column ${JSON.stringify(twice)} appears twice in the header`);
  return trimmed;
}

/** DuckDB's reader errors carry pages of advice; the first lines say what is wrong and where. */
function briefDuckDbError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const lines = message.split('\n').map((l) => l.trim());
  const end = lines.findIndex((l) => l === '' || l.startsWith('Possible fixes'));
  return lines
    .slice(0, end === -1 ? 3 : Math.min(end, 3))
    .join('; ')
    .replace(/^Invalid Input Error: /, '');
}
