import { HyperparamsSchema, type Hyperparams, type Search } from './model-spec';
import type { ParamRange, SearchParams } from './search-params';
import { seededRandom } from './seeded-random';

const MAX_SEED = 2 ** 31 - 1;
/** Search-space names of the kind's own parameters: `params.max_depth`. */
const PARAM = 'params.';

/**
 * The hyperparameters of trials 1..`trials`: trial 1 is `base` itself; trial k > 1 draws every field
 * `search` names (learning rate log-uniformly, dropout uniformly, the rest from their choice lists)
 * and gets seed `base.seed + k - 1`, so trials differ even without a search (random restarts).
 * The kind's parameters in `search.params` are drawn last, so plans of specs without them are as before.
 * Deterministic in `base.seed`.
 */
export function planTrials(base: Hyperparams, search: Search | undefined, trials: number): Hyperparams[] {
  const random = seededRandom(base.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const plan: Hyperparams[] = [base];
  for (let trial = 2; trial <= trials; trial++) {
    const hp: Hyperparams = { ...base, seed: trialSeed(base, trial) };
    if (search?.learningRate) {
      const { min, max } = search.learningRate;
      const drawn = Math.exp(Math.log(min) + random() * (Math.log(max) - Math.log(min)));
      hp.learningRate = clamp(Number(drawn.toPrecision(3)), min, max);
    }
    if (search?.dropout) {
      const { min, max } = search.dropout;
      hp.dropout = clamp(Number((min + random() * (max - min)).toFixed(3)), min, max);
    }
    if (search?.hiddenUnits) hp.hiddenUnits = pick(search.hiddenUnits);
    if (search?.batchSize) hp.batchSize = pick(search.batchSize);
    if (search?.optimizer) hp.optimizer = pick(search.optimizer);
    if (search?.architecture) hp.architecture = pick(search.architecture);
    if (search?.normalisation) hp.normalisation = pick(search.normalisation);
    if (search?.targetTransform) hp.targetTransform = pick(search.targetTransform);
    if (search?.calendar) hp.calendar = pick(search.calendar);
    if (search?.params) hp.params = { ...hp.params, ...drawParams(search.params, random) };
    plan.push(HyperparamsSchema.parse(hp));
  }
  return plan;
}

/** Trial `trial`'s seed: the base's for trial 1, one more per trial after it. */
export function trialSeed(base: Hyperparams, trial: number): number {
  return (base.seed + trial - 1) % MAX_SEED;
}

function drawParams(params: SearchParams, random: () => number): Record<string, unknown> {
  const drawn: Record<string, unknown> = {};
  for (const [name, searched] of Object.entries(params))
    drawn[name] = Array.isArray(searched)
      ? searched[Math.floor(random() * searched.length)]
      : drawInRange(searched, random());
  return drawn;
}

/** A value of `range` at `u` in [0, 1): uniform, or uniform in log space; ints each with their share. */
function drawInRange({ type, min, max, log }: ParamRange, u: number): number {
  const top = type === 'int' ? max + 1 : max;
  const drawn = log ? Math.exp(Math.log(min) + u * (Math.log(top) - Math.log(min))) : min + u * (top - min);
  return clamp(type === 'int' ? Math.floor(drawn) : Number(drawn.toPrecision(4)), min, max);
}

/**
 * One searched dimension as `suggestTrial` reads it (trainers/python/retrain_trainer/suggest.py): an
 * int or float range, log-scaled or not, or a list of choices (any JSON values).
 */
export type SearchDimension =
  { type: 'int' | 'float'; min: number; max: number; log: boolean } | { type: 'choice'; choices: unknown[] };

/** Searched dimensions by name: hyperparameters by their own, the kind's parameters as `params.<name>`. */
export type SearchSpace = Record<string, SearchDimension>;

/** One finished trial as the next suggestion reads it; `score` lower is better unless `direction` says. */
export interface SuggestLogEntry {
  trial: number;
  params: Record<string, unknown>;
  score: number | null;
  status: 'completed' | 'failed';
}

/** `suggestTrial`'s input (the python worker's queue): everything the next suggestion depends on. */
export interface SuggestTrialInput {
  model: string;
  workflowId: string;
  space: SearchSpace;
  /** The trials so far, in trial order: their values in `space`'s names, score and status. */
  trials: SuggestLogEntry[];
  direction: 'minimize' | 'maximize';
  /** The base hyperparameters' seed: with the trial number it seeds the sampler. */
  seed: number;
  /** The trial to suggest (2..n). */
  trial: number;
  /** Trials drawn at random before TPE models the log. @default 10 */
  startupTrials?: number;
}

/** The suggested values of `trial`, by the names of the space. */
export interface SuggestTrialResult {
  trial: number;
  params: Record<string, unknown>;
}

const CHOICE_FIELDS = [
  'hiddenUnits',
  'batchSize',
  'optimizer',
  'architecture',
  'normalisation',
  'targetTransform',
  'calendar',
] as const;

/** The space a search spans: the ranges and choice lists random search draws from, by name. */
export function searchSpace(search: Search | undefined): SearchSpace {
  const space: SearchSpace = {};
  if (search?.learningRate) space.learningRate = { type: 'float', ...search.learningRate, log: true };
  if (search?.dropout) space.dropout = { type: 'float', ...search.dropout, log: false };
  for (const field of CHOICE_FIELDS) {
    const list = search?.[field];
    if (list) space[field] = { type: 'choice', choices: [...list] };
  }
  for (const [name, searched] of Object.entries(search?.params ?? {}))
    space[PARAM + name] = Array.isArray(searched)
      ? { type: 'choice', choices: [...searched] }
      : { ...searched, log: searched.log ?? false };
  return space;
}

/** A trial's values in `space`'s names (fields it leaves to their defaults are absent). */
export function spaceValues(hp: Hyperparams, space: SearchSpace): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const name of Object.keys(space)) {
    const value = name.startsWith(PARAM)
      ? hp.params?.[name.slice(PARAM.length)]
      : hp[name as keyof Hyperparams];
    if (value !== undefined) values[name] = value;
  }
  return values;
}

/**
 * Trial `trial`'s hyperparameters: `base` with its trial seed and the suggested `values` of the
 * space's names over it, unchecked (the caller validates them as it validates the spec's).
 */
export function withSuggestion(
  base: Hyperparams,
  trial: number,
  space: SearchSpace,
  values: Record<string, unknown>,
): Record<string, unknown> {
  const hp: Record<string, unknown> = { ...base, seed: trialSeed(base, trial) };
  const params: Record<string, unknown> = { ...base.params };
  for (const name of Object.keys(space)) {
    if (!(name in values)) continue;
    if (name.startsWith(PARAM)) params[name.slice(PARAM.length)] = values[name];
    else hp[name] = values[name];
  }
  if (base.params !== undefined || Object.keys(params).length > 0) hp.params = params;
  return hp;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
