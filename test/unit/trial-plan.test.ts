import { describe, expect, it } from 'vitest';
import { formatIssues } from '../../common/format-issues';
import { HyperparamsSchema, ModelSpecSchema, SearchSchema } from '../../common/model-spec';
import { seededRandom } from '../../common/seeded-random';
import { planTrials } from '../../common/trials';

const base = HyperparamsSchema.parse({ seed: 7, learningRate: 0.003, hiddenUnits: 16 });
const search = SearchSchema.parse({
  learningRate: { min: 0.0001, max: 0.1 },
  dropout: { min: 0, max: 0.5 },
  hiddenUnits: [8, 32, 64],
  batchSize: [64, 128],
  optimizer: ['adam', 'rmsprop'],
  architecture: ['mlp', 'lstm'],
});

describe('planTrials: seeded random search over the spec ranges', () => {
  it('draws the forecast input options from their lists, each choice in some trial', () => {
    const options = SearchSchema.parse({
      architecture: ['mlp', 'linear'],
      normalisation: ['entity', 'global'],
      targetTransform: ['change', 'level'],
      calendar: [[], ['hourOfDay', 'dayOfWeek']],
    });
    const drawn = planTrials(base, options, 40).slice(1);
    for (const hp of drawn) expect(HyperparamsSchema.safeParse(hp).success).toBe(true);
    expect(new Set(drawn.map((hp) => hp.normalisation))).toEqual(new Set(['entity', 'global']));
    expect(new Set(drawn.map((hp) => hp.targetTransform))).toEqual(new Set(['change', 'level']));
    expect(new Set(drawn.map((hp) => JSON.stringify(hp.calendar)))).toEqual(
      new Set(['[]', '["hourOfDay","dayOfWeek"]']),
    );
    expect(new Set(drawn.map((hp) => hp.architecture))).toEqual(new Set(['mlp', 'linear']));
    // A search without them leaves the spec's own (absent: the task's defaults).
    for (const hp of planTrials(base, search, 5)) expect(hp.normalisation).toBeUndefined();
  });

  it('keeps the spec hyperparams as trial 1 and plans one set per trial', () => {
    const plan = planTrials(base, search, 5);
    expect(plan).toHaveLength(5);
    expect(plan[0]).toEqual(base);
  });

  it('plans the same trials for the same spec and different ones for another seed', () => {
    expect(planTrials(base, search, 6)).toEqual(planTrials(base, search, 6));
    const other = planTrials({ ...base, seed: 8 }, search, 6);
    expect(other.slice(1)).not.toEqual(planTrials(base, search, 6).slice(1));
  });

  it('draws every searched field inside its range or list, and valid as hyperparams', () => {
    for (const hp of planTrials(base, search, 40).slice(1)) {
      expect(HyperparamsSchema.safeParse(hp).success).toBe(true);
      expect(hp.learningRate).toBeGreaterThanOrEqual(0.0001);
      expect(hp.learningRate).toBeLessThanOrEqual(0.1);
      expect(hp.dropout).toBeGreaterThanOrEqual(0);
      expect(hp.dropout).toBeLessThanOrEqual(0.5);
      expect([8, 32, 64]).toContain(hp.hiddenUnits);
      expect([64, 128]).toContain(hp.batchSize);
      expect(['adam', 'rmsprop']).toContain(hp.optimizer);
      expect(hp.loss).toBe(base.loss);
      expect(['mlp', 'lstm']).toContain(hp.architecture);
    }
  });

  it('draws the learning rate log-uniformly: about as many draws per decade', () => {
    const rates = planTrials(base, { learningRate: { min: 0.0001, max: 0.1 } }, 601)
      .slice(1)
      .map((hp) => hp.learningRate);
    const perDecade = [0.001, 0.01, 0.1].map(
      (top) => rates.filter((r) => r <= top && r > top / 10 - 1e-12).length,
    );
    for (const count of perDecade) expect(count).toBeGreaterThan(150);
  });

  it('varies only the seed when the spec has no search (random restarts)', () => {
    const plan = planTrials(base, undefined, 3);
    expect(plan).toEqual([base, { ...base, seed: 8 }, { ...base, seed: 9 }]);
  });

  it('seededRandom is uniform in [0, 1) and reproducible', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const draws = Array.from({ length: 1000 }, () => a());
    expect(draws).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    expect(draws.filter((x) => x < 0.5).length).toBeGreaterThan(400);
  });
});

describe('the spec `search` field', () => {
  it('refuses a loss to search over, since trials are ranked by validation loss', () => {
    const parsed = SearchSchema.safeParse({ loss: ['huber', 'mse'] });
    expect(parsed.success).toBe(false);
    expect(formatIssues(parsed.error!)).toMatch(/loss/);
  });

  const spec = {
    name: 'search-spec',
    task: 'forecast',
    timeColumn: 'ts',
    entityColumn: 'origin',
    features: ['flights'],
    target: 'flights',
  } as const;

  it('accepts ranges and choice lists', () => {
    const parsed = ModelSpecSchema.parse({ ...spec, search: { learningRate: { min: 0.001, max: 0.01 } } });
    expect(parsed.search?.learningRate).toEqual({ min: 0.001, max: 0.01 });
  });

  it.each([
    [{ learningRate: { min: 0.1, max: 0.01 } }, 'search.learningRate.max: min must not be above max'],
    [{ learningRate: { min: 0, max: 0.01 } }, 'search.learningRate.min'],
    [{ dropout: { min: 0, max: 0.95 } }, 'search.dropout.max'],
    [{ hiddenUnits: [] }, 'search.hiddenUnits'],
    [{ optimizer: ['adam', 'lion'] }, 'search.optimizer.1'],
    [
      { architecture: ['logistic'] },
      'search.architecture.0: architecture logistic cannot train a forecast model',
    ],
    [{ momentum: [0.9] }, 'search: Unrecognized key: "momentum"'],
  ])('rejects %j naming the field', (bad, message) => {
    const parsed = ModelSpecSchema.safeParse({ ...spec, search: bad });
    expect(parsed.success).toBe(false);
    if (!parsed.success) expect(formatIssues(parsed.error)).toContain(message);
  });
});
