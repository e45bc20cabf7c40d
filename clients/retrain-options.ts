import type { Command, OptionValues } from '@commander-js/extra-typings';
import { formatIssues } from '../common/format-issues';
import { RetrainInputSchema, type RetrainRequest } from '../common/retrain';
import { UsageError } from './output';

/** The options {@link addRetrainOptions} adds, as commander parses them (numbers still as typed). */
export interface RetrainOptionValues {
  model: string;
  epochs?: string;
  trials?: string;
  windowDays?: string;
  minRecords?: string;
  /** False with --no-incremental. */
  incremental: boolean;
  reloadTarget?: string[];
  admission?: string;
  priority?: string;
}

/** Adds the options shared by `start` and `schedule create` to `command`: they describe one retrain run. */
export function addRetrainOptions<
  Args extends unknown[],
  Opts extends OptionValues,
  Globals extends OptionValues,
>(command: Command<Args, Opts, Globals>) {
  return command
    .requiredOption('--model <m>', 'the model to retrain')
    .option('--epochs <n>', "training epochs (default: the spec's epochs)")
    .option('--trials <n>', 'hyperparameter trials, the best one wins (default: 1)')
    .option('--window-days <n>', "days of buffered data to train on (default: the spec's windowDays)")
    .option('--min-records <n>', "fewest records a run trains on (default: the spec's minRecords)")
    .option('--no-incremental', 'train from scratch instead of warm-starting from production')
    .option(
      '--admission <mode>',
      "while another run holds the model: refuse, or queue and start in turn (default: the spec's admission, else refuse)",
    )
    .option('--priority <n>', "1 (highest) to 5, the queue's order (default: the spec's priority, else 3)")
    .option(
      '--reload-target <url>',
      'an inference server to reload, repeatable (default: RETRAIN_SERVING_URLS)',
      (url: string, previous: string[] | undefined) => [...(previous ?? []), url],
    );
}

/** Validates the options into a workflow input; the error names each bad option's field. */
export function parseRetrainFlags(values: RetrainOptionValues): RetrainRequest {
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const parsed = RetrainInputSchema.safeParse({
    model: values.model,
    epochs: num(values.epochs),
    trials: num(values.trials),
    windowDays: num(values.windowDays),
    minRecords: num(values.minRecords),
    incremental: values.incremental,
    reloadTargets: values.reloadTarget,
    admission: values.admission,
    priority: num(values.priority),
  });
  if (!parsed.success) throw new UsageError(`invalid retrain options: ${formatIssues(parsed.error)}`);
  return parsed.data;
}
