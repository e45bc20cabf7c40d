import type { RetrainResult } from '../../common/retrain';
import { retrainWorkflow } from '../../workflows';
import type { Config } from '../../workers/config';
import { connectClient } from '../../workers/connect';
import type { CommandOutput } from '../output';
import {
  parseRetrainFlags,
  retrainStartOptions,
  workflowIdFor,
  type RetrainOptionValues,
} from '../retrain-options';
import { watchRun } from './watch';

/** The options of `retrain start`, as commander parses them. */
export interface StartOptions extends RetrainOptionValues {
  wait?: boolean;
  json?: boolean;
}

export async function startCommand(
  values: StartOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const input = parseRetrainFlags(values);
  const { client, close } = await connectClient(config);
  try {
    const workflowId = workflowIdFor(input.model);
    const handle = await client.workflow.start(retrainWorkflow, {
      ...retrainStartOptions(input, 'started by hand', config.taskQueue),
      workflowId,
    });
    out.log(
      `started ${workflowId} (run ${handle.firstExecutionRunId}); Web UI: http://localhost:8233/namespaces/${config.temporal.namespace}/workflows/${workflowId}`,
    );
    if (!values.wait) {
      out.result(values.json, { workflowId, runId: handle.firstExecutionRunId }, workflowId);
      return 0;
    }
    const result = (await watchRun(client, workflowId, out)) as RetrainResult;
    out.result(values.json, { workflowId, ...result }, summarise(result));
    return exitCodeFor(result);
  } finally {
    await close();
  }
}

export function summarise(result: RetrainResult): string {
  const stages = result.stages.map((s) => `${s.name}:${s.status}`).join(' ');
  const head =
    result.status === 'completed'
      ? `completed: ${result.model} ${result.version}`
      : `${result.status}: ${result.reason ?? ''}`;
  const metrics = result.metrics
    ? ` metrics ${Object.entries(result.metrics)
        .map(([k, v]) => `${k}=${v.toFixed(4)}`)
        .join(' ')}`
    : '';
  return `${head}${metrics}\n${stages}`;
}

/** 0 completed, 3 rejected, 4 cancelled; a failed run throws before this. */
export function exitCodeFor(result: RetrainResult): number {
  return result.status === 'completed' ? 0 : result.status === 'rejected' ? 3 : 4;
}
