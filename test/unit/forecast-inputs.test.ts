import { describe, expect, it } from 'vitest';
import type { Preprocessing } from '../../common/artefacts';
import {
  calendarPhase,
  outputValue,
  statsOf,
  transformTarget,
  writeCalendar,
} from '../../common/model-inputs';
import { inputOptions, ModelSpecSchema, type InputOptions } from '../../common/model-spec';
import {
  buildSplits,
  fitPreprocessing,
  indexSamples,
  type SampleRule,
  type WindowRows,
} from '../../ml/windows';

const HOUR_US = 3_600_000_000;
const T0 = Date.UTC(2026, 10, 30) * 1000; // Monday 2026-11-30 00:00 UTC, in µs

/** Rows of `series` (entity name -> value per hour from T0, NaN = no row), in (time, entity) order. */
function hourly(series: Record<string, number[]>): WindowRows {
  const names = Object.keys(series);
  const cells: { t: number; e: number; v: number }[] = [];
  const hours = Math.max(...Object.values(series).map((v) => v.length));
  for (let h = 0; h < hours; h++)
    names.forEach((name, e) => {
      const v = series[name]![h];
      if (v !== undefined && !Number.isNaN(v)) cells.push({ t: T0 + h * HOUR_US, e, v });
    });
  return {
    count: cells.length,
    entity: Int32Array.from(cells, (c) => c.e),
    names,
    time: Float64Array.from(cells, (c) => c.t),
    values: [Float64Array.from(cells, (c) => c.v)],
  };
}

const rule = (over: Partial<SampleRule> = {}): SampleRule => ({
  task: 'forecast',
  lookback: 3,
  horizon: 1,
  features: 1,
  target: 0,
  windowFrom: 0,
  ...over,
});

const basePre = (over: Partial<Preprocessing> = {}): Preprocessing => ({
  task: 'forecast',
  timeColumn: 'ts',
  entityColumn: 'host',
  features: ['v'],
  target: 'v',
  lookback: 3,
  horizon: 1,
  mean: [0],
  std: [1],
  targetMean: 0,
  targetStd: 1,
  ...over,
});

/** The newest input hour of each sample, and its target hour. */
function sampleHours(rows: WindowRows, r: SampleRule) {
  const index = indexSamples(rows, r);
  const hour = (us: number) => (us - T0) / HOUR_US;
  return Array.from(index.inputs, (i, s) => [hour(rows.time[i]!), hour(rows.time[index.targets[s]!]!)]);
}

describe('time-based lags', () => {
  // Hours 0..9 with hour 5 missing.
  const gappy = hourly({ a: [0, 1, 2, 3, 4, NaN, 6, 7, 8, 9] });

  it('with a frequency, a window is lookback consecutive steps and the target exactly horizon steps on', () => {
    const step = rule({ frequencyUs: HOUR_US });
    expect(sampleHours(gappy, step)).toEqual([
      [2, 3],
      [3, 4],
      [8, 9],
    ]);
    // Two steps ahead: the window 2-4 has its target at 6 although hour 5 is missing; 3-5 spans the gap.
    expect(sampleHours(gappy, { ...step, horizon: 2 })).toEqual([
      [2, 4],
      [4, 6],
    ]);
  });

  it('without one, lags are the previous records, across the gap', () => {
    expect(sampleHours(gappy, rule())).toEqual([
      [2, 3],
      [3, 4],
      [4, 6],
      [6, 7],
      [7, 8],
      [8, 9],
    ]);
  });

  it('the spec says what a frequency is', () => {
    const spec = (frequency: string) =>
      ModelSpecSchema.safeParse({
        name: 'f',
        task: 'forecast',
        timeColumn: 'ts',
        entityColumn: 'host',
        features: ['v'],
        target: 'v',
        frequency,
      });
    expect(spec('5m').success).toBe(true);
    expect(spec('1h').success && spec('1h').data?.frequency).toBe('1h');
    expect(spec('5 minutes').error?.issues[0]?.message).toMatch(/frequency must be a count and a unit/);
  });
});

describe('calendar features', () => {
  it('place known UTC times in their cycles', () => {
    const at = (iso: string) => Date.parse(iso);
    expect(calendarPhase('hourOfDay', at('2026-11-30T06:00:00Z'))).toBe(0.25);
    expect(calendarPhase('hourOfDay', at('2026-11-30T18:00:00Z'))).toBe(0.75);
    expect(calendarPhase('dayOfWeek', at('2026-11-30T00:00:00Z'))).toBe(0); // a Monday
    expect(calendarPhase('dayOfWeek', at('1970-01-01T00:00:00Z'))).toBeCloseTo(3 / 7, 15); // a Thursday
    expect(calendarPhase('dayOfWeek', at('2026-12-06T12:00:00Z'))).toBeCloseTo(6.5 / 7, 15); // Sunday noon
    expect(calendarPhase('monthOfYear', at('2026-07-01T00:00:00Z'))).toBe(0.5);
    expect(calendarPhase('monthOfYear', at('2026-02-15T00:00:00Z'))).toBeCloseTo((1 + 14 / 28) / 12, 15);
    expect(calendarPhase('hourOfDay', at('1969-12-31T12:00:00Z'))).toBe(0.5); // before the epoch too
  });

  it('are written as a sine and a cosine per feature, after the features of each step', () => {
    const out = [9, 9, 9, 9, 9];
    writeCalendar(['hourOfDay', 'monthOfYear'], Date.parse('2026-07-01T06:00:00Z'), out, 1);
    expect(out[0]).toBe(9);
    expect(out[1]).toBeCloseTo(1, 12); // sin(π/2): 06:00
    expect(out[2]).toBeCloseTo(0, 12);
    expect(out[3]).toBeCloseTo(Math.sin((2 * Math.PI * (6 + 0.25 / 31)) / 12), 12); // July 1st, 06:00
    expect(out[4]).toBeCloseTo(Math.cos((2 * Math.PI * (6 + 0.25 / 31)) / 12), 12);

    const rows = hourly({ a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] });
    const pre = basePre({ calendar: ['hourOfDay'] });
    const { train } = buildSplits(rows, indexSamples(rows, rule()), rule(), pre);
    expect(train.data.width).toBe(3 * 3);
    const x = new Float32Array(train.data.width);
    train.data.gatherX(undefined, 0, 1, x);
    // Hours 0, 1, 2: value, sin, cos per step.
    const expected = [0, 1, 2].flatMap((h) => [
      h + 1,
      Math.sin((2 * Math.PI * h) / 24),
      Math.cos((2 * Math.PI * h) / 24),
    ]);
    expect(Array.from(x)).toEqual(expected.map(Math.fround));
  });

  it('default by the frequency for forecasts, none for classifiers', () => {
    const shape = { task: 'forecast' as const, features: ['v'], target: 'v' };
    expect(inputOptions({ ...shape, frequency: '5m' }, {}).calendar).toEqual(['hourOfDay', 'dayOfWeek']);
    expect(inputOptions({ ...shape, frequency: '1d' }, {}).calendar).toEqual(['dayOfWeek', 'monthOfYear']);
    expect(inputOptions({ ...shape, frequency: '1w' }, {}).calendar).toEqual([]);
    expect(inputOptions(shape, {}).calendar).toEqual([]);
    expect(inputOptions({ ...shape, task: 'classify', frequency: '1h' }, {}).calendar).toEqual([]);
    expect(inputOptions(shape, { calendar: ['monthOfYear'] }).calendar).toEqual(['monthOfYear']);
  });
});

describe('residual targets', () => {
  it('turn back into the level exactly', () => {
    const pre = { targetTransform: 'change' } as const;
    // Binary fractions: every step is exact in floating point.
    const stats = { targetMean: 0.25, targetStd: 2 };
    const trained = (transformTarget(pre, 105.25, 100.5) - stats.targetMean) / stats.targetStd;
    expect(outputValue(pre, stats, 100.5, trained)).toBe(105.25);
    expect(outputValue({ targetTransform: 'level' }, stats, 100.5, trained)).toBe(trained * 2 + 0.25);
    for (let k = 0; k < 1000; k++) {
      const last = (k - 500) * 37.1;
      const y = last + Math.sin(k) * 1e3;
      const s = { targetMean: Math.cos(k), targetStd: 1 + k / 7 };
      const out = (transformTarget(pre, y, last) - s.targetMean) / s.targetStd;
      expect(Math.abs(outputValue(pre, s, last, out) - y)).toBeLessThanOrEqual(
        1e-12 * Math.max(1, Math.abs(y)),
      );
    }
  });

  it('splits train on the change from the last value and give back levels for the outputs', () => {
    const rows = hourly({
      a: [10, 12, 11, 15, 14, 18, 17, 21, 20, 24],
      b: [1000, 1010, 1005, 1030, 1020, 1050, 1040, 1070, 1060, 1090],
    });
    const index = indexSamples(rows, rule({ frequencyUs: HOUR_US }));
    const options: InputOptions = { normalisation: 'entity', targetTransform: 'change', calendar: [] };
    const pre = fitPreprocessing(rows, index, rule(), basePre(), options);
    const { train, holdout } = buildSplits(rows, index, rule(), pre);
    for (const split of [train, holdout]) {
      // Fed their own normalised targets, the outputs come back as the targets' levels.
      const levels = split.values(Float64Array.from(split.data.y));
      levels.forEach((level, k) => expect(level).toBeCloseTo(split.yRaw[k]!, 4));
    }
  });
});

describe('per-entity statistics', () => {
  const a = [10, 12, 11, 15, 14, 18, 17, 21, 20, 24];
  const b = a.map((v) => v * 1000);

  it("are kept for entities named like Object.prototype's keys, and a key it never saw gets the fleet's", () => {
    // A computed key: `__proto__` is an own entry here, as it is in a buffer.
    const rows = hourly({ ['__proto__']: a, constructor: b });
    const r = rule({ frequencyUs: HOUR_US });
    const options: InputOptions = { normalisation: 'entity', targetTransform: 'level', calendar: [] };
    const pre = fitPreprocessing(rows, indexSamples(rows, r), r, basePre(), options);
    // Before: own['__proto__'] = ... set the object's prototype, and that entity's statistics were lost.
    expect(Object.keys(pre.entities ?? {}).sort()).toEqual(['__proto__', 'constructor']);
    expect(statsOf(pre, '__proto__').mean[0]).toBeLessThan(100);
    expect(statsOf(pre, 'constructor').mean[0]).toBeGreaterThan(1000);
    expect(statsOf(pre, 'toString')).toEqual({
      mean: pre.mean,
      std: pre.std,
      targetMean: pre.targetMean,
      targetStd: pre.targetStd,
    });
  });

  it('come from the train samples of each entity alone', () => {
    const rows = hourly({ a, b });
    const r = rule({ frequencyUs: HOUR_US });
    const index = indexSamples(rows, r);
    const options: InputOptions = { normalisation: 'entity', targetTransform: 'change', calendar: [] };
    const pre = fitPreprocessing(rows, index, r, basePre(), options);

    // By hand: each train sample's newest input value, and its target's change from it.
    const newest: Record<string, number[]> = { a: [], b: [] };
    const change: Record<string, number[]> = { a: [], b: [] };
    for (const s of index.train) {
      const i = index.inputs[s]!;
      const name = rows.names[rows.entity[i]!]!;
      newest[name]!.push(rows.values[0]![i]!);
      change[name]!.push(rows.values[0]![index.targets[s]!]! - rows.values[0]![i]!);
    }
    const moments = (xs: number[]) => {
      const mean = xs.reduce((p, x) => p + x, 0) / xs.length;
      return { mean, std: Math.sqrt(xs.reduce((p, x) => p + (x - mean) ** 2, 0) / xs.length) };
    };
    for (const name of ['a', 'b']) {
      const own = pre.entities![name]!;
      expect(own.mean[0]).toBeCloseTo(moments(newest[name]!).mean, 9);
      expect(own.std[0]).toBeCloseTo(moments(newest[name]!).std, 9);
      expect(own.targetMean).toBeCloseTo(moments(change[name]!).mean, 9);
      expect(own.targetStd).toBeCloseTo(moments(change[name]!).std, 9);
    }
    // The same series a thousand times larger gets the same scaled inputs.
    expect(pre.entities!.b!.mean[0]).toBeCloseTo(1000 * pre.entities!.a!.mean[0]!, 6);
    const { train } = buildSplits(rows, index, r, pre);
    const x = new Float32Array(train.data.rows * train.data.width);
    train.data.gatherX(undefined, 0, train.data.rows, x);
    const w = train.data.width;
    for (let k = 0; k + 1 < train.data.rows; k += 2)
      expect(Array.from(x.subarray(k * w, (k + 1) * w))).toEqual(
        Array.from(x.subarray((k + 1) * w, (k + 2) * w)),
      );

    // Holdout rows changed beyond recognition: the statistics do not move.
    const later = Float64Array.from(rows.values[0]!, (v, i) => (rows.time[i]! >= index.cut ? v * 1e6 : v));
    const changed = fitPreprocessing({ ...rows, values: [later] }, index, r, basePre(), options);
    expect(changed.entities).toEqual(pre.entities);
    expect(changed.mean).toEqual(pre.mean);
  });

  it('scale an entity training never saw by the fleet statistics', () => {
    const pre = basePre({
      normalisation: 'entity',
      mean: [5],
      std: [2],
      entities: { a: { mean: [1], std: [1], targetMean: 0, targetStd: 1 } },
    });
    expect(statsOf(pre, 'a').mean).toEqual([1]);
    expect(statsOf(pre, 'zz')).toEqual({ mean: [5], std: [2], targetMean: 0, targetStd: 1 });
    // Under global normalisation an entity's own are ignored.
    expect(statsOf({ ...pre, normalisation: 'global' }, 'a').mean).toEqual([5]);
  });
});
