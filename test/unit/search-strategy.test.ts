import { describe, expect, it } from 'vitest';
import { formatIssues } from '../../common/format-issues';
import {
  HyperparamsSchema,
  ModelSpecSchema,
  SearchSchema,
  type ModelSpecInput,
  type Search,
} from '../../common/model-spec';
import type { SearchParams } from '../../common/search-params';
import { planTrials, searchSpace, spaceValues, withSuggestion } from '../../common/trials';

const FORECAST: ModelSpecInput = {
  name: 'search-spec',
  task: 'forecast',
  timeColumn: 'ts',
  entityColumn: 'origin',
  features: ['flights'],
  target: 'flights',
};
const XGBOOST: ModelSpecInput = {
  ...FORECAST,
  trainer: 'python',
  hyperparams: { architecture: 'xgboost', params: { max_depth: 4 } },
};

function specIssues(spec: ModelSpecInput): string {
  const parsed = ModelSpecSchema.safeParse(spec);
  return parsed.success ? '' : formatIssues(parsed.error);
}

describe('search.strategy and search.params in the spec', () => {
  it('keeps every spec written before strategies as it was: no strategy field is filled in', () => {
    const spec = ModelSpecSchema.parse({ ...FORECAST, search: { hiddenUnits: [16, 32] } });
    expect(spec.search).toEqual({ hiddenUnits: [16, 32] });
    expect(ModelSpecSchema.parse({ ...FORECAST, search: { strategy: 'tpe' } }).search?.strategy).toBe('tpe');
    expect(specIssues({ ...FORECAST, search: { strategy: 'grid' } as never })).toContain('search.strategy');
  });

  it("accepts ranges and choices of a python kind's own parameters", () => {
    const search: Search = {
      strategy: 'tpe',
      startupTrials: 3,
      params: {
        max_depth: { type: 'int', min: 2, max: 10 },
        learning_rate: { type: 'float', min: 0.01, max: 0.3, log: true },
        tree_method: ['hist', 'approx'],
      },
    };
    expect(specIssues({ ...XGBOOST, search })).toBe('');
    const mlp = {
      ...XGBOOST,
      hyperparams: { architecture: 'mlp' },
      search: { params: { hidden: [[32], [64, 64]] } },
    };
    expect(specIssues(mlp)).toBe('');
  });

  it.each([
    [
      'a parameter the kind does not take',
      { max_dept: { type: 'int', min: 2, max: 4 } },
      'search.params.max_dept.min: kind xgboost takes no parameter max_dept',
    ],
    [
      'a bound outside the parameter own range',
      { max_depth: { type: 'int', min: 2, max: 100 } },
      'search.params.max_depth.max: xgboost: Too big',
    ],
    [
      'a choice the parameter does not take',
      { tree_method: ['hist', 'gpu_hist'] },
      'search.params.tree_method.1',
    ],
    [
      'a float range of an integer parameter',
      { max_depth: { type: 'float', min: 2, max: 8 } },
      'search.params.max_depth.type: xgboost takes whole numbers for max_depth: use type int',
    ],
    [
      'an int range with fractional bounds',
      { learning_rate: { type: 'int', min: 0.1, max: 1 } },
      'search.params.learning_rate.min: an int range needs integer bounds',
    ],
    [
      'a log range from zero',
      { reg_alpha: { type: 'float', min: 0, max: 1, log: true } },
      'search.params.reg_alpha.min: a log-scaled range needs min above 0',
    ],
    [
      'min above max',
      { gamma: { type: 'float', min: 2, max: 1 } },
      'search.params.gamma.max: min must not be above max',
    ],
  ])('refuses %s, naming the field', (_why, params, issue) => {
    expect(specIssues({ ...XGBOOST, search: { params } as never })).toContain(issue);
  });

  it('checks the parameters against every kind the search may pick, and refuses them for tfjs', () => {
    const both: ModelSpecInput = {
      ...XGBOOST,
      search: { architecture: ['xgboost', 'lightgbm'], params: { gamma: { type: 'float', min: 0, max: 1 } } },
    };
    expect(specIssues(both)).toContain('search.params.gamma.min: kind lightgbm takes no parameter gamma');
    const tfjs: ModelSpecInput = {
      ...FORECAST,
      search: { params: { max_depth: { type: 'int', min: 2, max: 4 } } },
    };
    expect(specIssues(tfjs)).toContain('search.params: params are for python trainer kinds');
  });
});

describe('the search space suggestTrial reads', () => {
  const search = SearchSchema.parse({
    learningRate: { min: 0.0001, max: 0.1 },
    dropout: { min: 0, max: 0.5 },
    hiddenUnits: [16, 64],
    calendar: [[], ['hourOfDay']],
    params: { max_depth: { type: 'int', min: 2, max: 8 }, tree_method: ['hist', 'approx'] },
  });

  it('names each searched field, the kind parameters as params.<name>, with scale and choices', () => {
    expect(searchSpace(search)).toEqual({
      learningRate: { type: 'float', min: 0.0001, max: 0.1, log: true },
      dropout: { type: 'float', min: 0, max: 0.5, log: false },
      hiddenUnits: { type: 'choice', choices: [16, 64] },
      calendar: { type: 'choice', choices: [[], ['hourOfDay']] },
      'params.max_depth': { type: 'int', min: 2, max: 8, log: false },
      'params.tree_method': { type: 'choice', choices: ['hist', 'approx'] },
    });
    expect(searchSpace(undefined)).toEqual({});
  });

  it("reads a trial's values in the space and puts suggested ones over the base, with the trial's seed", () => {
    const space = searchSpace(search);
    const base = HyperparamsSchema.parse({ seed: 5, hiddenUnits: 32, params: { max_depth: 4, gamma: 1 } });
    expect(spaceValues(base, space)).toEqual({
      learningRate: 0.003,
      dropout: 0,
      hiddenUnits: 32,
      'params.max_depth': 4,
    });
    const suggested = withSuggestion(base, 3, space, {
      learningRate: 0.01,
      hiddenUnits: 64,
      'params.tree_method': 'approx',
      unasked: 1,
    });
    expect(suggested).toEqual({
      ...base,
      seed: 7,
      learningRate: 0.01,
      hiddenUnits: 64,
      params: { max_depth: 4, gamma: 1, tree_method: 'approx' },
    });
    // A tfjs base without params gets none.
    const tfjs = HyperparamsSchema.parse({ seed: 5 });
    expect(withSuggestion(tfjs, 2, searchSpace({ hiddenUnits: [8] }), { hiddenUnits: 8 })).not.toHaveProperty(
      'params',
    );
  });

  it('random search draws search.params within their ranges and choices, after the other fields', () => {
    const base = HyperparamsSchema.parse({ seed: 11, architecture: 'xgboost', params: { max_depth: 4 } });
    const params: SearchParams = {
      max_depth: { type: 'int', min: 2, max: 8 },
      learning_rate: { type: 'float', min: 0.01, max: 0.3, log: true },
      tree_method: ['hist', 'approx'],
    };
    const plan = planTrials(base, { hiddenUnits: [8, 16], params }, 40);
    expect(plan[0]).toEqual(base);
    const drawn = plan.slice(1).map((hp) => hp.params ?? {});
    for (const p of drawn) {
      expect(
        Number.isInteger(p.max_depth) && (p.max_depth as number) >= 2 && (p.max_depth as number) <= 8,
      ).toBe(true);
      expect(p.learning_rate).toBeGreaterThanOrEqual(0.01);
      expect(p.learning_rate).toBeLessThanOrEqual(0.3);
    }
    expect(new Set(drawn.map((p) => p.max_depth))).toEqual(new Set([2, 3, 4, 5, 6, 7, 8]));
    expect(new Set(drawn.map((p) => p.tree_method))).toEqual(new Set(['hist', 'approx']));
    // Drawn after a trial's other fields, so a spec without search.params plans as before.
    const without = planTrials(base, { hiddenUnits: [8, 16] }, 2);
    expect(plan[1]?.hiddenUnits).toBe(without[1]?.hiddenUnits);
  });
});
