import { HyperparamsSchema, type Hyperparams, type Search } from './model-spec';
import { seededRandom } from './seeded-random';

const MAX_SEED = 2 ** 31 - 1;

/**
 * The hyperparameters of trials 1..`trials`: trial 1 is `base` itself; trial k > 1 draws every field
 * `search` names (learning rate log-uniformly, dropout uniformly, the rest from their choice lists)
 * and gets seed `base.seed + k - 1`, so trials differ even without a search (random restarts).
 * Deterministic in `base.seed`.
 */
export function planTrials(base: Hyperparams, search: Search | undefined, trials: number): Hyperparams[] {
  const random = seededRandom(base.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const plan: Hyperparams[] = [base];
  for (let trial = 2; trial <= trials; trial++) {
    const hp: Hyperparams = { ...base, seed: (base.seed + trial - 1) % MAX_SEED };
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
    plan.push(HyperparamsSchema.parse(hp));
  }
  return plan;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
