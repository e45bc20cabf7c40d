import type { WorkflowExecutionInfo } from '@temporalio/client';
import { ModelNameAttribute, RetrainStageAttribute } from '../common/messages';
import type { QueuePlace } from '../common/admission';
import { OUTCOME_MEMO, QUEUE_MEMO, type RetrainRequest, type RunOutcome } from '../common/retrain';

/** How a run stands, in one word every surface uses: the workflow's own outcome, or Temporal's. */
export type RunState =
  | 'queued'
  | 'running'
  | 'completed'
  | 'rejected'
  | 'cancelled'
  | 'failed'
  | 'terminated'
  | 'timedOut'
  | 'continuedAsNew';

/** Whether a run has yet to end: running, or waiting in its model's queue. */
export function isGoing(status: RunState): boolean {
  return status === 'running' || status === 'queued';
}

/** One retrain run as visibility and `describe` know it, without replaying it. */
export interface RunSummary {
  workflowId: string;
  runId: string;
  status: RunState;
  /** Temporal's execution status: RUNNING, COMPLETED, CANCELLED, FAILED, TERMINATED, TIMED_OUT. */
  temporalStatus: string;
  model: string | null;
  /** RetrainStage: the running stage, or the outcome once done (`refused` for a run another run's lease turned away); a failed run keeps the stage it failed in. */
  stage: string | null;
  startTime: string;
  closeTime: string | null;
  /** The run's input, as it recorded it (absent for a run that failed validating it). */
  input: RetrainRequest | null;
  /** The run's final record (see RunOutcome); null while it runs. */
  outcome: RunOutcome | null;
  /** While `queued`: its place in its model's queue. */
  queue: QueuePlace | null;
}

const BY_TEMPORAL_STATUS: Record<string, RunState> = {
  RUNNING: 'running',
  CANCELLED: 'cancelled',
  FAILED: 'failed',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timedOut',
  CONTINUED_AS_NEW: 'continuedAsNew',
};

/** Reads what a run wrote about itself (search attributes, memo) from a describe or list entry. */
export function summarize(info: Omit<WorkflowExecutionInfo, 'raw'>): RunSummary {
  const outcome = (info.memo?.[OUTCOME_MEMO] as RunOutcome | undefined) ?? null;
  const stage = info.typedSearchAttributes.get(RetrainStageAttribute) ?? null;
  const temporalStatus = info.status.name;
  const status: RunState =
    temporalStatus === 'COMPLETED'
      ? outcome?.status === 'rejected' || stage === 'rejected' || stage === 'refused'
        ? 'rejected'
        : 'completed'
      : temporalStatus === 'RUNNING' && stage === 'queued'
        ? 'queued'
        : (BY_TEMPORAL_STATUS[temporalStatus] ?? 'failed');
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    status,
    temporalStatus,
    model: info.typedSearchAttributes.get(ModelNameAttribute) ?? null,
    stage,
    startTime: info.startTime.toISOString(),
    closeTime: info.closeTime?.toISOString() ?? null,
    input: (info.memo?.input as RetrainRequest | undefined) ?? null,
    outcome: isGoing(status) ? null : outcome,
    queue: status === 'queued' ? ((info.memo?.[QUEUE_MEMO] as QueuePlace | undefined) ?? null) : null,
  };
}
