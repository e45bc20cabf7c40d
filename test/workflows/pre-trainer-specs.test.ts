import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelSpecSchema } from '../../common/model-spec';
import type { TrainInput } from '../../common/stages';
import { gpuTaskQueueFor, trainingTaskQueueFor } from '../../common/task-queues';
import { trainerOf } from '../../common/trainer-kinds';
import { ROOT } from '../../scripts/lib/processes';
import { retrainWorkflow } from '../../workflows';
import { historyEvents, scheduled } from '../helpers/history';
import { stubWorkers, type StubWorkers } from '../helpers/stub-workers';

interface Recorded {
  source: string;
  spec: Record<string, unknown>;
  hyperparams: Record<string, unknown>;
}

/**
 * Specs written before the `trainer` field (examples/ and the specs of the tests of that time), with
 * the hyperparams common/model-spec.ts parsed them to at 761c588, the commit before the field.
 */
async function recorded(): Promise<Recorded[]> {
  const file = path.join(__dirname, 'fixtures', 'pre-trainer-specs.json');
  return (JSON.parse(await fs.readFile(file, 'utf8')) as { specs: Recorded[] }).specs;
}

/** The spec as it is today: examples/ are read from disk, the tests' specs as recorded. */
async function today({ source, spec }: Recorded): Promise<Record<string, unknown>> {
  const example = /^examples\/[\w-]+\.json$/.exec(source);
  return example
    ? (JSON.parse(await fs.readFile(path.join(ROOT, source), 'utf8')) as Record<string, unknown>)
    : spec;
}

/*
 * Every spec written before trainers existed behaves as it did: it parses to the same hyperparams
 * (no `params`, no `device`, nothing added), names no trainer and so is trained by TensorFlow.js,
 * and the workflow sends its trainModel to the gpu queue with those hyperparams.
 */
describe('specs written before the trainer field', () => {
  let specs: Recorded[];
  let stubs: StubWorkers;

  beforeAll(async () => {
    specs = await recorded();
    stubs = await stubWorkers();
  });
  afterAll(async () => stubs?.close());

  it('examples/ holds no spec the record misses', async () => {
    const files = (await fs.readdir(path.join(ROOT, 'examples'))).filter((f) => f.endsWith('.json'));
    expect(files.map((f) => `examples/${f}`).sort()).toEqual(
      specs
        .map((s) => s.source)
        .filter((s) => s.startsWith('examples/'))
        .sort(),
    );
  });

  it('each parses to the hyperparams it parsed to before, with trainer tfjs and the gpu queue', async () => {
    expect(specs.length).toBeGreaterThanOrEqual(10);
    for (const entry of specs) {
      const spec = ModelSpecSchema.parse(await today(entry));
      expect(spec.hyperparams, entry.source).toEqual(entry.hyperparams);
      expect(spec.trainer, entry.source).toBeUndefined();
      expect(trainerOf(spec), entry.source).toBe('tfjs');
      expect(trainingTaskQueueFor('retrain', trainerOf(spec), spec.hyperparams.device)).toBe('retrain-gpu');
    }
  });

  it('the workflow trains each on the gpu queue with those hyperparams', async () => {
    for (const entry of specs) {
      let model = '';
      model = stubs.model({
        loadSpec: async () => ModelSpecSchema.parse({ ...(await today(entry)), name: model }),
      });
      const workflowId = `retrain-${model}-pre-trainer`;
      const result = await stubs.client.workflow.execute(retrainWorkflow, {
        taskQueue: stubs.taskQueue,
        workflowId,
        args: [{ model }],
      });
      expect(result.status, entry.source).toBe('completed');
      const events = await historyEvents(stubs.client.workflow.getHandle(workflowId));
      const trainings = scheduled<TrainInput>(events, 'trainModel');
      expect(
        trainings.map((t) => t.taskQueue),
        entry.source,
      ).toEqual([gpuTaskQueueFor(stubs.taskQueue)]);
      // A search plans trials 2..n from it; trial 1 (or the only training) keeps the spec's own.
      expect(trainings[0]?.input.hyperparams, entry.source).toEqual(entry.hyperparams);
    }
  });
});
