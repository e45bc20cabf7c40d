import { defaultPayloadConverter, type WorkflowHandle } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TrainHeartbeatSchema, type TrainHeartbeat } from '../../common/heartbeat';
import { epochProgressSignal, progressQuery, type EpochProgress } from '../../common/messages';
import type { TrainInput, TrainResult } from '../../common/stages';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { historyEvents, outcomes, scheduled, signals } from '../helpers/history';
import { createPipeline, type Pipeline } from '../helpers/pipeline';
import { startWorkerProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

// About 3 s per epoch on the pure-JS backend: longer than the 1 s heartbeat throttle, so the
// server always knows the checkpoint of the previous epoch.
const EPOCHS = 6;
const HYPERPARAMS = { hiddenUnits: 128, batchSize: 16, seed: 21 };

interface TrainingActivity {
  attempt: number;
  heartbeat: TrainHeartbeat | null;
  lastFailure: { message?: string | null; type?: string | null } | null;
}

/** The pending trainModel activity as the server sees it, or null when none is pending. */
async function trainingActivity(handle: WorkflowHandle): Promise<TrainingActivity | null> {
  const pending = (await handle.describe()).raw.pendingActivities ?? [];
  const activity = pending.find((a) => a.activityType?.name === 'trainModel');
  if (!activity) return null;
  const payload = activity.heartbeatDetails?.payloads?.[0];
  const parsed = payload
    ? TrainHeartbeatSchema.safeParse(defaultPayloadConverter.fromPayload(payload))
    : null;
  return {
    attempt: activity.attempt ?? 0,
    heartbeat: parsed?.success ? parsed.data : null,
    lastFailure: activity.lastFailure
      ? { message: activity.lastFailure.message, type: activity.lastFailure.applicationFailureInfo?.type }
      : null,
  };
}

/** Epoch number of a checkpoint key: `.../epoch-N` (boundary) or `.../epoch-N-batch-B` (inside epoch N). */
function checkpointEpoch(key: string): { epoch: number; batch: number } {
  const match = /epoch-(\d+)(?:-batch-(\d+))?$/.exec(key);
  if (!match) throw new Error(`not a checkpoint key: ${key}`);
  const batch = Number(match[2] ?? 0);
  // A mid-epoch key names the epoch in progress; it holds epoch N-1 complete plus B batches.
  return { epoch: batch === 0 ? Number(match[1]) : Number(match[1]) - 1, batch };
}

// A killed worker is noticed after the 30 s heartbeat timeout; then the rest of the epochs train.
describe('a gpu worker process that dies or is stopped mid-training', { timeout: 300_000 }, () => {
  let pipeline: Pipeline;
  const workers: WorkerProcess[] = [];
  beforeAll(async () => {
    pipeline = await createPipeline({
      epochs: EPOCHS,
      hyperparams: HYPERPARAMS,
      // About process failure, not model quality.
      gate: { mustBeatBaseline: false, tolerance: 10 },
    });
  });
  afterEach(async () => {
    for (const worker of workers.splice(0)) await stopWorkerProcess(worker);
  });
  afterAll(async () => pipeline?.cleanup());

  async function startRun(name: string) {
    const { client, spec, taskQueue } = pipeline;
    const workflowId = `retrain-${spec.name}-${name}-${Date.now()}`;
    await client.workflow.start(retrainWorkflow, {
      taskQueue,
      workflowId,
      args: [{ model: spec.name, incremental: false }],
    });
    return client.workflow.getHandle<typeof retrainWorkflow>(workflowId);
  }

  /** Waits until the server's heartbeat names a checkpoint of at least epoch 2. */
  const checkpointed = (handle: WorkflowHandle) =>
    eventually(
      'a checkpoint in the heartbeat',
      async () => {
        const training = await trainingActivity(handle);
        const checkpoint = training?.heartbeat?.checkpoint;
        return checkpoint && checkpoint.epoch >= 2 ? { ...checkpoint, attempt: training.attempt } : undefined;
      },
      120_000,
    );

  async function trainingOutcome(handle: WorkflowHandle) {
    const events = await historyEvents(handle);
    const [training, ...more] = scheduled<TrainInput>(events, 'trainModel');
    expect(more).toEqual([]);
    const [outcome] = outcomes<TrainResult>(events, training?.eventId ?? -1);
    return { outcome, reports: signals<EpochProgress>(events, epochProgressSignal.name).map((r) => r.epoch) };
  }

  it('SIGKILL: the retry on a new worker resumes from the checkpoint in the last heartbeat, losing at most one epoch', async () => {
    const run = await pipeline.withWorkers(
      async () => {
        const first = await startWorkerProcess(pipeline, 'gpu');
        workers.push(first);
        const handle = await startRun('sigkill');
        const seen = await checkpointed(handle);
        // Epochs the killed attempt completed, as reported (one signal per epoch) up to the kill.
        const reportedBeforeKill = (await handle.query(progressQuery)).epoch;
        first.child.kill('SIGKILL');
        const killedBy = (await first.exited).signal;
        workers.push(await startWorkerProcess(pipeline, 'gpu'));
        return { handle, result: await handle.result(), seen, reportedBeforeKill, killedBy };
      },
      { gpu: false },
    );

    expect(run.killedBy).toBe('SIGKILL');
    expect(run.seen.attempt).toBe(1);
    expect(run.result.status, run.result.reason).toBe('completed');
    const { outcome, reports } = await trainingOutcome(run.handle);
    expect(outcome?.kind).toBe('completed');
    expect(outcome?.attempt).toBe(2);
    const resumedFrom = outcome?.result?.resumedFrom ?? '';
    const resumed = checkpointEpoch(resumedFrom);
    // Nothing the server had seen checkpointed is lost ...
    expect(resumed.epoch).toBeGreaterThanOrEqual(run.seen.epoch);
    // ... and at most one completed epoch is trained twice.
    expect(run.reportedBeforeKill - resumed.epoch).toBeLessThanOrEqual(1);
    const repeated = reports.length - new Set(reports).size;
    expect(repeated).toBeLessThanOrEqual(1);
    expect([...new Set(reports)].sort((a, b) => a - b)).toEqual(
      Array.from({ length: EPOCHS }, (_, i) => i + 1),
    );
    expect(run.result.stages.find((s) => s.name === 'trainModel')?.summary).toContain(
      `resumed from ${resumedFrom}`,
    );
    console.info(
      `[worker-crash] SIGKILL after checkpoint epoch ${run.seen.epoch} (${run.reportedBeforeKill} reported); ` +
        `retry resumed from ${resumedFrom}; epochs trained twice: ${repeated}`,
    );
  });

  it('SIGTERM: the worker stops taking work, the training checkpoints, the process exits 0 and the retry resumes there', async () => {
    const run = await pipeline.withWorkers(
      async () => {
        const first = await startWorkerProcess(pipeline, 'gpu');
        workers.push(first);
        const handle = await startRun('sigterm');
        await checkpointed(handle);
        const reportedBeforeStop = (await handle.query(progressQuery)).epoch;
        const stopAt = Date.now();
        first.child.kill('SIGTERM');
        const exit = await first.exited;
        const exitMs = Date.now() - stopAt;
        // The interrupted attempt failed retryably on its own: the retry waits for a worker, not a timeout.
        const waiting = await eventually(
          'the retry of the interrupted training',
          async () => {
            const training = await trainingActivity(handle);
            return training && training.attempt >= 2 ? training : undefined;
          },
          120_000,
        );
        workers.push(await startWorkerProcess(pipeline, 'gpu'));
        return {
          handle,
          exit,
          exitMs,
          waiting,
          reportedBeforeStop,
          output: first.output(),
          result: await handle.result(),
        };
      },
      { gpu: false },
    );

    // Exited by itself (grace, then a checkpoint), never killed; how long it took is reported below.
    expect(run.exit).toEqual({ code: 0, signal: null });
    expect(run.output).toContain('SIGTERM: no new tasks');
    expect(run.waiting.lastFailure?.type).toBe('TrainingInterrupted');
    const checkpoint = run.waiting.heartbeat?.checkpoint;
    expect(checkpoint).toBeTruthy();

    expect(run.result.status, run.result.reason).toBe('completed');
    const { outcome, reports } = await trainingOutcome(run.handle);
    expect(outcome?.kind).toBe('completed');
    expect(outcome?.attempt).toBe(2);
    const resumedFrom = outcome?.result?.resumedFrom ?? '';
    expect(resumedFrom).toBe(checkpoint?.key);
    // The checkpoint was taken at the stop: every epoch reported before SIGTERM is in it.
    expect(checkpointEpoch(resumedFrom).epoch).toBeGreaterThanOrEqual(run.reportedBeforeStop);
    expect(reports.length - new Set(reports).size).toBe(0);
    expect(reports).toEqual(Array.from({ length: EPOCHS }, (_, i) => i + 1));
    console.info(
      `[worker-crash] SIGTERM: exit code ${run.exit.code} after ${run.exitMs} ms; retry resumed from ${resumedFrom} ` +
        `(${run.reportedBeforeStop} epochs reported before the stop)`,
    );
  });
});
