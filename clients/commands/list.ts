import { listRuns, type RunSummary } from '../../runs';
import type { Config } from '../../config/config';
import { connectClient } from '../../config/connect';
import { renderTable, parseModelName, UsageError, type CommandOutput } from '../output';

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
    const runs = await listRuns(client, { model, limit });
    out.result(values.json, runs, runs.length === 0 ? 'no retrain runs' : runsTable(runs));
    return 0;
  } finally {
    await close();
  }
}

function runsTable(runs: RunSummary[]): string {
  return renderTable(
    ['WORKFLOW ID', 'STATUS', 'MODEL', 'STAGE', 'STARTED', 'CLOSED'],
    runs.map((r) => [
      r.workflowId,
      r.queue ? `queued ${r.queue.position}/${r.queue.waiting}` : r.status,
      r.model ?? '-',
      r.stage ?? '-',
      r.startTime,
      r.closeTime ?? '-',
    ]),
  );
}
