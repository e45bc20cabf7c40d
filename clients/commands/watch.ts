import type { Client } from '@temporalio/client';
import { isGoing, readRun, type RunStatus } from '../../runs';
import type { CommandOutput } from '../output';
import { renderLine } from '../progress';

const POLL_MS = 1000;

/** Shows live progress on stderr until the run ends; returns how it ended. */
export async function watchRun(client: Client, workflowId: string, out: CommandOutput): Promise<RunStatus> {
  for (;;) {
    const status = await readRun(client, workflowId);
    out.progress(renderLine(status));
    if (!isGoing(status.status)) {
      out.endProgress();
      return status;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
