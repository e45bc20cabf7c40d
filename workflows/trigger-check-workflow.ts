import {
  ParentClosePolicy,
  setCurrentDetails,
  startChild,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ModelNameAttribute } from '../common/messages';
import type { RetrainInput } from '../common/retrain';
import { runTexts } from '../common/run-naming';
import { triggeredWorkflowId } from '../common/workflow-ids';
import { evaluateTriggers, type TriggerEvaluation } from '../common/triggers';
import { cpuActivities } from './cpu-activities';
import { eventEmitter } from './event-emitter';
import { leaseHolder } from './lease';
import { retrainWorkflow } from './retrain-workflow';

const cpu = cpuActivities();

/** The memo key of a check's evaluation, for lists that do not replay its history. */
export const EVALUATION_MEMO = 'evaluation';

/**
 * One evaluation of a model's triggers, as its `retrain-monitor-<model>` schedule starts it every
 * `checkEvery`: measure, decide (common/triggers), start `retrainWorkflow` when a trigger fired and
 * neither a back-off after rejected runs, a running run nor the cool-down holds it back, record the
 * evaluation. (Histories recorded before the back-off measured no rejected runs: they decide as then.) The run is a child
 * the check abandons, with an id fixed by the check's own start: a check replayed on another worker
 * after its first one died finds the start in its history, and does not start a second run.
 */
export async function triggerCheckWorkflow({ model }: { model: string }): Promise<TriggerEvaluation> {
  const { workflowId, runId: checkRunId, taskQueue, startTime } = workflowInfo();
  const measured = await cpu.measureTriggers({ model });
  const running = measured.triggers ? await leaseHolder(model) : undefined;
  const verdict = evaluateTriggers(model, measured.triggers, measured.figures, {
    now: new Date(),
    running: running === null ? `another run (its lease did not answer)` : running,
    lastRun: measured.lastRun,
    rejected: measured.rejected,
  });
  const evaluation: TriggerEvaluation = { ...verdict, checkWorkflowId: workflowId };
  if (evaluation.decision === 'started') {
    // The check's start and the random end of its run id: two checks in one second differ.
    const runId = triggeredWorkflowId(model, startTime, checkRunId);
    const kinds = evaluation.checks.filter((c) => c.fired).map((c) => c.kind);
    const input: RetrainInput = {
      model,
      trigger: { kinds, reason: evaluation.reason, checkWorkflowId: workflowId, figures: measured.figures },
    };
    try {
      await startChild(retrainWorkflow, {
        workflowId: runId,
        taskQueue,
        args: [input],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        typedSearchAttributes: [{ key: ModelNameAttribute, value: model }],
        ...runTexts(input, `trigger: ${kinds.join(', ')}`),
      });
    } catch (err) {
      // Only this check makes this id: it is already this check's run.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    evaluation.workflowId = runId;
  }
  await cpu.recordEvaluation(evaluation);
  const events = eventEmitter(model);
  events.emit('retrain.trigger.evaluated', { ...evaluation });
  await events.flush();
  upsertMemo({ [EVALUATION_MEMO]: evaluation });
  setCurrentDetails(renderEvaluation(evaluation));
  return evaluation;
}

function renderEvaluation(e: TriggerEvaluation): string {
  const lines = [`**${e.model}**: ${e.reason}`, ''];
  for (const c of e.checks)
    lines.push(
      `- ${c.fired ? 'fired' : 'held'} **${c.kind}**: ${c.text}${c.quiet ? ` (quiet: ${c.quiet})` : ''}`,
    );
  if (e.workflowId) lines.push('', `Started ${e.workflowId}.`);
  return lines.join('\n');
}
