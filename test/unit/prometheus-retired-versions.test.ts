import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LiveReport, VersionLive } from '../../monitoring/live-metrics';
import { selectBackend } from '../../ml/backend';
import { ServingMetrics } from '../../serving/metrics';
import { createServer, type InferenceServer } from '../../serving/server';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { cpuLoadSpec, publishVersion, recentRows } from '../helpers/models';
import { parsePrometheus, type Sample } from '../helpers/prometheus';

const SPEC = cpuLoadSpec('retired-series');

/** The versions the scrape carries series of for `model`, by metric name. */
function versionsByMetric(samples: Sample[], model: string): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const s of samples)
    if (s.labels.model === model && s.labels.version !== undefined)
      (out[s.name] ??= new Set()).add(s.labels.version);
  return Object.fromEntries(Object.entries(out).map(([name, versions]) => [name, [...versions].sort()]));
}

function liveOf(version: string, mae: number): VersionLive {
  const figures = { predictions: 3, metrics: { mae }, baselines: {} };
  return { version, holdout: null, all: figures, window: figures, days: [] };
}

function report(model: string, versions: VersionLive[]): LiveReport {
  return { model, metric: 'mae', windowDays: 7, versions };
}

describe('Prometheus series of a version the server no longer serves', () => {
  let dir: string;
  let server: InferenceServer;
  const scrape = async () => parsePrometheus((await server.app.inject('/metrics')).body);
  const predict = () =>
    server.app.inject({
      method: 'POST',
      url: '/predict',
      payload: { model: SPEC.name, rows: recentRows(SPEC, ['web-1']) },
    });

  beforeAll(async () => {
    await selectBackend('cpu');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-retired-series-'));
    const registry = new ModelRegistry(new FileBlobStore(dir));
    await registry.saveSpec(SPEC);
    await publishVersion(registry, SPEC, 'v1');
    await publishVersion(registry, SPEC, 'v2');
    await registry.setAlias(SPEC.name, 'v1', null);
    server = createServer({ registry });
    await server.loadProductionModels();
  });

  afterAll(async () => {
    await server.app.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('are removed at a reload, and come back when a rollback serves the version again', async () => {
    expect((await predict()).statusCode).toBe(200);
    expect(versionsByMetric(await scrape(), SPEC.name)).toMatchObject({
      retrain_model_version_info: ['v1'],
      retrain_predict_duration_seconds_count: ['v1'],
    });

    await server.pool.reload(SPEC.name, 'v2');
    expect(versionsByMetric(await scrape(), SPEC.name)).toEqual({ retrain_model_version_info: ['v2'] });
    expect((await predict()).statusCode).toBe(200);
    expect(versionsByMetric(await scrape(), SPEC.name)).toMatchObject({
      retrain_model_version_info: ['v2'],
      retrain_predict_duration_seconds_count: ['v2'],
    });

    await server.pool.reload(SPEC.name, 'v1');
    expect((await predict()).statusCode).toBe(200);
    const after = versionsByMetric(await scrape(), SPEC.name);
    expect(after.retrain_model_version_info).toEqual(['v1']);
    expect(after.retrain_predict_duration_seconds_count).toEqual(['v1']);
    // The histogram of v1 began again at the rollback: one request since.
    const count = (await scrape()).find(
      (s) =>
        s.name === 'retrain_predict_duration_seconds_count' &&
        s.labels.model === SPEC.name &&
        s.labels.version === 'v1',
    );
    expect(count?.value).toBe(1);
  });
});

describe('ServingMetrics of a replaced version', () => {
  const scrape = async (metrics: ServingMetrics) => parsePrometheus(await metrics.render());

  it('drops its live gauges and sets none for it from later reports', async () => {
    const metrics = new ServingMetrics();
    metrics.serving('m', 'v1');
    metrics.live(report('m', [liveOf('v1', 2)]));
    expect(versionsByMetric(await scrape(metrics), 'm').retrain_live_error).toEqual(['v1']);

    metrics.serving('m', 'v2');
    expect(versionsByMetric(await scrape(metrics), 'm').retrain_live_error).toBeUndefined();
    // The monitor window still holds v1's predictions for days.
    metrics.live(report('m', [liveOf('v1', 2), liveOf('v2', 1)]));
    expect(versionsByMetric(await scrape(metrics), 'm').retrain_live_error).toEqual(['v2']);
  });

  it('counts a request the replaced version was still answering, without timing it under that version', async () => {
    const metrics = new ServingMetrics();
    metrics.serving('m', 'v1');
    metrics.serving('m', 'v2');
    metrics.predicted('m', 'v1', 200, 0.01);
    const samples = await scrape(metrics);
    expect(versionsByMetric(samples, 'm').retrain_predict_duration_seconds_count).toBeUndefined();
    expect(
      samples.find((s) => s.name === 'retrain_predict_requests_total' && s.labels.model === 'm')?.value,
    ).toBe(1);
  });

  it('keeps the series of versions of other models', async () => {
    const metrics = new ServingMetrics();
    metrics.serving('a', 'v1');
    metrics.serving('b', 'v1');
    metrics.predicted('b', 'v1', 200, 0.01);
    metrics.serving('a', 'v2');
    expect(versionsByMetric(await scrape(metrics), 'b')).toEqual({
      retrain_model_version_info: ['v1'],
      retrain_predict_duration_seconds_bucket: ['v1'],
      retrain_predict_duration_seconds_count: ['v1'],
      retrain_predict_duration_seconds_sum: ['v1'],
    });
  });
});
