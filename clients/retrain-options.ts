import type { ParseArgsConfig } from 'node:util';
import type { WorkflowStartOptions } from '@temporalio/client';
import { formatIssues } from '../common/format-issues';
import { ModelNameAttribute } from '../common/messages';
import { RetrainInputSchema, type RetrainRequest } from '../common/retrain';
import type { retrainWorkflow } from '../workflows';
import { UsageError } from './output';

/** Flags shared by `start` and `schedule create`: they describe one retrain run. */
export const RETRAIN_FLAGS = {
  model: { type: 'string' },
  epochs: { type: 'string' },
  trials: { type: 'string' },
  'window-days': { type: 'string' },
  'min-records': { type: 'string' },
  'no-incremental': { type: 'boolean', default: false },
  'reload-target': { type: 'string', multiple: true },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

export const RETRAIN_FLAGS_USAGE =
  '--model <m> [--epochs n] [--trials n] [--window-days n] [--min-records n] [--no-incremental] [--reload-target url]...';

type RetrainFlagValues = {
  [K in keyof typeof RETRAIN_FLAGS]?: (typeof RETRAIN_FLAGS)[K] extends { multiple: true }
    ? string[]
    : (typeof RETRAIN_FLAGS)[K] extends { type: 'boolean' }
      ? boolean
      : string;
};

/** Validates the flags into a workflow input; the error names each bad flag's field. */
export function parseRetrainFlags(values: RetrainFlagValues): RetrainRequest {
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const parsed = RetrainInputSchema.safeParse({
    model: values.model,
    epochs: num(values.epochs),
    trials: num(values.trials),
    windowDays: num(values['window-days']),
    minRecords: num(values['min-records']),
    incremental: !values['no-incremental'],
    reloadTargets: values['reload-target'],
  });
  if (!parsed.success) throw new UsageError(`invalid retrain options: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

/** How every retrain run is started, by hand or by a schedule: queue, search attribute, Web UI texts. */
export function retrainStartOptions(
  input: RetrainRequest,
  origin: string,
  taskQueue: string,
): Pick<
  WorkflowStartOptions<typeof retrainWorkflow>,
  'taskQueue' | 'args' | 'typedSearchAttributes' | 'staticSummary' | 'staticDetails'
> {
  return {
    taskQueue,
    args: [input],
    typedSearchAttributes: [{ key: ModelNameAttribute, value: input.model }],
    staticSummary: `Retrain ${input.model} (${origin})`,
    staticDetails: `Retrain **${input.model}** (${origin}): export, train, validate, register, reload.\n\n\`\`\`json\n${JSON.stringify(input, null, 2)}\n\`\`\``,
  };
}

/** `retrain-<model>-<UTC timestamp>`, e.g. retrain-flight-delay-20261123T140512Z: the id of a run started on request. */
export function workflowIdFor(model: string, now = new Date()): string {
  return `retrain-${model}-${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
}
