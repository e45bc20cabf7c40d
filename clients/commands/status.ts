import { readRun } from '../../runs';
import type { Config } from '../../config/config';
import { connectClient } from '../../config/connect';
import type { CommandOutput } from '../output';
import { renderLine } from '../progress';
import { exitCodeFor, runReport } from '../run-report';
import { watchRun } from './watch';

/** The options of `retrain status`, as commander parses them. */
export interface StatusOptions {
  watch?: boolean;
  json?: boolean;
}

/** `retrain status <workflowId>`: how the run stands or how it ended; the exit code says the outcome. */
export async function statusCommand(
  workflowId: string,
  values: StatusOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const { client, close } = await connectClient(config);
  try {
    const run = values.watch ? await watchRun(client, workflowId, out) : await readRun(client, workflowId);
    out.result(values.json, run, run.status === 'running' ? `running  ${renderLine(run)}` : runReport(run));
    return exitCodeFor(run);
  } finally {
    await close();
  }
}
