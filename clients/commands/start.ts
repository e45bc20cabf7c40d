import { ModelBusyError, startRun } from '../../runs';
import type { Config } from '../../config/config';
import { connectClient } from '../../config/connect';
import type { CommandOutput } from '../output';
import { parseRetrainFlags, type RetrainOptionValues } from '../retrain-options';
import { exitCodeFor, MODEL_BUSY_EXIT, queuePlaceText, runReport } from '../run-report';
import { watchRun } from './watch';

/** The options of `retrain start`, as commander parses them. */
export interface StartOptions extends RetrainOptionValues {
  wait?: boolean;
  json?: boolean;
}

/**
 * `retrain start`: starts a run and waits until it holds its model (exit 5, naming the running run,
 * when another run of the model is going; with --admission queue it is queued instead, and its place
 * said); with --wait follows it to its end (exit code as its outcome).
 */
export async function startCommand(
  values: StartOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const input = parseRetrainFlags(values);
  const { client, close } = await connectClient(config);
  try {
    let started;
    try {
      started = await startRun(client, input, { taskQueue: config.taskQueue, origin: 'started by hand' });
    } catch (err) {
      if (!(err instanceof ModelBusyError)) throw err;
      if (values.json)
        out.result(
          true,
          {
            status: 'refused',
            model: err.model,
            runningWorkflowId: err.runningWorkflowId,
            error: err.message,
          },
          '',
        );
      out.log(`retrain: ${err.message}`, { model: err.model, runningWorkflowId: err.runningWorkflowId });
      return MODEL_BUSY_EXIT;
    }
    const { workflowId, runId } = started;
    out.log(
      `started ${workflowId} (run ${runId}); Web UI: ${config.temporalUiUrl}/namespaces/${config.temporal.namespace}/workflows/${workflowId}`,
      { workflowId, runId, model: input.model },
    );
    if (started.admission === 'queued' && started.queue)
      out.log(`queued: ${queuePlaceText(started.queue)}`, { workflowId, queue: started.queue });
    if (started.admission === 'pending')
      out.log(
        `no worker has taken ${workflowId} up yet (is a worker polling ${config.taskQueue}?); it runs once one does`,
      );
    if (!values.wait) {
      out.result(
        values.json,
        {
          workflowId,
          runId,
          admission: started.admission,
          ...(started.queue ? { queue: started.queue } : {}),
        },
        workflowId,
      );
      return 0;
    }
    const run = await watchRun(client, workflowId, out);
    out.result(values.json, run, runReport(run));
    return exitCodeFor(run);
  } finally {
    await close();
  }
}
