import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HyperparamsSchema, type Search } from '../../common/model-spec';
import type { TrainInput } from '../../common/stages';
import { gpuTaskQueueFor, pythonTaskQueueFor } from '../../common/task-queues';
import {
  searchSpace,
  withSuggestion,
  type SuggestTrialInput,
  type SuggestTrialResult,
} from '../../common/trials';
import { historyEvents, outcomes, scheduled } from '../helpers/history';
import { createPipeline, PERMISSIVE_GATE, type Pipeline } from '../helpers/pipeline';
import { startPipelinePythonWorker } from '../helpers/python-pipeline';
import type { PythonWorker } from '../helpers/python-worker';
import { runTrials } from '../helpers/trial-runs';

const TRIALS = 4;
const BASE = { hiddenUnits: 16, batchSize: 128, learningRate: 0.003, seed: 5 } as const;
const SEARCH: Search = {
  strategy: 'tpe',
  learningRate: { min: 0.0005, max: 0.02 },
  hiddenUnits: [8, 16, 32],
  startupTrials: 2,
};

/*
 * Search strategy tpe through the real pipeline: a TensorFlow.js forecaster on the flights data
 * trains four trials one after another in the gpu worker, trials 2-4 with the values the real
 * Python worker's suggestTrial (Optuna TPE, a child process on -py) gave from the trials before.
 */
describe('hyperparameter search with strategy tpe end to end', { timeout: 600_000 }, () => {
  let pipeline: Pipeline;
  let worker: PythonWorker;

  beforeAll(async () => {
    pipeline = await createPipeline({
      epochs: 2,
      hyperparams: BASE,
      search: SEARCH,
      // Two epochs rarely beat the naive baselines; this test is about the search, not the gate.
      gate: PERMISSIVE_GATE,
    });
    worker = await startPipelinePythonWorker(pipeline);
  });
  afterAll(async () => {
    await worker?.stop();
    await pipeline?.cleanup();
  });

  it('trains trial 1 as the spec says and trials 2-4 with suggested values, logging each and the best', async () => {
    const { client, spec, taskQueue } = pipeline;
    const workflowId = `retrain-${spec.name}-tpe-${Date.now()}`;
    const { result, progress } = await runTrials(pipeline, workflowId, TRIALS);
    expect(result.status, result.reason).toBe('completed');

    const events = await historyEvents(client.workflow.getHandle(workflowId));
    const trainings = scheduled<TrainInput>(events, 'trainModel');
    const asked = scheduled<SuggestTrialInput>(events, 'suggestTrial');
    expect(trainings.map((t) => [t.input.trial, t.taskQueue])).toEqual(
      [1, 2, 3, 4].map((k) => [k, gpuTaskQueueFor(taskQueue)]),
    );
    expect(asked.map((a) => [a.input.trial, a.input.trials.length, a.taskQueue])).toEqual(
      [2, 3, 4].map((k) => [k, k - 1, pythonTaskQueueFor(taskQueue, 'cpu')]),
    );

    // Trials 2-4 trained exactly what the Python worker suggested, inside the search's ranges.
    const base = HyperparamsSchema.parse({ ...spec.hyperparams });
    expect(trainings[0]?.input.hyperparams).toEqual(base);
    const space = searchSpace(spec.search);
    for (const [i, a] of asked.entries()) {
      const answer = outcomes<SuggestTrialResult>(events, a.eventId)[0]?.result;
      expect(answer?.trial).toBe(i + 2);
      const lr = answer?.params.learningRate as number;
      expect(lr).toBeGreaterThanOrEqual(0.0005);
      expect(lr).toBeLessThanOrEqual(0.02);
      expect([8, 16, 32]).toContain(answer?.params.hiddenUnits);
      expect(trainings[i + 1]?.input.hyperparams).toEqual(
        withSuggestion(base, i + 2, space, answer?.params ?? {}),
      );
    }

    // Each suggestion read the scores of the trials before it, as the run ranked them.
    const metadata = await pipeline.deps.registry.getMetadata(spec.name, 'v1');
    const log = metadata?.trials ?? [];
    expect(log.map((t) => [t.trial, t.status])).toEqual([1, 2, 3, 4].map((k) => [k, 'completed']));
    for (const t of log) expect(t.score).toEqual(expect.any(Number));
    expect(asked[2]?.input.trials.map((t) => t.score)).toEqual(log.slice(0, 3).map((t) => t.score));
    expect(log.map((t) => t.hyperparams)).toEqual(trainings.map((t) => t.input.hyperparams));

    const best = log.reduce((a, b) => ((b.score as number) < (a.score as number) ? b : a));
    expect(metadata?.hyperparams).toEqual(best.hyperparams);
    expect(metadata?.metrics.mase).toBeCloseTo(best.score as number, 9);
    expect(progress.best).toEqual({ trial: best.trial, score: best.score });
    expect(progress.trials?.map((t) => t.status)).toEqual(Array(TRIALS).fill('completed'));
    expect(worker.lines.filter((line) => line.includes('trial suggested'))).toHaveLength(3);
  });
});
