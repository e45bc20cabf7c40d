import type { Client } from '@temporalio/client';
import { summarize, type RunSummary } from './run-state';

/** Visibility query of every retrainWorkflow run, of `model` when given (a validated slug: it cannot break the quotes). */
export function runsQuery(model?: string, extra?: string): string {
  return [
    `WorkflowType = 'retrainWorkflow'`,
    ...(model ? [`ModelName = '${model}'`] : []),
    ...(extra ? [extra] : []),
  ].join(' AND ');
}

/** Retrain runs (of `model` when given), newest start first, at most `limit`. */
export async function listRuns(
  client: Client,
  { model, limit }: { model?: string; limit?: number } = {},
): Promise<RunSummary[]> {
  const runs: RunSummary[] = [];
  for await (const run of client.workflow.list({ query: runsQuery(model) })) runs.push(summarize(run));
  runs.sort((a, b) => b.startTime.localeCompare(a.startTime) || a.workflowId.localeCompare(b.workflowId));
  return limit === undefined ? runs : runs.slice(0, limit);
}

/**
 * The newest run of `model` that was not refused at once (another run held the model), from one
 * visibility page of one entry: running runs first, then by close time, as visibility orders them.
 */
export async function latestRun(client: Client, model: string): Promise<RunSummary | undefined> {
  const query = runsQuery(model, `(RetrainStage IS NULL OR RetrainStage != 'refused')`);
  for await (const run of client.workflow.list({ query, pageSize: 1 })) return summarize(run);
  return undefined;
}
