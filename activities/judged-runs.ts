import { Context } from '@temporalio/activity';
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { OUTCOME_MEMO, type RetrainRequest, type RunOutcome } from '../common/retrain';
import type { TriggerFigures } from '../common/triggers';

/** A retrain run that judged the model's data: it ended completed or rejected (not refused). */
export interface JudgedRunRecord {
  workflowId: string;
  status: 'completed' | 'rejected';
  /** When it ended. */
  closedAt: string;
  /** Why it was rejected: `gate` or `insufficientData`. */
  rejection?: 'gate' | 'insufficientData';
  /** The figures its trigger check started it on; absent for runs started otherwise. */
  triggeredOn?: { figures?: TriggerFigures };
}

/**
 * The model's latest judging runs, newest end first, at most `limit`; `lastTriggered`, the run the
 * model's last check started, is among them once it ended so, even before visibility lists it.
 */
export type JudgedRuns = (model: string, limit: number, lastTriggered?: string) => Promise<JudgedRunRecord[]>;

/**
 * {@link JudgedRuns} from Temporal, through the calling activity's client: runs that ended Completed
 * (completed or rejected results), as their `outcome` and `input` memos recorded them. Visibility
 * lists closed runs by close time, newest first, moments after they close; the last triggered run is
 * described directly, so a check right after it ended does not miss it.
 */
export const judgedRunsOfTemporal: JudgedRuns = async (model, limit, lastTriggered) => {
  const { client } = Context.current();
  // `model` is a validated slug: it cannot break the quotes.
  const query = `WorkflowType = 'retrainWorkflow' AND ModelName = '${model}' AND ExecutionStatus = 'Completed'`;
  const found: JudgedRunRecord[] = [];
  for await (const run of client.workflow.list({ query, pageSize: limit * 2 })) {
    const judged = judgedRun(run);
    if (judged) found.push(judged);
    if (found.length >= limit) break;
  }
  if (lastTriggered && !found.some((r) => r.workflowId === lastTriggered)) {
    const described = await client.workflow
      .getHandle(lastTriggered)
      .describe()
      .catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      });
    const judged = described && judgedRun(described);
    if (judged && (!found[0] || judged.closedAt >= found[0].closedAt))
      return [judged, ...found].slice(0, limit);
  }
  return found;
};

/** The run as a judging run; undefined when it did not judge the data (running, refused, failed, cancelled). */
function judgedRun(
  run: Pick<WorkflowExecutionInfo, 'workflowId' | 'status' | 'memo' | 'closeTime' | 'startTime'>,
): JudgedRunRecord | undefined {
  if (run.status.name !== 'COMPLETED') return undefined;
  const outcome = run.memo?.[OUTCOME_MEMO] as RunOutcome | undefined;
  const rejection = outcome?.rejection?.kind;
  // A refused run saw no data: another run held the model.
  if (!outcome || rejection === 'modelBusy') return undefined;
  if (outcome.status !== 'completed' && outcome.status !== 'rejected') return undefined;
  const trigger = (run.memo?.input as RetrainRequest | undefined)?.trigger;
  return {
    workflowId: run.workflowId,
    status: outcome.status,
    closedAt: (run.closeTime ?? run.startTime).toISOString(),
    ...(rejection ? { rejection } : {}),
    ...(trigger ? { triggeredOn: trigger.figures ? { figures: trigger.figures } : {} } : {}),
  };
}
