import type { EntityStats, Normalisation, Preprocessing } from '../common/artefacts';
import type { InputOptions } from '../common/model-spec';
import { outputValue, statsOf, stepWidth, transformTarget, writeCalendar } from '../common/model-inputs';
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
  /** Each id's entity as text, as /predict keys it. */
  names: string[];
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
  /** Index of the target in `WindowRows.values`; -1 for a clusterer, which has none. */
  target: number;
  /** Rows before this (epoch µs) are only looked up as the day before; no window starts or reaches there. */
  windowFrom: number;
  /** The series' step in µs: windows are `lookback` consecutive steps, the target `horizon` steps on. */
  frequencyUs?: number | undefined;
  /** Share of the samples (by time) trained on; the rest is the holdout. @default TRAIN_SHARE */
  trainShare?: number | undefined;
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
 * features present, and the row `horizon` records later with a target (with a frequency: rows one
 * step apart, and the row exactly `horizon` steps later, so a window never spans a gap). The cut is the train share's
 * (`rule.trainShare`, else 0.8) discrete quantile of the sample times (DuckDB's `quantile_disc`), so every holdout sample is at or after
 * it and no train target reaches it. One pass in file order with a little state per entity (the
 * run of complete rows, the last `horizon` rows), so memory is read in order, not entity by entity.
 */
export function indexSamples(rows: WindowRows, rule: SampleRule): SampleIndex {
  const { count, entity, time } = rows;
  const { lookback, horizon } = rule;
  const complete = completeRows(rows, rule);
  const target = targetColumn(rows, rule);
  const share = rule.trainShare ?? TRAIN_SHARE;
  if (horizon === 0) return tabularSamples(complete, target, time, share);
  const entities = entityCount(rows);
  const step = rule.frequencyUs;
  // Per entity: the run of complete (and, with a frequency, consecutive) rows so far, and a ring of
  // its last `horizon` rows; `windowEnds[i]` says a complete window ends at row i.
  const run = new Uint32Array(entities);
  const ring = new Uint32Array(entities * horizon);
  const seen = new Uint32Array(entities);
  const windowEnds = new Uint8Array(count);
  const targetOf = new Int32Array(count).fill(-1);
  /** The row `m` (1..horizon) records back of entity `e` in the ring. */
  const back = (e: number, m: number) => ring[e * horizon + (((seen[e] as number) - m) % horizon)] as number;
  for (let j = 0; j < count; j++) {
    const e = entity[j] as number;
    const had = seen[e] as number;
    let newest = -1;
    if (step === undefined) {
      if (had >= horizon) newest = back(e, horizon);
    } else {
      // Times grow with each record: binary search the ring for exactly `horizon` steps back.
      const wanted = (time[j] as number) - horizon * step;
      let lo = 1;
      let hi = Math.min(horizon, had);
      while (lo <= hi) {
        const m = (lo + hi) >>> 1;
        const t = time[back(e, m)] as number;
        if (t === wanted) {
          newest = back(e, m);
          break;
        }
        if (t > wanted) lo = m + 1;
        else hi = m - 1;
      }
    }
    if (newest >= 0 && windowEnds[newest] && !Number.isNaN(target[j])) targetOf[newest] = j;
    const consecutive =
      step === undefined || (had > 0 && (time[j] as number) - (time[back(e, 1)] as number) === step);
    const length = complete[j] ? (consecutive ? (run[e] as number) + 1 : 1) : 0;
    run[e] = length;
    windowEnds[j] = length >= lookback ? 1 : 0;
    ring[e * horizon + (had % horizon)] = j;
    seen[e] = had + 1;
  }
  return splitSamples(targetOf, time, share);
}

/** Rows inside the window with every feature present. */
function completeRows(rows: WindowRows, rule: SampleRule): Uint8Array {
  const complete = new Uint8Array(rows.count);
  for (let i = 0; i < rows.count; i++) complete[i] = (rows.time[i] as number) >= rule.windowFrom ? 1 : 0;
  for (let f = 0; f < rule.features; f++) {
    const column = rows.values[f] as Float64Array;
    for (let i = 0; i < rows.count; i++) if (Number.isNaN(column[i])) complete[i] = 0;
  }
  return complete;
}

/** The target column; for a clusterer (no target) a column of zeros, so every row has one. */
function targetColumn(rows: WindowRows, rule: Pick<SampleRule, 'target'>): Float64Array {
  return rule.target >= 0 ? (rows.values[rule.target] as Float64Array) : new Float64Array(rows.count);
}

/**
 * Tabular samples (`horizon` 0): each complete row with a target is one, its own input and target;
 * split by time as windows are.
 */
function tabularSamples(
  complete: Uint8Array,
  target: Float64Array,
  time: Float64Array,
  share: number,
): SampleIndex {
  const targetOf = new Int32Array(complete.length).fill(-1);
  for (let i = 0; i < complete.length; i++) if (complete[i] && !Number.isNaN(target[i])) targetOf[i] = i;
  return splitSamples(targetOf, time, share);
}

/**
 * The samples of `targetOf` (the target row of each window's last row, -1 for none) in row order, and
 * their train/holdout split at the cut: the `share` discrete quantile of the sample times.
 */
function splitSamples(targetOf: Int32Array, time: Float64Array, share: number): SampleIndex {
  const count = targetOf.length;
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
  const cut = n > 0 ? (sampleTime[Math.max(0, Math.ceil(n * share) - 1)] as number) : NaN;
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

/**
 * The sample's target in its own units: `value > threshold` as 0/1 for binary classifiers, else the
 * value itself (a forecast's or regression's number, a multi-class classifier's class index).
 */
function label(rule: Pick<SampleRule, 'task' | 'threshold'>, value: number): number {
  if (rule.task === 'classify' && rule.threshold !== undefined) return value > rule.threshold ? 1 : 0;
  return value;
}

/** Whether the task's target is a number scaled like the features (forecasts and regressions). */
function scaledTarget(task: SampleRule['task']): boolean {
  return task === 'forecast' || task === 'regress';
}

/**
 * The preprocessing a training runs under: the dataset's shape (`base`) with statistics of the train
 * samples by `options`. The fleet's moments (population mean and deviation of each feature's newest
 * input value, and of the transformed target) always; under `entity` normalisation also each
 * entity's own, from its train samples alone. A deviation under 1e-12 becomes 1.
 */
export function fitPreprocessing(
  rows: WindowRows,
  index: SampleIndex,
  rule: SampleRule,
  base: Preprocessing,
  options: InputOptions,
): Preprocessing {
  const { entities, ...fleet } = fitStatistics(rows, index, rule, options);
  return {
    ...base,
    ...fleet,
    normalisation: options.normalisation,
    targetTransform: options.targetTransform,
    calendar: options.calendar,
    ...(entities ? { entities } : {}),
  };
}

/** The statistics of {@link fitPreprocessing} alone (the dataset manifest keeps the fleet's, of the level). */
export function fitStatistics(
  rows: WindowRows,
  index: SampleIndex,
  rule: SampleRule,
  options: Pick<InputOptions, 'normalisation' | 'targetTransform'>,
): Normalisation & Pick<Preprocessing, 'entities'> {
  const nf = rule.features;
  const entities = entityCount(rows);
  const groups = options.normalisation === 'entity' ? entities : 0;
  // Sums and squares per (group, column): group `entities` is the fleet; columns are the features, then the target.
  const width = nf + 1;
  const count = new Float64Array(groups + 1);
  const sum = new Float64Array((groups + 1) * width);
  const target = targetColumn(rows, rule);
  const forecast = scaledTarget(rule.task);
  const valueOf = (s: number, c: number) => {
    const i = index.inputs[s] as number;
    if (c < nf) return (rows.values[c] as Float64Array)[i] as number;
    return forecast
      ? transformTarget(options, target[index.targets[s] as number] as number, target[i] as number)
      : 0;
  };
  /** Calls `visit` with each group sample `s` counts in: the fleet, and its entity's own when there are groups. */
  const eachGroup = (s: number, visit: (g: number) => void) => {
    if (!groups) return visit(0);
    visit(groups);
    visit(rows.entity[index.inputs[s] as number] as number);
  };
  const squares = new Float64Array(sum.length);
  const value = new Float64Array(width);
  for (const pass of ['sums', 'squares'] as const)
    for (const s of index.train) {
      for (let c = 0; c < width; c++) value[c] = valueOf(s, c);
      eachGroup(s, (g) => {
        const at = g * width;
        if (pass === 'sums') {
          count[g] = (count[g] as number) + 1;
          for (let c = 0; c < width; c++) sum[at + c] = (sum[at + c] as number) + (value[c] as number);
        } else {
          const n = count[g] as number;
          for (let c = 0; c < width; c++) {
            const d = (value[c] as number) - (sum[at + c] as number) / n;
            squares[at + c] = (squares[at + c] as number) + d * d;
          }
        }
      });
    }
  const statsOfGroup = (g: number): EntityStats => {
    const n = Math.max(1, count[g] as number);
    const mean = (c: number) => (sum[g * width + c] as number) / n;
    const std = (c: number) => {
      const v = Math.sqrt((squares[g * width + c] as number) / n);
      return v > 1e-12 ? v : 1;
    };
    const columns = Array.from({ length: nf }, (_, c) => c);
    return {
      mean: columns.map(mean),
      std: columns.map(std),
      targetMean: forecast ? mean(nf) : 0,
      targetStd: forecast ? std(nf) : 1,
    };
  };
  const fleet = statsOfGroup(groups);
  if (!groups) return fleet;
  // Own properties whatever the entity is called (`__proto__` included): fromEntries defines, never assigns.
  const own: [string, EntityStats][] = [];
  for (let e = 0; e < entities; e++) if (count[e]) own.push([rows.names[e] as string, statsOfGroup(e)]);
  return { ...fleet, entities: Object.fromEntries(own) };
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
  /** Entity id of each sample, and each id's name. */
  entity: Int32Array;
  names: string[];
  /**
   * Per entity id: the mean absolute error of "the target `horizon` steps ahead is the one now" over
   * its train samples, the MASE scale; NaN for an entity without train samples.
   */
  naiveScale: Float64Array;
  /** Model outputs (normalised, one per sample) as values in the target's units. */
  values(outputs: ArrayLike<number>): Float64Array;
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
 * The train and holdout splits of indexed rows under `pre` (a training's preprocessing): each step
 * holds the features scaled by the entity's statistics (see `statsOf`), then the calendar
 * encodings of its time. Both splits share one copy of the cells.
 */
export function buildSplits(
  rows: WindowRows,
  index: SampleIndex,
  rule: SampleRule,
  pre: Preprocessing,
): { train: LoadedSplit; holdout: LoadedSplit } {
  const nf = rule.features;
  const columns = stepWidth(pre);
  const major = entityMajor(rows);
  const stats = rows.names.map((name) => statsOf(pre, name));
  const cells = new Float32Array(rows.count * columns);
  const step = new Float64Array(columns);
  for (let i = 0; i < rows.count; i++) {
    const own = stats[rows.entity[i] as number] as EntityStats;
    for (let f = 0; f < nf; f++)
      step[f] =
        (((rows.values[f] as Float64Array)[i] as number) - (own.mean[f] as number)) / (own.std[f] as number);
    writeCalendar(pre.calendar, (rows.time[i] as number) / 1000, step, nf);
    cells.set(step, (major.pos[i] as number) * columns);
  }
  const target = targetColumn(rows, rule);
  const tabular = rule.horizon === 0;
  const naiveScale = tabular
    ? new Float64Array(entityCount(rows)).fill(NaN)
    : naiveScales(rows, index, target);
  const split = (ids: Uint32Array): LoadedSplit => {
    const n = ids.length;
    const newest = new Uint32Array(n);
    const y = new Float32Array(n);
    const yRaw = new Float64Array(n);
    const dayBefore = new Float64Array(n);
    const entity = new Int32Array(n);
    const last = new Float64Array(n);
    const lastValues = Array.from({ length: nf }, () => new Float64Array(n));
    for (let k = 0; k < n; k++) {
      const s = ids[k] as number;
      const i = index.inputs[s] as number;
      const t = index.targets[s] as number;
      const own = stats[rows.entity[i] as number] as EntityStats;
      newest[k] = major.pos[i] as number;
      entity[k] = rows.entity[i] as number;
      last[k] = target[i] as number;
      yRaw[k] = label(rule, target[t] as number);
      const trained =
        rule.task === 'forecast'
          ? transformTarget(pre, yRaw[k] as number, last[k] as number)
          : (yRaw[k] as number);
      y[k] = (trained - own.targetMean) / own.targetStd;
      for (let f = 0; f < nf; f++)
        (lastValues[f] as Float64Array)[k] = (rows.values[f] as Float64Array)[i] as number;
      dayBefore[k] = tabular ? NaN : dayBeforeValue(rows, major, target, t);
    }
    const values = (outputs: ArrayLike<number>) =>
      Float64Array.from({ length: n }, (_, k) =>
        scaledTarget(rule.task)
          ? outputValue(
              pre,
              stats[entity[k] as number] as EntityStats,
              last[k] as number,
              outputs[k] as number,
            )
          : (outputs[k] as number),
      );
    return {
      data: new WindowedData(cells, columns, rule.lookback, newest, y),
      yRaw,
      lastValues,
      dayBefore,
      entity,
      names: rows.names,
      naiveScale,
      values,
    };
  };
  return { train: split(index.train), holdout: split(index.holdout) };
}

/** Per entity: mean |target - target at the newest input row| over its train samples (NaN without any). */
function naiveScales(rows: WindowRows, index: SampleIndex, target: Float64Array): Float64Array {
  const entities = entityCount(rows);
  const sum = new Float64Array(entities);
  const n = new Float64Array(entities);
  for (const s of index.train) {
    const i = index.inputs[s] as number;
    const e = rows.entity[i] as number;
    sum[e] =
      (sum[e] as number) + Math.abs((target[index.targets[s] as number] as number) - (target[i] as number));
    n[e] = (n[e] as number) + 1;
  }
  return sum.map((total, e) => (n[e] ? total / (n[e] as number) : Number.NaN));
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
