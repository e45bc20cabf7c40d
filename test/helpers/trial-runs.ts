import { progressQuery } from '../../common/messages';
import { retrainWorkflow } from '../../workflows';
import type { Pipeline, WithWorkersOptions } from './pipeline';

/**
 * One retrainWorkflow run of the pipeline's spec with `trials` hyperparameter trials (not
 * incremental) on the pipeline's workers: its result and the progress it reports once done.
 */
export function runTrials(
  pipeline: Pipeline,
  workflowId: string,
  trials: number,
  workers?: WithWorkersOptions,
) {
  const { client, spec, taskQueue } = pipeline;
  return pipeline.withWorkers(async () => {
    const handle = await client.workflow.start(retrainWorkflow, {
      taskQueue,
      workflowId,
      args: [{ model: spec.name, trials, incremental: false }],
    });
    const result = await handle.result();
    return { result, progress: await handle.query(progressQuery) };
  }, workers);
}
