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
      issue: 'architecture: architecture logistic cannot train a forecast model',
      spec: stubSpec,
    },
    {
      field: 'targetTransform',
      why: 'the input asks for a change target of a spec whose target is no feature',
      input: { hyperparams: { targetTransform: 'change' } } satisfies Partial<RetrainInput>,
      issue: 'targetTransform: a change target needs the target flights among the features',
      spec: (name: string) => ({ ...stubSpec(name), features: ['delay'] }),
    },
    {
      field: 'learningRate',
      why: "loadSpec (a worker of another build) hands over a learning rate above this build's limit",
      input: {},
      issue: 'learningRate: Too big: expected number to be <=1',
      spec: (name: string) => ({
        ...stubSpec(name),
        hyperparams: { ...stubSpec(name).hyperparams, learningRate: 2 },
      }),
    },
  ])(
    'fails non-retryably in trainModel with InvalidInput naming $field when $why, training nothing',
    async ({ input, issue, spec }) => {
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
      // The run's failure names the stage, then the field and zod's or the spec check's own words.
      const reason = `trainModel failed: Invalid hyperparams (the spec's with the input's over them): ${issue}`;
      expect(cause).toMatchObject({ type: ErrorType.InvalidInput, nonRetryable: true });
      expect(cause?.message.startsWith(reason), cause?.message).toBe(true);
      expect(description.status.name).toBe('FAILED');
      expect(trainModel).not.toHaveBeenCalled();
      const outcome = description.memo?.[OUTCOME_MEMO] as RunOutcome;
      expect(outcome).toMatchObject({
        status: 'failed',
        reason: cause?.message,
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
