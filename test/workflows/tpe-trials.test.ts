import { randomUUID } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { progressQuery } from '../../common/messages';
import { HyperparamsSchema, ModelSpecSchema, type ModelSpec } from '../../common/model-spec';
import type { PythonTrainInput, RegisterInput, TrainInput, TrainResult } from '../../common/stages';
import { gpuTaskQueueFor, pythonTaskQueueFor } from '../../common/task-queues';
import type { SuggestTrialInput, SuggestTrialResult } from '../../common/trials';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { historyEvents, outcomes, scheduled } from '../helpers/history';
import { passingActivities, stubSpec, stubWorkers, type StubWorkers } from '../helpers/stub-workers';

const TRIALS = 4;
const SEED = 9;

/** What the stub suggestion answers for trial k: a value per searched name, different each trial. */
function suggested(trial: number, names: string[]): Record<string, unknown> {
  const values: Record<string, unknown> = {
    learningRate: 0.0015 * trial,
    hiddenUnits: trial % 2 === 0 ? 64 : 16,
    'params.max_depth': trial + 2,
  };
  return Object.fromEntries(names.map((name) => [name, values[name]]));
}

function suggestionFor(input: SuggestTrialInput): SuggestTrialResult {
  return { trial: input.trial, params: suggested(input.trial, Object.keys(input.space)) };
}

/** A training whose validation loss falls with the learning rate (tfjs) or the depth (python). */
function scoreOf(hp: { learningRate?: number; params?: Record<string, unknown> }): number {
  const depth = hp.params?.max_depth;
  return typeof depth === 'number' ? 1 / depth : 1 - (hp.learningRate ?? 0) * 100;
}

function result(model: string, trial: number | undefined, valLoss: number): TrainResult {
  return {
    candidateKey: `checkpoints/${model}/trial-${trial ?? 0}/final`,
    backend: 'stub',
    epochs: 2,
    loss: valLoss / 2,
    valLoss,
    samplesPerSec: 1000,
    warmStart: { skipped: 'no production model' },
  };
}

/**
 * retrainWorkflow with `search.strategy: "tpe"` on stub activities: `suggestTrial` (and the python
 * trainer's trainModel) answered by a stub worker on the python queue, as the Python worker would.
 */
describe('retrainWorkflow with search strategy tpe', () => {
  let env: StubWorkers;
  let native: NativeConnection;
  let pyWorker: Worker;
  let pyRunning: Promise<void>;
  const suggestions = new Map<string, SuggestTrialInput[]>();
  const pyTrainings = new Map<string, (input: PythonTrainInput) => Promise<TrainResult>>();

  beforeAll(async () => {
    env = await stubWorkers();
    native = await NativeConnection.connect({ address: inject('temporalAddress') });
    // Unversioned, as the Python worker polls.
    pyWorker = await Worker.create({
      connection: native,
      taskQueue: pythonTaskQueueFor(env.taskQueue, 'cpu'),
      activities: {
        suggestTrial: async (input: SuggestTrialInput) => {
          suggestions.set(input.model, [...(suggestions.get(input.model) ?? []), input]);
          return suggestionFor(input);
        },
        trainModel: async (input: PythonTrainInput) => {
          const train = pyTrainings.get(input.model);
          if (!train) throw ApplicationFailure.nonRetryable(`no python training for ${input.model}`);
          return train(input);
        },
      },
    });
    pyRunning = pyWorker.run();
  });
  afterAll(async () => {
    pyWorker?.shutdown();
    await pyRunning;
    await native?.close();
    await env?.close();
  });

  async function run(
    spec: (name: string) => ModelSpec,
    overrides: Parameters<StubWorkers['model']>[0],
    pyTrain?: (input: PythonTrainInput) => Promise<TrainResult>,
  ) {
    let registered: RegisterInput | undefined;
    const model = env.model({
      loadSpec: async ({ model: name }) => spec(name),
      registerModel: async (input) => {
        registered = input;
        return passingActivities().registerModel(input);
      },
      ...overrides,
    });
    if (pyTrain) pyTrainings.set(model, pyTrain);
    const workflowId = `retrain-${model}-tpe-${randomUUID().slice(0, 8)}`;
    const handle = await env.client.workflow.start(retrainWorkflow, {
      taskQueue: env.taskQueue,
      workflowId,
      args: [{ model, trials: TRIALS, incremental: false }],
    });
    const outcome = await handle.result();
    const progress = await handle.query(progressQuery);
    const events = await historyEvents(handle);
    return { model, outcome, progress, events, registered };
  }

  it('asks suggestTrial before each trial after the first, feeds each score back, and logs every trial and the best', async () => {
    const tfjsSpec = (name: string) =>
      ModelSpecSchema.parse({
        ...stubSpec(name),
        hyperparams: { seed: SEED, learningRate: 0.002, hiddenUnits: 32 },
        search: { strategy: 'tpe', learningRate: { min: 0.0001, max: 0.01 }, hiddenUnits: [16, 64] },
      });
    const { model, outcome, progress, events, registered } = await run(tfjsSpec, {
      trainModel: async (input) => {
        // Trial 3 fails: the next suggestion must see it as failed, and the search goes on.
        if (input.trial === 3) throw ApplicationFailure.nonRetryable('Training diverged', 'TrainingDiverged');
        return result(input.model, input.trial, scoreOf(input.hyperparams));
      },
    });
    expect(outcome.status, outcome.reason).toBe('completed');

    // One after another: each suggestion is scheduled after the trial before it ended.
    const trainings = scheduled<TrainInput>(events, 'trainModel');
    const asked = scheduled<SuggestTrialInput>(events, 'suggestTrial');
    expect(trainings.map((t) => t.input.trial)).toEqual([1, 2, 3, 4]);
    expect(asked.map((a) => a.input.trial)).toEqual([2, 3, 4]);
    expect(trainings.map((t) => t.taskQueue)).toEqual(Array(TRIALS).fill(gpuTaskQueueFor(env.taskQueue)));
    expect(asked.map((a) => a.taskQueue)).toEqual(Array(3).fill(pythonTaskQueueFor(env.taskQueue, 'cpu')));
    const order = [...trainings, ...asked].sort((a, b) => a.eventId - b.eventId);
    expect(order.map((e) => ('space' in (e.input as object) ? 'suggest' : 'train'))).toEqual([
      'train',
      'suggest',
      'train',
      'suggest',
      'train',
      'suggest',
      'train',
    ]);
    for (const t of trainings) expect(outcomes(events, t.eventId)).toHaveLength(1);

    // Trials 2..4 train the suggested values over the spec's own, each with its trial seed.
    const base = HyperparamsSchema.parse({ seed: SEED, learningRate: 0.002, hiddenUnits: 32 });
    expect(trainings[0]?.input.hyperparams).toEqual(base);
    for (const k of [2, 3, 4])
      expect(trainings[k - 1]?.input.hyperparams).toEqual({
        ...base,
        ...suggested(k, ['learningRate', 'hiddenUnits']),
        seed: SEED + k - 1,
      });
    const lossOf = (k: number) => scoreOf(trainings[k - 1]?.input.hyperparams ?? {});

    // Each suggestion reads the log of the trials before it: values in the space, score, status.
    const inputs = suggestions.get(model) ?? [];
    expect(inputs.map((i) => i.trial)).toEqual([2, 3, 4]);
    expect(inputs[0]).toMatchObject({
      space: {
        learningRate: { type: 'float', min: 0.0001, max: 0.01, log: true },
        hiddenUnits: { type: 'choice', choices: [16, 64] },
      },
      direction: 'minimize',
      seed: SEED,
      trials: [
        {
          trial: 1,
          params: { learningRate: 0.002, hiddenUnits: 32 },
          score: scoreOf(base),
          status: 'completed',
        },
      ],
    });
    expect(inputs[2]?.trials.map((t) => [t.trial, t.status, t.score])).toEqual([
      [1, 'completed', lossOf(1)],
      [2, 'completed', lossOf(2)],
      [3, 'failed', null],
    ]);
    expect(inputs[2]?.trials[2]?.params).toEqual(suggested(3, ['learningRate', 'hiddenUnits']));

    // The trial log and best, as random search records them.
    const best = 4; // the highest learning rate: the lowest validation loss
    expect(registered?.trials?.map((t) => [t.trial, t.status])).toEqual([
      [1, 'completed'],
      [2, 'completed'],
      [3, 'failed'],
      [4, 'completed'],
    ]);
    expect(registered?.trials?.map((t) => t.hyperparams)).toEqual(trainings.map((t) => t.input.hyperparams));
    expect(registered?.hyperparams).toEqual(trainings[best - 1]?.input.hyperparams);
    expect(progress.best).toEqual({ trial: best, score: lossOf(best) });
    expect(progress.trials?.map((t) => t.status)).toEqual(['completed', 'completed', 'failed', 'completed']);
    expect(outcome.stages.find((s) => s.name === 'trainModel')?.summary).toContain(
      `best of ${TRIALS} trials: #${best}, 1 failed`,
    );
  });

  it("suggests a python kind's own parameters and trains them on the python queue", async () => {
    const params = { max_depth: 2, learning_rate: 0.2 };
    const pySpec = (name: string) =>
      ModelSpecSchema.parse({
        ...stubSpec(name),
        trainer: 'python',
        hyperparams: { architecture: 'xgboost', params, seed: SEED },
        search: { strategy: 'tpe', startupTrials: 2, params: { max_depth: { type: 'int', min: 2, max: 8 } } },
      });
    const { model, outcome, events, registered } = await run(pySpec, {}, async (input) =>
      result(input.model, input.trial, scoreOf(input.hyperparams)),
    );
    expect(outcome.status, outcome.reason).toBe('completed');

    const trainings = scheduled<PythonTrainInput>(events, 'trainModel');
    expect(trainings.map((t) => t.taskQueue)).toEqual(
      Array(TRIALS).fill(pythonTaskQueueFor(env.taskQueue, 'cpu')),
    );
    expect(trainings.map((t) => t.input.hyperparams.params)).toEqual([
      params,
      ...[2, 3, 4].map((k) => ({ ...params, max_depth: k + 2 })),
    ]);
    const inputs = suggestions.get(model) ?? [];
    expect(inputs[0]).toMatchObject({
      space: { 'params.max_depth': { type: 'int', min: 2, max: 8, log: false } },
      startupTrials: 2,
      trials: [{ trial: 1, params: { 'params.max_depth': 2 }, status: 'completed', score: 0.5 }],
    });
    // Deepest wins: max_depth 6 in trial 4.
    expect(registered?.hyperparams.params).toEqual({ ...params, max_depth: 6 });
    expect(registered?.trials?.map((t) => t.hyperparams.params?.max_depth)).toEqual([2, 4, 5, 6]);
  });

  it('stops the search at the trial a cancel reaches: no later trial is asked for or trained', async () => {
    let training = false;
    const model = env.model({
      loadSpec: async ({ model: name }) =>
        ModelSpecSchema.parse({ ...stubSpec(name), search: { strategy: 'tpe', hiddenUnits: [16, 64] } }),
      trainModel: async (input) => {
        if (input.trial !== 2) return result(input.model, input.trial, 0.5);
        training = true;
        const ctx = Context.current();
        for (;;) {
          ctx.heartbeat();
          await ctx.sleep(50);
        }
      },
    });
    const handle = await env.client.workflow.start(retrainWorkflow, {
      taskQueue: env.taskQueue,
      workflowId: `retrain-${model}-tpe-cancel-${randomUUID().slice(0, 8)}`,
      args: [{ model, trials: TRIALS, incremental: false }],
    });
    await eventually('trial 2 to be training', () => training, 10_000, 20);
    await handle.cancel();

    const err: unknown = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    const events = await historyEvents(handle);
    expect(scheduled<TrainInput>(events, 'trainModel').map((t) => t.input.trial)).toEqual([1, 2]);
    expect(scheduled<SuggestTrialInput>(events, 'suggestTrial').map((a) => a.input.trial)).toEqual([2]);
    const progress = await handle.query(progressQuery);
    expect(progress.trials?.map((t) => t.status)).toEqual(['completed', 'cancelled', 'queued', 'queued']);
  });

  it('leaves random search as it was: every trial at once, nothing asked', async () => {
    const randomSpec = (name: string) =>
      ModelSpecSchema.parse({ ...stubSpec(name), search: { hiddenUnits: [16, 64] } });
    const { model, outcome, events } = await run(randomSpec, {});
    expect(outcome.status, outcome.reason).toBe('completed');
    expect(scheduled(events, 'suggestTrial')).toEqual([]);
    expect(suggestions.get(model)).toBeUndefined();
    // Every training is scheduled before any of them ends.
    const trainings = scheduled<TrainInput>(events, 'trainModel');
    expect(trainings).toHaveLength(TRIALS);
    const ids = new Set(trainings.map((t) => t.eventId));
    const firstEnd = Math.min(
      ...events
        .filter((e) => ids.has(Number(e.activityTaskCompletedEventAttributes?.scheduledEventId)))
        .map((e) => Number(e.eventId)),
    );
    for (const t of trainings) expect(t.eventId).toBeLessThan(firstEnd);
  });
});
