import { z } from 'zod';
import { PreprocessingSchema, type DatasetManifest, type Preprocessing } from '../common/artefacts';
import { inputOptions, type Hyperparams } from '../common/model-spec';
import { stepWidth } from '../common/model-inputs';
import { fitPreprocessing, type LoadedSplit } from '../ml/windows';
import type { BlobStore } from '../storage/blob-store';
import { getJson, putJson } from '../storage/open-store';
import { parquetTable, type TableColumn } from '../storage/parquet-table';
import { openDataset } from './dataset-io';

// The feature frame (docs/trainers.md "What a trainer reads"): a dataset's samples as trainers outside
// TypeScript read them, built once by the code training, validation and /predict use (ml/windows).

/** What `frame.json` says about `frame.parquet`. */
export const FrameInfoSchema = z.object({
  task: z.string(),
  featureColumns: z.array(z.string()),
  featureNames: z.array(z.string()),
  classes: z.array(z.string()).nullable(),
  rows: z.object({ train: z.number().int(), holdout: z.number().int() }),
  preprocessing: PreprocessingSchema,
});
export type FrameInfo = z.infer<typeof FrameInfoSchema>;

/** `<datasetKey>/frame`, where frame.parquet and frame.json live. */
export function framePrefix(datasetKey: string): string {
  return `${datasetKey}/frame`;
}

/**
 * The name of each model input column, in model order: `lookback` steps, oldest first, each step the
 * features then a sine and a cosine per calendar feature, as `<name>@t-<steps back>`.
 */
export function featureNames(pre: Pick<Preprocessing, 'features' | 'calendar' | 'lookback'>): string[] {
  const step = [...pre.features, ...(pre.calendar ?? []).flatMap((c) => [`${c}.sin`, `${c}.cos`])];
  return Array.from({ length: pre.lookback }, (_, j) =>
    step.map((n) => `${n}@t-${pre.lookback - 1 - j}`),
  ).flat();
}

/**
 * Writes the frame of the dataset `manifest` describes, under the preprocessing a training with
 * `hp` fits (the spec's input options over the train split), then `frame.json`; returns the info.
 * `frame.parquet` holds train rows, then holdout rows, each in sample order: `__entity`, `__time`
 * (the newest input row's, epoch µs), `__split`, `__target` (what the model learns: the scaled
 * target of forecasts and regressions, the class index of classifiers; no column for clusterers),
 * the scoring columns (see `scoringColumns`), then `f0 … f<n-1>`, the model inputs exactly as `WindowedData.gatherX` builds them.
 */
export async function writeFeatureFrame(
  store: BlobStore,
  datasetKey: string,
  manifest: DatasetManifest,
  hp: Pick<Hyperparams, 'normalisation' | 'targetTransform' | 'calendar'>,
): Promise<FrameInfo> {
  const dataset = await openDataset(store, manifest);
  const base = manifest.preprocessing;
  const pre = fitPreprocessing(dataset.rows, dataset.index, dataset.rule, base, inputOptions(base, hp));
  const { train, holdout } = dataset.splits(pre);
  const width = dataset.rule.lookback * stepWidth(pre);
  const parts = [
    { split: 'train', data: train, time: pick(dataset.index.time, dataset.index.train) },
    { split: 'holdout', data: holdout, time: pick(dataset.index.time, dataset.index.holdout) },
  ];
  const n = train.data.rows + holdout.data.rows;
  const where = (r: number) =>
    r < train.data.rows ? { part: 0, k: r } : { part: 1, k: r - train.data.rows };
  const x = parts.map(({ data }) => inputsOf(data, width));
  const featureColumns = Array.from({ length: width }, (_, c) => `f${c}`);
  const columns: TableColumn[] = [
    { name: '__entity', type: 'VARCHAR', value: (r) => entityName(parts, where(r)) },
    { name: '__time', type: 'BIGINT', values: concat(parts.map((p) => p.time)) },
    { name: '__split', type: 'VARCHAR', value: (r) => (where(r).part === 0 ? 'train' : 'holdout') },
    ...(base.task === 'cluster'
      ? []
      : [{ name: '__target', type: 'DOUBLE', values: concat(parts.map((p) => p.data.data.y)) } as const]),
    ...scoringColumns(base.task, parts),
    ...featureColumns.map((name, c) => ({
      name,
      type: 'FLOAT' as const,
      values: concat(x.map((rows) => column(rows, width, c))),
    })),
  ];
  const prefix = framePrefix(datasetKey);
  await store.put(`${prefix}/frame.parquet`, await parquetTable(n, columns), {
    contentType: 'application/vnd.apache.parquet',
  });
  const info: FrameInfo = {
    task: base.task,
    featureColumns,
    featureNames: featureNames(pre),
    classes: pre.classes ?? (base.task === 'classify' ? ['0', '1'] : null),
    rows: { train: train.data.rows, holdout: holdout.data.rows },
    preprocessing: pre,
  };
  await putJson(store, `${prefix}/frame.json`, info);
  return info;
}

/** A dataset's frame.json, when it has a frame. */
export async function readFrameInfo(store: BlobStore, datasetKey: string): Promise<FrameInfo | undefined> {
  return (await getJson(store, `${framePrefix(datasetKey)}/frame.json`, FrameInfoSchema))?.value;
}

/**
 * What a trainer needs to score its holdout as validation does, in the target's units: `__actual`
 * (the target, 0/1 or the class index for classifiers; none for clusterers), `__outScale` and
 * `__outOffset` (a `value` output in the target's units is `value * __outScale + __outOffset`: the
 * inverse of the target's scaling and change transform) and `__naiveScale` (the sample's entity's
 * MASE scale; NaN for tabular tasks).
 */
function scoringColumns(task: Preprocessing['task'], parts: { data: LoadedSplit }[]): TableColumn[] {
  const of = (f: (split: LoadedSplit) => Float64Array) => concat(parts.map((p) => f(p.data)));
  const offset = (split: LoadedSplit) => split.values(new Float64Array(split.data.rows));
  return [
    ...(task === 'cluster' ? [] : [{ name: '__actual', type: 'DOUBLE', values: of((s) => s.yRaw) } as const]),
    {
      name: '__outScale',
      type: 'DOUBLE',
      values: of((s) => {
        const zero = offset(s);
        return s.values(new Float64Array(s.data.rows).fill(1)).map((v, k) => v - (zero[k] as number));
      }),
    },
    { name: '__outOffset', type: 'DOUBLE', values: of(offset) },
    {
      name: '__naiveScale',
      type: 'DOUBLE',
      values: of((s) => Float64Array.from(s.entity, (e) => s.naiveScale[e] as number)),
    },
  ];
}

function inputsOf(split: LoadedSplit, width: number): Float32Array {
  const out = new Float32Array(split.data.rows * width);
  split.data.gatherX(undefined, 0, split.data.rows, out);
  return out;
}

function entityName(parts: { data: LoadedSplit }[], at: { part: number; k: number }): string {
  const { data } = parts[at.part] as { data: LoadedSplit };
  return data.names[data.entity[at.k] as number] as string;
}

function pick(values: Float64Array, ids: Uint32Array): Float64Array {
  return Float64Array.from(ids, (s) => values[s] as number);
}

function column(rows: Float32Array, width: number, c: number): Float32Array {
  const n = rows.length / width;
  return Float32Array.from({ length: n }, (_, r) => rows[r * width + c] as number);
}

function concat<T extends Float32Array | Float64Array>(arrays: T[]): Float64Array {
  const out = new Float64Array(arrays.reduce((sum, a) => sum + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}
