import { Context } from '@temporalio/activity';
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

/** The model's latest judging runs, newest end first, at most `limit`. */
export type JudgedRuns = (model: string, limit: number) => Promise<JudgedRunRecord[]>;

/**
 * {@link JudgedRuns} from Temporal's visibility, through the calling activity's client: runs that
 * ended Completed (completed or rejected results), as their `outcome` and `input` memos recorded them.
 * Visibility lists closed runs by close time, newest first.
 */
export const judgedRunsOfTemporal: JudgedRuns = async (model, limit) => {
  const { client } = Context.current();
  // `model` is a validated slug: it cannot break the quotes.
  const query = `WorkflowType = 'retrainWorkflow' AND ModelName = '${model}' AND ExecutionStatus = 'Completed'`;
  const found: JudgedRunRecord[] = [];
  for await (const run of client.workflow.list({ query, pageSize: limit * 2 })) {
    const outcome = run.memo?.[OUTCOME_MEMO] as RunOutcome | undefined;
    const rejection = outcome?.rejection?.kind;
    // A refused run saw no data: another run held the model.
    if (!outcome || rejection === 'modelBusy') continue;
    if (outcome.status !== 'completed' && outcome.status !== 'rejected') continue;
    const trigger = (run.memo?.input as RetrainRequest | undefined)?.trigger;
    found.push({
      workflowId: run.workflowId,
      status: outcome.status,
      closedAt: (run.closeTime ?? run.startTime).toISOString(),
      ...(rejection ? { rejection } : {}),
      ...(trigger ? { triggeredOn: trigger.figures ? { figures: trigger.figures } : {} } : {}),
    });
    if (found.length >= limit) break;
  }
  return found;
};
