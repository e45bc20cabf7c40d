import { parseArgs } from 'node:util';
import { formatIssues } from '../../common/format-issues';
import { ModelNameAttribute } from '../../common/messages';
import { RetrainInputSchema, type RetrainResult } from '../../common/retrain';
import { CPU_TASK_QUEUE } from '../../common/task-queues';
import { retrainWorkflow } from '../../workflows';
import type { Config } from '../../workers/config';
import { connectClient } from '../connect';
import { UsageError, type CommandOutput } from '../output';
import { watchRun } from './watch';

/** `retrain-<model>-<UTC timestamp>`, e.g. retrain-flight-delay-20261123T140512Z. */
export function workflowIdFor(model: string, now = new Date()): string {
  return `retrain-${model}-${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
}

export async function startCommand(argv: string[], config: Config, out: CommandOutput): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      epochs: { type: 'string' },
      trials: { type: 'string' },
      'window-days': { type: 'string' },
      'min-records': { type: 'string' },
      'no-incremental': { type: 'boolean', default: false },
      'reload-target': { type: 'string', multiple: true },
      wait: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const parsed = RetrainInputSchema.safeParse({
    model: values.model,
    epochs: num(values.epochs),
    trials: num(values.trials),
    windowDays: num(values['window-days']),
    minRecords: num(values['min-records']),
    incremental: !values['no-incremental'],
    reloadTargets: values['reload-target'],
  });
  if (!parsed.success) throw new UsageError(`invalid start options: ${formatIssues(parsed.error)}`);
  const input = parsed.data;
  const { client, close } = await connectClient(config);
  try {
    const workflowId = workflowIdFor(input.model);
    const handle = await client.workflow.start(retrainWorkflow, {
      taskQueue: CPU_TASK_QUEUE,
      workflowId,
      args: [input],
      typedSearchAttributes: [{ key: ModelNameAttribute, value: input.model }],
      staticSummary: `Retrain ${input.model}`,
      staticDetails: `Retrain **${input.model}**: export, train, validate, register, reload.\n\n\`\`\`json\n${JSON.stringify(input, null, 2)}\n\`\`\``,
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
