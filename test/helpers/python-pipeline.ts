/**
 * The python trainer's e2e tests around a test pipeline (pipeline.ts): its Python worker on the
 * pipeline's `-py` queue and store, an inference server its runs reload, runs of retrainWorkflow
 * on the TypeScript cpu worker, and /predict.
 */
import path from 'node:path';
import { inject } from 'vitest';
import { pythonTaskQueueFor } from '../../common/task-queues';
import { retrainWorkflow } from '../../workflows';
import type { Pipeline } from './pipeline';
import { startPythonWorker, type PythonWorker } from './python-worker';

export { servePipeline } from './serve-pipeline';

/** `python -m retrain_trainer` polling the pipeline's python cpu queue, on the pipeline's store. */
export function startPipelinePythonWorker(
  pipeline: Pipeline,
  options: { python?: string; env?: Record<string, string> } = {},
): Promise<PythonWorker> {
  return startPythonWorker({
    ...options,
    storeUri: `file://${path.join(pipeline.dir, 'store')}`,
    taskQueue: pythonTaskQueueFor(pipeline.taskQueue, 'cpu'),
    temporalAddress: inject('temporalAddress'),
  });
}

/** retrainWorkflow for `model` on the pipeline's workers without the gpu one, reloading `serverUrl`. */
export function retrainOnCpu(pipeline: Pipeline, model: string, workflowId: string, serverUrl: string) {
  return pipeline.withWorkers(
    () =>
      pipeline.client.workflow.execute(retrainWorkflow, {
        taskQueue: pipeline.taskQueue,
        workflowId,
        args: [{ model, reloadTargets: [serverUrl] }],
      }),
    { gpu: false },
  );
}

/** POSTs `rows` of `model` to the server's /predict: the status, the JSON body and its text. */
export async function predict<T>(
  serverUrl: string,
  model: string,
  rows: Record<string, unknown>[],
): Promise<{ status: number; text: string; body: T }> {
  const res = await fetch(`${serverUrl}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, rows }),
  });
  const text = await res.text();
  return { status: res.status, text, body: (res.ok ? JSON.parse(text) : undefined) as T };
}
