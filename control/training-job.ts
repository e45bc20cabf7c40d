import { describeWarmStart } from '../common/stages';
import type { RunStatus, RunSummary } from '../runs';

/** The daemon's job states (`queued`: a trigger no worker has taken up yet); its pollers stop on `completed`, `failed` or `cancelled`. */
export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

/**
 * A run as the NordIQ daemon's `GET /admin/training-status` documents a job (`job_id` ... `error`),
 * plus what the daemon never had: `outcome` (our own word: a gate or data rejection is `failed`
 * there, `rejected` here), `stage`, `version`, the structured rejection or failure.
 */
export interface TrainingJob {
  job_id: string;
  status: JobStatus;
  progress_pct: number | null;
  epochs: number | null;
  incremental: boolean | null;
  /** How a completed run's training started: `warm start from v3`, or `from scratch: <why>`; null before. */
  warm_start: string | null;
  started_at: string;
  completed_at: string | null;
  duration_seconds: number;
  /** Store key of the registered version, `models/<model>/versions/<v>`; null until one is registered. */
  model_path: string | null;
  error: string | null;
  model: string | null;
  outcome: RunSummary['status'];
  stage: string | null;
  version: string | null;
  run_id: string;
  rejection?: unknown;
  failure?: unknown;
  metrics?: Record<string, number>;
}

/** The daemon's view of one of our runs; `defaultEpochs` fills in a run that took the spec's epochs. */
export function trainingJob(run: RunStatus, defaultEpochs: number | null, now = Date.now()): TrainingJob {
  const outcome = run.outcome;
  const version = run.result?.version ?? outcome?.version ?? null;
  const closed = run.closeTime === null ? now : Date.parse(run.closeTime);
  const failure = run.failure;
  return {
    job_id: run.workflowId,
    status: jobStatus(run),
    progress_pct: run.progress?.overallPct ?? outcome?.overallPct ?? (run.status === 'running' ? 0 : null),
    epochs: run.input?.epochs ?? run.progress?.totalEpochs ?? defaultEpochs,
    incremental: run.input?.incremental ?? null,
    warm_start: warmStartOf(run),
    started_at: run.startTime,
    completed_at: run.closeTime,
    duration_seconds: Math.max(0, Math.round((closed - Date.parse(run.startTime)) / 1000)),
    model_path: version && run.model ? `models/${run.model}/versions/${version}` : null,
    error: errorOf(run),
    model: run.model,
    outcome: run.status,
    stage: run.stage,
    version,
    run_id: run.runId,
    ...(outcome?.rejection ? { rejection: outcome.rejection } : {}),
    ...(failure ? { failure } : {}),
    ...(run.result?.metrics ? { metrics: run.result.metrics } : {}),
  };
}

function jobStatus(run: RunStatus): JobStatus {
  switch (run.status) {
    case 'running':
    case 'queued':
      // Even before a worker takes it up, or while it waits its turn: the documented pollers stop
      // on anything but `running`.
      return 'running';
    case 'completed':
      return 'completed';
    case 'cancelled':
      return 'cancelled';
    default:
      // Rejected (gate, data, model busy), failed, terminated, timed out: the pollers' "failed".
      return 'failed';
  }
}

function errorOf(run: RunStatus): string | null {
  if (run.status === 'running' || run.status === 'queued' || run.status === 'completed') return null;
  if (run.failure) return run.failure.message;
  return run.outcome?.reason ?? run.result?.reason ?? run.status;
}

function warmStartOf(run: RunStatus): string | null {
  const warmStart = run.result?.warmStart ?? run.outcome?.warmStart;
  return warmStart ? describeWarmStart(warmStart) : null;
}
