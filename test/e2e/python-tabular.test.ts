import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ModelSpecSchema, type ModelSpec, type ModelSpecInput } from '../../common/model-spec';
import type { RetrainInput, RetrainResult } from '../../common/retrain';
import { seededRandom } from '../../common/seeded-random';
import { pythonTaskQueueFor } from '../../common/task-queues';
import { retrainWorkflow } from '../../workflows';
import { createPipeline, type Pipeline } from '../helpers/pipeline';
import { holdoutCases, sameAnswer } from '../helpers/python-holdout';
import { startPythonWorker, type PythonWorker } from '../helpers/python-worker';
import { servePipeline, type ServedPipeline } from '../helpers/serve-pipeline';
import { expectScoredAsValidated } from '../helpers/trainer-score';

const API_KEY = 'python-tabular-key-0123456789';
const MEASURES = ['beak_length', 'beak_depth', 'flipper_length', 'body_mass'] as const;

interface Penguin {
  Species: string;
  'Beak Length (mm)': number | null;
  'Beak Depth (mm)': number | null;
  'Flipper Length (mm)': number | null;
  'Body Mass (g)': number | null;
}

/**
 * The penguins table of the vega-datasets package (344 real Palmer penguins of three species),
 * complete rows only, in a seeded shuffle (the file is sorted by species, and the holdout is the
 * newest rows), one row an hour from 2024-01-01, under slug column names.
 */
async function penguinRows(): Promise<Record<string, unknown>[]> {
  const file = path.join(path.dirname(require.resolve('vega-datasets')), '..', 'data', 'penguins.json');
  const penguins = JSON.parse(await fs.readFile(file, 'utf8')) as Penguin[];
  const random = seededRandom(13);
  return penguins
    .filter((p) => p['Beak Length (mm)'] !== null && p['Body Mass (g)'] !== null)
    .map((p) => ({ p, key: random() }))
    .sort((a, b) => a.key - b.key)
    .map(({ p }, i) => ({
      observed_at: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString(),
      beak_length: p['Beak Length (mm)'],
      beak_depth: p['Beak Depth (mm)'],
      flipper_length: p['Flipper Length (mm)'],
      body_mass: p['Body Mass (g)'],
      species: p.Species,
    }));
}

function penguinSpec(overrides: Partial<ModelSpecInput>): ModelSpec {
  return ModelSpecSchema.parse({
    name: `penguins-${randomUUID().slice(0, 8)}`,
    trainer: 'python',
    task: 'classify',
    timeColumn: 'observed_at',
    features: [...MEASURES],
    horizon: 0,
    lookback: 1,
    windowDays: 30,
    minRecords: 200,
    ...overrides,
  });
}

/*
 * Tabular models trained by the python trainer through the real pipeline, on the penguins rows
 * ingested through POST /ingest: a multi-class classifier of the species, a regression of the body
 * mass and k-means segments, each gated against its baselines (majority and prior, mean and median)
 * or production (clusterers), the decision and its figures in the result; a weaker candidate is
 * rejected and production stays. /predict answers as the trainer's own model on holdout rows.
 */
describe(
  'tabular models through the python trainer: gated against their baselines, served',
  { timeout: 600_000 },
  () => {
    let pipeline: Pipeline;
    let worker: PythonWorker;
    let served: ServedPipeline;
    let serverUrl: string;
    let rows: Record<string, unknown>[];

    beforeAll(async () => {
      pipeline = await createPipeline();
      served = await servePipeline(pipeline, API_KEY, { ingest: true });
      serverUrl = served.url;
      worker = await startPythonWorker({
        storeUri: `file://${path.join(pipeline.dir, 'store')}`,
        taskQueue: pythonTaskQueueFor(pipeline.taskQueue, 'cpu'),
        temporalAddress: inject('temporalAddress'),
        env: { OMP_NUM_THREADS: '1' },
      });
      rows = await penguinRows();
    });

    afterAll(async () => {
      await served?.close();
      await worker?.stop();
      await pipeline?.cleanup();
    });

    const post = (route: string, body: unknown) =>
      fetch(`${serverUrl}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
        body: JSON.stringify(body),
      });

    /** Saves the spec and ingests the penguins through POST /ingest. */
    async function create(spec: ModelSpec) {
      await pipeline.deps.registry.saveSpec(spec);
      const ingested = await post('/ingest', { model: spec.name, rows, extraColumns: 'drop' });
      expect(ingested.status, await ingested.clone().text()).toBe(200);
      expect(((await ingested.json()) as { inserted: number }).inserted).toBe(rows.length);
    }

    /** Runs a retrain to its end; returns its result and workflow id. */
    async function retrain(spec: ModelSpec, name: string, input: Partial<RetrainInput> = {}) {
      const workflowId = `retrain-${spec.name}-${name}`;
      const result: RetrainResult = await pipeline.withWorkers(
        () =>
          pipeline.client.workflow.execute(retrainWorkflow, {
            taskQueue: pipeline.taskQueue,
            workflowId,
            args: [{ model: spec.name, reloadTargets: [serverUrl], ...input }],
          }),
        { gpu: false },
      );
      return { result, workflowId };
    }

    /** /predict on holdout rows of the run against the trainer's own answers for them. */
    async function expectServedAsTrainer(spec: ModelSpec, workflowId: string) {
      const cases = await holdoutCases({
        store: pipeline.deps.store,
        registry: pipeline.deps.registry,
        spec,
        workflowId,
        version: 'v1',
        dir: pipeline.dir,
        ks: [0, 1, 2, 10, 30, -1],
      });
      const predicted = await post('/predict', { model: spec.name, rows: cases.flatMap((c) => c.rows) });
      expect(predicted.status, await predicted.clone().text()).toBe(200);
      const body = (await predicted.json()) as {
        version: string;
        predictions: {
          time: string;
          value: number;
          label?: string;
          probabilities?: Record<string, number>;
        }[];
      };
      expect(body.version).toBe('v1');
      expect(body.predictions.map((p) => Date.parse(p.time))).toEqual(
        cases.map((c) => Date.parse(String(c.rows[0]?.observed_at))),
      );
      for (const [i, sample] of cases.entries()) {
        const p = body.predictions[i];
        expect(
          sameAnswer(p?.value ?? NaN, sample.expected),
          `row ${sample.k}: ${p?.value} vs ${sample.expected}`,
        ).toBe(true);
        for (const [name, own] of Object.entries(sample.probabilities ?? {}))
          expect(sameAnswer(p?.probabilities?.[name] ?? NaN, own), `row ${sample.k} P(${name})`).toBe(true);
      }
      return body.predictions;
    }

    it('multi-class species (xgboost): beats the majority and prior baselines on macro F1, /predict answers class names as the trainer', async () => {
      const spec = penguinSpec({
        target: 'species',
        epochs: 60,
        hyperparams: { architecture: 'xgboost', params: { max_depth: 3, learning_rate: 0.2 }, seed: 5 },
      });
      await create(spec);
      const { result, workflowId } = await retrain(spec, 'species');
      expect(result.status, result.reason).toBe('completed');
      expect(result.backend).toMatch(/^xgboost /);
      const meta = await pipeline.deps.registry.getMetadata(spec.name, 'v1');
      expect(meta?.format).toBe('onnx');
      expect(meta?.preprocessing).toMatchObject({ classes: ['Adelie', 'Chinstrap', 'Gentoo'] });
      expect(Object.keys(meta?.baselines ?? {}).sort()).toEqual(['majority', 'prior']);
      expect(meta?.gate).toMatchObject({ passed: true, metric: 'f1' });
      await expectScoredAsValidated(pipeline.client, workflowId, 'f1', meta?.metrics.f1);
      expect(meta?.metrics.f1).toBeGreaterThan(
        Math.max(meta?.baselines.majority?.f1 ?? 1, meta?.baselines.prior?.f1 ?? 1),
      );
      expect(result.stages.find((s) => s.name === 'validateModel')?.summary).toMatch(
        /^candidate f1 [\d.]+ passes; no production model yet; baselines f1: majority [\d.]+, prior [\d.]+$/,
      );
      console.info(
        `[python-tabular] species: f1 ${meta?.metrics.f1}, baselines majority ${meta?.baselines.majority?.f1}, ` +
          `prior ${meta?.baselines.prior?.f1}`,
      );
      const answers = await expectServedAsTrainer(spec, workflowId);
      for (const p of answers) {
        expect(['Adelie', 'Chinstrap', 'Gentoo']).toContain(p.label);
        expect(p.value).toBe(Math.max(...Object.values(p.probabilities ?? {})));
      }
    });

    it('regression of body mass (lightgbm) beats mean and median; a weaker candidate is rejected by the gate, production stays', async () => {
      const spec = penguinSpec({
        task: 'regress',
        features: ['beak_length', 'beak_depth', 'flipper_length'],
        target: 'body_mass',
        epochs: 80,
        hyperparams: {
          architecture: 'lightgbm',
          params: { num_leaves: 8, learning_rate: 0.1, min_child_samples: 10 },
          seed: 5,
        },
      });
      await create(spec);
      const good = await retrain(spec, 'mass');
      expect(good.result.status, good.result.reason).toBe('completed');
      const meta = await pipeline.deps.registry.getMetadata(spec.name, 'v1');
      expect(meta?.gate).toMatchObject({ passed: true, metric: 'mae' });
      await expectScoredAsValidated(pipeline.client, good.workflowId, 'mae', meta?.metrics.mae);
      expect(meta?.metrics.mae).toBeLessThan(
        Math.min(meta?.baselines.mean?.mae ?? 0, meta?.baselines.median?.mae ?? 0),
      );
      expect(meta?.metrics.r2).toBeGreaterThan(0.5);
      await expectServedAsTrainer(spec, good.workflowId);

      // Two rounds at a tiny rate: about the train mean, far worse than production.
      const weak = await retrain(spec, 'mass-weak', {
        epochs: 2,
        hyperparams: { params: { learning_rate: 0.01 } },
      });
      expect(weak.result.status).toBe('rejected');
      const rejection = weak.result.rejection;
      if (rejection?.kind !== 'gate') throw new Error(`not a gate rejection: ${JSON.stringify(rejection)}`);
      expect(rejection.metric).toBe('mae');
      expect(Object.keys(rejection.baselines).sort()).toEqual(['mean', 'median']);
      expect(rejection.production).toMatchObject({ version: 'v1' });
      // It barely beats the mean baseline; production, three times better, rejects it.
      expect(rejection.decision).toMatchObject({
        by: 'production',
        reference: rejection.production?.metrics.mae,
      });
      expect(rejection.decision.candidate).toBe(rejection.candidate.mae);
      expect(rejection.candidate.mae).toBeGreaterThan(rejection.production?.metrics.mae ?? Infinity);
      expect(weak.result.reason).toContain('candidate mae');
      expect(weak.result.metrics?.mae).toBe(rejection.candidate.mae);
      console.info(
        `[python-tabular] body mass: v1 mae ${meta?.metrics.mae}, baselines mean ${meta?.baselines.mean?.mae}, ` +
          `median ${meta?.baselines.median?.mae}; weak candidate rejected by ${rejection.decision.by}: ${weak.result.reason}`,
      );
      expect(await pipeline.deps.registry.listVersions(spec.name)).toEqual(['v1']);
      expect((await pipeline.deps.registry.getAlias(spec.name, 'production'))?.value.version).toBe('v1');
    });

    it('k-means segments are scored by silhouette: the first version passes, a worse segmentation loses to production', async () => {
      const spec = penguinSpec({
        task: 'cluster',
        hyperparams: { architecture: 'kmeans', params: { n_clusters: 2, n_init: 8 }, seed: 5 },
        // Any candidate scoring below production's silhouette is rejected.
        gate: { tolerance: 0 },
      });
      await create(spec);
      const first = await retrain(spec, 'segments');
      expect(first.result.status, first.result.reason).toBe('completed');
      const meta = await pipeline.deps.registry.getMetadata(spec.name, 'v1');
      expect(meta?.gate).toMatchObject({ passed: true, metric: 'silhouette' });
      await expectScoredAsValidated(
        pipeline.client,
        first.workflowId,
        'silhouette',
        meta?.metrics.silhouette,
      );
      expect(meta?.metrics.silhouette).toBeGreaterThan(0.3);
      const answers = await expectServedAsTrainer(spec, first.workflowId);
      for (const p of answers) expect([0, 1]).toContain(p.value);

      const worse = await retrain(spec, 'segments-12', {
        hyperparams: { params: { n_clusters: 12, n_init: 8 } },
      });
      expect(worse.result.status).toBe('rejected');
      const rejection = worse.result.rejection;
      if (rejection?.kind !== 'gate') throw new Error(`not a gate rejection: ${JSON.stringify(rejection)}`);
      expect(rejection.metric).toBe('silhouette');
      expect(rejection.baselines).toEqual({});
      expect(rejection.decision).toMatchObject({ by: 'production' });
      expect(rejection.production).toMatchObject({ version: 'v1' });
      expect(rejection.candidate.silhouette).toBeLessThan(
        rejection.production?.metrics.silhouette ?? -Infinity,
      );
      console.info(`[python-tabular] segments: 12 clusters rejected: ${worse.result.reason}`);
      expect(await pipeline.deps.registry.listVersions(spec.name)).toEqual(['v1']);
    });
  },
);
