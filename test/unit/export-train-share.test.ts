import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { createExportDataset } from '../../activities/export-dataset';
import { ModelSpecSchema, type ModelSpecInput } from '../../common/model-spec';
import { loadManifest, openDataset } from '../../datasets/dataset-io';
import { sqlString, withDuckDb } from '../../storage/duckdb';
import { localDeps } from '../helpers/pipeline';

/** 40 hourly records of two hosts: 78 samples of lookback 2, horizon 1. */
const HOURS = 40;

let dir: string;
let deps: ActivityDeps;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-train-share-'));
  deps = localDeps(dir);
});
afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

async function createModel(overrides: Partial<ModelSpecInput> = {}): Promise<string> {
  const spec = ModelSpecSchema.parse({
    name: `share-${randomUUID().slice(0, 8)}`,
    task: 'forecast',
    timeColumn: 'ts',
    entityColumn: 'host',
    features: ['cpu'],
    target: 'cpu',
    lookback: 2,
    horizon: 1,
    windowDays: 3,
    minRecords: 10,
    ...overrides,
  });
  await deps.registry.saveSpec(spec);
  const start = Date.parse('2024-05-01T00:00:00Z');
  const values = Array.from({ length: HOURS }, (_, h) => new Date(start + h * 3_600_000).toISOString())
    .flatMap((ts, h) =>
      ['a', 'b'].map((host, i) => `(TIMESTAMP ${sqlString(ts)}, '${host}', ${h + i * 100}::DOUBLE)`),
    )
    .join(', ');
  await withDuckDb((conn) =>
    deps.buffer.appendQuery(conn, spec.name, `SELECT * FROM (VALUES ${values}) t(ts, host, cpu)`, {
      timeColumn: 'ts',
      entityColumn: 'host',
    }),
  );
  return spec.name;
}

/** Exports `model` for a fresh workflow id; the manifest, and the loader's reading of it. */
async function exported(model: string, trainShare?: number) {
  const workflowId = `wf-${randomUUID().slice(0, 8)}`;
  const result = await createExportDataset(deps)({
    model,
    workflowId,
    ...(trainShare ? { trainShare } : {}),
  });
  if (result.status !== 'ready') throw new Error(result.reason);
  const manifest = await loadManifest(deps.store, result.datasetKey);
  // The loader splits the file again, by the manifest's share (it refuses a count that differs).
  const { index } = await openDataset(deps.store, manifest);
  return { manifest, loaded: { train: index.train.length, holdout: index.holdout.length } };
}

describe('the train share of an export', () => {
  it("splits at the input's train share, records it in the manifest, and the loader splits the same way", async () => {
    const model = await createModel();
    const half = await exported(model, 0.5);
    const usual = await exported(model);
    expect(usual.manifest.trainShare).toBe(0.8);
    expect(half.manifest.trainShare).toBe(0.5);
    expect(half.manifest.rows.train).toBeLessThan(usual.manifest.rows.train);
    expect(half.manifest.rows.holdout).toBeGreaterThan(usual.manifest.rows.holdout);
    // The cut is the share's quantile of the 78 sample times: train targets lie before it.
    expect(half.manifest.rows.train / (half.manifest.rows.train + half.manifest.rows.holdout)).toBeCloseTo(
      0.5,
      1,
    );
    expect(half.loaded).toEqual(half.manifest.rows);
    expect(usual.loaded).toEqual(usual.manifest.rows);
  });

  it("takes the spec's train share when the input names none", async () => {
    const model = await createModel({ trainShare: 0.6 });
    expect((await exported(model)).manifest.trainShare).toBe(0.6);
    expect((await exported(model, 0.9)).manifest.trainShare).toBe(0.9);
  });
});
