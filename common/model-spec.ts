import { z } from 'zod';

/** Lowercase slug: safe as a store key segment, a workflow id part and a directory name. */
export const ModelNameSchema = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, {
  message: 'model name must be a lowercase slug: a-z, 0-9 and inner dashes, 1 to 63 characters',
});

/** Column names end up in SQL, so only plain identifiers are accepted. */
export const ColumnNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, {
  message: 'column names must be identifiers ([A-Za-z_][A-Za-z0-9_]*)',
});

export const TaskSchema = z.enum(['forecast', 'classify']);
export type Task = z.infer<typeof TaskSchema>;

/** Which architectures each task can train (ml/trainers.ts implements exactly these). */
export const ARCHITECTURES = { forecast: ['mlp', 'lstm'], classify: ['logistic', 'mlp'] } as const;

/** Why `architecture` cannot train `task`, or undefined when it can; shared by spec and input checks. */
export function architectureIssue(task: Task, architecture: string): string | undefined {
  const allowed: readonly string[] = ARCHITECTURES[task];
  return allowed.includes(architecture)
    ? undefined
    : `architecture ${architecture} cannot train a ${task} model; use one of ${allowed.join(', ')}`;
}

export const HyperparamsSchema = z
  .object({
    architecture: z.enum(['mlp', 'lstm', 'logistic']).default('mlp'),
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
 * Ranges for random search. Not the loss: trials are ranked by validation loss, which is only
 * comparable between trials that minimise the same loss.
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
  })
  .strict();
export type Search = z.infer<typeof SearchSchema>;

export const GateSchema = z
  .object({
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
    timeColumn: ColumnNameSchema,
    entityColumn: ColumnNameSchema,
    features: z.array(ColumnNameSchema).min(1).max(256),
    target: ColumnNameSchema,
    /** Classifiers predict `target > threshold` at the horizon. */
    threshold: z.number().optional(),
    horizon: z.number().int().min(1).max(1000).default(1),
    lookback: z.number().int().min(1).max(1000).default(6),
    windowDays: z.number().int().min(1).max(3650).default(28),
    minRecords: z.number().int().min(1).default(1000),
    /** Distinct UTC days with records that the window must hold too; 1 checks records alone. */
    minDays: z.number().int().min(1).max(3650).default(1),
    epochs: z.number().int().min(1).max(10000).default(10),
    hyperparams: HyperparamsSchema.default(HyperparamsSchema.parse({})),
    /** Random-search ranges for multi-trial runs. */
    search: SearchSchema.optional(),
    gate: GateSchema.default(GateSchema.parse({})),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.task === 'classify' && spec.threshold === undefined) {
      ctx.addIssue({ code: 'custom', path: ['threshold'], message: 'classify models need a threshold' });
    }
    const archIssue = architectureIssue(spec.task, spec.hyperparams.architecture);
    if (archIssue)
      ctx.addIssue({ code: 'custom', path: ['hyperparams', 'architecture'], message: archIssue });
    for (const [i, architecture] of (spec.search?.architecture ?? []).entries()) {
      const issue = architectureIssue(spec.task, architecture);
      if (issue) ctx.addIssue({ code: 'custom', path: ['search', 'architecture', i], message: issue });
    }
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
    if (new Set(spec.features).size !== spec.features.length) {
      ctx.addIssue({ code: 'custom', path: ['features'], message: 'features must be unique' });
    }
  });
export type ModelSpec = z.infer<typeof ModelSpecSchema>;
export type ModelSpecInput = z.input<typeof ModelSpecSchema>;
