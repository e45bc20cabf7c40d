import type { Client } from '@temporalio/client';
import type { CommandOutput } from '../output';
import { readStatus, renderLine } from '../progress';

const POLL_MS = 1000;

/** Shows live progress on stderr until the run closes; returns its result or throws its failure. */
export async function watchRun(client: Client, workflowId: string, out: CommandOutput): Promise<unknown> {
  for (;;) {
    const status = await readStatus(client, workflowId);
    if (status.status === 'RUNNING') {
      out.progress(renderLine(status));
      await new Promise((r) => setTimeout(r, POLL_MS));
      continue;
    }
    out.progress(renderLine(status));
    out.endProgress();
    if (status.status === 'COMPLETED') return status.result;
    throw new Error(
      `${workflowId} ${status.status.toLowerCase()}${status.failure ? `: ${status.failure}` : ''}`,
    );
  }
}
