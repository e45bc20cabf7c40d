import { describe, expect, it } from 'vitest';
import {
  ModelSpecSchema,
  resolveGateMetric,
  lowerIsBetter,
  type ModelSpecInput,
} from '../../common/model-spec';

const tabular: ModelSpecInput = {
  name: 'cars-mpg',
  task: 'regress',
  timeColumn: 'observed_at',
  features: ['horsepower', 'weight'],
  target: 'mpg',
  horizon: 0,
  lookback: 1,
};

const forecast: ModelSpecInput = {
  name: 'delays',
  task: 'forecast',
  timeColumn: 'ts',
  entityColumn: 'origin',
  features: ['flights', 'mean_delay'],
  target: 'mean_delay',
};

/** The messages of a spec's issues by field path, or `ok`. */
function issues(input: ModelSpecInput): Record<string, string> | 'ok' {
  const parsed = ModelSpecSchema.safeParse(input);
  if (parsed.success) return 'ok';
  return Object.fromEntries(parsed.error.issues.map((i) => [i.path.join('.'), i.message]));
}

describe('tabular specs (horizon 0)', () => {
  it('accepts a regression and a binary classifier without an entity column', () => {
    const spec = ModelSpecSchema.parse(tabular);
    expect(spec.entityColumn).toBeUndefined();
    expect(spec.horizon).toBe(0);
    expect(
      issues({
        ...tabular,
        task: 'classify',
        target: 'failed',
        threshold: 0.5,
        hyperparams: { architecture: 'logistic' },
      }),
    ).toBe('ok');
    expect(issues({ ...tabular, entityColumn: 'host' })).toBe('ok');
    expect(issues({ ...tabular, hyperparams: { architecture: 'linear' } })).toBe('ok');
  });

  it('needs lookback 1, keeps the target out of the features, and refuses frequency and change targets', () => {
    expect(issues({ ...tabular, lookback: 3 })).toEqual({
      lookback: 'a tabular spec (horizon 0) reads the row itself: lookback must be 1',
    });
    expect(issues({ ...tabular, features: ['horsepower', 'mpg'] })).toEqual({
      features: 'the target mpg cannot be a feature of a tabular spec: it is the label on the row',
    });
    expect(issues({ ...tabular, frequency: '1h' })).toEqual({
      frequency: 'frequency is for series; a tabular spec (horizon 0) has no steps',
    });
    expect(issues({ ...tabular, hyperparams: { targetTransform: 'change' } })).toMatchObject({
      'hyperparams.targetTransform': expect.stringContaining('targetTransform change is for forecasts'),
    });
  });

  it('says regress and cluster are tabular, forecasts are not, and which fields each task needs', () => {
    expect(issues({ ...tabular, horizon: 1, entityColumn: 'host', lookback: 1 })).toEqual({
      horizon: 'regress models are tabular: horizon must be 0',
    });
    expect(issues({ ...forecast, horizon: 0, lookback: 1, features: ['flights'] })).toEqual({
      horizon:
        'forecasts predict ahead: horizon must be at least 1 (use task regress for a label on the row)',
    });
    expect(issues({ ...tabular, target: undefined })).toEqual({ target: 'regress models need a target' });
    expect(issues({ ...tabular, threshold: 3 })).toEqual({
      threshold: 'threshold is for classify models, not regress',
    });
    expect(issues({ ...forecast, entityColumn: undefined })).toEqual({
      entityColumn: 'an entity column is needed unless the spec is tabular (horizon 0)',
    });
  });

  it('asks for the python trainer for multi-class classifiers and clusterers, and keeps classify on windows binary', () => {
    expect(issues({ ...tabular, task: 'classify', target: 'origin' })).toEqual({
      threshold:
        'a classifier without a threshold is multi-class, which needs the python trainer ("trainer": "python")',
    });
    expect(issues({ ...tabular, task: 'cluster', target: undefined })).toEqual({
      task: 'cluster models need the python trainer ("trainer": "python")',
    });
    expect(issues({ ...tabular, task: 'cluster' })).toMatchObject({
      target: 'cluster models have no target',
    });
    // Written before tabular tasks: a windowed classifier without a threshold is still an error.
    expect(issues({ ...forecast, task: 'classify' })).toEqual({
      threshold: 'classify models need a threshold (multi-class classifiers are tabular: horizon 0)',
    });
  });

  it('gates each task on metrics that fit it, auto picking f1, mae and silhouette', () => {
    expect(issues({ ...tabular, gate: { metric: 'r2' } })).toBe('ok');
    expect(issues({ ...tabular, gate: { metric: 'spearman' } })).toBe('ok');
    expect(issues({ ...tabular, gate: { metric: 'f1' } })).toEqual({
      'gate.metric': 'gate metric f1 cannot score a regress model; use mae, rmse, r2, spearman or auto',
    });
    const classifier = {
      ...tabular,
      task: 'classify' as const,
      threshold: 20,
      hyperparams: { architecture: 'logistic' as const },
    };
    for (const metric of ['logLoss', 'precision', 'recall'] as const)
      expect(issues({ ...classifier, gate: { metric } })).toBe('ok');
    expect(resolveGateMetric('auto', 'classify', 1)).toBe('f1');
    expect(resolveGateMetric('auto', 'regress', 1)).toBe('mae');
    expect(resolveGateMetric('auto', 'cluster', 1)).toBe('silhouette');
    expect(['r2', 'spearman', 'silhouette', 'precision', 'recall'].map(lowerIsBetter)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(['logLoss', 'mae', 'rmse', 'mase'].map(lowerIsBetter)).toEqual([true, true, true, true]);
  });

  it('keeps every forecast spec written before as it was', () => {
    const spec = ModelSpecSchema.parse(forecast);
    expect(spec.horizon).toBe(1);
    expect(spec.lookback).toBe(6);
    expect(spec.entityColumn).toBe('origin');
    expect(issues({ ...forecast, gate: { metric: 'f1' } })).toEqual({
      'gate.metric': 'gate metric f1 cannot score a forecast model; use mae, rmse, mase or auto',
    });
  });
});
