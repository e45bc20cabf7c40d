import type { WorkflowStartOptions } from '@temporalio/client';
import { ModelNameAttribute } from '../common/messages';
import type { RetrainRequest } from '../common/retrain';
import { runTexts } from '../common/run-naming';
import { taskPriority } from '../common/task-priority';
import { workflowIdFor } from '../common/workflow-ids';
import type { retrainWorkflow } from '../workflows';

/** How every retrain run is started, by hand or by a schedule: queue, priority, search attribute, Web UI texts. */
export function retrainStartOptions(
  input: RetrainRequest,
  origin: string,
  taskQueue: string,
): Pick<
  WorkflowStartOptions<typeof retrainWorkflow>,
  'taskQueue' | 'args' | 'typedSearchAttributes' | 'staticSummary' | 'staticDetails' | 'priority'
> {
  return {
    taskQueue,
    // Its workflow tasks (and activities until the run reads its spec) at the run's task priority.
    priority: taskPriority({ model: input.model, priority: input.priority }),
    args: [input],
    typedSearchAttributes: [{ key: ModelNameAttribute, value: input.model }],
    ...runTexts(input, origin),
  };
}

export { workflowIdFor };
