import type { Client } from '@temporalio/client';
import { latestRun, runsQuery } from './list-runs';

/** How a model's runs ended, counted by Temporal visibility (not from a list that a limit could cut). */
export interface RunHistory {
  /** Runs that trained or tried to: every run except those refused because another run held the model. */
  total: number;
  running: number;
  completed: number;
  /** Rejected for lack of data or by the gate. */
  rejected: number;
  cancelled: number;
  /** Failed, timed out or terminated. */
  failed: number;
  /** Turned away at once because another run of the model was going. */
  refused: number;
  /** Start time of the newest run that was not refused. */
  lastStartedAt: string | null;
}

const STAGE = (value: string) => `RetrainStage = '${value}'`;

/** Counts `model`'s runs by outcome, one visibility count per outcome. */
export async function runHistory(client: Client, model: string): Promise<RunHistory> {
  const count = async (clause: string) => (await client.workflow.count(runsQuery(model, clause))).count;
  const [running, completed, rejected, refused, cancelled, failed] = await Promise.all([
    count(`ExecutionStatus = 'Running'`),
    count(`ExecutionStatus = 'Completed' AND ${STAGE('completed')}`),
    count(`ExecutionStatus = 'Completed' AND ${STAGE('rejected')}`),
    count(`ExecutionStatus = 'Completed' AND ${STAGE('refused')}`),
    count(`ExecutionStatus = 'Canceled'`),
    count(`ExecutionStatus IN ('Failed', 'TimedOut', 'Terminated')`),
  ]);
  const lastStartedAt = (await latestRun(client, model))?.startTime ?? null;
  return {
    total: running + completed + rejected + cancelled + failed,
    running,
    completed,
    rejected,
    cancelled,
    failed,
    refused,
    lastStartedAt,
  };
}
