import { randomUUID } from 'node:crypto';
import { CancelledFailure } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelAfterTrialSignal, progressQuery } from '../../common/messages';
import type { TrainInput } from '../../common/stages';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { heartbeatUntil } from '../helpers/heartbeat-until';
import { passingActivities, stubWorkers, type StubWorkers } from '../helpers/stub-workers';
import { OUTCOME_MEMO } from '../../common/retrain';
import { reportFirstEpoch } from '../helpers/epoch-report';

describe('cancel after the current trial (a job table row set to cancelled)', () => {
  let env: StubWorkers;
  beforeAll(async () => {
    env = await stubWorkers();
  });
  afterAll(async () => env?.close());

  it('lets the trial in flight finish, trains no other trial, and ends the run Canceled with nothing registered', async () => {
    const { client, taskQueue } = env;
    let release = false;
    const finished: number[] = [];
    const cancelled: number[] = [];
    let registered = false;
    const passing = passingActivities();
    const model = env.model({
      trainModel: async (input: TrainInput) => {
        const trial = input.trial ?? 1;
        if (trial !== 1) {
          // Queued behind trial 1 (no epoch reported yet): the stop must cancel it before it trains.
          try {
            await heartbeatUntil(() => false);
          } catch (err) {
            if (err instanceof CancelledFailure) cancelled.push(trial);
            throw err;
          }
        }
        await reportFirstEpoch(client, input);
        await heartbeatUntil(() => release);
        finished.push(trial);
        return { ...(await passing.trainModel(input)), holdoutScore: { metric: 'spearman', value: 0.42 } };
      },
      registerModel: async (input) => {
        registered = true;
        return passing.registerModel(input);
      },
    });
    const workflowId = `retrain-${model}-after-trial-${randomUUID().slice(0, 8)}`;
    const handle = await client.workflow.start(retrainWorkflow, {
      taskQueue,
      workflowId,
      args: [{ model, trials: 3 }],
    });
    await eventually('trial 1 to report its first epoch', async () => {
      const progress = await handle.query(progressQuery);
      return progress.trials?.[0]?.status === 'running';
    });

    await handle.signal(cancelAfterTrialSignal, { reason: 'training_jobs row set to cancelled' });
    await eventually('the queued trials 2 and 3 to be cancelled', () => cancelled.length === 2);
    release = true;

    const failure = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    const description = await handle.describe();
    expect(description.status.name).toBe('CANCELLED');
    expect(description.memo?.[OUTCOME_MEMO]).toMatchObject({
      status: 'cancelled',
      reason: 'training_jobs row set to cancelled',
    });
    expect(finished).toEqual([1]);
    expect(cancelled.sort()).toEqual([2, 3]);
    expect(registered).toBe(false);
    const last = await handle.query(progressQuery);
    expect(last.trials?.map((t) => [t.trial, t.status, t.score])).toEqual([
      [1, 'completed', 0.42],
      [2, 'cancelled', undefined],
      [3, 'cancelled', undefined],
    ]);
  });

  it('after the trials ended, cancels the run at once: validation is stopped and nothing is registered', async () => {
    const { client, taskQueue } = env;
    let registered = false;
    let validating = false;
    const passing = passingActivities();
    const model = env.model({
      validateModel: async () => {
        validating = true;
        await heartbeatUntil(() => false);
        throw new Error('unreachable');
      },
      registerModel: async (input) => {
        registered = true;
        return passing.registerModel(input);
      },
    });
    const handle = await client.workflow.start(retrainWorkflow, {
      taskQueue,
      workflowId: `retrain-${model}-after-trials-${randomUUID().slice(0, 8)}`,
      args: [{ model, trials: 2 }],
    });
    await eventually('the run to validate its candidate', () => validating);
    await handle.signal(cancelAfterTrialSignal, { reason: 'row cancelled while validating' });
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expect(registered).toBe(false);
  });

  it('ranks trials scored on spearman by the highest score', async () => {
    const { client, taskQueue } = env;
    const passing = passingActivities();
    const scores: Record<number, number> = { 1: 0.1, 2: 0.7, 3: 0.4 };
    const model = env.model({
      trainModel: async (input: TrainInput) => ({
        ...(await passing.trainModel(input)),
        holdoutScore: { metric: 'spearman', value: scores[input.trial ?? 1] as number },
      }),
    });
    const handle = await client.workflow.start(retrainWorkflow, {
      taskQueue,
      workflowId: `retrain-${model}-spearman-${randomUUID().slice(0, 8)}`,
      args: [{ model, trials: 3 }],
    });
    await handle.result();
    expect((await handle.query(progressQuery)).best).toEqual({ trial: 2, score: 0.7 });
  });
});
