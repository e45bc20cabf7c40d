import { parseArgs } from 'node:util';
import type { Config } from '../../workers/config';
import { requestCancel } from '../cancel-run';
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
    const { runId } = await requestCancel(client, workflowId, reason);
    out.log(`asked ${workflowId} to cancel; follow it with: retrain status ${workflowId} --watch`);
    out.result(
      values.json,
      { workflowId, runId, cancelRequested: true, reason },
      `cancel requested for ${workflowId}`,
    );
    return 0;
  } finally {
    await close();
  }
}
