import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveMetrics } from '../../monitoring/live-metrics';
import { StoredLiveReports } from '../../monitoring/stored-live-reports';
import { createMeasureTriggers } from '../../activities/measure-triggers';
import { evaluateTriggers, TriggersSchema } from '../../common/triggers';
import { populationStability } from '../../ml/metrics';
import { DataBuffer } from '../../storage/buffer';
import { FileBlobStore } from '../../storage/file-store';
import { PredictionLog } from '../../storage/prediction-log';
import { ModelRegistry } from '../../storage/registry';
import { createServer } from '../../serving/server';
import { loadConfig } from '../../config/config';
import { hourlySpec, seedHourlyActuals } from '../helpers/live-buffer';
import { publishVersion, smallModel } from '../helpers/models';
import { cliWith } from '../helpers/run-cli';

const HOUR = 3_600_000;
const T0 = Date.UTC(2024, 0, 1);
const at = (h: number) => T0 + h * HOUR;

const spec = hourlySpec('live');

let dir: string;
let deps: Parameters<typeof liveMetrics>[0];
let log: PredictionLog;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-live-'));
  const buffer = new DataBuffer(path.join(dir, 'buffer'));
  // Host a: y = 10 + h at hours 0-5 and 24-26 (the next day), so h25's day before is h1.
  await seedHourlyActuals(buffer, spec.name, [0, 1, 2, 3, 4, 5, 24, 25, 26]);
  const registry = new ModelRegistry(new FileBlobStore(path.join(dir, 'store')));
  await registry.saveSpec(spec);
  // v1 was trained on hours 0-5: hours 24-26 arrived since.
  const dataset = {
    key: 'datasets/live/wf-v1',
    rows: { train: 4, holdout: 1 },
    window: { from: '2024-01-01T00:00:00Z', to: '2024-01-01T05:00:00Z' },
  };
  await publishVersion(registry, spec, 'v1', {
    net: smallModel(spec, 1),
    metadata: { metrics: { mae: 0.7 }, dataset },
  });
  await registry.setAlias(spec.name, 'v1', null);
  // As a server opens it: its answers go to the store, where the CLI's reader finds them.
  const predictionLog = (log = await PredictionLog.open(path.join(dir, 'predictions'), {
    store: registry.store,
  }));
  const answer = (version: string, h: number, value: number, predictedAt = at(30)) => ({
    model: spec.name,
    version,
    entity: 'a',
    time: at(h),
    for: at(h + 1),
    value,
    label: null,
    predictedAt,
  });
  await predictionLog.record([
    answer('v1', 0, 11.5), // actual 11: error 0.5; last value 10: error 1
    answer('v1', 2, 12, at(29)), // actual 13: error 1; last 12: error 1
    answer('v1', 2, 99), // a later answer for the same target (past timestamps): not scored
    answer('v1', 24, 36), // actual 35: error 1; last 34: error 1; day before (h1 = 11): error 24
    answer('v1', 26, 40), // h27 has not arrived: not scored
    answer('v2', 3, 13), // actual 14: error 1
  ]);
  await predictionLog.flush();
  deps = { spec, buffer, predictionLog, registry };
});

afterAll(async () => {
  await log.close();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('live metrics', () => {
  it('join each version’s predictions with the actuals that arrived, as a hand computation does', async () => {
    const report = await liveMetrics(deps);
    expect(report.metric).toBe('mae');
    expect(report.versions.map((v) => v.version)).toEqual(['v1', 'v2']);
    const [v1, v2] = report.versions;
    expect(v1!.holdout).toBe(0.7);
    expect(v1!.all.predictions).toBe(3);
    expect(v1!.all.metrics.mae).toBeCloseTo((0.5 + 1 + 1) / 3, 12);
    expect(v1!.all.metrics.rmse).toBeCloseTo(Math.sqrt((0.25 + 1 + 1) / 3), 12);
    expect(v1!.all.baselines.lastValue!.mae).toBeCloseTo(1, 12);
    // h1 and h3 have no day before: the last value stands in; h25's is h1.
    expect(v1!.all.baselines.sameHourDayBefore!.mae).toBeCloseTo((1 + 1 + 24) / 3, 12);
    expect(v1!.days.map((d) => [d.day, d.predictions, d.metrics.mae])).toEqual([
      ['2024-01-01', 2, 0.75],
      ['2024-01-02', 1, 1],
    ]);
    expect(v2!.holdout).toBeNull();
    expect(v2!.all).toMatchObject({ predictions: 1, metrics: { mae: 1 } });
  });

  it('counts the records since the production version was trained, and their drift', async () => {
    const { production } = await liveMetrics(deps);
    expect(production).toMatchObject({
      version: 'v1',
      trainedOn: { from: '2024-01-01T00:00:00Z', to: '2024-01-01T05:00:00Z' },
      newRecords: 3,
    });
    // Training's y = 10..15 fall one each in deciles 0, 1, 3, 5, 7 and 9 of themselves (cuts 10.5,
    // 11, ..., 14.5); the 3 records since (34-36) all in the top one.
    const reference = [1, 1, 0, 1, 0, 1, 0, 1, 0, 1];
    const recent = [0, 0, 0, 0, 0, 0, 0, 0, 0, 3];
    expect(production!.drift.y).toBeCloseTo(populationStability(reference, recent), 12);
    expect(production!.drift.y).toBeCloseTo(
      (1 - 1 / 6) * Math.log(6) + 5 * (1e-4 - 1 / 6) * Math.log(1e-4 * 6),
      12,
    );
  });

  it('computes the population stability index of two histograms', () => {
    expect(populationStability([5, 5, 5], [10, 10, 10])).toBe(0);
    expect(populationStability([50, 50], [90, 10])).toBeCloseTo(
      0.4 * Math.log(1.8) + -0.4 * Math.log(0.2),
      12,
    );
    expect(populationStability([1, 2], [0, 0])).toBeNaN();
  });

  it('keeps a sliding window of the last days before the newest target', async () => {
    const report = await liveMetrics({ ...deps, windowDays: 1 });
    // Newest target h25: the window holds targets after h1, so h3 and h25.
    expect(report.versions[0]!.window.predictions).toBe(2);
    expect(report.versions[0]!.window.metrics.mae).toBeCloseTo(1, 12);
  });

  it('is empty for a model nothing was predicted for', async () => {
    const other = { ...spec, name: 'silent' };
    expect((await liveMetrics({ ...deps, spec: other })).versions).toEqual([]);
  });
});

describe('the live figures on every surface', () => {
  const KEY = 'live-metrics-test-key-0123';

  it('GET /admin/monitor (behind the key), the retrain_live_error gauges and retrain monitor agree', async () => {
    const expected = await liveMetrics(deps);
    const server = createServer({
      registry: deps.registry,
      apiKey: KEY,
      predictionLog: log,
      buffer: deps.buffer,
    });
    try {
      const refused = await server.app.inject({ method: 'GET', url: '/admin/monitor?model=live' });
      expect(refused.statusCode).toBe(401);
      const reply = await server.app.inject({
        method: 'GET',
        url: '/admin/monitor?model=live',
        headers: { 'x-api-key': KEY },
      });
      expect(reply.statusCode).toBe(200);
      expect(reply.json()).toEqual(JSON.parse(JSON.stringify(expected)));
      const unknown = await server.app.inject({
        method: 'GET',
        url: '/admin/monitor?model=nobody',
        headers: { 'x-api-key': KEY },
      });
      expect(unknown.statusCode).toBe(404);
      const scraped = (await server.app.inject('/metrics')).body;
      const gauge = scraped.match(/^retrain_live_error\{model="live",version="v1",metric="mae"\} (\S+)$/m);
      expect(Number(gauge?.[1])).toBeCloseTo(expected.versions[0]!.window.metrics.mae!, 9);
    } finally {
      await server.app.close();
    }

    const config = loadConfig(
      {
        RETRAIN_STORE: `file://${path.join(dir, 'store')}`,
        RETRAIN_BUFFER_DIR: path.join(dir, 'buffer'),
        RETRAIN_PREDICTION_LOG_DIR: path.join(dir, 'predictions'),
      },
      dir,
    );
    const retrain = cliWith(config);
    const json = await retrain('monitor', '--model', 'live', '--json');
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(JSON.parse(JSON.stringify(expected)));
    const text = await retrain('monitor', '--model', 'live');
    expect(text.stdout).toContain(
      'v1: holdout mae 0.7000; live mae 0.8333 over 3 predictions (lastValue 1.0000, sameHourDayBefore 8.6667)',
    );
    expect(text.stdout).toContain('  2024-01-02: mae 1.0000 over 1');
    expect(text.stdout).toMatch(
      /^production v1, trained on 2024-01-01T00:00:00Z to 2024-01-01T05:00:00Z: 3 records since; drift \(PSI\) y 7\.\d{3}$/m,
    );
    expect((await retrain('monitor', '--model', 'live', '--days', '0')).stderr).toContain(
      '--days must be a whole number',
    );
  });
});

describe('the figures a trigger check measures', () => {
  it('are the production version’s new records, live window error beside its holdout, and drift', async () => {
    const withTriggers = {
      ...spec,
      triggers: TriggersSchema.parse({ liveErrorIncreasePct: 42, minLivePredictions: 2, liveWindowDays: 1 }),
    };
    await deps.registry.saveSpec(withTriggers);
    try {
      const measure = createMeasureTriggers({
        store: deps.registry.store,
        registry: deps.registry,
        buffer: deps.buffer,
        predictionLog: log,
        backend: 'cpu',
        servingUrls: [],
      });
      const measured = await measure({ model: 'live' });
      const meta = await deps.registry.getMetadata('live', 'v1');
      // The live window of 1 day holds h3 and h25 (errors 1 and 1): MAE 1 against holdout 0.7.
      expect(measured.figures).toEqual({
        production: 'v1',
        newRecords: 3,
        live: { metric: 'mae', value: 1, holdout: 0.7, predictions: 2, windowDays: 1 },
        drift: { y: expect.closeTo(7.672, 3) },
      });
      expect(measured.lastRun).toEqual({
        workflowId: meta!.workflowId,
        at: meta!.createdAt,
        what: 'registered v1',
      });
      expect(measured.scanned).toEqual({ predictions: 4, records: 9 });
      // The report it measured is kept for the servers and the dashboard.
      const kept = await new StoredLiveReports(deps.registry.store).latest('live');
      expect(kept?.report).toMatchObject({ model: 'live', windowDays: 1, production: { version: 'v1' } });
      expect(kept?.report.versions[0]?.window.predictions).toBe(2);
      // (1 - 0.7) / 0.7 = 42.86 %: over 42 %, under 43 %.
      const now = new Date(Date.parse(meta!.createdAt) + 7 * 3_600_000);
      const at42 = evaluateTriggers('live', measured.triggers, measured.figures, {
        now,
        lastRun: measured.lastRun,
      });
      expect(at42.reason).toBe(
        'triggered: live MAE 1.00 of v1 is 42.86 % worse than holdout 0.700 over 2 predictions (> 42 %)',
      );
      const at43 = { ...measured.triggers!, liveErrorIncreasePct: 43 };
      expect(evaluateTriggers('live', at43, measured.figures, { now }).decision).toBe('notTriggered');
    } finally {
      await deps.registry.saveSpec(spec);
    }
  });
});
