import { z } from 'zod';

// The trainers a spec can name and the kinds of model the python trainer trains: each kind's own
// parameters (named as its library names them), the tasks it can do and whether it runs on a GPU.
// The Python worker (trainers/python) validates the same table; docs/models.md lists it.

/** Who trains a spec's model: TensorFlow.js in the Node gpu worker, or the Temporal Python worker. */
export const TrainerSchema = z.enum(['tfjs', 'python']);
export type Trainer = z.infer<typeof TrainerSchema>;

/** Where the python trainer runs a training: `gpu` sends it to the `-py-gpu` queue. */
export const DeviceSchema = z.enum(['cpu', 'gpu']);
export type Device = z.infer<typeof DeviceSchema>;

const int = (min: number, max?: number) =>
  max === undefined ? z.number().int().min(min) : z.number().int().min(min).max(max);
const atLeast = (min: number) => z.number().min(min);
const between = (min: number, max: number) => z.number().min(min).max(max);
const checkpointEvery = int(1);

/** Parameters every PyTorch kind takes: Adam and regularisation. */
const torch = {
  batch_size: int(1),
  learning_rate: atLeast(0),
  weight_decay: atLeast(0),
  dropout: between(0, 0.95),
};

/** One python kind: its parameters (all optional: the kind's defaults fill them), tasks and GPU support. */
export interface PythonKind {
  params: z.ZodObject;
  tasks: readonly string[];
  gpu: boolean;
  /** What `epochs` counts for it, or that it does not use them. */
  epochs: 'boosting rounds' | 'epochs' | 'unused';
}

const kindParams = <T extends z.ZodRawShape>(shape: T) => z.object(shape).partial().strict();

/**
 * The built-in kinds of the python trainer, by `hyperparams.architecture`: the same names, ranges and
 * tasks as trainers/python/retrain_trainer/kinds (test/e2e/python-trainer.test.ts compares them).
 */
export const PYTHON_KINDS = {
  xgboost: {
    params: kindParams({
      max_depth: int(1, 64),
      learning_rate: between(0, 1),
      subsample: between(0.01, 1),
      colsample_bytree: between(0.01, 1),
      min_child_weight: atLeast(0),
      reg_lambda: atLeast(0),
      reg_alpha: atLeast(0),
      gamma: atLeast(0),
      tree_method: z.enum(['hist', 'approx', 'exact']),
      checkpoint_every: checkpointEvery,
    }),
    tasks: ['forecast', 'regress', 'classify'],
    gpu: true,
    epochs: 'boosting rounds',
  },
  lightgbm: {
    params: kindParams({
      num_leaves: int(2, 131072),
      max_depth: int(-1),
      learning_rate: between(0, 1),
      min_child_samples: int(1),
      subsample: between(0.01, 1),
      colsample_bytree: between(0.01, 1),
      reg_lambda: atLeast(0),
      reg_alpha: atLeast(0),
      checkpoint_every: checkpointEvery,
    }),
    tasks: ['forecast', 'regress', 'classify'],
    gpu: false,
    epochs: 'boosting rounds',
  },
  logistic: {
    params: kindParams({
      C: atLeast(1e-12),
      l1_ratio: between(0, 1),
      solver: z.enum(['lbfgs', 'newton-cg', 'saga']),
      max_iter: int(1),
      tol: atLeast(0),
      class_weight: z.enum(['none', 'balanced']),
    }),
    tasks: ['classify'],
    gpu: false,
    epochs: 'unused',
  },
  'random-forest': {
    params: kindParams({
      n_estimators: int(1),
      max_depth: int(1),
      min_samples_leaf: int(1),
      max_features: between(0, 1),
      trees_per_step: int(1),
    }),
    tasks: ['forecast', 'regress', 'classify'],
    gpu: false,
    epochs: 'unused',
  },
  kmeans: {
    params: kindParams({ n_clusters: int(1), n_init: int(1), max_iter: int(1), tol: atLeast(0) }),
    tasks: ['cluster'],
    gpu: false,
    epochs: 'unused',
  },
  mlp: {
    params: kindParams({ ...torch, hidden: z.array(int(1)).min(1) }),
    tasks: ['forecast', 'regress', 'classify'],
    gpu: true,
    epochs: 'epochs',
  },
  lstm: {
    params: kindParams({ ...torch, hidden_size: int(1), num_layers: int(1, 8) }),
    tasks: ['forecast', 'regress', 'classify'],
    gpu: true,
    epochs: 'epochs',
  },
} as const satisfies Record<string, PythonKind>;

export type PythonKindName = keyof typeof PYTHON_KINDS;
export const PYTHON_KIND_NAMES = Object.keys(PYTHON_KINDS) as PythonKindName[];

/** The hyperparameters the trainer checks read: the kind, its parameters and the device. */
export interface KindChoice {
  architecture: string;
  params?: Record<string, unknown> | undefined;
  device?: Device | undefined;
}

/** One problem with a trainer choice: the field under `hyperparams` it is about and why. */
export interface KindIssue {
  path: (string | number)[];
  message: string;
}

/** Architectures only TensorFlow.js trains. */
const TFJS_ONLY = ['linear'];

function tfjsOnly(architecture: string): KindIssue {
  return {
    path: ['architecture'],
    message: `architecture ${architecture} is not a python trainer kind; use one of ${PYTHON_KIND_NAMES.join(', ')} or a registered user trainer`,
  };
}

/**
 * Why the python trainer cannot train `choice` for `task`: a tfjs-only architecture, a task the
 * kind cannot do, a parameter it does not take or of the wrong type or range, a GPU it cannot use.
 * Names that are no built-in kind are user trainers, checked by the worker. Paths are relative to
 * `hyperparams` (`['params', 'max_depth']`).
 */
export function pythonKindIssues(task: string, choice: KindChoice): KindIssue[] {
  const kind = (PYTHON_KINDS as Record<string, PythonKind>)[choice.architecture];
  // Another name is a user trainer (registered in Python with @trainer): the worker checks it.
  if (!kind) return TFJS_ONLY.includes(choice.architecture) ? [tfjsOnly(choice.architecture)] : [];
  const issues: KindIssue[] = [];
  if (!kind.tasks.includes(task))
    issues.push({
      path: ['architecture'],
      message: `kind ${choice.architecture} cannot train a ${task} model; it trains ${kind.tasks.join(', ')}`,
    });
  if (choice.device === 'gpu' && !kind.gpu)
    issues.push({
      path: ['device'],
      message: `kind ${choice.architecture} has no GPU support; use device cpu`,
    });
  const params = kind.params.safeParse(choice.params ?? {});
  if (params.success) return issues;
  const taken = Object.keys(kind.params.shape).join(', ');
  for (const issue of params.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        issues.push({
          path: ['params', key],
          message: `kind ${choice.architecture} takes no parameter ${key}; it takes ${taken}`,
        });
      continue;
    }
    issues.push({
      path: ['params', ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))],
      message: `${choice.architecture}: ${issue.message}`,
    });
  }
  return issues;
}

/** Why the tfjs trainer cannot take `choice`: python-only fields (`params`, `device`) set. */
export function tfjsChoiceIssues(choice: KindChoice): KindIssue[] {
  const issues: KindIssue[] = [];
  if (choice.params !== undefined)
    issues.push({ path: ['params'], message: 'params are for python trainer kinds ("trainer": "python")' });
  if (choice.device !== undefined)
    issues.push({
      path: ['device'],
      message: "device is for the python trainer; TensorFlow.js uses the gpu worker's backend",
    });
  return issues;
}

/** The trainer of a spec: `tfjs` unless it names another. */
export function trainerOf(spec: { trainer?: Trainer | undefined }): Trainer {
  return spec.trainer ?? 'tfjs';
}
