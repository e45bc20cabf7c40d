import type { DuckDBConnection } from '@duckdb/node-api';
import { z } from 'zod';
import { isMultiClass, type ModelSpec } from '../common/model-spec';
import {
  loadRaw,
  OBJ,
  rawColumn,
  ROW,
  RowCheckError,
  sourceLabel,
  type BatchSource,
  type RawTable,
} from './batch-source';
import { INTERNAL_PREFIX, type BufferKey } from './buffer';
import { sqlIdent, sqlString } from './duckdb';

/** Column of a checked batch: which input (index into the sources) a row came from. */
export const SRC = `${INTERNAL_PREFIX}src`;
/** A row may be at most this far ahead of the clock: retention counts back from the newest day. */
const FUTURE_SLACK_MS = 86_400_000;
const NUMERIC =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL.*)$/;
const INTEGER = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/;
const TEMPORAL = /^(TIMESTAMP.*|DATE)$/;

/** `label`: a multi-class classifier's target, a class as text (strings or integers). */
type Role = 'time' | 'entity' | 'number' | 'label';

/**
 * What to do with rows of one batch that share a (time, entity) but differ in value: `reject` the
 * batch naming both rows, or keep the `first` or the `last` of them (source, then row order).
 */
export const ConflictPolicySchema = z.enum(['reject', 'first', 'last']);
export type ConflictPolicy = z.infer<typeof ConflictPolicySchema>;

/**
 * What to do with columns (or JSON keys) the spec does not name: `reject` the batch naming them and
 * the spec's columns (a typo such as `cpu_pct` for `cpu` is then caught), or `drop` them.
 */
export const ExtraColumnsPolicySchema = z.enum(['reject', 'drop']);
export type ExtraColumnsPolicy = z.infer<typeof ExtraColumnsPolicySchema>;

/** Options of {@link loadCheckedBatch}. */
export interface CheckOptions {
  /** @default 'reject' */
  onConflict?: ConflictPolicy;
  /** @default 'reject' */
  extraColumns?: ExtraColumnsPolicy;
  /** Rows later than a day after this are refused. @default new Date() */
  now?: Date;
  /** Told how many rows `first`/`last` dropped (0 when there was nothing to resolve). */
  onResolved?: (rows: number) => void;
}

/**
 * The columns a spec stores, in buffer order: time, entity (when the spec has one), features, then
 * the target unless it is a feature (a number; a class, as text, for multi-class classifiers).
 */
export function bufferColumns(spec: ModelSpec): { name: string; role: Role }[] {
  const numbers = [...new Set(spec.features)];
  const target = spec.target;
  const targetRole: Role = isMultiClass(spec) ? 'label' : 'number';
  return [
    { name: spec.timeColumn, role: 'time' },
    ...(spec.entityColumn === undefined ? [] : [{ name: spec.entityColumn, role: 'entity' as const }]),
    ...numbers.map((name) => ({ name, role: 'number' as const })),
    ...(target === undefined || numbers.includes(target) ? [] : [{ name: target, role: targetRole }]),
  ];
}

/** What identifies a stored row of the spec (see {@link BufferKey}). */
export function bufferKey(spec: ModelSpec): BufferKey {
  if (spec.entityColumn !== undefined)
    return { timeColumn: spec.timeColumn, entityColumn: spec.entityColumn };
  const rowColumns = bufferColumns(spec)
    .filter((c) => c.role !== 'time')
    .map((c) => c.name);
  return { timeColumn: spec.timeColumn, rowColumns };
}

/**
 * Reads every source of a batch into `table` (created here: `__retrain_src`, `__retrain_row` and the
 * spec's columns as TIMESTAMP, VARCHAR and DOUBLE) after checking every row against the spec. A
 * column the spec does not name rejects the batch unless `extraColumns` is `drop`. The first bad row, in source then row order, fails the whole batch with a
 * {@link RowCheckError} such as `orders.csv row 17: delay_mean is "abc", expected a number`; so do
 * two rows with the same time and entity but different values, unless `onConflict` says which one
 * to keep. Returns the number of rows left in `table`.
 */
export async function loadCheckedBatch(
  conn: DuckDBConnection,
  spec: ModelSpec,
  sources: readonly BatchSource[],
  table: string,
  { onConflict = 'reject', extraColumns = 'reject', now = new Date(), onResolved }: CheckOptions = {},
): Promise<number> {
  const columns = bufferColumns(spec);
  await conn.run(`SET TimeZone = 'UTC'`);
  await conn.run(
    `CREATE TABLE ${table} (${SRC} INTEGER, ${ROW} BIGINT, ${columns
      .map(
        (c) =>
          `${sqlIdent(c.name)} ${c.role === 'time' ? 'TIMESTAMP' : c.role === 'number' ? 'DOUBLE' : 'VARCHAR'}`,
      )
      .join(', ')})`,
  );
  const latest = new Date(now.getTime() + FUTURE_SLACK_MS).toISOString().replace('T', ' ').replace('Z', '');
  for (const [index, source] of sources.entries()) {
    const rawName = `${INTERNAL_PREFIX}raw_${index}`;
    try {
      const raw = await loadRaw(conn, source, rawName);
      await checkSource(conn, raw, columns, sourceLabel(source), latest);
      if (!raw.columns) await rejectRepeatedKeys(conn, raw, sourceLabel(source));
      if (extraColumns === 'reject') await rejectExtraColumns(conn, raw, columns, sourceLabel(source));
      await conn.run(
        `INSERT INTO ${table} SELECT ${index}, ${ROW}, ${columns.map((_, i) => `${INTERNAL_PREFIX}c${i}`).join(', ')} FROM ${rawName}_checked`,
      );
    } finally {
      await conn.run(`DROP TABLE IF EXISTS ${rawName}`);
      await conn.run(`DROP TABLE IF EXISTS ${rawName}_checked`);
    }
  }
  if (onConflict === 'reject') await rejectConflicts(conn, table, spec, sources);
  else onResolved?.(await resolveConflicts(conn, table, spec, onConflict));
  const count = await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM ${table}`);
  return Number(count.getRowObjectsJson()[0]?.n ?? 0);
}

/** Converts each column into `<raw>_checked` (`c<i>`, NULL when unusable) and throws on the first bad row. */
async function checkSource(
  conn: DuckDBConnection,
  raw: RawTable,
  columns: { name: string; role: Role }[],
  label: string,
  latest: string,
): Promise<void> {
  const where = label ? `${label} ` : '';
  if (raw.columns) {
    const missing = columns.filter((c) => !raw.columns?.has(c.name)).map((c) => c.name);
    if (missing.length) {
      throw new RowCheckError(
        `${label}: no column ${missing.join(', ')} (it has ${[...raw.columns.keys()].join(', ') || 'none'})`,
      );
    }
  }
  const c = (i: number) => `${INTERNAL_PREFIX}c${i}`;
  const ok = columns.map((column, i) => okCondition(column.role, c(i), latest));
  const flags = [`${INTERNAL_PREFIX}is_object`, ...ok.map((_, i) => `${INTERNAL_PREFIX}ok${i}`)];
  await conn.run(
    `CREATE TEMP TABLE ${raw.table}_checked AS
     SELECT *, ${[raw.columns ? 'TRUE' : `json_type(${OBJ}) = 'OBJECT'`, ...ok].map((cond, i) => `coalesce(${cond}, FALSE) AS ${flags[i]}`).join(', ')}
     FROM (SELECT ${ROW}, ${raw.columns ? '' : `${OBJ}, `}${columns.map((column, i) => `${converted(raw, column.name, column.role)} AS ${c(i)}`).join(', ')}
           FROM ${raw.table})`,
  );
  const display = (name: string) => (raw.columns ? `r.${sqlIdent(name)}` : `(r.${OBJ}->${sqlString(name)})`);
  const bad = await conn.runAndReadAll(
    `SELECT k.${ROW}::BIGINT AS row, ${flags.map((f, i) => `k.${f} AS f${i}`).join(', ')},
            ${raw.columns ? 'NULL' : `r.${OBJ}::VARCHAR`} AS obj,
            ${columns.map((column, i) => `${display(column.name)}::VARCHAR AS d${i}, k.${c(i)} IS NULL AS null${i}`).join(', ')}
     FROM ${raw.table}_checked k JOIN ${raw.table} r ON k.${ROW} = r.${ROW}
     WHERE NOT (${flags.map((f) => `k.${f}`).join(' AND ')})
     ORDER BY k.${ROW} LIMIT 1`,
  );
  const row = bad.getRowObjectsJson()[0];
  if (!row) return;
  if (!row.f0) {
    throw new RowCheckError(
      `${where}row ${String(row.row)}: expected a JSON object, got ${clip(String(row.obj))}`,
    );
  }
  for (const [i, column] of columns.entries()) {
    if (row[`f${i + 1}`]) continue;
    const text = row[`d${i}`] as string | null;
    const display =
      text === null ? null : raw.columns?.get(column.name) === 'VARCHAR' ? JSON.stringify(text) : text;
    throw new RowCheckError(
      `${where}row ${String(row.row)}: ${column.name} ${reason(column.role, display, row[`null${i}`] === true)}`,
    );
  }
}

/** A JSON row naming a key twice (`{"cpu": 1, "cpu": 2}`) is ambiguous: which value was meant? */
async function rejectRepeatedKeys(conn: DuckDBConnection, raw: RawTable, label: string): Promise<void> {
  const found = await conn.runAndReadAll(
    `SELECT ${ROW}::BIGINT AS row, to_json(list_distinct(list_filter(keys, lambda k: len(list_filter(keys, lambda j: j = k)) > 1)))::VARCHAR AS twice
     FROM (SELECT ${ROW}, json_keys(${OBJ}) AS keys FROM ${raw.table})
     WHERE len(keys) <> len(list_distinct(keys)) ORDER BY ${ROW} LIMIT 1`,
  );
  const row = found.getRowObjectsJson()[0];
  if (!row) return;
  const twice = (JSON.parse(String(row.twice)) as string[]).map((k) => clip(JSON.stringify(k))).join(', ');
  throw new RowCheckError(
    `${label ? `${label} ` : ''}row ${String(row.row)}: key ${twice} appears more than once`,
  );
}

/** Columns of a file, or keys of a JSON row, that the spec does not name reject the batch, naming both. */
async function rejectExtraColumns(
  conn: DuckDBConnection,
  raw: RawTable,
  columns: { name: string }[],
  label: string,
): Promise<void> {
  const known = columns.map((c) => c.name);
  const unknown = (names: string[]) =>
    `unknown column${names.length > 1 ? 's' : ''} ${names.map((n) => clip(JSON.stringify(n))).join(', ')}; ` +
    `the spec's columns are ${known.join(', ')} (to drop extra columns: --extra-columns drop, or "extraColumns": "drop" in POST /ingest)`;
  if (raw.columns) {
    const extra = [...raw.columns.keys()].filter((name) => !known.includes(name));
    if (extra.length) throw new RowCheckError(`${label}: ${unknown(extra)}`);
    return;
  }
  const found = await conn.runAndReadAll(
    `SELECT row::BIGINT AS row, to_json(list(DISTINCT k ORDER BY k))::VARCHAR AS extra
     FROM (SELECT ${ROW} AS row, unnest(json_keys(${OBJ})) AS k FROM ${raw.table})
     WHERE k NOT IN (${known.map(sqlString).join(', ')})
     GROUP BY row ORDER BY row LIMIT 1`,
  );
  const row = found.getRowObjectsJson()[0];
  if (!row) return;
  const extra = JSON.parse(String(row.extra)) as string[];
  throw new RowCheckError(`${label ? `${label} ` : ''}row ${String(row.row)}: ${unknown(extra)}`);
}

/** SQL turning a raw column into the buffer type, or NULL when the value does not qualify. */
function converted(raw: RawTable, column: string, role: Role): string {
  const r = rawColumn(raw, column);
  const type = raw.columns?.get(column) ?? 'JSON';
  if (type === 'JSON') {
    const json = `json_type(${r})`;
    if (role === 'number')
      return `CASE WHEN ${json} IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN ${r}::DOUBLE END`;
    if (role === 'time')
      return `CASE WHEN ${json} = 'VARCHAR' THEN TRY_CAST(${r}->>'$' AS TIMESTAMPTZ)::TIMESTAMP END`;
    return `CASE WHEN ${json} = 'VARCHAR' THEN ${r}->>'$' WHEN ${json} IN ('BIGINT', 'UBIGINT') THEN ${r}::VARCHAR END`;
  }
  if (role === 'number') {
    if (type === 'VARCHAR') return `TRY_CAST(${r} AS DOUBLE)`;
    return NUMERIC.test(type) ? `${r}::DOUBLE` : 'NULL::DOUBLE';
  }
  if (role === 'time') {
    if (type === 'VARCHAR') return `TRY_CAST(${r} AS TIMESTAMPTZ)::TIMESTAMP`;
    return TEMPORAL.test(type) ? `${r}::TIMESTAMP` : 'NULL::TIMESTAMP';
  }
  if (type === 'VARCHAR') return r;
  return INTEGER.test(type) ? `${r}::VARCHAR` : 'NULL::VARCHAR';
}

function okCondition(role: Role, c: string, latest: string): string {
  if (role === 'number') return `${c} IS NOT NULL AND isfinite(${c})`;
  if (role === 'entity' || role === 'label') return `${c} IS NOT NULL AND trim(${c}) <> ''`;
  return `${c} IS NOT NULL AND isfinite(${c}) AND ${c} <= TIMESTAMP ${sqlString(latest)}`;
}

function reason(role: Role, display: string | null, unconverted: boolean): string {
  if (display === null) return 'is missing';
  const shown = `is ${clip(display)}`;
  if (role === 'number') return `${shown}, expected ${unconverted ? 'a number' : 'a finite number'}`;
  if (role === 'entity') return `${shown}, expected a non-empty string`;
  if (role === 'label') return `${shown}, expected a class: a non-empty string or an integer`;
  if (unconverted) return `${shown}, expected a timestamp such as 2001-01-31T14:00:00Z`;
  return `${shown}, expected a timestamp no more than a day in the future`;
}

/** The SQL list of a row's stored numbers, which two rows of one key must agree on. */
function valuesOf(spec: ModelSpec): string {
  return `list_value(${bufferColumns(spec)
    .filter((c) => c.role === 'number' || c.role === 'label')
    .map((c) => sqlIdent(c.name))
    .join(', ')})`;
}

/** Two rows of one batch with the same key must agree, or it is unclear which one to keep. */
async function rejectConflicts(
  conn: DuckDBConnection,
  table: string,
  spec: ModelSpec,
  sources: readonly BatchSource[],
): Promise<void> {
  // Without an entity a row's key is all of it: rows of one key cannot disagree.
  if (spec.entityColumn === undefined) return;
  const t = sqlIdent(spec.timeColumn);
  const e = sqlIdent(spec.entityColumn);
  const values = valuesOf(spec);
  const found = await conn.runAndReadAll(
    `SELECT ${SRC} AS src, ${ROW}::BIGINT AS row, fsrc, frow::BIGINT AS frow,
            strftime(${t}, '%Y-%m-%dT%H:%M:%SZ') AS time, ${e} AS entity
     FROM (SELECT *, ${values} AS v, first_value(${SRC}) OVER w AS fsrc, first_value(${ROW}) OVER w AS frow,
                  first_value(${values}) OVER w AS fv
           FROM ${table} WINDOW w AS (PARTITION BY ${t}, ${e} ORDER BY ${SRC}, ${ROW}))
     WHERE v IS DISTINCT FROM fv ORDER BY ${SRC}, ${ROW} LIMIT 1`,
  );
  const row = found.getRowObjectsJson()[0];
  if (!row) return;
  const at = (src: unknown, r: unknown) => {
    const label = sourceLabel(sources[Number(src)] as BatchSource);
    return `${label ? `${label} ` : ''}row ${String(r)}`;
  };
  throw new RowCheckError(
    `${at(row.src, row.row)}: ${spec.timeColumn} ${String(row.time)} and ${spec.entityColumn} ${JSON.stringify(row.entity)} ` +
      `repeat ${at(row.fsrc, row.frow)} with different values`,
  );
}

/**
 * Of every key whose rows disagree, deletes all rows but the first or last (source, then row order);
 * keys whose rows all agree are left to the writer, which keeps one and counts the rest as duplicates.
 * Returns the number of rows deleted.
 */
async function resolveConflicts(
  conn: DuckDBConnection,
  table: string,
  spec: ModelSpec,
  keep: 'first' | 'last',
): Promise<number> {
  if (spec.entityColumn === undefined) return 0;
  const t = sqlIdent(spec.timeColumn);
  const e = sqlIdent(spec.entityColumn);
  const order = keep === 'first' ? `${SRC}, ${ROW}` : `${SRC} DESC, ${ROW} DESC`;
  const deleted = await conn.runAndReadAll(
    `DELETE FROM ${table} WHERE rowid IN (
       SELECT rid FROM (
         SELECT rid, rank, bool_or(v IS DISTINCT FROM fv) OVER (PARTITION BY ${t}, ${e}) AS conflicting
         FROM (SELECT rowid AS rid, ${t}, ${e}, ${valuesOf(spec)} AS v,
                      first_value(${valuesOf(spec)}) OVER w AS fv, row_number() OVER w AS rank
               FROM ${table} WINDOW w AS (PARTITION BY ${t}, ${e} ORDER BY ${order})))
       WHERE conflicting AND rank > 1)
     RETURNING 1`,
  );
  return deleted.currentRowCount;
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
