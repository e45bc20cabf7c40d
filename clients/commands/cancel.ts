import type { Config } from '../../config/config';
import { cancelRun } from '../../runs';
import { connectClient } from '../../config/connect';
import type { CommandOutput } from '../output';

/** The options of `retrain cancel`, as commander parses them. */
export interface CancelOptions {
  reason?: string;
  json?: boolean;
}

/**
 * `retrain cancel <workflowId>`: the run stops its current stage (every training trial included),
 * registers nothing and ends Canceled with the reason.
 */
export async function cancelCommand(
  workflowId: string,
  values: CancelOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const reason = values.reason ?? 'cancelled from the command line';
  const { client, close } = await connectClient(config);
  try {
    const { runId } = await cancelRun(client, workflowId, reason);
    out.log(`asked ${workflowId} to cancel; follow it with: retrain status ${workflowId} --watch`, {
      workflowId,
    });
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
