import type { Client } from '@temporalio/client';
import { ModelNameAttribute, RetrainStageAttribute } from '../../common/messages';
import type { Config } from '../../workers/config';
import { connectClient } from '../../workers/connect';
import { renderTable, parseModelName, UsageError, type CommandOutput } from '../output';

/** One retrain run as `retrain list` shows it. */
export interface RunSummary {
  workflowId: string;
  runId: string;
  status: string;
  model: string | null;
  /** RetrainStage: the running stage, or the outcome (completed, rejected, cancelled) once done. */
  stage: string | null;
  startTime: string;
  closeTime: string | null;
}

const DEFAULT_LIMIT = 50;

/** The options of `retrain list`, as commander parses them. */
export interface ListOptions {
  model?: string;
  limit?: string;
  json?: boolean;
}

/** `retrain list [--model m] [--limit n] [--json]`: retrain runs, newest first, from Temporal visibility. */
export async function listCommand(values: ListOptions, config: Config, out: CommandOutput): Promise<number> {
  // The name goes into a visibility query: only a valid slug may.
  const model = values.model === undefined ? undefined : parseModelName(values.model);
  const limit = values.limit === undefined ? DEFAULT_LIMIT : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive integer');

  const { client, close } = await connectClient(config);
  try {
    const runs = (await listRuns(client, model)).slice(0, limit);
    out.result(values.json, runs, runs.length === 0 ? 'no retrain runs' : runsTable(runs));
    return 0;
  } finally {
    await close();
  }
}

/** Every retrainWorkflow run (of `model` when given), newest start first. */
export async function listRuns(client: Client, model?: string): Promise<RunSummary[]> {
  const query = [`WorkflowType = 'retrainWorkflow'`, ...(model ? [`ModelName = '${model}'`] : [])].join(
    ' AND ',
  );
  const runs: RunSummary[] = [];
  for await (const run of client.workflow.list({ query })) {
    runs.push({
      workflowId: run.workflowId,
      runId: run.runId,
      status: run.status.name,
      model: run.typedSearchAttributes.get(ModelNameAttribute) ?? null,
      stage: run.typedSearchAttributes.get(RetrainStageAttribute) ?? null,
      startTime: run.startTime.toISOString(),
      closeTime: run.closeTime?.toISOString() ?? null,
    });
  }
  return runs.sort(
    (a, b) => b.startTime.localeCompare(a.startTime) || a.workflowId.localeCompare(b.workflowId),
  );
}

function runsTable(runs: RunSummary[]): string {
  return renderTable(
    ['WORKFLOW ID', 'STATUS', 'MODEL', 'STAGE', 'STARTED', 'CLOSED'],
    runs.map((r) => [
      r.workflowId,
      r.status,
      r.model ?? '-',
      r.stage ?? '-',
      r.startTime,
      r.closeTime ?? '-',
    ]),
  );
}
