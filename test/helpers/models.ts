import type * as tf from '@tensorflow/tfjs';

import { preprocessingOf, type ModelMetadata, type Preprocessing } from '../../common/artefacts';
import { HyperparamsSchema, ModelSpecSchema, type ModelSpec } from '../../common/model-spec';
import { createModel } from '../../ml/model';
import { storeSaveHandler } from '../../ml/store-io';
import { putJson } from '../../storage/open-store';
import type { ModelRegistry } from '../../storage/registry';

/** The serving tests' forecaster: next `cpu` of a host from 3 steps of `cpu` and `mem`. */
export function cpuLoadSpec(name = 'cpu-load'): ModelSpec {
  return ModelSpecSchema.parse({
    name,
    task: 'forecast',
    timeColumn: 'ts',
    entityColumn: 'host',
    features: ['cpu', 'mem'],
    target: 'cpu',
    lookback: 3,
  });
}

/** Preprocessing of `spec` with round normalisation statistics (mean 50, std 10) unless given. */
export function preprocessingFor(spec: ModelSpec, stats: Partial<Preprocessing> = {}): Preprocessing {
  const n = spec.features.length;
  return preprocessingOf(spec, {
    mean: Array(n).fill(50),
    std: Array(n).fill(10),
    targetMean: spec.task === 'forecast' ? 50 : 0,
    targetStd: spec.task === 'forecast' ? 10 : 1,
    ...stats,
  });
}

/** Complete metadata.json for `version` of `spec`, as registerModel would write it. */
export function metadataFor(
  spec: ModelSpec,
  version: string,
  overrides: Partial<ModelMetadata> = {},
): ModelMetadata {
  return {
    model: spec.name,
    version,
    createdAt: new Date().toISOString(),
    workflowId: `wf-${version}`,
    runId: 'run',
    parentVersion: null,
    backend: 'cpu',
    hyperparams: HyperparamsSchema.parse({ hiddenUnits: 4 }),
    epochs: 1,
    training: { loss: 1, valLoss: null, samplesPerSec: 1, warmStart: 'none' },
    metrics: {},
    baselines: {},
    gate: { passed: true, reason: 'test', metric: spec.task === 'forecast' ? 'mae' : 'f1' },
    dataset: {
      key: 'datasets/x',
      rows: { train: 1, holdout: 1 },
      window: { from: '2024-01-01', to: '2024-01-02' },
    },
    preprocessing: preprocessingFor(spec),
    ...overrides,
  };
}

/** A small real tfjs model of `spec`'s shape; `seed` makes the weights (and so the answers) differ. */
export function smallModel(spec: ModelSpec, seed: number, lookback = spec.lookback): tf.LayersModel {
  const hp = HyperparamsSchema.parse({ hiddenUnits: 4, seed });
  return createModel({ task: spec.task, lookback, features: spec.features.length }, hp);
}

/** Saves `net` (disposed afterwards) under `prefix` the way training does: model.json and weights.bin. */
export async function saveModel(registry: ModelRegistry, prefix: string, net: tf.LayersModel): Promise<void> {
  try {
    await net.save(storeSaveHandler(registry.store, prefix));
  } finally {
    net.dispose();
  }
}

/**
 * Writes a complete registry version: a real model (default: {@link smallModel} with `seed`) and its
 * metadata. Written directly, not through registerModel, so tests can also build broken versions.
 */
export async function publishVersion(
  registry: ModelRegistry,
  spec: ModelSpec,
  version: string,
  opts: { seed?: number; net?: tf.LayersModel; metadata?: Partial<ModelMetadata> } = {},
): Promise<void> {
  const prefix = registry.versionPrefix(spec.name, version);
  await saveModel(registry, prefix, opts.net ?? smallModel(spec, opts.seed ?? 1));
  await putJson(registry.store, `${prefix}/metadata.json`, metadataFor(spec, version, opts.metadata));
}

/** Cuts bytes off a version's weights.bin: complete files that no server may load. */
export async function corruptWeights(registry: ModelRegistry, model: string, version: string): Promise<void> {
  const key = `${registry.versionPrefix(model, version)}/weights.bin`;
  const weights = await registry.store.get(key);
  if (!weights) throw new Error(`${key} is missing`);
  await registry.store.put(key, weights.body.slice(0, -7));
}

/** `lookback` rows per entity, one minute apart, newest first, in the ingestion schema of `spec`. */
export function recentRows(
  spec: ModelSpec,
  entities: string[],
  count = spec.lookback,
): Record<string, unknown>[] {
  const out = entities.flatMap((entity, e) =>
    Array.from({ length: count }, (_, i) => {
      const row: Record<string, unknown> = {
        [spec.timeColumn]: new Date(Date.UTC(2024, 0, 1, 0, i)).toISOString(),
        ...(spec.entityColumn === undefined ? {} : { [spec.entityColumn]: entity }),
      };
      spec.features.forEach((f, k) => (row[f] = 40 + e + i + k));
      return row;
    }),
  );
  return out.reverse();
}

/** The version `POST /predict` answers with for `entity`'s recent rows; fails unless it answers 200. */
export async function predictedVersion(url: string, spec: ModelSpec, entity = 'a'): Promise<string> {
  const res = await fetch(`${url}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: spec.name, rows: recentRows(spec, [entity]) }),
  });
  if (res.status !== 200) throw new Error(`POST ${url}/predict answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { version: string }).version;
}
