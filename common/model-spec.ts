import { z } from 'zod';
import { durationMs, durationSchema } from './durations';
import {
  DeviceSchema,
  PYTHON_KIND_NAMES,
  pythonKindIssues,
  tfjsChoiceIssues,
  trainerOf,
  TrainerSchema,
  type KindIssue,
  type Trainer,
} from './trainer-kinds';
import { searchParamsIssues, SearchParamsSchema, SearchStrategySchema } from './search-params';
import { TriggersSchema } from './triggers';
import { AdmissionModeSchema, RunPrioritySchema, TrainShareSchema } from './admission';

/** Lowercase slug: safe as a store key segment, a workflow id part and a directory name. */
export const ModelNameSchema = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, {
  message: 'model name must be a lowercase slug: a-z, 0-9 and inner dashes, 1 to 63 characters',
});

/** Column names end up in SQL, so only plain identifiers are accepted. */
export const ColumnNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, {
  message: 'column names must be identifiers ([A-Za-z_][A-Za-z0-9_]*)',
});

export const FrequencySchema = durationSchema('frequency', '5m, 1h, 1d');

/** A frequency (`5m`) in epoch microseconds. */
export function frequencyUs(frequency: string): number {
  return durationMs(frequency) * 1000;
}

/**
 * `forecast`: the target `horizon` steps ahead from `lookback` steps of an entity's series.
 * `classify`: binary (`target > threshold`) at any horizon, or multi-class (no threshold, tabular
 * only: the target's values are the classes). `regress`: a number on the same row. `cluster`: a
 * segment per row, no target. regress and cluster are tabular (`horizon: 0`).
 */
export const TaskSchema = z.enum(['forecast', 'classify', 'regress', 'cluster']);
export type Task = z.infer<typeof TaskSchema>;

/** Which architectures each task can train with TensorFlow.js (ml/trainers.ts implements exactly these). */
export const ARCHITECTURES = {
  forecast: ['mlp', 'lstm', 'linear'],
  classify: ['logistic', 'mlp'],
  regress: ['mlp', 'linear'],
  cluster: [],
} as const;

/** Why `architecture` cannot train `task`, or undefined when it can; shared by spec and input checks. */
export function architectureIssue(task: Task, architecture: string): string | undefined {
  const allowed: readonly string[] = ARCHITECTURES[task];
  if (allowed.length === 0) return `${task} models need the python trainer ("trainer": "python")`;
  return allowed.includes(architecture)
    ? undefined
    : `architecture ${architecture} cannot train a ${task} model; use one of ${allowed.join(', ')}`;
}

/** The target is on the row itself (`horizon: 0`): no lag windows, the time column says when the row was observed. */
export function isTabular(shape: { horizon: number }): boolean {
  return shape.horizon === 0;
}

/** A classifier without a threshold: its target's values are the classes. */
export function isMultiClass(shape: { task: Task; threshold?: number | undefined }): boolean {
  return shape.task === 'classify' && shape.threshold === undefined;
}

/**
 * Why TensorFlow.js cannot train this spec (multi-class classifiers and clusterers), or undefined;
 * a spec with `trainer: "python"` skips this check.
 */
export function tfjsTaskIssue(shape: {
  task: Task;
  threshold?: number | undefined;
}): { field: string; message: string } | undefined {
  if (shape.task === 'cluster')
    return { field: 'task', message: 'cluster models need the python trainer ("trainer": "python")' };
  if (isMultiClass(shape))
    return {
      field: 'threshold',
      message:
        'a classifier without a threshold is multi-class, which needs the python trainer ("trainer": "python")',
    };
  return undefined;
}

/**
 * Why the spec's trainer cannot train these hyperparameters, paths relative to `hyperparams`: for
 * tfjs an architecture it has no trainer for (see {@link architectureIssue}) or python-only fields;
 * for python an unknown kind, a task it cannot do, a parameter it does not take, a GPU it lacks.
 */
export function hyperparamsIssues(
  spec: { task: Task; trainer?: Trainer | undefined },
  hp: Pick<Hyperparams, 'architecture' | 'params' | 'device'>,
): KindIssue[] {
  if (trainerOf(spec) === 'python') return pythonKindIssues(spec.task, hp);
  const issue = architectureIssue(spec.task, hp.architecture);
  const hint = (PYTHON_KIND_NAMES as readonly string[]).includes(hp.architecture)
    ? ` (${hp.architecture} is a python trainer kind: "trainer": "python")`
    : '';
  return [...(issue ? [{ path: ['architecture'], message: issue + hint }] : []), ...tfjsChoiceIssues(hp)];
}

/** Cyclic encodings (sine and cosine) of each input row's UTC time, added to every lag step. */
export const CalendarFeatureSchema = z.enum(['hourOfDay', 'dayOfWeek', 'monthOfYear']);
export type CalendarFeature = z.infer<typeof CalendarFeatureSchema>;

/**
 * How features and target are scaled: by each entity's own train-split mean and deviation
 * (`entity`: series whose levels differ by orders of magnitude share one model), or by the whole
 * train split's (`global`).
 */
export const NormalisationSchema = z.enum(['entity', 'global']);
/** What a forecaster predicts: the level itself, or its change from the last observed value. */
export const TargetTransformSchema = z.enum(['level', 'change']);

export const HyperparamsSchema = z
  .object({
    /**
     * The kind of model: TensorFlow.js trains mlp, lstm, logistic and linear ({@link ARCHITECTURES});
     * the python trainer its kinds (common/trainer-kinds.ts), mlp, lstm and logistic among them, and
     * user trainers registered by name in Python.
     */
    architecture: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,62}$/, {
        message: 'architecture must be a kind name: lowercase letters, digits, - and _',
      })
      .default('mlp'),
    /** Python trainer: the kind's own parameters, checked against its table in common/trainer-kinds.ts. */
    params: z.record(z.string(), z.unknown()).optional(),
    /** Python trainer: `gpu` trains on the `-py-gpu` queue (kinds with GPU support only). Absent: cpu. */
    device: DeviceSchema.optional(),
    /** Absent: `entity` for forecasts, `global` for classifiers (see {@link inputOptions}). */
    normalisation: NormalisationSchema.optional(),
    /** Forecasts only. Absent: `change` when the target is a feature, else `level`. */
    targetTransform: TargetTransformSchema.optional(),
    /**
     * Absent: by the spec's frequency, for forecasts: under a day `hourOfDay` and `dayOfWeek`, daily
     * to weekly `dayOfWeek` and `monthOfYear`; none for longer steps, without a frequency, or for classifiers.
     */
    calendar: z.array(CalendarFeatureSchema).max(3).optional(),
    learningRate: z.number().positive().max(1).default(0.003),
    optimizer: z.enum(['adam', 'sgd', 'rmsprop']).default('adam'),
    /**
     * Training loss of forecasters (classifiers always use binary cross-entropy). Huber (delta 0.5
     * target std) is the default: metric delays are heavy-tailed and the gate scores MAE.
     */
    loss: z.enum(['huber', 'mse', 'mae']).default('huber'),
    /**
     * Classifiers: `balanced` weighs each positive by negatives/positives of the training split, so a
     * rare event (a late hour, a failing host) is not learnt away; `none` weighs every row alike.
     */
    classWeight: z.enum(['balanced', 'none']).default('balanced'),
    batchSize: z.number().int().min(1).max(65536).default(256),
    hiddenUnits: z.number().int().min(1).max(4096).default(32),
    dropout: z.number().min(0).max(0.9).default(0),
    /** Drives initialisers, row shuffling and dropout masks; with it a run (and its resume) is reproducible. */
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(42),
  })
  .strict();
export type Hyperparams = z.infer<typeof HyperparamsSchema>;

const hp = HyperparamsSchema.shape;
const range = (bound: z.ZodNumber) =>
  z
    .object({ min: bound, max: bound })
    .strict()
    .refine((r) => r.min <= r.max, { message: 'min must not be above max', path: ['max'] });
const choices = <T extends z.ZodType>(item: T) => z.array(item).min(1).max(64);

/**
 * Where a multi-trial run (`trials > 1`) draws the hyperparameters of trials 2..n; trial 1 keeps the
 * spec's own. Fields left out keep the spec's value. Each bound obeys the hyperparameter's own limits.
 */
/**
 * Ranges for random search and TPE. Not the loss: classifier trials are ranked by validation loss,
 * which is only comparable between trials that minimise the same loss (forecast trials by the
 * holdout's gate metric in the target's units, so trials of other normalisations and targets compare).
 */
export const SearchSchema = z
  .object({
    /** Drawn log-uniformly: learning rates matter by orders of magnitude. */
    learningRate: range(hp.learningRate.unwrap()).optional(),
    /** Drawn uniformly. */
    dropout: range(hp.dropout.unwrap()).optional(),
    hiddenUnits: choices(hp.hiddenUnits.unwrap()).optional(),
    batchSize: choices(hp.batchSize.unwrap()).optional(),
    optimizer: choices(hp.optimizer.unwrap()).optional(),
    architecture: choices(hp.architecture.unwrap()).optional(),
    normalisation: choices(NormalisationSchema).optional(),
    targetTransform: choices(TargetTransformSchema).optional(),
    calendar: choices(z.array(CalendarFeatureSchema).max(3)).optional(),
    /**
     * `random` (absent: random) draws trials 2..n up front; `tpe` asks Optuna's TPE on the python
     * worker for each next trial from the trial log, the trials running one after another.
     */
    strategy: SearchStrategySchema.optional(),
    /** Python trainer: ranges or choice lists of the kind's own parameters (`hyperparams.params`). */
    params: SearchParamsSchema.optional(),
    /** tpe: trials drawn at random before TPE models the log (Optuna's `n_startup_trials`). @default 10 */
    startupTrials: z.number().int().min(1).max(64).optional(),
  })
  .strict();
export type Search = z.infer<typeof SearchSchema>;

/**
 * What the gate decides on. `mase`: per entity, the holdout MAE over that entity's train-split
 * last-value MAE at the horizon, averaged over entities, so a series counts alike whatever its scale.
 * `auto`: `mase` for forecasts of several entities, `mae` for one, `f1` for classifiers.
 */
export const GateMetricSchema = z.enum([
  'auto',
  'mae',
  'rmse',
  'mase',
  'r2',
  'spearman',
  'f1',
  'auc',
  'accuracy',
  'precision',
  'recall',
  'logLoss',
  'silhouette',
]);
export type GateMetric = z.infer<typeof GateMetricSchema>;
export const FORECAST_METRICS: readonly GateMetric[] = ['mae', 'rmse', 'mase'];

/** The gate metrics that can score each task (`auto` scores every task). */
export const TASK_METRICS: Record<Task, readonly GateMetric[]> = {
  forecast: FORECAST_METRICS,
  regress: ['mae', 'rmse', 'r2', 'spearman'],
  classify: ['f1', 'auc', 'accuracy', 'precision', 'recall', 'logLoss'],
  cluster: ['silhouette'],
};

export const GateSchema = z
  .object({
    metric: GateMetricSchema.default('auto'),
    /** The candidate must beat the best naive baseline on the gate metric. */
    mustBeatBaseline: z.boolean().default(true),
    /** Allowed relative degradation against production, e.g. 0.05 = 5 % worse at most. */
    tolerance: z.number().min(0).max(10).default(0.05),
  })
  .strict();
export type Gate = z.infer<typeof GateSchema>;

export const ModelSpecSchema = z
  .object({
    name: ModelNameSchema,
    description: z.string().max(500).optional(),
    task: TaskSchema,
    /** Who trains the model (common/trainer-kinds.ts). Absent: `tfjs`, as for every spec before trainers. */
    trainer: TrainerSchema.optional(),
    /** When the row was observed: windows and retention count by it. */
    timeColumn: ColumnNameSchema,
    /** The series a row belongs to; optional for tabular specs (absent: all rows are one entity). */
    entityColumn: ColumnNameSchema.optional(),
    features: z.array(ColumnNameSchema).min(1).max(256),
    /** What the model predicts; clusterers have none. */
    target: ColumnNameSchema.optional(),
    /** Binary classifiers predict `target > threshold`; without one a (tabular) classifier is multi-class. */
    threshold: z.number().optional(),
    /** Steps ahead the target lies; 0: tabular, the target is on the row itself (with `lookback: 1`). */
    horizon: z.number().int().min(0).max(1000).default(1),
    /**
     * The series' step, e.g. `5m`, `1h`, `1d` (s, m, h, d, w): lag k is then exactly k steps back and
     * the target `horizon` steps ahead; windows across a gap are left out. Absent: lags are the
     * entity's previous records, whatever their times.
     */
    frequency: FrequencySchema.optional(),
    lookback: z.number().int().min(1).max(1000).default(6),
    windowDays: z.number().int().min(1).max(3650).default(28),
    minRecords: z.number().int().min(1).default(1000),
    /** Distinct UTC days with records that the window must hold too; 1 checks records alone. */
    minDays: z.number().int().min(1).max(3650).default(1),
    epochs: z.number().int().min(1).max(10000).default(10),
    hyperparams: HyperparamsSchema.default(HyperparamsSchema.parse({})),
    /** Search ranges and strategy (random or tpe) for multi-trial runs. */
    search: SearchSchema.optional(),
    gate: GateSchema.default(GateSchema.parse({})),
    /** When to retrain besides calendar schedules: new data, live error decay, input drift. Absent: never by itself. */
    triggers: TriggersSchema.optional(),
    /** Other names jobs and routes may use for this model (a Redis job's `"model": "xgboost"`, FinCoach's `model_type`). */
    aliases: z.array(ModelNameSchema).max(20).optional(),
    /** What a start does while another run of the model holds it (common/admission.ts). Absent: `refuse`. */
    admission: AdmissionModeSchema.optional(),
    /** Priority of this model's runs, 1 (highest) to 5, in its queue and on the task queues. Absent: 3. */
    priority: RunPrioritySchema.optional(),
    /** Share of the window's time steps trained on, the newest rest being the holdout. Absent: 0.8. */
    trainShare: TrainShareSchema.optional(),
    /** /predict also appends the rows it is sent to the buffer (deduplicated like ingest). Absent: false. */
    predictFeedsBuffer: z.boolean().optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    for (const issue of shapeIssues(spec))
      ctx.addIssue({ code: 'custom', path: [issue.field], message: issue.message });
    const taskIssue = trainerOf(spec) === 'python' ? undefined : tfjsTaskIssue(spec);
    if (taskIssue && !shapeIssues(spec).some((i) => i.field === taskIssue.field))
      ctx.addIssue({ code: 'custom', path: [taskIssue.field], message: taskIssue.message });
    for (const issue of taskIssue ? [] : hyperparamsIssues(spec, spec.hyperparams))
      ctx.addIssue({ code: 'custom', path: ['hyperparams', ...issue.path], message: issue.message });
    for (const [i, architecture] of (taskIssue ? [] : (spec.search?.architecture ?? [])).entries()) {
      const issue = hyperparamsIssues(spec, { ...spec.hyperparams, architecture })[0];
      if (issue)
        ctx.addIssue({ code: 'custom', path: ['search', 'architecture', i], message: issue.message });
    }
    for (const issue of searchParamsIssues(spec))
      ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    const columns = [spec.timeColumn, spec.entityColumn];
    for (const column of spec.features) {
      if (columns.includes(column)) {
        ctx.addIssue({
          code: 'custom',
          path: ['features'],
          message: `feature ${column} is the time or entity column`,
        });
      }
    }
    if (spec.minDays > spec.windowDays) {
      ctx.addIssue({
        code: 'custom',
        path: ['minDays'],
        message: `minDays ${spec.minDays} cannot exceed windowDays ${spec.windowDays}`,
      });
    }
    const optionsIssue = inputOptionsIssue(spec, spec.hyperparams);
    if (optionsIssue)
      ctx.addIssue({
        code: 'custom',
        path: ['hyperparams', optionsIssue.field],
        message: optionsIssue.message,
      });
    if (spec.task !== 'forecast' && spec.search?.targetTransform) {
      ctx.addIssue({
        code: 'custom',
        path: ['search', 'targetTransform'],
        message: 'targetTransform is for forecasts',
      });
    }
    // Each choice of the search must be one the hyperparameters themselves could take.
    for (const field of ['targetTransform', 'calendar'] as const) {
      const issue = (spec.search?.[field] ?? [])
        .map((choice) => inputOptionsIssue(spec, { [field]: choice }))
        .find((found) => found !== undefined);
      if (issue && !(field === 'targetTransform' && spec.task !== 'forecast'))
        ctx.addIssue({ code: 'custom', path: ['search', field], message: issue.message });
    }
    const metric = spec.gate.metric;
    const scoring = TASK_METRICS[spec.task];
    if (metric !== 'auto' && !scoring.includes(metric)) {
      ctx.addIssue({
        code: 'custom',
        path: ['gate', 'metric'],
        message: `gate metric ${metric} cannot score a ${spec.task} model; use ${scoring.join(', ')} or auto`,
      });
    }
    if (new Set(spec.features).size !== spec.features.length) {
      ctx.addIssue({ code: 'custom', path: ['features'], message: 'features must be unique' });
    }
  });
export type ModelSpec = z.infer<typeof ModelSpecSchema>;
export type ModelSpecInput = z.input<typeof ModelSpecSchema>;

type SpecShape = Pick<
  ModelSpec,
  'task' | 'horizon' | 'lookback' | 'entityColumn' | 'target' | 'threshold' | 'features' | 'frequency'
>;

/**
 * What the task and horizon ask of the other fields: the entity column, a target, a threshold,
 * tabular (`horizon: 0`) rules. Specs written before tabular tasks keep their meaning and errors.
 */
export function shapeIssues(spec: SpecShape): { field: string; message: string }[] {
  const issues: { field: string; message: string }[] = [];
  const add = (field: string, message: string) => issues.push({ field, message });
  const tabular = isTabular(spec);
  if (spec.task === 'cluster') {
    if (spec.target !== undefined) add('target', 'cluster models have no target');
  } else if (spec.target === undefined) add('target', `${spec.task} models need a target`);
  if (spec.task === 'classify' && spec.threshold === undefined && !tabular)
    add('threshold', 'classify models need a threshold (multi-class classifiers are tabular: horizon 0)');
  if (spec.task !== 'classify' && spec.threshold !== undefined)
    add('threshold', `threshold is for classify models, not ${spec.task}`);
  if ((spec.task === 'regress' || spec.task === 'cluster') && !tabular)
    add('horizon', `${spec.task} models are tabular: horizon must be 0`);
  if (spec.task === 'forecast' && tabular)
    add(
      'horizon',
      'forecasts predict ahead: horizon must be at least 1 (use task regress for a label on the row)',
    );
  if (!tabular && spec.entityColumn === undefined)
    add('entityColumn', 'an entity column is needed unless the spec is tabular (horizon 0)');
  if (!tabular) return issues;
  if (spec.lookback !== 1)
    add('lookback', 'a tabular spec (horizon 0) reads the row itself: lookback must be 1');
  if (spec.target !== undefined && spec.features.includes(spec.target))
    add(
      'features',
      `the target ${spec.target} cannot be a feature of a tabular spec: it is the label on the row`,
    );
  if (spec.frequency !== undefined)
    add('frequency', 'frequency is for series; a tabular spec (horizon 0) has no steps');
  return issues;
}

/** The input options a training runs with, defaults resolved for its task and target. */
export interface InputOptions {
  normalisation: z.infer<typeof NormalisationSchema>;
  targetTransform: z.infer<typeof TargetTransformSchema>;
  calendar: CalendarFeature[];
}

type Shape = Pick<ModelSpec, 'task' | 'features' | 'target'>;

const DAY_US = 86_400e6;

/** Hyperparameters' input options with the defaults filled in (see {@link HyperparamsSchema}). */
export function inputOptions(
  shape: Shape & { frequency?: string | undefined },
  hp: Pick<Hyperparams, keyof InputOptions>,
): InputOptions {
  const forecast = shape.task === 'forecast';
  return {
    normalisation: hp.normalisation ?? (forecast ? 'entity' : 'global'),
    targetTransform:
      hp.targetTransform ??
      (forecast && shape.target !== undefined && shape.features.includes(shape.target) ? 'change' : 'level'),
    calendar: hp.calendar ?? (forecast ? calendarFor(shape.frequency) : []),
  };
}

/** The calendar features that vary, and repeat, at a frequency's step (see `calendar`). */
function calendarFor(frequency: string | undefined): CalendarFeature[] {
  if (frequency === undefined) return [];
  const step = frequencyUs(frequency);
  if (step < DAY_US) return ['hourOfDay', 'dayOfWeek'];
  if (step < 7 * DAY_US) return ['dayOfWeek', 'monthOfYear'];
  return [];
}

/** Why these options cannot train this shape (the offending field and a message), or undefined. */
export function inputOptionsIssue(
  shape: Shape,
  hp: Pick<Hyperparams, keyof InputOptions>,
): { field: keyof InputOptions; message: string } | undefined {
  if (hp.targetTransform === 'change' && shape.task !== 'forecast')
    return { field: 'targetTransform', message: 'targetTransform change is for forecasts' };
  if (
    hp.targetTransform === 'change' &&
    (shape.target === undefined || !shape.features.includes(shape.target))
  )
    return {
      field: 'targetTransform',
      message: `a change target needs the target ${shape.target ?? '(none)'} among the features`,
    };
  if (hp.calendar && new Set(hp.calendar).size !== hp.calendar.length)
    return { field: 'calendar', message: 'calendar features must be unique' };
  return undefined;
}

/** The metric a gate of `metric` decides on for `entities` series of a `task` model. */
export function resolveGateMetric(
  metric: GateMetric | undefined,
  task: Task,
  entities: number,
): Exclude<GateMetric, 'auto'> {
  if (metric !== undefined && metric !== 'auto') return metric;
  if (task === 'classify') return 'f1';
  if (task === 'regress') return 'mae';
  if (task === 'cluster') return 'silhouette';
  return entities > 1 ? 'mase' : 'mae';
}

/** Metrics where a higher figure is the better one; every other metric is an error (lower is better). */
const HIGHER_IS_BETTER = ['f1', 'auc', 'accuracy', 'precision', 'recall', 'r2', 'spearman', 'silhouette'];

/** Whether a lower figure of a gate metric is the better one (errors, log loss), or a higher (scores). */
export function lowerIsBetter(metric: string): boolean {
  return !HIGHER_IS_BETTER.includes(metric);
}
