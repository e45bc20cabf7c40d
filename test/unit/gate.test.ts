import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ActivityDeps } from '../../activities';
import { createExportDataset } from '../../activities/export-dataset';
import { loadManifest } from '../../datasets/dataset-io';
import { entityFigures } from '../../datasets/candidate-files';
import { createValidateModel, decide } from '../../activities/validate-model';
import type { Preprocessing } from '../../common/artefacts';
import { GateSchema, ModelSpecSchema, type ModelSpec } from '../../common/model-spec';
import { selectBackend } from '../../ml/backend';
import { sqlString, withDuckDb } from '../../storage/duckdb';
import { publishVersion, saveModel } from '../helpers/models';
import { localDeps } from '../helpers/pipeline';

const gate = GateSchema.parse({ tolerance: 0.05 });
const baselines = { lastValue: { mae: 10 }, constant: { mae: 12 } };

describe('validation gate on constructed figures', () => {
  it('passes a candidate that beats the baselines when there is no production model', () => {
    const d = decide({ mae: 8 }, baselines, undefined, 'mae', gate);
    expect(d.passed).toBe(true);
    expect(d.reason).toBe(
      'candidate mae 8.0000 passes; no production model yet; baselines mae: lastValue 10.0000, constant 12.0000',
    );
  });
  it('rejects a candidate that does not beat the best baseline, with the figures', () => {
    const d = decide({ mae: 10.5 }, baselines, undefined, 'mae', gate);
    expect(d.passed).toBe(false);
    expect(d.reason).toBe(
      'candidate mae 10.5000 does not beat the lastValue baseline (10.0000), the best naive one; baselines mae: lastValue 10.0000, constant 12.0000',
    );
  });
  it('passes a candidate within the tolerance of production and rejects one beyond it', () => {
    const production = { version: 'v3', metrics: { mae: 8 } };
    expect(decide({ mae: 8.3 }, baselines, production, 'mae', gate).passed).toBe(true);
    const worse = decide({ mae: 8.5 }, baselines, production, 'mae', gate);
    expect(worse.passed).toBe(false);
    expect(worse.reason).toContain(
      'candidate mae 8.5000 is worse than production v3 (8.0000) beyond the 5% tolerance (limit 8.4000)',
    );
  });
  it('treats higher F1 as better for classifiers and shows a baseline coverage', () => {
    const cls = { lastValue: { f1: 0.5 }, sameHourDayBefore: { f1: 0.55, coverage: 0.875 } };
    expect(decide({ f1: 0.6 }, cls, { version: 'v1', metrics: { f1: 0.62 } }, 'f1', gate).passed).toBe(true);
    const d = decide({ f1: 0.52 }, cls, undefined, 'f1', gate);
    expect(d.passed).toBe(false);
    expect(d.reason).toContain('sameHourDayBefore 0.5500 (coverage 87.5%)');
  });
  it('skips the baselines when the gate does not require beating them', () => {
    const lenient = GateSchema.parse({ mustBeatBaseline: false });
    expect(decide({ mae: 11 }, baselines, undefined, 'mae', lenient).passed).toBe(true);
  });
});

/*
 * A constructed holdout, scored by the real validateModel: hourly v = 100 + 20 sin(2πh/24) + N(0, 1)
 * for 4 hosts over 15 days, with the hour of day as features hs = sin, hc = cos. The next value
 * is then an exact linear function of hs and hc, so a hand-set linear model has error N(0, 1)
 * (MAE ≈ 0.8), "same hour one day earlier" about √2 times that (≈ 1.13) and "last value" ≈ 3.4.
 * Four hours of host h1 are missing the day before the holdout starts, so the day-before baseline
 * falls back to the last value there and reports its coverage below 1.
 */
const HOSTS = ['h0', 'h1', 'h2', 'h3'];
const DAYS = 15;
const OMEGA = (2 * Math.PI) / 24;

describe('validateModel on a constructed holdout', () => {
  let dir: string;
  let deps: ActivityDeps;
  const forecast = spec('gate-forecast', { gate: { metric: 'mae' } });
  const fleet = spec('gate-fleet', {});
  const classify = spec('gate-classify', { task: 'classify', threshold: 100 });
  const datasets: Record<string, string> = {};
  const pre: Record<string, Preprocessing> = {};

  beforeAll(async () => {
    await selectBackend('cpu');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-gate-'));
    deps = localDeps(dir);
    const csv = path.join(dir, 'metrics.csv');
    await fs.writeFile(csv, syntheticCsv());
    await withDuckDb(async (conn) => {
      for (const s of [forecast, fleet, classify]) {
        await deps.registry.saveSpec(s);
        await deps.buffer.appendQuery(
          conn,
          s.name,
          `SELECT ts::TIMESTAMP AS ts, host, v::DOUBLE AS v, hs::DOUBLE AS hs, hc::DOUBLE AS hc FROM read_csv(${sqlString(csv)}, header = true)`,
          { timeColumn: 'ts', entityColumn: 'host' },
        );
      }
    });
    for (const s of [forecast, fleet, classify]) {
      const exported = await createExportDataset(deps)({ model: s.name, workflowId: `wf-${s.name}` });
      if (exported.status !== 'ready') throw new Error(`export failed: ${exported.reason}`);
      datasets[s.name] = exported.datasetKey;
      pre[s.name] = (await loadManifest(deps.store, exported.datasetKey)).preprocessing;
    }
  });

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Saves a linear model predicting the exact next value plus `bias` (raw units) and validates it. */
  async function validate(model: ModelSpec, name: string, bias: number) {
    const candidateKey = `checkpoints/${model.name}/${name}`;
    await saveModel(deps.registry, candidateKey, linearModel(pre[model.name]!, bias));
    return createValidateModel(deps)({ model: model.name, datasetKey: datasets[model.name]!, candidateKey });
  }

  it('scores the naive baselines, same hour one day earlier included, with its coverage', async () => {
    const result = await validate(forecast, 'exact', 0);
    const { lastValue, sameHourDayBefore, constant } = result.baselines;
    expect(Object.keys(result.baselines)).toEqual(['lastValue', 'sameHourDayBefore', 'constant']);
    expect(sameHourDayBefore!.coverage).toBeGreaterThan(0.9);
    expect(sameHourDayBefore!.coverage).toBeLessThan(1);
    expect(sameHourDayBefore!.mae).toBeGreaterThan(1);
    expect(sameHourDayBefore!.mae).toBeLessThan(lastValue!.mae as number);
    expect(lastValue!.mae).toBeLessThan(constant!.mae as number);
    expect(Object.keys(result.candidate).sort()).toEqual(['mae', 'mape', 'mase', 'rmse']);
    expect(result.candidate.mae).toBeLessThan(0.9);
    expect(result.passed).toBe(true);
    expect(result.production).toBeUndefined();
    expect(result.reason).toMatch(/^candidate mae 0\.\d{4} passes; no production model yet; baselines mae: /);
  });

  it('rejects a candidate worse than the best baseline with the figures that decided it', async () => {
    const result = await validate(forecast, 'biased', 3);
    expect(result.passed).toBe(false);
    const best = result.baselines.sameHourDayBefore!.mae!.toFixed(4);
    expect(result.reason).toContain(
      `candidate mae ${result.candidate.mae!.toFixed(4)} does not beat the sameHourDayBefore baseline (${best})`,
    );
    expect(result.reason).toContain(`lastValue ${result.baselines.lastValue!.mae!.toFixed(4)}`);
    expect(result.reason).toMatch(/sameHourDayBefore \d+\.\d{4} \(coverage 9\d\.\d%\)/);
  });

  it('against production: passes a candidate within the tolerance and rejects one beyond it', async () => {
    await publishVersion(deps.registry, forecast, 'v1', {
      net: linearModel(pre[forecast.name]!, 0),
      metadata: { preprocessing: pre[forecast.name]! },
    });
    await deps.registry.setAlias(forecast.name, 'v1', 'wf-production');

    const close = await validate(forecast, 'close', 0.1);
    expect(close.production?.version).toBe('v1');
    expect(close.passed).toBe(true);
    expect(close.reason).toContain('within the 5% tolerance');

    const worse = await validate(forecast, 'worse', 0.5);
    const prod = worse.production!.metrics.mae!;
    expect(worse.candidate.mae).toBeGreaterThan(prod * 1.05);
    expect(worse.candidate.mae).toBeLessThan(worse.baselines.sameHourDayBefore!.mae as number);
    expect(worse.passed).toBe(false);
    expect(worse.reason).toContain(
      `candidate mae ${worse.candidate.mae!.toFixed(4)} is worse than production v1 (${prod.toFixed(4)}) beyond the 5% tolerance`,
    );
  });

  it('says so in the reason when production cannot be scored on the holdout (other inputs)', async () => {
    const theirs = { ...pre[forecast.name]!, lookback: pre[forecast.name]!.lookback + 1 };
    await publishVersion(deps.registry, forecast, 'v2', {
      net: linearModel(pre[forecast.name]!, 0),
      metadata: { preprocessing: theirs },
    });
    await deps.registry.setAlias(forecast.name, 'v2', 'wf-other-inputs');
    const result = await validate(forecast, 'exact-again', 0);
    expect(result.production).toBeUndefined();
    expect(result.passed).toBe(true);
    expect(result.reason).toContain(
      `passes; production v2 not compared: its inputs (v,hs,hc x ${theirs.lookback}, horizon 1) differ from the candidate's (v,hs,hc x ${pre[forecast.name]!.lookback}, horizon 1); baselines mae: `,
    );
  });

  it('auto decides several entities by MASE: per-entity MAE over its train last-value MAE, reported per entity', async () => {
    const result = await validate(fleet, 'exact-fleet', 0);
    expect(result.metric).toBe('mase');
    // Last value's holdout error over its own train error: about 1, whatever the entity's scale.
    expect(result.baselines.lastValue!.mase).toBeGreaterThan(0.8);
    expect(result.baselines.lastValue!.mase).toBeLessThan(1.25);
    expect(result.candidate.mase).toBeLessThan(result.baselines.sameHourDayBefore!.mase as number);
    expect(result.reason).toMatch(
      /^candidate mase 0\.\d{4} passes; no production model yet; baselines mase: lastValue /,
    );
    const figures = await entityFigures(deps.store, `checkpoints/${fleet.name}/exact-fleet`);
    expect(Object.keys(figures ?? {}).sort()).toEqual(HOSTS);
    const h0 = figures!.h0!;
    expect(h0.samples).toBeGreaterThan(0);
    expect(h0.candidate.mae).toBeLessThan(h0.baselines.lastValue!.mae as number);
    // The fleet figure is the mean of the entities' own.
    const mean = HOSTS.reduce((sum, h) => sum + figures![h]!.candidate.mase!, 0) / HOSTS.length;
    expect(result.candidate.mase).toBeCloseTo(mean, 10);
  });

  it('classifiers: the day-before baseline predicts dayBefore > threshold; a never-positive candidate is rejected', async () => {
    const result = await validate(classify, 'never', -1000);
    expect(Object.keys(result.candidate).sort()).toEqual([
      'accuracy',
      'auc',
      'f1',
      'logLoss',
      'precision',
      'recall',
    ]);
    expect(result.candidate.f1).toBe(0);
    // The sine crosses the threshold twice a day; a day earlier it is on the same side except near a crossing.
    expect(result.baselines.sameHourDayBefore!.f1).toBeGreaterThan(0.85);
    expect(result.baselines.sameHourDayBefore!.coverage).toBeLessThan(1);
    expect(result.passed).toBe(false);
    expect(result.reason).toMatch(/^candidate f1 0\.0000 does not beat the \w+ baseline \(0\.\d{4}\)/);
    const good = await validate(classify, 'sharp', 0);
    expect(good.candidate.f1).toBeGreaterThan(0.9);
  });

  function spec(name: string, extra: Record<string, unknown>): ModelSpec {
    return ModelSpecSchema.parse({
      name,
      task: 'forecast',
      timeColumn: 'ts',
      entityColumn: 'host',
      features: ['v', 'hs', 'hc'],
      target: 'v',
      lookback: 2,
      windowDays: 30,
      minRecords: 100,
      ...extra,
    });
  }
});

/**
 * A one-layer model in the dataset's normalised units whose raw prediction is
 * 100 + 20 (hs cos ω + hc sin ω) + bias: the next value exactly, or the sign of its excess over 100.
 */
function linearModel(pre: Preprocessing, bias: number): tf.LayersModel {
  const nf = pre.features.length;
  const width = pre.lookback * nf;
  const raw = new Array<number>(width).fill(0);
  const lag0 = (pre.lookback - 1) * nf;
  raw[lag0 + pre.features.indexOf('hs')] = 20 * Math.cos(OMEGA);
  raw[lag0 + pre.features.indexOf('hc')] = 20 * Math.sin(OMEGA);
  const offset = 100 + bias;
  const classify = pre.task === 'classify';
  // Classifiers: a steep sigmoid of (prediction - threshold).
  const scale = classify ? 5 : 1 / pre.targetStd;
  const centre = classify ? (pre.threshold as number) : pre.targetMean;
  const kernel = raw.map((a, c) => a * (pre.std[c % nf] as number) * scale);
  const shift = raw.reduce((sum, a, c) => sum + a * (pre.mean[c % nf] as number), 0);
  const net = tf.sequential();
  net.add(tf.layers.dense({ units: 1, inputShape: [width], activation: classify ? 'sigmoid' : 'linear' }));
  net.setWeights([tf.tensor2d(kernel, [width, 1]), tf.tensor1d([(shift + offset - centre) * scale])]);
  return net;
}

function syntheticCsv(): string {
  const random = normal(7);
  const lines = ['ts,host,v,hs,hc'];
  const start = Date.UTC(2024, 2, 1);
  for (let t = 0; t < DAYS * 24; t++) {
    const hs = Math.sin(OMEGA * (t % 24));
    const hc = Math.cos(OMEGA * (t % 24));
    for (const host of HOSTS) {
      const v = 100 + 20 * hs + random();
      const day = Math.floor(t / 24);
      if (host === 'h1' && day === DAYS - 4 && t % 24 >= 5 && t % 24 < 9) continue;
      lines.push(`${new Date(start + t * 3_600_000).toISOString()},${host},${v},${hs},${hc}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Seeded standard normal draws (mulberry32 + Box-Muller), so the holdout is the same in every run. */
function normal(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}
