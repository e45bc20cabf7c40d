import { z } from 'zod';
import { ModelNameSchema } from '../common/model-spec';

import type { Preprocessing } from '../common/artefacts';
import {
  SINGLE_ENTITY,
  frequencyMs,
  inputWidth,
  outputValue,
  statsOf,
  stepWidth,
  writeCalendar,
} from '../common/model-inputs';

/** Thrown when request rows cannot become a model input; the message names the row, field or entity. */
export class FeatureError extends Error {
  override readonly name = 'FeatureError';
}

/** Model input rows, one per entity, row-major `[keys.length, width]`, as training builds them. */
export interface FeatureBatch {
  x: Float32Array;
  width: number;
  /**
   * Per input row: the entity as sent, the time of its latest row (ISO 8601, UTC), with a frequency
   * the time the forecast is for, and what turns the model's output into a value (`value`).
   */
  keys: { entity?: string | number; time: string; for?: string; value: (output: number) => number }[];
}

/** A request row; `entity` is absent for a tabular model without an entity column. */
type Row = { time: number; entity?: string | number; values: number[] };

const MAX_LISTED_ISSUES = 5;
const ISO_DATE_START = /^\d{4}-\d{2}-\d{2}/;

/** Body of `POST /predict` and `POST /ingest`: a model and raw rows in the ingestion schema. */
export const ModelRowsBodySchema = z.object({
  model: ModelNameSchema,
  rows: z.array(z.unknown()).min(1, { message: 'rows must hold at least one row' }),
});

/**
 * Builds the lookback window of every entity from raw rows in the ingestion schema, the way
 * training does (ml/windows.ts): oldest lag first, each feature scaled by the entity's statistics
 * (the fleet's for an entity training never saw), then the calendar encodings of the row's time.
 */
export function buildFeatures(rows: unknown[], pre: Preprocessing): FeatureBatch {
  let schema = schemas.get(pre);
  if (!schema) schemas.set(pre, (schema = rowsSchema(pre)));
  const parsed = schema.safeParse(rows);
  if (!parsed.success) throw new FeatureError(describeIssues(parsed.error, pre));
  if (pre.horizon === 0) return tabularFeatures(parsed.data, pre);
  const groups = new Map<string, Row[]>();
  for (const row of parsed.data) {
    const key = String(row.entity);
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  const nf = pre.features.length;
  const columns = stepWidth(pre);
  const width = inputWidth(pre);
  const stepMs = frequencyMs(pre);
  const targetAt = pre.target === undefined ? -1 : pre.features.indexOf(pre.target);
  const x = new Float32Array(groups.size * width);
  const keys: FeatureBatch['keys'] = [];
  const short: string[] = [];
  const gaps: string[] = [];
  for (const [entity, group] of groups) {
    group.sort((a, b) => a.time - b.time);
    for (let i = 1; i < group.length; i++) {
      if (group[i]?.time === group[i - 1]?.time) {
        throw new FeatureError(
          `entity ${JSON.stringify(entity)} has two rows at ${isoOf(group[i]?.time ?? 0)}`,
        );
      }
    }
    if (group.length < pre.lookback) {
      short.push(`entity ${JSON.stringify(entity)} has ${group.length} row(s), needs ${pre.lookback}`);
      continue;
    }
    const window = group.slice(-pre.lookback);
    if (stepMs !== undefined) {
      const gap = window.findIndex((row, i) => i > 0 && row.time - (window[i - 1] as Row).time !== stepMs);
      if (gap > 0) {
        gaps.push(
          `entity ${JSON.stringify(entity)}: ${isoOf((window[gap - 1] as Row).time)} to ${isoOf((window[gap] as Row).time)} is not one step of ${pre.frequency}`,
        );
        continue;
      }
    }
    const stats = statsOf(pre, entity);
    const offset = keys.length * width;
    window.forEach((row, step) => {
      const at = offset + step * columns;
      row.values.forEach((value, f) => {
        x[at + f] = (value - (stats.mean[f] as number)) / (stats.std[f] as number);
      });
      writeCalendar(pre.calendar, row.time, x, at + nf);
    });
    const last = window[window.length - 1] as Row;
    const lastTarget = targetAt >= 0 ? (last.values[targetAt] as number) : Number.NaN;
    keys.push({
      entity: last.entity,
      time: isoOf(last.time),
      ...(stepMs === undefined ? {} : { for: isoOf(last.time + pre.horizon * stepMs) }),
      value: (output) => (pre.task === 'classify' ? output : outputValue(pre, stats, lastTarget, output)),
    });
  }
  if (short.length) {
    throw new FeatureError(`not enough rows for the lookback of ${pre.lookback}: ${short.join('; ')}`);
  }
  if (gaps.length) {
    throw new FeatureError(
      `the last ${pre.lookback} rows of each entity must be consecutive steps of ${pre.frequency}: ${gaps.join('; ')}`,
    );
  }
  return { x, width, keys };
}

/**
 * Tabular models (`horizon` 0): each row is its own input, scaled by its entity's statistics (the
 * fleet's without an entity column), one prediction per row in request order.
 */
function tabularFeatures(rows: Row[], pre: Preprocessing): FeatureBatch {
  const nf = pre.features.length;
  const width = inputWidth(pre);
  const x = new Float32Array(rows.length * width);
  const keys: FeatureBatch['keys'] = rows.map((row, i) => {
    const stats = statsOf(pre, row.entity === undefined ? SINGLE_ENTITY : String(row.entity));
    row.values.forEach((value, f) => {
      x[i * width + f] = (value - (stats.mean[f] as number)) / (stats.std[f] as number);
    });
    writeCalendar(pre.calendar, row.time, x, i * width + nf);
    return {
      ...(row.entity === undefined ? {} : { entity: row.entity }),
      time: isoOf(row.time),
      value: (output) => (pre.task === 'regress' ? outputValue(pre, stats, Number.NaN, output) : output),
    };
  });
  return { x, width, keys };
}

/** One row schema per loaded version: zod compiles a schema on first use, so reuse saves that per request. */
const schemas = new WeakMap<Preprocessing, ReturnType<typeof rowsSchema>>();

function rowsSchema(pre: Preprocessing) {
  const feature = z.number({ error: 'must be a finite number' });
  const entity = z.union([z.string().min(1), z.number()], {
    error: 'must be a non-empty string or a number',
  });
  const time = z.unknown().transform((value, ctx) => {
    const ms = toMillis(value);
    if (ms === undefined) {
      const message =
        value === undefined
          ? 'is required'
          : typeof value === 'number' && Number.isFinite(value)
            ? `is ${value} epoch milliseconds, outside the dates of ±${MAX_TIME_MS}`
            : 'must be an ISO 8601 time or epoch milliseconds';
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
    return ms;
  });
  const { entityColumn } = pre;
  const shape: Record<string, z.ZodType> = { [pre.timeColumn]: time };
  if (entityColumn !== undefined) shape[entityColumn] = entity;
  for (const name of pre.features) shape[name] = feature;
  const row = z.object(shape, { error: 'must be an object' }).transform((r): Row => ({
    time: r[pre.timeColumn] as number,
    ...(entityColumn === undefined ? {} : { entity: r[entityColumn] as string | number }),
    values: pre.features.map((name) => r[name] as number),
  }));
  return z.array(row, { error: 'rows must be an array of objects' });
}

/** The last millisecond a JavaScript date can hold, either side of 1970 (ECMA-262's time range). */
const MAX_TIME_MS = 8.64e15;

function toMillis(value: unknown): number | undefined {
  if (typeof value === 'number') return Math.abs(value) <= MAX_TIME_MS ? value : undefined;
  if (typeof value !== 'string' || !ISO_DATE_START.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

function isoOf(ms: number): string {
  return new Date(ms).toISOString();
}

function describeIssues(error: z.ZodError, pre: Preprocessing): string {
  const lines = error.issues.slice(0, MAX_LISTED_ISSUES).map((issue) => {
    const [index, field] = issue.path;
    const where =
      typeof index === 'number' ? `rows[${index}]${field === undefined ? '' : `.${String(field)}`}` : 'rows';
    const missing = issue.code === 'invalid_type' && issue.input === undefined;
    return `${where}: ${missing ? 'is required' : issue.message}`;
  });
  const more = error.issues.length - lines.length;
  const needs = pre.entityColumn === undefined ? 'the time' : 'the time, entity';
  const hint = `each row needs ${needs} and features (${pre.features.join(', ')})`;
  return `invalid rows: ${lines.join('; ')}${more > 0 ? `; and ${more} more` : ''} (${hint})`;
}
