import type { Normalisation, Preprocessing } from '../common/artefacts';
import type { SampleSource } from './train';

/** Share of the samples, by time, that trains; the rest is the holdout. */
export const TRAIN_SHARE = 0.8;

/** How far back the `sameHourDayBefore` baseline looks, in microseconds. */
export const DAY_US = 86_400_000_000;

/**
 * A dataset's rows as stored (once each, in (time, entity) order): what the lag windows and the
 * lead target are built from. Missing values (SQL NULL) are NaN.
 */
export interface WindowRows {
  count: number;
  /** Entity of each row as a dense id (any numbering: only equality matters). */
  entity: Int32Array;
  /** Epoch microseconds. */
  time: Float64Array;
  /** One column per model feature (spec order), then the target when it is not a feature. */
  values: Float64Array[];
}

/** What decides the samples of a dataset: the spec's shape and the start of its window. */
export interface SampleRule {
  task: Preprocessing['task'];
  threshold?: number | undefined;
  lookback: number;
  horizon: number;
  features: number;
  /** Index of the target in `WindowRows.values`. */
  target: number;
  /** Rows before this (epoch µs) are only looked up as the day before; no window starts or reaches there. */
  windowFrom: number;
}

/**
 * The samples of a dataset, in the (time, entity) order of their newest input row: sample `s` has
 * the inputs of the `lookback` records of its entity ending at file row `inputs[s]`, and the target
 * of file row `targets[s]`.
 */
export interface SampleIndex {
  inputs: Uint32Array;
  targets: Uint32Array;
  /** Time of each sample's newest input row, and of its target row (epoch µs). */
  time: Float64Array;
  targetTime: Float64Array;
  /** Train samples have their target before `cut`, holdout samples start at it; those in between go nowhere. */
  cut: number;
  train: Uint32Array;
  holdout: Uint32Array;
}

/**
 * Builds the samples: a window of `lookback` consecutive rows of one entity inside the window, all
 * features present, and the row `horizon` records later with a target. The cut is the 0.8 discrete
 * quantile of the sample times (DuckDB's `quantile_disc`), so every holdout sample is at or after
 * it and no train target reaches it. One pass in file order with a little state per entity (the
 * run of complete rows, the last `horizon` rows), so memory is read in order, not entity by entity.
 */
export function indexSamples(rows: WindowRows, rule: SampleRule): SampleIndex {
  const { count, entity, time } = rows;
  const { lookback, horizon } = rule;
  const entities = entityCount(rows);
  const complete = new Uint8Array(count);
  for (let i = 0; i < count; i++) complete[i] = (time[i] as number) >= rule.windowFrom ? 1 : 0;
  for (let f = 0; f < rule.features; f++) {
    const column = rows.values[f] as Float64Array;
    for (let i = 0; i < count; i++) if (Number.isNaN(column[i])) complete[i] = 0;
  }
  const target = rows.values[rule.target] as Float64Array;
  // Per entity: the run of complete rows so far, and a ring of its last `horizon` rows (row + 1 of
  // a row whose window is complete, else 0): the row `horizon` records back is a sample's newest.
  const run = new Uint32Array(entities);
  const ring = new Uint32Array(entities * horizon);
  const seen = new Uint32Array(entities);
  const targetOf = new Int32Array(count).fill(-1);
  for (let j = 0; j < count; j++) {
    const e = entity[j] as number;
    const slot = e * horizon + ((seen[e] as number) % horizon);
    const newest = (ring[slot] as number) - 1;
    if (newest >= 0 && !Number.isNaN(target[j])) targetOf[newest] = j;
    const length = complete[j] ? (run[e] as number) + 1 : 0;
    run[e] = length;
    ring[slot] = length >= lookback ? j + 1 : 0;
    seen[e] = (seen[e] as number) + 1;
  }
  let n = 0;
  for (let i = 0; i < count; i++) if ((targetOf[i] as number) >= 0) n++;
  const inputs = new Uint32Array(n);
  const targets = new Uint32Array(n);
  const sampleTime = new Float64Array(n);
  const targetTime = new Float64Array(n);
  for (let i = 0, s = 0; i < count; i++) {
    const t = targetOf[i] as number;
    if (t < 0) continue;
    inputs[s] = i;
    targets[s] = t;
    sampleTime[s] = time[i] as number;
    targetTime[s] = time[t] as number;
    s++;
  }
  const cut = n > 0 ? (sampleTime[Math.max(0, Math.ceil(n * TRAIN_SHARE) - 1)] as number) : NaN;
  const train = new Uint32Array(n);
  const holdout = new Uint32Array(n);
  let nt = 0;
  let nh = 0;
  for (let s = 0; s < n; s++) {
    if ((targetTime[s] as number) < cut) train[nt++] = s;
    else if ((sampleTime[s] as number) >= cut) holdout[nh++] = s;
  }
  return {
    inputs,
    targets,
    time: sampleTime,
    targetTime,
    cut,
    train: train.slice(0, nt),
    holdout: holdout.slice(0, nh),
  };
}

function entityCount(rows: WindowRows): number {
  let entities = 0;
  for (let i = 0; i < rows.count; i++)
    if ((rows.entity[i] as number) >= entities) entities = (rows.entity[i] as number) + 1;
  return entities;
}

/**
 * Rows grouped by entity, each entity's in time order: `pos[i]` is file row `i`'s place,
 * `rowAt[p]` the file row at place `p`, `start[e]` where entity `e` begins.
 */
function entityMajor(rows: WindowRows): { pos: Uint32Array; rowAt: Uint32Array; start: Uint32Array } {
  const { count, entity } = rows;
  const entities = entityCount(rows);
  const start = new Uint32Array(entities + 1);
  for (let i = 0; i < count; i++)
    start[(entity[i] as number) + 1] = (start[(entity[i] as number) + 1] as number) + 1;
  for (let e = 0; e < entities; e++) start[e + 1] = (start[e + 1] as number) + (start[e] as number);
  const fill = start.slice(0, entities);
  const pos = new Uint32Array(count);
  const rowAt = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const e = entity[i] as number;
    const p = fill[e] as number;
    fill[e] = p + 1;
    pos[i] = p;
    rowAt[p] = i;
  }
  return { pos, rowAt, start };
}

/** The sample's target in its own units: the raw value for forecasts, `value > threshold` as 0/1 for classifiers. */
function label(rule: Pick<SampleRule, 'task' | 'threshold'>, value: number): number {
  return rule.task === 'classify' ? (value > (rule.threshold ?? 0) ? 1 : 0) : value;
}

/**
 * Normalisation statistics of the train samples: population mean and standard deviation of each
 * feature's newest input value and (forecasts) of the target; a zero deviation becomes 1.
 */
export function trainStatistics(rows: WindowRows, index: SampleIndex, rule: SampleRule): Normalisation {
  const ids = index.train;
  const n = ids.length;
  const rowsOf = (rowsOfSamples: Uint32Array) => {
    const out = new Uint32Array(n);
    for (let k = 0; k < n; k++) out[k] = rowsOfSamples[ids[k] as number] as number;
    return out;
  };
  const moments = (column: Float64Array, at: Uint32Array) => {
    let sum = 0;
    for (let k = 0; k < n; k++) sum += column[at[k] as number] as number;
    const mean = sum / Math.max(1, n);
    let squares = 0;
    for (let k = 0; k < n; k++) squares += ((column[at[k] as number] as number) - mean) ** 2;
    const std = Math.sqrt(squares / Math.max(1, n));
    return { mean, std: std > 1e-12 ? std : 1 };
  };
  const newest = rowsOf(index.inputs);
  const features = rows.values.slice(0, rule.features).map((c) => moments(c, newest));
  const y =
    rule.task === 'forecast'
      ? moments(rows.values[rule.target] as Float64Array, rowsOf(index.targets))
      : { mean: 0, std: 1 };
  return {
    mean: features.map((m) => m.mean),
    std: features.map((m) => m.std),
    targetMean: y.mean,
    targetStd: y.std,
  };
}

/** One split of a dataset, ready for training and validation. */
export interface LoadedSplit {
  /** Normalised model inputs (built per batch from the stored rows) and normalised targets. */
  data: WindowedData;
  /** Target in its own units (0/1 for classifiers). */
  yRaw: Float64Array;
  /** Un-normalised newest input value of each feature: naive baselines need it. */
  lastValues: Float64Array[];
  /** Raw target (not thresholded) 24 hours before each sample's target time; NaN where the buffer has none. */
  dayBefore: Float64Array;
}

/**
 * Model inputs that are never materialised as lag rows: each row's features are stored once,
 * normalised, grouped by entity, and a sample's window is the contiguous run ending at its newest
 * row, so building a batch is one copy per sample and memory stays at one value per stored cell.
 */
export class WindowedData implements SampleSource {
  readonly width: number;
  readonly rows: number;

  constructor(
    /** Entity-major normalised features, `features` values per stored row. */
    private readonly cells: Float32Array,
    private readonly features: number,
    private readonly lookback: number,
    /** Entity-major position of each sample's newest row. */
    private readonly newest: Uint32Array,
    readonly y: Float32Array,
  ) {
    this.width = features * lookback;
    this.rows = newest.length;
  }

  gatherX(order: ArrayLike<number> | undefined, from: number, count: number, out: Float32Array): void {
    const { cells, features, newest, width } = this;
    for (let i = 0; i < count; i++) {
      const s = order ? (order[from + i] as number) : from + i;
      // An element loop: for windows this small it beats a subarray and set per sample.
      const first = ((newest[s] as number) + 1) * features - width;
      const at = i * width;
      for (let k = 0; k < width; k++) out[at + k] = cells[first + k] as number;
    }
  }

  /** Bytes held: stored cells plus per-sample positions and targets (shared cells counted in full). */
  get bytes(): number {
    return this.cells.byteLength + this.newest.byteLength + this.y.byteLength;
  }
}

/**
 * The train and holdout splits of indexed rows under `pre` (the dataset's statistics). Both share
 * one copy of the normalised cells.
 */
export function buildSplits(
  rows: WindowRows,
  index: SampleIndex,
  rule: SampleRule,
  pre: Pick<Preprocessing, 'mean' | 'std' | 'targetMean' | 'targetStd'>,
): { train: LoadedSplit; holdout: LoadedSplit } {
  const nf = rule.features;
  const major = entityMajor(rows);
  const cells = new Float32Array(rows.count * nf);
  for (let f = 0; f < nf; f++) {
    const column = rows.values[f] as Float64Array;
    const mean = pre.mean[f] as number;
    const std = pre.std[f] as number;
    for (let i = 0; i < rows.count; i++)
      cells[(major.pos[i] as number) * nf + f] = ((column[i] as number) - mean) / std;
  }
  const target = rows.values[rule.target] as Float64Array;
  const split = (ids: Uint32Array): LoadedSplit => {
    const n = ids.length;
    const newest = new Uint32Array(n);
    const y = new Float32Array(n);
    const yRaw = new Float64Array(n);
    const dayBefore = new Float64Array(n);
    const lastValues = Array.from({ length: nf }, () => new Float64Array(n));
    for (let k = 0; k < n; k++) {
      const s = ids[k] as number;
      const i = index.inputs[s] as number;
      const t = index.targets[s] as number;
      newest[k] = major.pos[i] as number;
      yRaw[k] = label(rule, target[t] as number);
      y[k] = ((yRaw[k] as number) - pre.targetMean) / pre.targetStd;
      for (let f = 0; f < nf; f++)
        (lastValues[f] as Float64Array)[k] = (rows.values[f] as Float64Array)[i] as number;
      dayBefore[k] = dayBeforeValue(rows, major, target, t);
    }
    return { data: new WindowedData(cells, nf, rule.lookback, newest, y), yRaw, lastValues, dayBefore };
  };
  return { train: split(index.train), holdout: split(index.holdout) };
}

/**
 * The target of the row of the same entity exactly 24 hours before file row `i` (binary search in
 * that entity's time-ordered rows, the day before the window included); NaN when there is none.
 */
function dayBeforeValue(
  rows: WindowRows,
  major: ReturnType<typeof entityMajor>,
  target: Float64Array,
  i: number,
): number {
  const { rowAt } = major;
  const wanted = (rows.time[i] as number) - DAY_US;
  let lo = major.start[rows.entity[i] as number] as number;
  let hi = major.pos[i] as number;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((rows.time[rowAt[mid] as number] as number) < wanted) lo = mid + 1;
    else hi = mid;
  }
  const found = rowAt[lo] as number;
  return rows.time[found] === wanted ? (target[found] as number) : NaN;
}
