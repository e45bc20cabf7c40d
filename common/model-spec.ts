import { z } from 'zod';

/** Lowercase slug: safe as a store key segment, a workflow id part and a directory name. */
export const ModelNameSchema = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, {
  message: 'model name must be a lowercase slug: a-z, 0-9 and inner dashes, 1 to 63 characters',
});

/** Column names end up in SQL, so only plain identifiers are accepted. */
export const ColumnNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, {
  message: 'column names must be identifiers ([A-Za-z_][A-Za-z0-9_]*)',
});

export const HyperparamsSchema = z
  .object({
    architecture: z.enum(['mlp', 'lstm', 'logistic']).default('mlp'),
    learningRate: z.number().positive().max(1).default(0.003),
    optimizer: z.enum(['adam', 'sgd', 'rmsprop']).default('adam'),
    batchSize: z.number().int().min(1).max(65536).default(256),
    hiddenUnits: z.number().int().min(1).max(4096).default(32),
    dropout: z.number().min(0).max(0.9).default(0),
    seed: z.number().int().min(0).default(42),
  })
  .strict();
export type Hyperparams = z.infer<typeof HyperparamsSchema>;

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
    task: z.enum(['forecast', 'classify']),
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
    epochs: z.number().int().min(1).max(10000).default(10),
    hyperparams: HyperparamsSchema.default(HyperparamsSchema.parse({})),
    gate: GateSchema.default(GateSchema.parse({})),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.task === 'classify' && spec.threshold === undefined) {
      ctx.addIssue({ code: 'custom', path: ['threshold'], message: 'classify models need a threshold' });
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
    if (new Set(spec.features).size !== spec.features.length) {
      ctx.addIssue({ code: 'custom', path: ['features'], message: 'features must be unique' });
    }
  });
export type ModelSpec = z.infer<typeof ModelSpecSchema>;
export type ModelSpecInput = z.input<typeof ModelSpecSchema>;
