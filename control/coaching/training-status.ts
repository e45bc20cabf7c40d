import type { Client } from '@temporalio/client';

import { coachingJob, coachingStatus } from './coaching-job';
import { coachingRun, coachingRuns, runningRuns, type CoachingScope } from './coaching-runs';

/** How many ended jobs `GET /training-status` lists, as FinCoach's orchestrator kept. */
const RECENT_ENDED = 10;

/**
 * `GET /training-status`: FinCoach's overview of every job, `active` (training), `queued` and the
 * latest ended ones (its `completed` list, failures included), over every model in scope.
 */
export async function trainingStatus(client: Client, scope?: CoachingScope) {
  const [running, ended] = await Promise.all([
    runningRuns(client, undefined, scope),
    coachingRuns(client, { scope, clause: `ExecutionStatus != 'Running'`, limit: RECENT_ENDED }),
  ]);
  const active = running.filter((run) => coachingStatus(run) === 'in_progress').map(coachingJob);
  const queued = running.filter((run) => coachingStatus(run) === 'queued').map(coachingJob);
  const completed = ended.map(coachingJob);
  return {
    training_status: { active, queued, completed },
    queue_length: queued.length,
    active_job_count: active.length,
    completed_job_count: completed.length,
    last_updated: new Date().toISOString(),
  };
}

/** `GET /training-job/{job_id}`: one job (404 for an id that is no retrain run). */
export async function trainingJob(client: Client, jobId: string) {
  return {
    job_status: coachingJob(await coachingRun(client, jobId)),
    retrieved_at: new Date().toISOString(),
  };
}
