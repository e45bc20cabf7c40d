import { z } from 'zod';
import { formatIssues } from '../common/format-issues';
import { ModelNameSchema } from '../common/model-spec';
import { RetrainInputSchema, type RetrainRequest } from '../common/retrain';

/** The two models a job trains, in order: the table's `current_model` names them. */
export const SIDES = ['LONG', 'SHORT'] as const;
export type Side = (typeof SIDES)[number];

/** A `training_jobs` row as the bridge reads it (the seed's schema; columns it does not read aside). */
export const JobRowSchema = z.object({
  id: z.number().int(),
  timeframe: z.string(),
  n_trials: z.number().nullable(),
  train_ratio: z.number().nullable(),
  status: z.string().nullable(),
  requested_at: z.string(),
});
export type JobRow = z.infer<typeof JobRowSchema>;

/** The models of one timeframe: `15m=btc-long-15m:btc-short-15m`. */
export type TimeframeModels = Record<Side, string>;

/** The schema's defaults for a row that names no `n_trials` / `train_ratio`. */
const SEED_DEFAULTS = { n_trials: 30, train_ratio: 0.8 };

const TimeframeArgSchema = z
  .string()
  .regex(/^[^=\s]+=[^:\s]+:[^:\s]+$/, { message: 'expected <timeframe>=<longModel>:<shortModel>' })
  .transform((arg) => {
    const [timeframe, models] = arg.split('=') as [string, string];
    const [LONG, SHORT] = models.split(':') as [string, string];
    return { timeframe, LONG, SHORT };
  })
  .pipe(z.object({ timeframe: z.string(), LONG: ModelNameSchema, SHORT: ModelNameSchema }));

/**
 * The `--timeframe` arguments (each may hold several, comma-separated) as a map, or the reason they
 * are not one: a malformed argument, a model name that is not one, a timeframe named twice.
 */
export function parseTimeframes(args: string[]): Map<string, TimeframeModels> | { invalid: string } {
  const map = new Map<string, TimeframeModels>();
  for (const arg of args
    .flatMap((a) => a.split(','))
    .map((a) => a.trim())
    .filter(Boolean)) {
    const parsed = TimeframeArgSchema.safeParse(arg);
    if (!parsed.success) return { invalid: `--timeframe ${arg}: ${formatIssues(parsed.error)}` };
    const { timeframe, LONG, SHORT } = parsed.data;
    if (map.has(timeframe)) return { invalid: `--timeframe ${timeframe} is mapped twice` };
    map.set(timeframe, { LONG, SHORT });
  }
  if (map.size === 0) return { invalid: 'no --timeframe <tf>=<longModel>:<shortModel> given' };
  return map;
}

/** A job's two runs, long first, or the reason it cannot run (written to the row's `error`). */
export type JobPlan = { runs: { side: Side; input: RetrainRequest }[]; nTrials: number } | { error: string };

/**
 * The runs of a job: per side, its timeframe's model with `n_trials` trials, `train_ratio` as the
 * train share and the job's id and timeframe as labels. Queued behind another run of the model rather
 * than refused, as the daemon's table queued jobs.
 */
export function planJob(job: JobRow, timeframes: Map<string, TimeframeModels>): JobPlan {
  const models = timeframes.get(job.timeframe);
  if (!models)
    return {
      error: `no models for timeframe ${JSON.stringify(job.timeframe)}: this bridge maps ${[...timeframes.keys()].join(', ')} (retrain bridge sqlite --timeframe <tf>=<longModel>:<shortModel>)`,
    };
  const nTrials = job.n_trials ?? SEED_DEFAULTS.n_trials;
  const trainShare = job.train_ratio ?? SEED_DEFAULTS.train_ratio;
  const runs = [];
  for (const side of SIDES) {
    const input = RetrainInputSchema.safeParse({
      model: models[side],
      trials: nTrials,
      trainShare,
      admission: 'queue',
      labels: { training_job_id: String(job.id), timeframe: job.timeframe, side },
    });
    if (!input.success)
      return {
        error: `invalid job: ${formatIssues(input.error)
          .replace(/\btrials\b/, 'n_trials')
          .replace(/\btrainShare\b/, 'train_ratio')}`,
      };
    runs.push({ side, input: input.data });
  }
  return { runs, nTrials };
}
