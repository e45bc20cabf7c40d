import type { EntityStats, Preprocessing } from './artefacts';
import { frequencyUs, type CalendarFeature } from './model-spec';

// How one stored or requested row becomes model input, and a model output a value: the same
// arithmetic for training (ml/windows.ts) and /predict (serving/features.ts).

const DAY_MS = 86_400_000;

/** The entity of every row of a model without an entity column (tabular specs): one series. */
export const SINGLE_ENTITY = 'all';
const TWO_PI = 2 * Math.PI;

/** Values per lag step: the features, then a sine and a cosine per calendar feature. */
export function stepWidth(pre: Pick<Preprocessing, 'features' | 'calendar'>): number {
  return pre.features.length + 2 * (pre.calendar?.length ?? 0);
}

/** The model's input width: `lookback` steps. */
export function inputWidth(pre: Pick<Preprocessing, 'features' | 'calendar' | 'lookback'>): number {
  return pre.lookback * stepWidth(pre);
}

/** The step in milliseconds when the model has a frequency. */
export function frequencyMs(pre: Pick<Preprocessing, 'frequency'>): number | undefined {
  return pre.frequency === undefined ? undefined : frequencyUs(pre.frequency) / 1000;
}

/** Where in its cycle a UTC time lies, from 0 (inclusive) to 1. */
export function calendarPhase(feature: CalendarFeature, ms: number): number {
  const dayFraction = (((ms % DAY_MS) + DAY_MS) % DAY_MS) / DAY_MS;
  const date = new Date(ms);
  switch (feature) {
    case 'hourOfDay':
      return dayFraction;
    case 'dayOfWeek':
      // Monday 00:00 is 0.
      return (((date.getUTCDay() + 6) % 7) + dayFraction) / 7;
    case 'monthOfYear': {
      const days = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
      return (date.getUTCMonth() + (date.getUTCDate() - 1 + dayFraction) / days) / 12;
    }
  }
}

/** Writes the sine and cosine of each calendar feature's phase at `ms` into `out` from `at`. */
export function writeCalendar(
  calendar: readonly CalendarFeature[] | undefined,
  ms: number,
  out: { [i: number]: number },
  at: number,
): void {
  (calendar ?? []).forEach((feature, k) => {
    const angle = TWO_PI * calendarPhase(feature, ms);
    out[at + 2 * k] = Math.sin(angle);
    out[at + 2 * k + 1] = Math.cos(angle);
  });
}

/** The statistics that scale `entity`: its own under `entity` normalisation when it has them, else the fleet's. */
export function statsOf(pre: Preprocessing, entity: string): EntityStats {
  return (
    // Own entries only: an entity named `constructor` or `__proto__` is an entity training never saw.
    (pre.normalisation === 'entity' && pre.entities && Object.hasOwn(pre.entities, entity)
      ? pre.entities[entity]
      : undefined) ?? {
      mean: pre.mean,
      std: pre.std,
      targetMean: pre.targetMean,
      targetStd: pre.targetStd,
    }
  );
}

/** The value a model is trained to predict (before scaling): the level, or its change from `last`. */
export function transformTarget(
  pre: Pick<Preprocessing, 'targetTransform'>,
  value: number,
  last: number,
): number {
  return pre.targetTransform === 'change' ? value - last : value;
}

/** A model output (scaled by `stats`) as a value in the target's units: the inverse of the above. */
export function outputValue(
  pre: Pick<Preprocessing, 'targetTransform'>,
  stats: Pick<EntityStats, 'targetMean' | 'targetStd'>,
  last: number,
  output: number,
): number {
  const transformed = output * stats.targetStd + stats.targetMean;
  return pre.targetTransform === 'change' ? last + transformed : transformed;
}
