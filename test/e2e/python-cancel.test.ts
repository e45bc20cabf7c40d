import path from 'node:path';
import { CancelledFailure, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TrainHeartbeatSchema } from '../../common/heartbeat';
import { OUTCOME_MEMO, type RunOutcome } from '../../common/retrain';
import { pythonTaskQueueFor } from '../../common/task-queues';
import { cancelRun } from '../../runs';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { historyEvents, outcomes, scheduled } from '../helpers/history';
import { pendingActivity } from '../helpers/pending-activity';
import { createPipeline, PERMISSIVE_GATE, type Pipeline } from '../helpers/pipeline';
import { startPythonWorker, type PythonWorker } from '../helpers/python-worker';

/** Far more rounds than a test waits for: only a cancel ends these trainings early. */
const LONG_ROUNDS = 10_000;

/*
 * A python training cancelled mid-run, by `retrain cancel` (the cancel signal, runs/cancel-run.ts)
 * and by Temporal's own cancel: the run ends Canceled, the Python activity stops (the worker logs
 * the stop, the server holds no pending training, and the worker's one slot takes the next
 * training), and nothing is registered: production stays the version it was.
 */
describe('cancelling a python training', { timeout: 600_000 }, () => {
  let pipeline: Pipeline;
  let worker: PythonWorker;

  beforeAll(async () => {
    pipeline = await createPipeline({
      trainer: 'python',
      epochs: 30,
      hyperparams: { architecture: 'xgboost', params: { max_depth: 6, checkpoint_every: 25 }, seed: 4 },
      gate: PERMISSIVE_GATE,
    });
    worker = await startPythonWorker({
      storeUri: `file://${path.join(pipeline.dir, 'store')}`,
      taskQueue: pythonTaskQueueFor(pipeline.taskQueue, 'cpu'),
      temporalAddress: inject('temporalAddress'),
      env: { OMP_NUM_THREADS: '1' },
    });
    // Production before the cancels: v1, a short training.
    const first = await pipeline.withWorkers(
      () =>
        pipeline.client.workflow.execute(retrainWorkflow, {
          taskQueue: pipeline.taskQueue,
          workflowId: `retrain-${pipeline.spec.name}-v1`,
          args: [{ model: pipeline.spec.name }],
        }),
      { gpu: false },
    );
    if (first.status !== 'completed') throw new Error(`v1 not registered: ${first.reason}`);
  });

  afterAll(async () => {
    await worker?.stop();
    await pipeline?.cleanup();
  });

  /** The worker's JSON log lines whose `msg` is `msg` for `workflowId`. */
  const logged = (msg: string, workflowId: string) =>
    worker.lines.flatMap((line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        return parsed.msg === msg && parsed.workflowId === workflowId ? [parsed] : [];
      } catch {
        return [];
      }
    });

  /** Starts a long python training and waits until the server has its heartbeat past round 25. */
  async function startLongTraining(name: string) {
    const { client, spec, taskQueue } = pipeline;
    const workflowId = `retrain-${spec.name}-${name}`;
    await client.workflow.start(retrainWorkflow, {
      taskQueue,
      workflowId,
      args: [{ model: spec.name, epochs: LONG_ROUNDS, incremental: false }],
    });
    const handle = client.workflow.getHandle<typeof retrainWorkflow>(workflowId);
    const heartbeat = await eventually(
      `the python training of ${workflowId} past round 25`,
      async () => {
        const pending = await pendingActivity(handle, 'trainModel');
        const beat = TrainHeartbeatSchema.safeParse(pending?.heartbeat);
        return beat.success && beat.data.epoch > 25 ? beat.data : undefined;
      },
      180_000,
    );
    return { workflowId, handle, heartbeat };
  }

  /** What a cancelled run left: its outcome, its trainModel's ending, the worker's stop, the registry. */
  async function afterCancel(handle: WorkflowHandle, workflowId: string, cancelledAt: number) {
    const stopped = await eventually(
      `the python worker logging the stop of ${workflowId}`,
      () => logged('training stopped', workflowId)[0],
      60_000,
    );
    const stopMs = Number(stopped.time) - cancelledAt;
    const events = await historyEvents(handle);
    const [train, ...more] = scheduled(events, 'trainModel');
    return {
      stopped,
      stopMs,
      description: await handle.describe(),
      trainings: [train, ...more].length,
      trainOutcomes: outcomes(events, train?.eventId ?? -1).map((o) => o.kind),
      validations: scheduled(events, 'validateModel').length,
      registrations: scheduled(events, 'registerModel').length,
      pending: await pendingActivity(handle, 'trainModel'),
      finished: logged('training finished', workflowId),
      versions: await pipeline.deps.registry.listVersions(pipeline.spec.name),
      production: (await pipeline.deps.registry.getAlias(pipeline.spec.name, 'production'))?.value.version,
    };
  }

  function expectStoppedAndNothingRegistered(after: Awaited<ReturnType<typeof afterCancel>>) {
    expect(after.description.status.name).toBe('CANCELLED');
    expect((after.description.memo?.[OUTCOME_MEMO] as RunOutcome).status).toBe('cancelled');
    expect(after.trainings).toBe(1);
    expect(after.trainOutcomes).toEqual(['cancelled']);
    expect(after.pending).toBeUndefined();
    expect(after.stopped).toMatchObject({ reason: 'cancel', attempt: 1 });
    expect(after.finished).toEqual([]);
    expect(after.validations).toBe(0);
    expect(after.registrations).toBe(0);
    expect(after.versions).toEqual(['v1']);
    expect(after.production).toBe('v1');
  }

  it('retrain cancel (the cancel signal): the Python activity stops, the run ends Canceled, nothing is registered', async () => {
    const run = await pipeline.withWorkers(
      async () => {
        const { workflowId, handle, heartbeat } = await startLongTraining('signal-cancel');
        const cancelledAt = Date.now();
        await cancelRun(pipeline.client, workflowId, 'not needed any more');
        await expect(handle.result()).rejects.toMatchObject({ cause: expect.any(CancelledFailure) });
        return { heartbeat, after: await afterCancel(handle, workflowId, cancelledAt) };
      },
      { gpu: false },
    );
    expectStoppedAndNothingRegistered(run.after);
    expect((run.after.description.memo?.[OUTCOME_MEMO] as RunOutcome).reason).toContain(
      'not needed any more',
    );
    expect(run.heartbeat.totalEpochs).toBe(LONG_ROUNDS);
    console.info(
      `[python-cancel] signal: cancelled at round ${run.heartbeat.epoch} of ${LONG_ROUNDS}; ` +
        `the worker logged the stop ${run.after.stopMs} ms after the cancel`,
    );
  });

  it("Temporal's cancel: the Python activity stops, its slot takes the next training, nothing is registered", async () => {
    const run = await pipeline.withWorkers(
      async () => {
        const { workflowId, handle, heartbeat } = await startLongTraining('temporal-cancel');
        const cancelledAt = Date.now();
        await handle.cancel();
        await expect(handle.result()).rejects.toMatchObject({ cause: expect.any(CancelledFailure) });
        const after = await afterCancel(handle, workflowId, cancelledAt);
        // The worker has one training slot: a training that kept running would hold it.
        const next = await startLongTraining('after-cancel');
        await next.handle.cancel();
        await expect(next.handle.result()).rejects.toMatchObject({ cause: expect.any(CancelledFailure) });
        return { heartbeat, after, next };
      },
      { gpu: false },
    );
    expectStoppedAndNothingRegistered(run.after);
    expect((run.after.description.memo?.[OUTCOME_MEMO] as RunOutcome).reason).toBe(
      'cancelled through Temporal',
    );
    expect(run.next.heartbeat.epoch).toBeGreaterThan(25);
    console.info(
      `[python-cancel] Temporal: cancelled at round ${run.heartbeat.epoch} of ${LONG_ROUNDS}; ` +
        `the worker logged the stop ${run.after.stopMs} ms after the cancel`,
    );
  });
});
