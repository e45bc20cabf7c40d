import { NativeConnection, Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ErrorType } from '../../common/errors';
import { ModelSpecSchema } from '../../common/model-spec';
import type { PythonTrainInput, TrainResult } from '../../common/stages';
import { pythonTaskQueueFor } from '../../common/task-queues';
import { retrainWorkflow } from '../../workflows';
import { passingActivities, stubSpec, stubWorkers, type StubWorkers } from '../helpers/stub-workers';

const passing = passingActivities();

/** A python-trainer spec of the stub model: xgboost on the GPU. */
function pythonSpec(name: string) {
  return ModelSpecSchema.parse({
    ...stubSpec(name),
    trainer: 'python',
    hyperparams: { architecture: 'xgboost', params: { max_depth: 3 }, device: 'gpu', seed: 9 },
  });
}

/*
 * The workflow sends a python spec's trainModel to the python trainer's queue of its own queue (here
 * `-py-gpu`, for device gpu) with the contract's input (docs/trainers.md), and refuses run overrides
 * the spec's kind does not take before anything trains.
 */
describe('trainModel of a python-trainer spec', () => {
  let stubs: StubWorkers;
  let native: NativeConnection;
  let pyWorker: Worker;
  let running: Promise<void>;
  const received: PythonTrainInput[] = [];

  beforeAll(async () => {
    stubs = await stubWorkers();
    native = await NativeConnection.connect({ address: inject('temporalAddress') });
    // The python worker's stand-in: it answers as the contract's result says.
    pyWorker = await Worker.create({
      connection: native,
      taskQueue: pythonTaskQueueFor(stubs.taskQueue, 'gpu'),
      activities: {
        trainModel: async (input: PythonTrainInput): Promise<TrainResult> => {
          received.push(input);
          return {
            ...(await passing.trainModel({ ...input, hyperparams: stubSpec(input.model).hyperparams })),
            format: 'onnx',
            backend: 'xgboost 3.2.0 cuda',
            device: 'cuda',
          };
        },
      },
    });
    running = pyWorker.run();
  });

  afterAll(async () => {
    pyWorker?.shutdown();
    await running;
    await native?.close();
    await stubs?.close();
  });

  it('goes to -py-gpu with the task, checkpoint prefix and only the kind, params, seed and device', async () => {
    let model = '';
    model = stubs.model({ loadSpec: async () => pythonSpec(model) });
    const workflowId = `retrain-${model}-py`;
    const result = await stubs.client.workflow.execute(retrainWorkflow, {
      taskQueue: stubs.taskQueue,
      workflowId,
      args: [{ model }],
    });
    expect(result.status).toBe('completed');
    expect(result.backend).toBe('xgboost 3.2.0 cuda');
    expect(received.find((i) => i.model === model)).toEqual({
      model,
      workflowId,
      datasetKey: `datasets/${model}/${workflowId}`,
      epochs: 2,
      incremental: true,
      gateMetric: 'auto',
      task: 'forecast',
      hyperparams: { architecture: 'xgboost', params: { max_depth: 3 }, seed: 9, device: 'gpu' },
      checkpointPrefix: `checkpoints/${model}/${workflowId}`,
    });
  });

  it('fails a run whose params the kind does not take with InvalidInput naming the field, training nothing', async () => {
    let model = '';
    model = stubs.model({ loadSpec: async () => pythonSpec(model) });
    const err = await stubs.client.workflow
      .execute(retrainWorkflow, {
        taskQueue: stubs.taskQueue,
        workflowId: `retrain-${model}-bad-params`,
        args: [{ model, hyperparams: { params: { n_trees: 5 } } }],
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as { type?: string; message: string };
    expect(cause.type).toBe(ErrorType.InvalidInput);
    expect(cause.message).toMatch(/params\.n_trees: kind xgboost takes no parameter n_trees/);
    expect(received.some((i) => i.model === model)).toBe(false);
  });
});
