import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { candidatePreprocessing } from '../../datasets/candidate-files';
import { loadManifest, openDataset } from '../../datasets/dataset-io';
import { createExportDataset } from '../../activities/export-dataset';
import { createRegisterModel } from '../../activities/register-model';
import { createTrainModel } from '../../activities/train-model';
import { createValidateModel } from '../../activities/validate-model';
import type { ModelMetadata } from '../../common/artefacts';
import { inputOptions, type ModelSpec } from '../../common/model-spec';
import type { ExportResult, RegisterResult, TrainResult, ValidateResult } from '../../common/stages';
import { selectBackend } from '../../ml/backend';
import { predictSplit } from '../../ml/predict';
import { storeLoadHandler } from '../../ml/store-io';
import { fitPreprocessing } from '../../ml/windows';
import { createServer } from '../../serving/server';
import { loadFlightsIntoBuffer } from '../../storage/demo-data';
import { flightSpec, localDeps, PERMISSIVE_GATE, TEST_FLIGHTS } from '../helpers/pipeline';

/*
 * One forecaster with every new default at work (per-airport scaling, change target, hour-of-day and
 * day-of-week encodings, hourly lags) trained, validated and registered by the real activities on
 * the demo flights, then served: what validation scored is what /predict answers.
 */
describe('a forecast from training to /predict', { timeout: 120_000 }, () => {
  let dir: string;
  let deps: ActivityDeps;
  let spec: ModelSpec;
  let datasetKey: string;
  let trained: TrainResult;
  let validation: ValidateResult;
  let metadata: ModelMetadata;

  beforeAll(async () => {
    await selectBackend('cpu');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-forecast-serving-'));
    deps = localDeps(dir);
    spec = flightSpec({
      features: ['flights', 'mean_delay'],
      target: 'flights',
      frequency: '1h',
      epochs: 2,
      gate: PERMISSIVE_GATE,
    });
    await deps.registry.saveSpec(spec);
    await loadFlightsIntoBuffer(deps.buffer, [spec.name], { ...TEST_FLIGHTS, everyBucket: true });
    const env = new MockActivityEnvironment();
    const workflowId = 'wf-forecast';
    const exported = (await env.run(createExportDataset(deps), {
      model: spec.name,
      workflowId,
    })) as ExportResult;
    if (exported.status !== 'ready') throw new Error(exported.reason);
    datasetKey = exported.datasetKey;
    const input = {
      model: spec.name,
      workflowId,
      datasetKey,
      epochs: spec.epochs,
      hyperparams: spec.hyperparams,
      incremental: false,
    };
    trained = (await env.run(createTrainModel(deps), input)) as TrainResult;
    validation = (await env.run(createValidateModel(deps), {
      model: spec.name,
      datasetKey,
      candidateKey: trained.candidateKey,
    })) as ValidateResult;
    const registered = (await env.run(createRegisterModel(deps), {
      model: spec.name,
      workflowId,
      runId: 'run-1',
      datasetKey,
      candidateKey: trained.candidateKey,
      hyperparams: spec.hyperparams,
      training: trained,
      validation,
    })) as RegisterResult;
    metadata = (await deps.registry.getMetadata(spec.name, registered.version))!;
  });

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('keeps the per-airport statistics of the train split with the version', async () => {
    const manifest = await loadManifest(deps.store, datasetKey);
    const dataset = await openDataset(deps.store, manifest);
    const options = inputOptions(manifest.preprocessing, spec.hyperparams);
    expect(options).toEqual({
      normalisation: 'entity',
      targetTransform: 'change',
      calendar: ['hourOfDay', 'dayOfWeek'],
    });
    const fitted = fitPreprocessing(
      dataset.rows,
      dataset.index,
      dataset.rule,
      manifest.preprocessing,
      options,
    );
    expect(Object.keys(fitted.entities ?? {})).toHaveLength(TEST_FLIGHTS.topAirports);
    // Saved beside the candidate, then in the registered metadata: the same numbers, bit for bit.
    expect(await candidatePreprocessing(deps.store, trained.candidateKey, manifest)).toEqual(fitted);
    expect(metadata.preprocessing).toEqual(fitted);
    // The busiest airport's scale is not the quietest's.
    const stds = Object.values(fitted.entities!).map((s) => s.std[0]!);
    expect(Math.max(...stds) / Math.min(...stds)).toBeGreaterThan(2);
  });

  it('reports figures per airport and ranks trials by the holdout figure', () => {
    expect(validation.metric).toBe('mase');
    expect(trained.holdoutScore).toEqual({ metric: 'mase', value: validation.candidate.mase });
    const airports = Object.keys(metadata.entities ?? {});
    expect(airports).toHaveLength(TEST_FLIGHTS.topAirports);
    for (const figures of Object.values(metadata.entities!)) {
      expect(figures.samples).toBeGreaterThan(0);
      expect(figures.candidate.mae).toBeGreaterThan(0);
      expect(figures.baselines.lastValue!.mae).toBeGreaterThan(0);
    }
  });

  it('answers /predict with the value validation scored for the same rows', async () => {
    const manifest = await loadManifest(deps.store, datasetKey);
    const dataset = await openDataset(deps.store, manifest);
    const pre = metadata.preprocessing;
    const { holdout } = dataset.splits(pre);
    const net = await tf.loadLayersModel(
      storeLoadHandler(deps.store, deps.registry.versionPrefix(spec.name, metadata.version)),
    );
    const scored = predictSplit(net, holdout);
    net.dispose();

    const server = createServer({ registry: deps.registry });
    try {
      expect((await server.loadProductionModels()).failed).toEqual([]);
      const { rows, index } = dataset;
      // A few holdout samples of different airports.
      for (const k of [0, 1, 7, Math.floor(holdout.data.rows / 2), holdout.data.rows - 1]) {
        const s = index.holdout[k]!;
        const newest = index.inputs[s]!;
        const entity = rows.entity[newest]!;
        const window: Record<string, unknown>[] = [];
        for (let i = newest; i >= 0 && window.length < pre.lookback; i--) {
          if (rows.entity[i] !== entity) continue;
          window.unshift({
            ts: new Date(rows.time[i]! / 1000).toISOString(),
            origin: rows.names[entity],
            flights: rows.values[0]![i],
            mean_delay: rows.values[1]![i],
          });
        }
        const reply = await server.app.inject({
          method: 'POST',
          url: '/predict',
          payload: { model: spec.name, rows: window },
        });
        expect(reply.statusCode, reply.body).toBe(200);
        const [prediction] = reply.json().predictions as { value: number; time: string; for: string }[];
        expect(prediction!.value).toBeCloseTo(scored[k]!, 3);
        expect(Date.parse(prediction!.for) - Date.parse(prediction!.time)).toBe(3_600_000);
        expect(prediction!.for).toBe(new Date(rows.time[index.targets[s]!]! / 1000).toISOString());
      }

      // A window with an hour missing is refused, naming the airport and the gap.
      const s = index.holdout[0]!;
      const name = rows.names[rows.entity[index.inputs[s]!]!]!;
      const hour = (h: number) => new Date(Date.UTC(2001, 5, 20, h)).toISOString();
      const gappy = [0, 1, 3, 4].map((h) => ({ ts: hour(h), origin: name, flights: 10, mean_delay: 5 }));
      const refused = await server.app.inject({
        method: 'POST',
        url: '/predict',
        payload: { model: spec.name, rows: gappy },
      });
      expect(refused.statusCode).toBe(400);
      expect(refused.json().error).toContain(
        `entity "${name}": ${hour(1)} to ${hour(3)} is not one step of 1h`,
      );
    } finally {
      await server.app.close();
    }
  });
});
