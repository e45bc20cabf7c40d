import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelNameAttribute } from '../../common/messages';
import { ModelSpecSchema, type ModelSpecInput } from '../../common/model-spec';
import { seededRandom } from '../../common/seeded-random';
import { retrainWorkflow } from '../../workflows';
import { createPipeline, type Pipeline } from '../helpers/pipeline';
import { servePipeline, type ServedPipeline } from '../helpers/serve-pipeline';

const API_KEY = 'e2e-tabular-key-0123456789';
const FEATURES = ['Horsepower', 'Weight_in_lbs', 'Displacement', 'Cylinders', 'Acceleration'];

interface Car {
  Miles_per_Gallon: number | null;
  Horsepower: number | null;
  Weight_in_lbs: number;
  Displacement: number;
  Cylinders: number;
  Acceleration: number;
  Origin: string;
}

/**
 * The cars table of the vega-datasets package (real 1970-82 cars), complete rows only, in a seeded
 * shuffle (the file is sorted by model year, and a holdout of only the newest years scores the shift
 * in fuel economy between decades more than the model), one row an hour from 2024-01-01. `usa` is 1
 * for a car built in the USA.
 */
async function carRows(): Promise<Record<string, unknown>[]> {
  const file = path.join(path.dirname(require.resolve('vega-datasets')), '..', 'data', 'cars.json');
  const cars = JSON.parse(await fs.readFile(file, 'utf8')) as Car[];
  const random = seededRandom(11);
  return cars
    .filter((c) => c.Miles_per_Gallon !== null && c.Horsepower !== null)
    .map((c) => ({ c, key: random() }))
    .sort((a, b) => a.key - b.key)
    .map(({ c }, i) => ({
      observed_at: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString(),
      ...Object.fromEntries(FEATURES.map((f) => [f, c[f as keyof Car]])),
      Miles_per_Gallon: c.Miles_per_Gallon,
      usa: c.Origin === 'USA' ? 1 : 0,
    }));
}

function tabularSpec(overrides: Partial<ModelSpecInput>) {
  return ModelSpecSchema.parse({
    name: `cars-${randomUUID().slice(0, 8)}`,
    task: 'regress',
    timeColumn: 'observed_at',
    features: FEATURES,
    target: 'Miles_per_Gallon',
    horizon: 0,
    lookback: 1,
    windowDays: 30,
    minRecords: 200,
    epochs: 60,
    hyperparams: { architecture: 'mlp', hiddenUnits: 16, batchSize: 32, learningRate: 0.01, seed: 5 },
    ...overrides,
  });
}

describe('tabular models end to end: rows in, a regression and a classifier trained, gated and served', () => {
  let pipeline: Pipeline;
  let served: ServedPipeline;
  let serverUrl: string;
  let rows: Record<string, unknown>[];

  beforeAll(async () => {
    pipeline = await createPipeline();
    served = await servePipeline(pipeline, API_KEY, { ingest: true });
    serverUrl = served.url;
    rows = await carRows();
  });

  afterAll(async () => {
    await served?.close();
    await pipeline?.cleanup();
  });

  const post = (route: string, body: unknown) =>
    fetch(`${serverUrl}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      body: JSON.stringify(body),
    });

  /** Saves the spec, ingests the cars through POST /ingest and runs a retrain to its end. */
  async function train(spec: ReturnType<typeof tabularSpec>) {
    await pipeline.deps.registry.saveSpec(spec);
    const ingested = await post('/ingest', { model: spec.name, rows, extraColumns: 'drop' });
    expect(ingested.status, await ingested.clone().text()).toBe(200);
    expect(((await ingested.json()) as { inserted: number }).inserted).toBe(rows.length);
    return pipeline.withWorkers(async () => {
      const handle = await pipeline.client.workflow.start(retrainWorkflow, {
        taskQueue: pipeline.taskQueue,
        workflowId: `retrain-${spec.name}-e2e-${Date.now()}`,
        args: [{ model: spec.name, reloadTargets: [serverUrl] }],
        typedSearchAttributes: [{ key: ModelNameAttribute, value: spec.name }],
      });
      return handle.result();
    });
  }

  /** The cars' rows as /predict takes them: time and features, no label. */
  const unlabelled = (count: number) =>
    rows.slice(-count).map(({ Miles_per_Gallon: _mpg, usa: _usa, ...row }) => row);

  it('trains a regression of miles per gallon that beats the mean and median baselines, and serves one answer per row', async () => {
    const spec = tabularSpec({});
    const result = await train(spec);
    expect(result.status, result.reason).toBe('completed');
    expect(Object.keys(result.metrics ?? {}).sort()).toEqual(['mae', 'r2', 'rmse', 'spearman']);
    const validation = result.stages.find((s) => s.name === 'validateModel');
    expect(validation?.summary).toMatch(
      /^candidate mae [\d.]+ passes; no production model yet; baselines mae: mean [\d.]+, median [\d.]+$/,
    );
    const meta = await pipeline.deps.registry.getMetadata(spec.name, 'v1');
    expect(Object.keys(meta?.baselines ?? {}).sort()).toEqual(['mean', 'median']);
    expect(meta?.gate).toMatchObject({ passed: true, metric: 'mae' });
    expect(meta?.metrics.mae).toBeLessThan(
      Math.min(meta?.baselines.mean?.mae ?? 0, meta?.baselines.median?.mae ?? 0),
    );
    expect(meta?.metrics.r2).toBeGreaterThan(0);

    const asked = unlabelled(5);
    const predicted = await post('/predict', { model: spec.name, rows: asked });
    expect(predicted.status).toBe(200);
    const body = (await predicted.json()) as { version: string; predictions: Record<string, unknown>[] };
    expect(body.version).toBe('v1');
    expect(body.predictions.map((p) => p.time)).toEqual(asked.map((r) => r.observed_at));
    for (const p of body.predictions) {
      expect(p).not.toHaveProperty('entity');
      expect(p.value).toBeGreaterThan(5);
      expect(p.value).toBeLessThan(60);
    }

    const bad = await post('/predict', { model: spec.name, rows: [{ ...asked[0], Horsepower: 'fast' }] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('rows[0].Horsepower');
  });

  it('trains a binary classifier of US-built cars that beats the majority and prior baselines, and answers labels', async () => {
    const spec = tabularSpec({
      task: 'classify',
      target: 'usa',
      threshold: 0.5,
      hyperparams: { architecture: 'logistic', batchSize: 32, learningRate: 0.05, seed: 5 },
    });
    const result = await train(spec);
    expect(result.status, result.reason).toBe('completed');
    expect(Object.keys(result.metrics ?? {}).sort()).toEqual([
      'accuracy',
      'auc',
      'f1',
      'logLoss',
      'precision',
      'recall',
    ]);
    const meta = await pipeline.deps.registry.getMetadata(spec.name, 'v1');
    expect(Object.keys(meta?.baselines ?? {}).sort()).toEqual(['majority', 'prior']);
    expect(meta?.gate).toMatchObject({ passed: true, metric: 'f1' });
    expect(meta?.metrics.f1).toBeGreaterThan(
      Math.max(meta?.baselines.majority?.f1 ?? 1, meta?.baselines.prior?.f1 ?? 1),
    );

    const predicted = await post('/predict', { model: spec.name, rows: unlabelled(4) });
    expect(predicted.status).toBe(200);
    const body = (await predicted.json()) as { predictions: { value: number; label: number }[] };
    expect(body.predictions).toHaveLength(4);
    for (const p of body.predictions) {
      expect(p.value).toBeGreaterThanOrEqual(0);
      expect(p.value).toBeLessThanOrEqual(1);
      expect(p.label).toBe(p.value >= 0.5 ? 1 : 0);
    }
  });
});
