import { parseArgs } from 'node:util';
import { WorkflowNotFoundError } from '@temporalio/client';
import { cancelRetrainSignal } from '../../common/messages';
import type { Config } from '../../workers/config';
import { connectClient } from '../connect';
import { UsageError, type CommandOutput } from '../output';

const USAGE = 'usage: retrain cancel <workflowId> [--reason r] [--json]';

/**
 * `retrain cancel <workflowId>`: sends the graceful cancel signal; the run stops its current stage
 * (every training trial included), registers nothing and ends `cancelled`.
 */
export async function cancelCommand(argv: string[], config: Config, out: CommandOutput): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { reason: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const [workflowId, ...extra] = positionals;
  if (!workflowId || extra.length > 0) throw new UsageError(USAGE);
  const reason = values.reason ?? 'cancelled from the command line';
  const { client, close } = await connectClient(config);
  try {
    const handle = client.workflow.getHandle(workflowId);
    const description = await handle.describe().catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) throw new Error(`no retrain run with id ${workflowId}`);
      throw err;
    });
    if (description.type !== 'retrainWorkflow')
      throw new Error(`${workflowId} is a ${description.type}, not a retrain run`);
    if (description.status.name !== 'RUNNING')
      throw new Error(`${workflowId} is not running (${description.status.name.toLowerCase()})`);
    await handle.signal(cancelRetrainSignal, { reason });
    out.log(`asked ${workflowId} to cancel; follow it with: retrain status ${workflowId} --watch`);
    out.result(
      values.json,
      { workflowId, runId: description.runId, cancelRequested: true, reason },
      `cancel requested for ${workflowId}`,
    );
    return 0;
  } finally {
    await close();
  }
}
