import type { Client } from '@temporalio/client';

import { readRun, runsQuery, summarize, type RunSummary } from '../../runs';
import { coachingStatus, type CoachingRun } from './coaching-job';

/**
 * The models FinCoach's overviews (training status, history) speak for (`RETRAIN_COACHING_MODELS`):
 * a deployment serving other systems' models too keeps them out. Absent: every model.
 */
export type CoachingScope = readonly string[] | undefined;

/** The visibility clause of a scope: its models (validated slugs, so safe in quotes). */
function scopeClause(scope: CoachingScope): string[] {
  return scope ? [`ModelName IN (${scope.map((m) => `'${m}'`).join(', ')})`] : [];
}

/** Runs turned away at once because another run held the model: never a FinCoach job. */
const NOT_REFUSED = `(RetrainStage IS NULL OR RetrainStage != 'refused')`;

/** A run with its progress while it has yet to end (whether it is queued, and where); ended runs need none. */
export async function withProgress(client: Client, run: RunSummary): Promise<CoachingRun> {
  if (run.temporalStatus !== 'RUNNING') return { ...run, progress: null };
  const read = await readRun(client, run.workflowId, run.runId);
  return { ...read, progress: read.progress };
}

/** One run by its workflow id, as the coaching routes read it. */
export async function coachingRun(client: Client, workflowId: string): Promise<CoachingRun> {
  const run = await readRun(client, workflowId);
  return { ...run, progress: run.progress };
}

/**
 * The runs (of `model` when given, else of the models in `scope` when given, matching `clause`) that
 * `keep` accepts, at most `limit`, newest start first; refused runs are left out. Pages through
 * visibility only as far as it needs.
 */
export async function coachingRuns(
  client: Client,
  {
    model,
    clause,
    limit,
    scope,
    keep = () => true,
  }: {
    model?: string;
    clause?: string;
    scope?: CoachingScope;
    limit: number;
    keep?: (run: CoachingRun) => boolean;
  },
): Promise<CoachingRun[]> {
  const clauses = [NOT_REFUSED, ...(clause ? [clause] : []), ...(model ? [] : scopeClause(scope))];
  const query = runsQuery(model, clauses.join(' AND '));
  const runs: CoachingRun[] = [];
  if (limit <= 0) return runs;
  for await (const info of client.workflow.list({ query, pageSize: Math.min(limit, 100) })) {
    const run = await withProgress(client, summarize(info));
    if (!keep(run)) continue;
    runs.push(run);
    if (runs.length >= limit) break;
  }
  return runs.sort((a, b) => b.startTime.localeCompare(a.startTime));
}

/** The running runs of every model in scope (of `model` when given), each with its progress. */
export const runningRuns = (client: Client, model?: string, scope?: CoachingScope) =>
  coachingRuns(client, { model, scope, clause: `ExecutionStatus = 'Running'`, limit: 1000 });

/** A run of `model` already waiting in its queue, which a second trigger answers with (as FinCoach did). */
export async function queuedRunOf(client: Client, model: string): Promise<CoachingRun | undefined> {
  const queued = await coachingRuns(client, {
    model,
    clause: `ExecutionStatus = 'Running'`,
    limit: 1,
    keep: (run) => coachingStatus(run) === 'queued',
  });
  return queued[0];
}
