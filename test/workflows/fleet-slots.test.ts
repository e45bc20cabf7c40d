import { randomUUID } from 'node:crypto';
import { CancelledFailure, Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import type { QueuePlace } from '../../common/admission';
import { admissionUpdate, fleetSlotsQuery, progressQuery } from '../../common/messages';
import { OUTCOME_MEMO, type RunOutcome } from '../../common/retrain';
import { fleetSlotsWorkflowId } from '../../common/workflow-ids';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { passingActivities, stubWorkers, type Activities, type StubWorkers } from '../helpers/stub-workers';

type Run = WorkflowHandle<typeof retrainWorkflow>;

/**
 * Stub workers whose deployment lets one run at a time run its stages, checking every 2 s for runs
 * that ended without releasing their slot; each run's training holds until the test opens its model.
 */
async function cappedDeployment() {
  const env: StubWorkers = await stubWorkers(undefined, {
    fleetCap: { maxConcurrentRuns: 1, checkEveryMs: 2000 },
  });
  const trained: string[] = [];
  const opened = new Set<string>();
  const passing = passingActivities();
  const gated: Activities['trainModel'] = async (input) => {
    trained.push(input.model);
    const ctx = Context.current();
    while (!opened.has(input.model)) {
      ctx.heartbeat({ waiting: true });
      await ctx.sleep(50);
    }
    return passing.trainModel(input);
  };
  const coordinator = env.client.workflow.getHandle(fleetSlotsWorkflowId(env.taskQueue));
  return {
    env,
    /** Models whose trainings have started, in the order they started. */
    trained,
    coordinator,
    /** Starts a run of a fresh model at `priority`. */
    start: async (priority: number): Promise<{ model: string; run: Run }> => {
      const model = env.model({ trainModel: gated });
      const run = await env.client.workflow.start(retrainWorkflow, {
        taskQueue: env.taskQueue,
        workflowId: `retrain-${model}-fleet-${randomUUID().slice(0, 8)}`,
        args: [{ model, priority }],
      });
      return { model, run };
    },
    /** Lets `model`'s training finish. */
    open: (model: string) => opened.add(model),
    close: async () => {
      await coordinator.terminate().catch(() => undefined);
      await env.close();
    },
  };
}

/** The place `run` says it waits at, once it says it is queued at `position` of `waiting`. */
function queuedAt(run: Run, position: number, waiting: number): Promise<QueuePlace> {
  return eventually(`${run.workflowId} to be queued ${position} of ${waiting}`, async () => {
    const progress = await run.query(progressQuery);
    const place = progress.queue;
    return progress.status === 'queued' && place?.position === position && place.waiting === waiting
      ? place
      : undefined;
  });
}

describe('the deployment-wide cap on concurrent runs (RETRAIN_MAX_CONCURRENT_RUNS)', () => {
  it('with a cap of 1, runs of three models wait queued and then run one at a time, priority first', async () => {
    const fleet = await cappedDeployment();
    try {
      const first = await fleet.start(3);
      await eventually('the first run to train', () => fleet.trained.includes(first.model));
      expect(await first.run.executeUpdate(admissionUpdate)).toEqual({ admitted: true });
      const low = await fleet.start(2);
      const lowPlace = await queuedAt(low.run, 1, 1);
      expect(lowPlace).toMatchObject({ priority: 2, holder: "the deployment's 1-run cap" });
      expect(await low.run.executeUpdate(admissionUpdate)).toMatchObject({ admitted: 'queued' });
      const high = await fleet.start(1);
      await queuedAt(high.run, 1, 2);
      await queuedAt(low.run, 2, 2);
      expect(await fleet.coordinator.query(fleetSlotsQuery)).toMatchObject({
        capacity: 1,
        holders: [first.run.workflowId],
        waiting: [{ workflowId: high.run.workflowId }, { workflowId: low.run.workflowId }],
      });
      // A long-running coordinator follows new builds rather than pinning a drained one.
      const { raw } = await fleet.coordinator.describe();
      expect(raw.workflowExecutionInfo?.versioningInfo?.behavior).toBe(
        temporal.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE,
      );

      fleet.open(first.model);
      expect(await first.run.result()).toMatchObject({ status: 'completed' });
      await eventually('the priority-1 run to train next', () => fleet.trained.includes(high.model));
      await queuedAt(low.run, 1, 1);
      fleet.open(high.model);
      await eventually('the priority-2 run to train last', () => fleet.trained.includes(low.model));
      fleet.open(low.model);
      const results = await Promise.all([high.run.result(), low.run.result()]);
      expect(results.map((r) => r.status)).toEqual(['completed', 'completed']);
      expect(fleet.trained).toEqual([first.model, high.model, low.model]);
    } finally {
      await fleet.close();
    }
  });

  it('a waiting run that is cancelled leaves the queue: it ends Canceled, untrained, and the run behind it moves up', async () => {
    const fleet = await cappedDeployment();
    try {
      const holder = await fleet.start(3);
      await eventually('the holder to train', () => fleet.trained.includes(holder.model));
      const cancelled = await fleet.start(1);
      await queuedAt(cancelled.run, 1, 1);
      const behind = await fleet.start(2);
      await queuedAt(behind.run, 2, 2);

      await cancelled.run.cancel();
      await expect(cancelled.run.result()).rejects.toMatchObject({ cause: expect.any(CancelledFailure) });
      await queuedAt(behind.run, 1, 1);
      expect((await fleet.coordinator.query(fleetSlotsQuery)).waiting).toEqual([
        expect.objectContaining({ workflowId: behind.run.workflowId }),
      ]);
      const outcome = (await cancelled.run.describe()).memo?.[OUTCOME_MEMO] as RunOutcome;
      expect(outcome).toMatchObject({ status: 'cancelled', stages: [] });

      fleet.open(holder.model);
      fleet.open(behind.model);
      expect((await behind.run.result()).status).toBe('completed');
      expect(fleet.trained).toEqual([holder.model, behind.model]);
    } finally {
      await fleet.close();
    }
  });

  it('a holder that is terminated (no code runs to release) frees its slot at the next check', async () => {
    const fleet = await cappedDeployment();
    try {
      const holder = await fleet.start(3);
      await eventually('the holder to train', () => fleet.trained.includes(holder.model));
      const next = await fleet.start(3);
      await queuedAt(next.run, 1, 1);

      await holder.run.terminate('operator');
      await eventually('the waiting run to train', () => fleet.trained.includes(next.model));
      expect((await fleet.coordinator.query(fleetSlotsQuery)).holders).toEqual([next.run.workflowId]);
      fleet.open(next.model);
      expect((await next.run.result()).status).toBe('completed');
    } finally {
      await fleet.close();
    }
  });
});
