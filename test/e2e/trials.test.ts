import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporal } from '@temporalio/proto';
import { CancelledFailure } from '@temporalio/client';
import { OUTCOME_MEMO, type RunOutcome } from '../../common/retrain';
import {
  cancelRetrainSignal,
  epochProgressSignal,
  progressQuery,
  type EpochProgress,
} from '../../common/messages';
import { HyperparamsSchema, type Hyperparams, type Search } from '../../common/model-spec';
import type { TrainInput, TrainResult } from '../../common/stages';
import { gpuTaskQueueFor } from '../../common/task-queues';
import { planTrials } from '../../common/trials';
import { retrainWorkflow } from '../../workflows';
import { historyEvents, outcomes, scheduled, signals } from '../helpers/history';
import { eventually } from '../helpers/eventually';
import { createPipeline, type Pipeline } from '../helpers/pipeline';
import { runTrials } from '../helpers/trial-runs';

const EPOCHS = 3;
const TRIALS = 3;
// Plain SGD at learning rate 1 with 64 units on the MSE loss turns the loss infinite within the first
// epoch on this data (every seed tried); Adam at the same rate stays finite, if poor (it bounds each
// step by the rate). The default Huber loss bounds the gradients, so it would not diverge.
const SEARCH: Search = { optimizer: ['sgd', 'adam'], learningRate: { min: 1, max: 1 }, hiddenUnits: [64] };
const BASE = {
  hiddenUnits: 16,
  batchSize: 128,
  optimizer: 'adam',
  learningRate: 0.003,
  loss: 'mse',
} as const;

/** The first seed whose plan of `trials` trials from `base` makes exactly the trials in `sgd` SGD. */
function seedPlanning(base: Partial<Hyperparams>, trials: number, sgd: (plan: Hyperparams[]) => boolean) {
  for (let seed = 1; ; seed++) {
    const plan = planTrials(HyperparamsSchema.parse({ ...base, seed }), SEARCH, trials);
    if (sgd(plan)) return { seed, plan };
  }
}

const sgdTrials = (plan: Hyperparams[]) => plan.flatMap((hp, i) => (hp.optimizer === 'sgd' ? [i + 1] : []));

describe('retrainWorkflow with hyperparameter trials', () => {
  // Trial 1 (the spec's Adam) trains; exactly one of trials 2 and 3 draws SGD.
  const { seed, plan } = seedPlanning(BASE, TRIALS, (p) => sgdTrials(p).length === 1);
  const failing = sgdTrials(plan)[0] as number;
  let pipeline: Pipeline;
  beforeAll(async () => {
    pipeline = await createPipeline({
      epochs: EPOCHS,
      hyperparams: { ...BASE, seed },
      search: SEARCH,
      // Three epochs rarely beat the naive baselines; this test is about trials, not the gate.
      gate: { mustBeatBaseline: false },
    });
  });
  afterAll(async () => pipeline?.cleanup());

  it('trains every planned trial on the gpu queue; a diverging trial is logged and the best of the rest is registered', async () => {
    const { client, spec, taskQueue } = pipeline;
    const workflowId = `retrain-${spec.name}-trials-${Date.now()}`;
    const { result, progress } = await runTrials(pipeline, workflowId, TRIALS, { gpuSlots: 2 });

    expect(result.status, result.reason).toBe('completed');
    expect(result.version).toBe('v1');

    const events = await historyEvents(client.workflow.getHandle(workflowId));
    const trainings = scheduled<TrainInput>(events, 'trainModel');
    expect(trainings.map((t) => t.taskQueue)).toEqual(Array(TRIALS).fill(gpuTaskQueueFor(taskQueue)));
    expect(trainings.map((t) => t.input.trial)).toEqual([1, 2, 3]);
    expect(trainings.map((t) => t.input.hyperparams)).toEqual(plan);
    expect(trainings[0]?.input.hyperparams).toMatchObject(BASE);

    const metadata = await pipeline.deps.registry.getMetadata(spec.name, 'v1');
    const log = metadata?.trials ?? [];
    expect(log.map((t) => [t.trial, t.status])).toEqual(
      [1, 2, 3].map((trial) => [trial, trial === failing ? 'failed' : 'completed']),
    );
    expect(log[failing - 1]?.error).toMatch(/diverged/i);
    expect(log.map((t) => t.hyperparams)).toEqual(plan);
    const completed = log.filter((t) => t.status === 'completed');
    for (const t of completed) expect(t.valLoss).toEqual(expect.any(Number));
    // Forecast trials are ranked by the holdout figure under the gate's metric, not by validation loss.
    for (const t of completed) expect(t.score).toEqual(expect.any(Number));
    const best = completed.reduce((a, b) => ((b.score as number) < (a.score as number) ? b : a));
    expect(metadata?.hyperparams).toEqual(best.hyperparams);
    expect(metadata?.training.valLoss).toBe(best.valLoss);
    expect(metadata?.gate.metric).toBe('mase');
    expect(metadata?.metrics.mase).toBeCloseTo(best.score as number, 9);

    expect(progress.trials?.map((t) => t.status)).toEqual(log.map((t) => t.status));
    expect(progress.best).toEqual({ trial: best.trial, score: best.score });
    const trainStage = result.stages.find((s) => s.name === 'trainModel');
    expect(trainStage?.summary).toContain(`best of ${TRIALS} trials: #${best.trial}, 1 failed`);

    // Progress adds one signal per trial and epoch, never one per batch.
    const reports = signals<EpochProgress>(events, epochProgressSignal.name);
    for (const t of completed)
      expect(reports.filter((r) => r.trial === t.trial).map((r) => r.epoch)).toEqual([1, 2, 3]);
    expect(reports.filter((r) => r.trial === failing)).toEqual([]);
    expect(reports).toHaveLength(completed.length * EPOCHS);
  });

  it('fails non-retryably, naming every trial, when all trials diverge', async () => {
    const { client, spec, taskQueue } = pipeline;
    const sgdBase = { ...BASE, optimizer: 'sgd', learningRate: 1, hiddenUnits: 64, loss: 'mse' } as const;
    const allSgd = seedPlanning(sgdBase, 2, (p) => sgdTrials(p).length === 2);
    const run = pipeline.withWorkers(() =>
      client.workflow.execute(retrainWorkflow, {
        taskQueue,
        workflowId: `retrain-${spec.name}-all-fail-${Date.now()}`,
        args: [
          { model: spec.name, trials: 2, incremental: false, hyperparams: { ...sgdBase, seed: allSgd.seed } },
        ],
      }),
    );
    await expect(run).rejects.toMatchObject({
      cause: {
        type: 'TrainingDiverged',
        nonRetryable: true,
        message: expect.stringMatching(
          /^trainModel failed: All 2 trials failed: #1 Training diverged.*; #2 Training diverged/,
        ),
      },
    });
    expect(await pipeline.deps.registry.listVersions(spec.name)).toEqual(['v1']);
  });
});

describe('cancelling a multi-trial run', () => {
  const LONG = 400;
  let pipeline: Pipeline;
  beforeAll(async () => {
    // Long trainings: the cancel must stop them, not their end.
    pipeline = await createPipeline({
      epochs: LONG,
      hyperparams: { hiddenUnits: 16, batchSize: 64, seed: 5 },
    });
  });
  afterAll(async () => pipeline?.cleanup());

  it('runs at most GPU_SLOTS trials at once, and the cancel signal stops every trial and registers nothing', async () => {
    const { client, spec, taskQueue } = pipeline;
    const workflowId = `retrain-${spec.name}-trials-cancel-${Date.now()}`;
    const handle = client.workflow.getHandle<typeof retrainWorkflow>(workflowId);
    const { result, startedAtOnce, queued, progress } = await pipeline.withWorkers(
      async () => {
        await client.workflow.start(retrainWorkflow, {
          taskQueue,
          workflowId,
          args: [{ model: spec.name, trials: 3, incremental: false }],
        });
        const running = await eventually(
          'two trials running',
          async () => {
            const now = await handle.query(progressQuery);
            return (now.trials ?? []).filter((t) => t.status === 'running').length >= 2 && now;
          },
          90_000,
        );
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        const startedAtOnce = pending.filter(
          (a) =>
            a.activityType?.name === 'trainModel' &&
            a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
        ).length;
        const queued = (running.trials ?? []).filter((t) => t.status === 'queued').map((t) => t.trial);
        await handle.signal(cancelRetrainSignal, { reason: 'enough trials' });
        await expect(handle.result()).rejects.toMatchObject({ cause: expect.any(CancelledFailure) });
        const result = (await handle.describe()).memo?.[OUTCOME_MEMO] as RunOutcome;
        return {
          result,
          startedAtOnce,
          queued,
          progress: await handle.query(progressQuery),
        };
      },
      { gpuSlots: 2 },
    );

    expect(startedAtOnce).toBe(2);
    expect(queued).toHaveLength(1);
    expect(result.status).toBe('cancelled');
    expect(result.reason).toBe('enough trials');
    expect(result.stages.map((s) => [s.name, s.status])).toEqual([
      ['exportDataset', 'completed'],
      ['trainModel', 'cancelled'],
    ]);

    const events = await historyEvents(handle);
    const trainings = scheduled<TrainInput>(events, 'trainModel');
    expect(trainings).toHaveLength(3);
    for (const t of trainings)
      expect(outcomes<TrainResult>(events, t.eventId).map((o) => o.kind)).toEqual(['cancelled']);
    const epochs = signals<EpochProgress>(events, epochProgressSignal.name).map((r) => r.epoch);
    expect(Math.max(0, ...epochs)).toBeLessThan(LONG);
    expect(progress.trials?.map((t) => t.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect((await handle.describe()).raw.pendingActivities ?? []).toEqual([]);
    expect(await pipeline.deps.registry.listVersions(spec.name)).toEqual([]);
  });
});
