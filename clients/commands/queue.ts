import { modelQueue } from '../../runs';
import type { Config } from '../../config/config';
import { connectClient } from '../../config/connect';
import { parseModelName, renderTable, type CommandOutput } from '../output';

/** The options of `retrain queue`, as commander parses them. */
export interface QueueOptions {
  model: string;
  json?: boolean;
}

/** `retrain queue --model m [--json]`: the run holding the model and the runs queued for it, next first. */
export async function queueCommand(
  values: QueueOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const model = parseModelName(values.model);
  const { client, close } = await connectClient(config);
  try {
    const queue = await modelQueue(client, model);
    const holder = `${model}: ${queue.holder ? `held by ${queue.holder}` : 'no run holds it'}`;
    const table =
      queue.queued.length === 0
        ? 'no runs queued'
        : renderTable(
            ['POSITION', 'PRIORITY', 'WORKFLOW ID', 'QUEUED AT'],
            queue.queued.map((q) => [String(q.position), String(q.priority), q.workflowId, q.queuedAt]),
          );
    out.result(values.json, queue, `${holder}\n${table}`);
    return 0;
  } finally {
    await close();
  }
}
