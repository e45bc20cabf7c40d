import { parseArgs } from 'node:util';
import type { RetrainResult } from '../../common/retrain';
import type { Config } from '../../workers/config';
import { connectClient } from '../connect';
import { UsageError, type CommandOutput } from '../output';
import { readStatus, renderLine } from '../progress';
import { exitCodeFor, summarise } from './start';
import { watchRun } from './watch';

export async function statusCommand(argv: string[], config: Config, out: CommandOutput): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { watch: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
  });
  const workflowId = positionals[0];
  if (!workflowId) throw new UsageError('usage: retrain status <workflowId> [--watch] [--json]');
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
