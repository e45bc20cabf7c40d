import { z } from 'zod';
import { formatIssues } from '../common/format-issues';
import { ModelNameSchema } from '../common/model-spec';
import { RunPrioritySchema } from '../common/admission';
import { RetrainInputSchema, type RetrainRequest } from '../common/retrain';

/** The longest number field a job may carry: far more than any parameter needs. */
const MAX_NUMBER_LENGTH = 32;

/**
 * A number as a stream field carries it: a string. Its length is checked before the pattern runs
 * (`pipe` stops at the first failure), and the pattern has one way to match each digit, so a huge or
 * hostile field is refused at once instead of stalling the bridge.
 */
const numeric = (schema: z.ZodNumber) =>
  z
    .string()
    .trim()
    .max(MAX_NUMBER_LENGTH, { message: `must be a number of at most ${MAX_NUMBER_LENGTH} characters` })
    .pipe(z.string().regex(/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/, { message: 'must be a number' }))
    .transform(Number)
    .pipe(schema);

/** The producer's own fields: not parameters of the run, echoed as its `labels` in every event. */
export const JOB_LABEL_FIELDS = ['job_id', 'timestamp', 'source', 'requested_by'] as const;

/**
 * A retrain job as the retraining worker receives it from `quantum:stream:model.retrain`: every
 * field a string. `model` is a model's name or one of its `aliases`. Fields beyond these (a typo, a
 * parameter we do not have) make the job invalid; {@link JOB_LABEL_FIELDS} are carried along.
 */
export const RedisJobSchema = z
  .object({
    model: ModelNameSchema,
    learning_rate: numeric(z.number().positive().max(1)).optional(),
    optimizer: z.enum(['adam', 'sgd', 'rmsprop']).optional(),
    epochs: numeric(z.number().int().min(1).max(10000)).optional(),
    batch_size: numeric(z.number().int().min(1).max(65536)).optional(),
    hidden_units: numeric(z.number().int().min(1).max(4096)).optional(),
    trials: numeric(z.number().int().min(1).max(64)).optional(),
    window_days: numeric(z.number().int().min(1).max(3650)).optional(),
    incremental: z.enum(['true', 'false']).optional(),
    /** 1 (highest) to 5, its place in the model's queue while another run holds the model. */
    priority: numeric(RunPrioritySchema).optional(),
    job_id: z.string().max(200).optional(),
    timestamp: z.string().max(100).optional(),
    source: z.string().max(200).optional(),
    requested_by: z.string().max(200).optional(),
  })
  .strict();

/** A stream entry's flat `[field, value, field, value, ...]` as an object. */
export function fieldsOf(flat: string[]): Record<string, string> {
  // Own properties only: a field named `__proto__` is a field (the schema refuses it), not a prototype.
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i] as string, flat[i + 1] as string]);
  return Object.fromEntries(pairs);
}

/** The producer's fields of a job (valid or not), as run labels. */
export function jobLabels(fields: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    JOB_LABEL_FIELDS.flatMap((name) => (typeof fields[name] === 'string' ? [[name, fields[name]]] : [])),
  );
}

/**
 * The job as a workflow input (hyperparameters as overrides, the producer's fields as `labels`,
 * queued behind a run that holds its model), or the reason it is not one. `model` is still the
 * job's: the bridge resolves an alias.
 */
export function jobToInput(fields: Record<string, string>): { input: RetrainRequest } | { invalid: string } {
  const job = RedisJobSchema.safeParse(fields);
  if (!job.success) return { invalid: `invalid job: ${formatIssues(job.error)}` };
  const j = job.data;
  const hyperparams = {
    ...(j.learning_rate !== undefined ? { learningRate: j.learning_rate } : {}),
    ...(j.optimizer !== undefined ? { optimizer: j.optimizer } : {}),
    ...(j.batch_size !== undefined ? { batchSize: j.batch_size } : {}),
    ...(j.hidden_units !== undefined ? { hiddenUnits: j.hidden_units } : {}),
  };
  const input = RetrainInputSchema.safeParse({
    model: j.model,
    ...(j.epochs !== undefined ? { epochs: j.epochs } : {}),
    ...(j.trials !== undefined ? { trials: j.trials } : {}),
    ...(j.window_days !== undefined ? { windowDays: j.window_days } : {}),
    ...(j.incremental !== undefined ? { incremental: j.incremental === 'true' } : {}),
    ...(Object.keys(hyperparams).length ? { hyperparams } : {}),
    admission: 'queue',
    ...(j.priority !== undefined ? { priority: j.priority } : {}),
    ...(Object.keys(jobLabels(fields)).length ? { labels: jobLabels(fields) } : {}),
  });
  if (!input.success) return { invalid: `invalid job: ${formatIssues(input.error)}` };
  return { input: input.data };
}
