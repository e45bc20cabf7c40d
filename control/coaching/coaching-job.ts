import { DEFAULT_PRIORITY } from '../../common/admission';
import type { RetrainProgress } from '../../common/retrain';
import type { RunSummary } from '../../runs';

/** FinCoach's job states; every ended run that did not complete (rejected, failed, cancelled) is `failed`. */
export type CoachingStatus = 'queued' | 'in_progress' | 'completed' | 'failed';

/** A run as the coaching routes read it: what visibility says, and a running run's progress. */
export interface CoachingRun extends RunSummary {
  progress: RetrainProgress | null;
}

/**
 * A run as FinCoach's orchestrator documents a training job (`id` ... `training_event_id`), plus what
 * it never had: `model` (the model's name here), `outcome` (our word: `rejected` is `failed` there),
 * `version` and `run_id`.
 */
export interface CoachingJob {
  id: string;
  dataset_id: string | null;
  model_type: string | null;
  priority: number;
  status: CoachingStatus;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  error_message: string | null;
  training_event_id: string | null;
  model: string | null;
  outcome: RunSummary['status'];
  version: string | null;
  run_id: string;
}

/**
 * FinCoach's orchestrator takes the higher number first (a manual trigger 1 by default, its
 * auto-trigger 2); retrain takes 1 first (default 3). Its 1 is our default, its 2 our 2, 3 and up our
 * 1, 0 and below our 4 and 5.
 */
export const runPriorityOf = (coaching: number): number => Math.min(5, Math.max(1, 4 - coaching));

/** The FinCoach priority of a run of retrain priority `run` (the inverse of {@link runPriorityOf} within 1..5). */
export const coachingPriorityOf = (run: number): number => 4 - run;

/** FinCoach's status of a run: a run that has yet to end and has not started training is `queued`. */
export function coachingStatus(run: CoachingRun): CoachingStatus {
  if (run.temporalStatus === 'RUNNING') return isQueued(run) ? 'queued' : 'in_progress';
  return run.status === 'completed' ? 'completed' : 'failed';
}

/** Waiting behind its model's holder (its progress or stage says `queued`), or no worker took it up yet. */
function isQueued(run: CoachingRun): boolean {
  if (run.progress) return run.progress.status === 'queued';
  return run.stage === null || run.stage === 'queued';
}

/** Where a queued run stands in its model's queue (1 is next); 0 for any other, as FinCoach answers. */
export const queuePosition = (run: CoachingRun): number => run.progress?.queue?.position ?? 0;

/** The FinCoach job of one run; runs started elsewhere (schedule, CLI, a trigger) are jobs too. */
export function coachingJob(run: CoachingRun): CoachingJob {
  const status = coachingStatus(run);
  const labels = run.input?.labels;
  const asked = Number(labels?.priority);
  return {
    id: run.workflowId,
    // A model's data buffer is its one training dataset, as FinCoach kept one dataset per model type.
    dataset_id: run.model,
    model_type: labels?.model_type ?? run.model,
    priority: Number.isInteger(asked) ? asked : coachingPriorityOf(run.input?.priority ?? DEFAULT_PRIORITY),
    status,
    created_at: run.startTime,
    started_at: status === 'queued' ? null : run.startTime,
    completed_at: run.closeTime,
    error_message: errorOf(run, status),
    // The run is its training event: its id is what validation-results takes, once it trains.
    training_event_id: status === 'queued' ? null : run.workflowId,
    model: run.model,
    outcome: run.status,
    version: run.outcome?.version ?? null,
    run_id: run.runId,
  };
}

/** Why a run did not complete: its failure, its rejection or cancel reason, else how Temporal ended it. */
export function errorOf(run: RunSummary, status: CoachingStatus): string | null {
  if (status !== 'failed') return null;
  return run.outcome?.failure?.message ?? run.outcome?.reason ?? run.status;
}
