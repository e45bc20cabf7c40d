import { randomUUID } from 'node:crypto';
import { CancelledFailure, Context } from '@temporalio/activity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admissionUpdate, cancelRetrainSignal } from '../../common/messages';
import { OUTCOME_MEMO, type RunOutcome } from '../../common/retrain';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { stubWorkers, type StubWorkers } from '../helpers/stub-workers';

/** A training that heartbeats until it is cancelled, so a run stays in trainModel as long as a test needs. */
async function trainUntilCancelled(): Promise<never> {
  const ctx = Context.current();
  for (;;) {
    ctx.heartbeat({ alive: true });
    await ctx.sleep(50);
  }
}

describe('one run per model, enforced inside Temporal', () => {
  let env: StubWorkers;
  beforeAll(async () => {
    env = await stubWorkers();
  });
  afterAll(async () => env?.close());

  it('of ten concurrent starts with different workflow ids exactly one runs; the nine others are rejected naming it', async () => {
    const { client, taskQueue } = env;
    const model = env.model({ trainModel: trainUntilCancelled });
    const ids = Array.from(
      { length: 10 },
      (_, i) => `retrain-${model}-concurrent-${i}-${randomUUID().slice(0, 4)}`,
    );
    const answers = await (async () => {
      const handles = await Promise.all(
        ids.map((workflowId) =>
          client.workflow.start(retrainWorkflow, { taskQueue, workflowId, args: [{ model }] }),
        ),
      );
      const admissions = await Promise.all(handles.map((h) => h.executeUpdate(admissionUpdate)));
      const winner = ids[admissions.findIndex((a) => a.admitted)];
      const losers = await Promise.all(
        handles.filter((_, i) => !admissions[i]?.admitted).map((h) => h.result()),
      );
      await client.workflow.getHandle(winner ?? '').cancel();
      return { admissions, winner, losers };
    })();
    expect(answers.admissions.filter((a) => a.admitted)).toHaveLength(1);
    expect(answers.losers).toHaveLength(9);
    for (const loser of answers.losers) {
      expect(loser).toMatchObject({
        status: 'rejected',
        rejection: { kind: 'modelBusy', runningWorkflowId: answers.winner },
        stages: [],
      });
      expect(loser.reason).toContain(`already being retrained by ${answers.winner}`);
    }
  });

  it('frees the model when its run ends, so the next run is admitted', async () => {
    const { client, taskQueue } = env;
    const model = env.model();
    const results = await (async () => {
      const first = await client.workflow.execute(retrainWorkflow, {
        taskQueue,
        workflowId: `retrain-${model}-first-${randomUUID()}`,
        args: [{ model }],
      });
      const second = await client.workflow.execute(retrainWorkflow, {
        taskQueue,
        workflowId: `retrain-${model}-second-${randomUUID()}`,
        args: [{ model }],
      });
      return [first, second];
    })();
    expect(results.map((r) => r.status)).toEqual(['completed', 'completed']);
  });
});

describe('a cancelled run ends Canceled in Temporal', () => {
  let env: StubWorkers;
  beforeAll(async () => {
    env = await stubWorkers();
  });
  afterAll(async () => env?.close());

  it.each(['signal', 'temporal'] as const)(
    'after a cancel through the %s, with the reason, the stages and what was kept in its outcome memo',
    async (how) => {
      const { client, taskQueue } = env;
      const model = env.model({ trainModel: trainUntilCancelled });
      const workflowId = `retrain-${model}-cancel-${how}-${randomUUID()}`;
      const description = await (async () => {
        const handle = await client.workflow.start(retrainWorkflow, {
          taskQueue,
          workflowId,
          args: [{ model }],
        });
        await eventually('the run to be training', async () =>
          ((await handle.describe()).raw.pendingActivities ?? []).some(
            (a) => a.activityType?.name === 'trainModel',
          ),
        );
        if (how === 'signal') await handle.signal(cancelRetrainSignal, { reason: 'wrong window' });
        else await handle.cancel();
        await expect(handle.result()).rejects.toMatchObject({ cause: expect.any(CancelledFailure) });
        return handle.describe();
      })();
      expect(description.status.name).toBe('CANCELLED');
      const outcome = description.memo?.[OUTCOME_MEMO] as RunOutcome;
      expect(outcome).toMatchObject({
        status: 'cancelled',
        reason: how === 'signal' ? 'wrong window' : 'cancelled through Temporal',
        kept: { checkpointPrefix: `checkpoints/${model}/${workflowId}/` },
      });
      expect(outcome.stages.map((s) => [s.name, s.status])).toEqual([
        ['exportDataset', 'completed'],
        ['trainModel', 'cancelled'],
      ]);
    },
  );
});
