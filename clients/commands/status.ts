import type { RetrainResult } from '../../common/retrain';
import type { Config } from '../../workers/config';
import { connectClient } from '../../workers/connect';
import type { CommandOutput } from '../output';
import { readStatus, renderLine } from '../progress';
import { exitCodeFor, summarise } from './start';
import { watchRun } from './watch';

/** The options of `retrain status`, as commander parses them. */
export interface StatusOptions {
  watch?: boolean;
  json?: boolean;
}

export async function statusCommand(
  workflowId: string,
  values: StatusOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const { client, close } = await connectClient(config);
  try {
    if (values.watch) {
      const result = (await watchRun(client, workflowId, out)) as RetrainResult;
      out.result(values.json, { workflowId, ...result }, summarise(result));
      return exitCodeFor(result);
    }
    const status = await readStatus(client, workflowId);
    const result = status.result as RetrainResult | undefined;
    out.result(
      values.json,
      status,
      result ? `${status.status}\n${summarise(result)}` : `${status.status}  ${renderLine(status)}`,
    );
    return status.status === 'FAILED' ? 1 : 0;
  } finally {
    await close();
  }
}
