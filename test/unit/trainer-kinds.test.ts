import { describe, expect, it } from 'vitest';
import { ModelSpecSchema, type ModelSpecInput } from '../../common/model-spec';
import { RetrainInputSchema } from '../../common/retrain';
import { PYTHON_KINDS, PYTHON_KIND_NAMES, pythonKindIssues } from '../../common/trainer-kinds';
import { pythonTaskQueueFor, trainingTaskQueueFor } from '../../common/task-queues';

const base: ModelSpecInput = {
  name: 'kinds',
  task: 'forecast',
  timeColumn: 'ts',
  entityColumn: 'origin',
  features: ['flights', 'mean_delay'],
  target: 'mean_delay',
};

/** The issues of a spec, as `path: message` lines. */
function issuesOf(spec: Partial<ModelSpecInput>): string[] {
  const parsed = ModelSpecSchema.safeParse({ ...base, ...spec });
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('spec trainer and python kinds', () => {
  it('leaves a spec without a trainer as it was: tfjs, no python fields added', () => {
    const spec = ModelSpecSchema.parse(base);
    expect(spec.trainer).toBeUndefined();
    expect(spec.hyperparams).not.toHaveProperty('params');
    expect(spec.hyperparams).not.toHaveProperty('device');
    expect(issuesOf({ trainer: 'tfjs' })).toEqual([]);
  });

  it('accepts a python xgboost forecaster with its own parameters and a GPU', () => {
    const spec = ModelSpecSchema.parse({
      ...base,
      trainer: 'python',
      hyperparams: { architecture: 'xgboost', params: { max_depth: 4, subsample: 0.8 }, device: 'gpu' },
    });
    expect(spec.hyperparams.params).toEqual({ max_depth: 4, subsample: 0.8 });
  });

  it('names the parameter a kind does not take, and lists what it takes', () => {
    const [issue] = issuesOf({
      trainer: 'python',
      hyperparams: { architecture: 'xgboost', params: { n_trees: 3 } },
    });
    expect(issue).toMatch(
      /^hyperparams\.params\.n_trees: kind xgboost takes no parameter n_trees; it takes max_depth/,
    );
  });

  it('names a parameter of the wrong type or range', () => {
    expect(
      issuesOf({
        trainer: 'python',
        hyperparams: { architecture: 'xgboost', params: { max_depth: 'deep' } },
      }),
    ).toEqual([expect.stringMatching(/^hyperparams\.params\.max_depth: xgboost: /)]);
    expect(
      issuesOf({
        trainer: 'python',
        hyperparams: { architecture: 'random-forest', params: { max_features: 2 } },
      }),
    ).toEqual([expect.stringMatching(/^hyperparams\.params\.max_features: random-forest: /)]);
    expect(
      issuesOf({ trainer: 'python', hyperparams: { architecture: 'mlp', params: { hidden: [] } } }),
    ).toEqual([expect.stringMatching(/^hyperparams\.params\.hidden: mlp: /)]);
  });

  it('refuses a task the kind cannot train, and a GPU the kind cannot use', () => {
    expect(issuesOf({ trainer: 'python', hyperparams: { architecture: 'kmeans' } })).toEqual([
      'hyperparams.architecture: kind kmeans cannot train a forecast model; it trains cluster',
    ]);
    expect(issuesOf({ trainer: 'python', hyperparams: { architecture: 'lightgbm', device: 'gpu' } })).toEqual(
      ['hyperparams.device: kind lightgbm has no GPU support; use device cpu'],
    );
  });

  it('refuses a tfjs-only architecture under the python trainer and python kinds and fields under tfjs', () => {
    expect(issuesOf({ trainer: 'python', hyperparams: { architecture: 'linear' } })).toEqual([
      expect.stringMatching(/^hyperparams\.architecture: architecture linear is not a python trainer kind/),
    ]);
    expect(issuesOf({ hyperparams: { architecture: 'xgboost' } })).toEqual([
      expect.stringMatching(
        /^hyperparams\.architecture: .*xgboost is a python trainer kind: "trainer": "python"/,
      ),
    ]);
    expect(issuesOf({ hyperparams: { params: { max_depth: 3 } } })).toEqual([
      'hyperparams.params: params are for python trainer kinds ("trainer": "python")',
    ]);
    expect(issuesOf({ hyperparams: { device: 'gpu' } })).toEqual([
      expect.stringMatching(/^hyperparams\.device: device is for the python trainer/),
    ]);
  });

  it('leaves a name that is no built-in kind to the worker: a user trainer registered in Python', () => {
    expect(
      issuesOf({
        trainer: 'python',
        hyperparams: { architecture: 'ridge', params: { alpha: 2 }, device: 'gpu' },
      }),
    ).toEqual([]);
    expect(issuesOf({ trainer: 'python', hyperparams: { architecture: 'Not A Kind' } })).toEqual([
      expect.stringMatching(/^hyperparams\.architecture: architecture must be a kind name/),
    ]);
  });

  it('checks each searched architecture of a python spec as a kind of its task', () => {
    expect(
      issuesOf({
        trainer: 'python',
        hyperparams: { architecture: 'xgboost' },
        search: { architecture: ['lightgbm', 'kmeans'] },
      }),
    ).toEqual(['search.architecture.1: kind kmeans cannot train a forecast model; it trains cluster']);
  });

  it('gives every kind a task, a parameter table that accepts no parameters, and what epochs count', () => {
    for (const name of PYTHON_KIND_NAMES) {
      const kind = PYTHON_KINDS[name];
      expect(kind.tasks.length).toBeGreaterThan(0);
      expect(pythonKindIssues(kind.tasks[0] as string, { architecture: name })).toEqual([]);
      expect(['boosting rounds', 'epochs', 'unused']).toContain(kind.epochs);
    }
  });

  it('takes python fields in a run input, to be checked against the spec when the run merges them', () => {
    const input = RetrainInputSchema.parse({
      model: 'kinds',
      hyperparams: { params: { max_depth: 3 }, device: 'gpu' },
    });
    expect(input.hyperparams).toEqual({ params: { max_depth: 3 }, device: 'gpu' });
    expect(RetrainInputSchema.safeParse({ model: 'kinds', hyperparams: { device: 'tpu' } }).success).toBe(
      false,
    );
  });
});

describe('training task queues', () => {
  it('keeps tfjs on the gpu queue and sends python to -py or -py-gpu of the run queue', () => {
    expect(trainingTaskQueueFor('retrain', 'tfjs', undefined)).toBe('retrain-gpu');
    expect(trainingTaskQueueFor('retrain', 'tfjs', 'gpu')).toBe('retrain-gpu');
    expect(trainingTaskQueueFor('retrain', 'python', undefined)).toBe('retrain-py');
    expect(trainingTaskQueueFor('test-1', 'python', 'gpu')).toBe('test-1-py-gpu');
    expect(pythonTaskQueueFor('retrain', 'cpu')).toBe('retrain-py');
  });
});
