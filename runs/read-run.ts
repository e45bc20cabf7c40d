import {
  ApplicationFailure,
  defaultPayloadConverter,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import { TrainHeartbeatSchema, type TrainHeartbeat } from '../common/heartbeat';
import { progressQuery } from '../common/messages';
import type { RetrainProgress, RetrainResult, RunFailure } from '../common/retrain';
import { RunNotFoundError } from './errors';
import { isGoing, summarize, type RunSummary } from './run-state';

/** Events in the history of a run no worker has taken up yet: WorkflowExecutionStarted, WorkflowTaskScheduled. */
const UNSTARTED_HISTORY_LENGTH = 2;
/** How long `readRun` waits for a running run's progress query. */
const QUERY_DEADLINE_MS = 3000;

/** Why a failed run failed: its root cause (type, message, details) and the whole cause chain. */
export interface FailureReport extends Partial<Pick<RunFailure, 'stage'>> {
  type: string;
  message: string;
  details?: unknown;
  /** Each failure of the chain, outermost first, as `Type: message`. */
  chain: string[];
}

/** Everything known about one run: what visibility says, live progress, the result or the failure. */
export interface RunStatus extends RunSummary {
  /** The workflow's progress query; null when the run has ended or no worker answers. */
  progress: RetrainProgress | null;
  /** Latest heartbeat of a running training: batch-level progress between epoch signals. */
  training: TrainHeartbeat | null;
  /** Latest heartbeat of every running training (one per trial of a multi-trial run). */
  trainings: TrainHeartbeat[];
  result?: RetrainResult;
  failure?: FailureReport;
}

/** Reads one retrain run; throws {@link RunNotFoundError} for an unknown id or another workflow type. */
export async function readRun(client: Client, workflowId: string, runId?: string): Promise<RunStatus> {
  const handle = client.workflow.getHandle(workflowId, runId);
  const description = await describeRun(handle);
  const summary = summarize(description);
  const trainings = trainingHeartbeats(description.raw.pendingActivities ?? []);
  const status: RunStatus = {
    ...summary,
    progress:
      // A run whose first workflow task no worker has taken (history: started, task scheduled) cannot answer.
      isGoing(summary.status) && description.historyLength > UNSTARTED_HISTORY_LENGTH
        ? await client
            // A run no worker has picked up cannot answer: say so quickly rather than wait for one.
            .withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(progressQuery))
            .catch(() => null)
        : null,
    training: trainings[0] ?? null,
    trainings,
  };
  if (summary.temporalStatus === 'COMPLETED') status.result = (await handle.result()) as RetrainResult;
  if (summary.status === 'failed' || summary.status === 'timedOut' || summary.status === 'terminated')
    status.failure = await failureOf(handle, summary);
  return status;
}

/** `describe()` of a retrain run; {@link RunNotFoundError} for an unknown id or another workflow type. */
export async function describeRun(handle: WorkflowHandle): Promise<WorkflowExecutionDescription> {
  const description = await handle.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError)
      throw new RunNotFoundError(`no retrain run with id ${handle.workflowId}`);
    throw err;
  });
  if (description.type !== 'retrainWorkflow')
    throw new RunNotFoundError(`${handle.workflowId} is a ${description.type}, not a retrain run`);
  return description;
}

function trainingHeartbeats(
  pending: {
    activityType?: { name?: string | null } | null;
    heartbeatDetails?: { payloads?: unknown[] | null } | null;
  }[],
): TrainHeartbeat[] {
  const beats: TrainHeartbeat[] = [];
  for (const activity of pending) {
    if (activity.activityType?.name !== 'trainModel') continue;
    const payload = activity.heartbeatDetails?.payloads?.[0];
    if (!payload) continue;
    const parsed = TrainHeartbeatSchema.safeParse(defaultPayloadConverter.fromPayload(payload as never));
    if (parsed.success) beats.push(parsed.data);
  }
  return beats;
}

/** The failure of a closed run, from its close event: the run's own failure first, then the chain. */
async function failureOf(handle: WorkflowHandle, summary: RunSummary): Promise<FailureReport> {
  const recorded = summary.outcome?.failure;
  const err = await handle.result().then(
    () => new Error('the run ended without a failure'),
    (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
  );
  const chain: string[] = [];
  // WorkflowFailedError only says "Workflow execution failed"; the story starts at its cause.
  for (let e: unknown = err.cause ?? err; e instanceof Error; e = e.cause)
    chain.push(`${typeName(e)}: ${e.message}`);
  // retrainWorkflow fails with the stage and the root cause in its own failure.
  const top = err.cause instanceof Error ? err.cause : err;
  const details = top instanceof ApplicationFailure ? top.details?.[0] : recorded?.details;
  return {
    ...(recorded ? { stage: recorded.stage } : {}),
    type: recorded?.type ?? typeName(top),
    message: top.message,
    ...(details === undefined ? {} : { details }),
    chain,
  };
}

function typeName(e: Error): string {
  return e instanceof ApplicationFailure && e.type ? e.type : e.name;
}
