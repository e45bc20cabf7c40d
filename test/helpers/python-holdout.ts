import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { PreprocessingSchema } from '../../common/artefacts';
import type { ModelSpec } from '../../common/model-spec';
import { outputValue, statsOf } from '../../common/model-inputs';
import { loadManifest } from '../../datasets/dataset-io';
import { readFrameInfo } from '../../datasets/feature-frame';
import type { BlobStore } from '../../storage/blob-store';
import { sqlString, withDuckDb } from '../../storage/duckdb';
import { getJson } from '../../storage/open-store';
import type { ModelRegistry } from '../../storage/registry';

// The python trainer's own holdout answers (holdout-predictions.json, docs/trainers.md "Result")
// beside /predict's answers on the raw rows of the same samples, for any task.

const OwnPredictionsSchema = z.object({
  output: z.enum(['value', 'probabilities', 'cluster']),
  width: z.number().int(),
  values: z.array(z.number()),
});

/** One holdout sample of the frame: the raw rows /predict takes and the trainer's answer for it. */
export interface HoldoutCase {
  /** Index among the holdout rows of the frame. */
  k: number;
  entity: string;
  /** The sample's input rows in the ingestion schema (time, entity, features; no label), oldest first. */
  rows: Record<string, unknown>[];
  /** What /predict should answer as `value`, from the trainer's own output for the row. */
  expected: number;
  /** A multi-class classifier's class probabilities by class name, from the trainer's own output. */
  probabilities?: Record<string, number>;
}

/**
 * Holdout samples `ks` (negative: from the end) of a python-trained run: the rows /predict takes,
 * read from the run's rows.parquet, and the answer the trainer's own model gave for each, turned
 * into /predict's units as the TypeScript side turns any output (target units, class 1's
 * probability, the top class, a cluster id). `dir` is a scratch folder for the parquet files.
 */
export async function holdoutCases(opts: {
  store: BlobStore;
  registry: ModelRegistry;
  spec: ModelSpec;
  workflowId: string;
  version: string;
  dir: string;
  ks: number[];
}): Promise<HoldoutCase[]> {
  const { store, registry, spec, workflowId, dir } = opts;
  const datasetKey = `datasets/${spec.name}/${workflowId}`;
  const frame = await readFrameInfo(store, datasetKey);
  if (!frame) throw new Error(`no feature frame under ${datasetKey}`);
  const candidate = `checkpoints/${spec.name}/${workflowId}/final`;
  const own = (await getJson(store, `${candidate}/holdout-predictions.json`, OwnPredictionsSchema))?.value;
  if (!own) throw new Error(`no holdout-predictions.json under ${candidate}`);
  if (own.values.length !== frame.rows.holdout * own.width)
    throw new Error(
      `${own.values.length} holdout answers for ${frame.rows.holdout} rows of width ${own.width}`,
    );
  const meta = await registry.getMetadata(spec.name, opts.version);
  const pre = PreprocessingSchema.parse(meta?.preprocessing);

  const frameFile = path.join(dir, `${workflowId}-frame.parquet`);
  const rowsFile = path.join(dir, `${workflowId}-rows.parquet`);
  for (const [key, file] of [
    [`${datasetKey}/frame/frame.parquet`, frameFile],
    [(await loadManifest(store, datasetKey)).files.rows.key, rowsFile],
  ] as const) {
    const body = (await store.get(key))?.body;
    if (!body) throw new Error(`no ${key}`);
    await fs.writeFile(file, body);
  }
  const columns = [
    `strftime(${quote(spec.timeColumn)}, '%Y-%m-%dT%H:%M:%SZ') AS ${quote(spec.timeColumn)}`,
    ...(spec.entityColumn ? [quote(spec.entityColumn)] : []),
    ...spec.features.map(quote),
  ];
  const target = spec.target === undefined ? 'NULL' : quote(spec.target);
  try {
    return await withDuckDb(async (conn) => {
      const out: HoldoutCase[] = [];
      for (const wanted of opts.ks) {
        const k = wanted < 0 ? frame.rows.holdout + wanted : wanted;
        const [head] = (
          await conn.runAndReadAll(
            `SELECT __entity AS e, __time AS t FROM read_parquet(${sqlString(frameFile)})
             LIMIT 1 OFFSET ${frame.rows.train + k}`,
          )
        ).getRowObjectsJson() as { e: string; t: string }[];
        if (!head) throw new Error(`no holdout row ${k}`);
        const entityFilter = spec.entityColumn
          ? `${quote(spec.entityColumn)} = ${sqlString(head.e)} AND`
          : '';
        const found = (
          await conn.runAndReadAll(
            `SELECT ${columns.join(', ')}, ${target} AS __label
             FROM read_parquet(${sqlString(rowsFile)})
             WHERE ${entityFilter} epoch_us(${quote(spec.timeColumn)}) <= ${head.t}
             ORDER BY ${quote(spec.timeColumn)} DESC LIMIT ${spec.lookback}`,
          )
        ).getRowObjectsJson() as Record<string, unknown>[];
        const last = Number(found[0]?.__label);
        const rows = found.reverse().map(({ __label: _label, ...row }) => row);
        const cell = (c: number) => own.values[k * own.width + c] as number;
        let expected: number;
        let probabilities: Record<string, number> | undefined;
        if (own.output === 'value') expected = outputValue(pre, statsOf(pre, head.e), last, cell(0));
        else if (own.output === 'cluster') expected = cell(0);
        else if (own.width === 2 && spec.threshold !== undefined) expected = cell(1);
        else {
          const classes = pre.classes ?? [];
          probabilities = Object.fromEntries(classes.map((name, c) => [name, cell(c)]));
          expected = Math.max(...classes.map((_, c) => cell(c)));
        }
        out.push({ k, entity: head.e, rows, expected, ...(probabilities ? { probabilities } : {}) });
      }
      return out;
    });
  } finally {
    await fs.rm(frameFile, { force: true });
    await fs.rm(rowsFile, { force: true });
  }
}

/** Whether /predict's `value` equals the trainer's within float32 tolerance (relative for large values). */
export function sameAnswer(served: number, own: number, tolerance = 1e-3): boolean {
  return Math.abs(served - own) <= tolerance * Math.max(1, Math.abs(own));
}

function quote(column: string): string {
  return `"${column.replaceAll('"', '""')}"`;
}
