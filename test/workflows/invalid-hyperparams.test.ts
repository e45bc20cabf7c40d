import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ErrorType } from '../../common/errors';
import { RetrainStageAttribute } from '../../common/messages';
import { OUTCOME_MEMO, type RetrainInput, type RunOutcome } from '../../common/retrain';
import { retrainWorkflow } from '../../workflows';
import { stubSpec, stubWorkers, type Activities, type StubWorkers } from '../helpers/stub-workers';

describe("retrainWorkflow with the spec's hyperparameters and the input's merged into invalid ones", () => {
  let env: StubWorkers;
  beforeAll(async () => {
    env = await stubWorkers();
  });
  afterAll(async () => env?.close());

  it.each([
    {
      field: 'architecture',
      why: 'the input asks for a classifier architecture on a forecast spec',
      input: { hyperparams: { architecture: 'logistic' } } satisfies Partial<RetrainInput>,
      message:
        'architecture: architecture logistic cannot train a forecast model; use one of mlp, lstm, linear',
      spec: stubSpec,
    },
    {
      field: 'learningRate',
      why: 'the spec as stored carries a learning rate above the limit',
      input: {},
      message: 'learningRate: Too big: expected number to be <=1',
      spec: (name: string) => ({
        ...stubSpec(name),
        hyperparams: { ...stubSpec(name).hyperparams, learningRate: 2 },
      }),
    },
  ])(
    'fails non-retryably in trainModel with InvalidInput naming $field when $why, training nothing',
    async ({ input, message, spec }) => {
      const trainModel = vi.fn<Activities['trainModel']>();
      const model = env.model({ loadSpec: async ({ model: name }) => spec(name), trainModel });
      const handle = await env.client.workflow.start(retrainWorkflow, {
        taskQueue: env.taskQueue,
        workflowId: `retrain-${model}-bad-merge-${randomUUID().slice(0, 8)}`,
        args: [{ model, ...input }],
      });

      const err = await handle.result().then(
        (result) => new Error(`expected the run to fail, it returned ${JSON.stringify(result)}`),
        (e: unknown) => e,
      );
      const description = await handle.describe();

      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      const reason = `trainModel failed: Invalid hyperparams (the spec's with the input's over them): ${message}`;
      expect(cause).toMatchObject({ message: reason, type: ErrorType.InvalidInput, nonRetryable: true });
      expect(description.status.name).toBe('FAILED');
      expect(trainModel).not.toHaveBeenCalled();
      const outcome = description.memo?.[OUTCOME_MEMO] as RunOutcome;
      expect(outcome).toMatchObject({
        status: 'failed',
        reason,
        failure: { stage: 'trainModel', type: ErrorType.InvalidInput },
      });
      expect(outcome.stages.map((s) => [s.name, s.status])).toEqual([
        ['exportDataset', 'completed'],
        ['trainModel', 'failed'],
      ]);
      expect(description.typedSearchAttributes.get(RetrainStageAttribute)).toBe('trainModel');
    },
  );
});
