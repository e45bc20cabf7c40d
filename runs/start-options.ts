import type { WorkflowStartOptions } from '@temporalio/client';
import { ModelNameAttribute } from '../common/messages';
import type { RetrainRequest } from '../common/retrain';
import type { retrainWorkflow } from '../workflows';

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
