import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { createRegisterModel } from '../../activities/register-model';
import type { DatasetManifest } from '../../common/artefacts';
import { HyperparamsSchema, ModelSpecSchema, type ModelSpec } from '../../common/model-spec';
import type { MetricSet, RegisterInput } from '../../common/stages';
import { selectBackend } from '../../ml/backend';
import { DataBuffer } from '../../storage/buffer';
import { FileBlobStore } from '../../storage/file-store';
import { putJson } from '../../storage/open-store';
import { ModelRegistry } from '../../storage/registry';
import { cpuLoadSpec, preprocessingFor, saveModel, smallModel } from '../helpers/models';
import { seedFile } from '../helpers/seed-blocks';

/** The failure predictor retrain replaces (a copy of ../shared/seeds/004_4ad887f53e972edc.txt). */
const SEED = seedFile('004_4ad887f53e972edc.txt');

/** The seed's model metadata example: the JSON block under its `### Model Performance` heading, as written. */
function seedMetadataExample(): Record<string, unknown> {
  const text = fs.readFileSync(SEED, 'utf8');
  const heading = '### Model Performance\n';
  const from = text.indexOf(heading);
  expect(from, `the seed has a "${heading.trim()}" heading`).toBeGreaterThanOrEqual(0);
  const body = text.slice(from + heading.length);
  const section = body.slice(0, body.search(/^#{1,6} /m));
  const block = /```json\n([\s\S]*?)\n```/.exec(section);
  expect(block, 'the section holds a json block').not.toBeNull();
  return JSON.parse(block![1]!) as Record<string, unknown>;
}

/** A JSON value's kind as a client sees it: `number`, `string`, `array of string`, ... */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `array of ${[...new Set(value.map(kindOf))].join(', ')}`;
  return typeof value;
}

/** The failure predictor's shape: cpu, memory, error rate and response time -> failed. */
const PREDICTOR = ModelSpecSchema.parse({
  name: 'failure-predictor',
  task: 'classify',
  timeColumn: 'ts',
  features: ['cpu_usage', 'memory_usage', 'error_rate', 'response_time'],
  target: 'failed',
  threshold: 0.5,
  horizon: 0,
  lookback: 1,
  hyperparams: { architecture: 'logistic' },
});

const FORECASTER = cpuLoadSpec('cpu-forecast');

let dir: string;
let store: FileBlobStore;

beforeAll(async () => {
  await selectBackend('cpu');
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'retrain-predictor-'));
  store = new FileBlobStore(dir);
});
afterAll(async () => fsp.rm(dir, { recursive: true, force: true }));

/** Registers a trained candidate of `spec` with holdout `metrics` as a run would; returns its input. */
async function register(spec: ModelSpec, metrics: MetricSet): Promise<RegisterInput> {
  const registry = new ModelRegistry(store);
  await registry.saveSpec(spec);
  const workflowId = `retrain-${spec.name}-20260101T000000Z`;
  const candidateKey = `checkpoints/${spec.name}/${workflowId}/final`;
  await saveModel(registry, candidateKey, smallModel(spec, 7));
  const datasetKey = `datasets/${spec.name}/${workflowId}`;
  const manifest: DatasetManifest = {
    model: spec.name,
    workflowId,
    createdAt: '2026-01-01T00:00:00Z',
    window: { from: '2025-12-01T00:00:00Z', to: '2026-01-01T00:00:00Z', days: 31 },
    rows: { train: 800, holdout: 200 },
    columns: ['ts', ...spec.features],
    timeRange: { trainFrom: 'a', trainTo: 'b', holdoutFrom: 'c', holdoutTo: 'd' },
    preprocessing: preprocessingFor(spec),
    files: { rows: { key: `${datasetKey}/rows.parquet`, sha256: '0', bytes: 0 } },
  };
  await putJson(store, `${datasetKey}/manifest.json`, manifest);
  const metric = spec.task === 'classify' ? 'f1' : 'mae';
  const input: RegisterInput = {
    model: spec.name,
    workflowId,
    runId: randomUUID(),
    datasetKey,
    candidateKey,
    hyperparams: HyperparamsSchema.parse(spec.hyperparams),
    training: {
      candidateKey,
      backend: 'cpu',
      epochs: 3,
      loss: 0.5,
      valLoss: 0.6,
      samplesPerSec: 1000,
      warmStart: { skipped: 'no production version' },
    },
    validation: {
      passed: true,
      reason: 'beats the baselines',
      metric,
      decision: { by: 'noProduction', candidate: metrics[metric] ?? 0 },
      gate: { metric, mustBeatBaseline: true, tolerance: 0.05 },
      candidate: metrics,
      baselines: {},
    },
  };
  const deps: ActivityDeps = {
    store,
    registry,
    buffer: new DataBuffer(dir),
    backend: 'cpu',
    servingUrls: [],
  };
  await new MockActivityEnvironment().run(createRegisterModel(deps), input);
  return input;
}

/** The version's metadata.json as stored: what a client of the seed reads. */
async function storedMetadata(model: string): Promise<Record<string, unknown>> {
  const blob = await store.get(`models/${model}/versions/v1/metadata.json`);
  return JSON.parse(Buffer.from(blob!.body).toString('utf8')) as Record<string, unknown>;
}

describe('the failure predictor’s fields in a version’s metadata', () => {
  it('reads the seed’s metadata example: model_id, created, accuracy, model_type, version, features', () => {
    expect(Object.keys(seedMetadataExample()).sort()).toEqual(
      ['accuracy', 'created', 'features', 'model_id', 'model_type', 'version'].sort(),
    );
  });

  it('gives a registered classifier every field of the seed’s example, each of the seed’s type', async () => {
    const input = await register(PREDICTOR, { f1: 0.71, accuracy: 0.82, auc: 0.9 });
    const stored = await storedMetadata(PREDICTOR.name);
    for (const [field, example] of Object.entries(seedMetadataExample())) {
      expect(stored, `metadata.json has ${field}`).toHaveProperty(field);
      expect(kindOf(stored[field]), `the kind of ${field}`).toBe(kindOf(example));
    }
    expect(stored).toMatchObject({
      model_id: input.runId,
      created: Date.parse(stored.createdAt as string) / 1000,
      accuracy: 0.82,
      model_type: 'logistic',
      version: 'v1',
      features: PREDICTOR.features,
    });
    // Read back through the registry (the dashboard, `models show`), the fields stay.
    const read = await new ModelRegistry(store).getMetadata(PREDICTOR.name, 'v1');
    expect(read).toMatchObject({ model_id: input.runId, accuracy: 0.82, features: PREDICTOR.features });
  });

  it('writes accuracy null for a model that is no classifier, the other fields as for one', async () => {
    const input = await register(FORECASTER, { mae: 1.2, rmse: 1.5 });
    expect(await storedMetadata(FORECASTER.name)).toMatchObject({
      model_id: input.runId,
      accuracy: null,
      model_type: 'mlp',
      version: 'v1',
      features: FORECASTER.features,
    });
  });
});
