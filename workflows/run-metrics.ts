import { metricMeter } from '@temporalio/workflow';
import { WorkerMetric } from '../common/metric-names';
import type { RunOutcome, StageName, StageRecord } from '../common/retrain';

/** What a run tells the workers' metrics endpoint. */
export interface RunMetrics {
  started(): void;
  ended(outcome: RunOutcome['status']): void;
  stageEnded(stage: StageName, status: StageRecord['status'], seconds: number): void;
  gateDecided(passed: boolean): void;
  rolledOut(outcome: 'success' | 'failure'): void;
}

/**
 * retrain's workflow-side series for one run of `model`, on the SDK's workflow metric meter: nothing
 * is recorded while a worker replays history, so a run counts once however often it is replayed.
 * Call from workflow code (the meter needs the workflow context).
 */
export function runMetrics(model: string): RunMetrics {
  const runsStarted = metricMeter.createCounter(WorkerMetric.runsStarted, undefined, 'Retrain runs started.');
  const runsEnded = metricMeter.createCounter(
    WorkerMetric.runsEnded,
    undefined,
    'Retrain runs ended, by outcome (completed, rejected, cancelled, failed).',
  );
  const stageDuration = metricMeter.createHistogram(
    WorkerMetric.stageDuration,
    'float',
    's',
    'How long each stage of a retrain run took, in seconds.',
  );
  const gateDecisions = metricMeter.createCounter(
    WorkerMetric.gateDecisions,
    undefined,
    'Validation gate decisions on candidates (passed, rejected).',
  );
  const rollouts = metricMeter.createCounter(
    WorkerMetric.rollouts,
    undefined,
    'Rollouts of a new version to the inference servers (success, failure).',
  );
  return {
    started: () => runsStarted.add(1, { model }),
    ended: (outcome) => runsEnded.add(1, { model, outcome }),
    stageEnded: (stage, status, seconds) => stageDuration.record(seconds, { stage, model, status }),
    gateDecided: (passed) => gateDecisions.add(1, { model, decision: passed ? 'passed' : 'rejected' }),
    rolledOut: (outcome) => rollouts.add(1, { model, outcome }),
  };
}
