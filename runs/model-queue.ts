import type { Client } from '@temporalio/client';
import type { QueuePlace } from '../common/admission';
import { runsQuery } from './list-runs';
import { summarize } from './run-state';
import { runningRunOf } from './running-run';

/** One run waiting in a model's queue. */
export interface QueuedRun extends Omit<QueuePlace, 'holder'> {
  workflowId: string;
  runId: string;
}

/** A model's queue: the run holding the model, and the runs waiting for it, next first. */
export interface ModelQueue {
  model: string;
  holder: string | null;
  queued: QueuedRun[];
}

/**
 * `model`'s queue as its runs last recorded their places (the `queue` memo each queued run keeps,
 * through visibility): the same positions `retrain queue`, `GET /admin/queue` and the dashboard show.
 */
export async function modelQueue(client: Client, model: string): Promise<ModelQueue> {
  const query = runsQuery(model, `RetrainStage = 'queued' AND ExecutionStatus = 'Running'`);
  const queued: QueuedRun[] = [];
  for await (const info of client.workflow.list({ query })) {
    const run = summarize(info);
    if (run.status !== 'queued' || !run.queue) continue;
    const { holder: _holder, ...place } = run.queue;
    queued.push({ workflowId: run.workflowId, runId: run.runId, ...place });
  }
  queued.sort((a, b) => a.position - b.position || a.workflowId.localeCompare(b.workflowId));
  return { model, holder: (await runningRunOf(client, model)) ?? null, queued };
}
