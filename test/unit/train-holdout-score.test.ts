import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { createExportDataset } from '../../activities/export-dataset';
import { createTrainModel } from '../../activities/train-model';
import { createValidateModel } from '../../activities/validate-model';
import { ModelSpecSchema, type GateMetric, type ModelSpec } from '../../common/model-spec';
import type { ExportResult, TrainResult, ValidateResult } from '../../common/stages';
import { selectBackend } from '../../ml/backend';
import { withDuckDb } from '../../storage/duckdb';
import { bufferKey } from '../../storage/row-check';
import { localDeps, PERMISSIVE_GATE } from '../helpers/pipeline';

/*
 * A tfjs trial of a tabular spec is ranked by the gate metric on the holdout, as validation figures
 * it: the figure trainModel reports is the figure validateModel gives the same candidate.
 */
describe('trainModel holdoutScore of tabular specs', { timeout: 120_000 }, () => {
  let dir: string;
  let deps: ActivityDeps;
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

  beforeAll(async () => {
    await selectBackend('cpu');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-train-holdout-score-'));
    deps = localDeps(dir);
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** A horizon-0 spec of `task` over 200 hourly rows, y = 3x - 2 plus a wobble; its export's dataset key. */
  async function exported(task: 'regress' | 'classify', over: Partial<ModelSpec> = {}) {
    const spec = ModelSpecSchema.parse({
      name: `score-${task}-${randomUUID().slice(0, 8)}`,
      task,
      timeColumn: 'observed_at',
      features: ['x', 'z'],
      target: 'y',
      horizon: 0,
      lookback: 1,
      windowDays: 30,
      minRecords: 10,
      epochs: 3,
      hyperparams: { architecture: task === 'regress' ? 'linear' : 'logistic' },
      gate: PERMISSIVE_GATE,
      ...(task === 'classify' ? { threshold: 0 } : {}),
      ...over,
    });
    await deps.registry.saveSpec(spec);
    const query = `SELECT TIMESTAMP '2024-03-01' + INTERVAL (i) HOUR AS observed_at, (i % 17)::DOUBLE / 4 - 2 AS x,
      sin(i)::DOUBLE AS z, (3 * ((i % 17)::DOUBLE / 4 - 2) - 2 + sin(i * 7))::DOUBLE AS y FROM range(200) r(i)`;
    await withDuckDb((conn) => deps.buffer.appendQuery(conn, spec.name, query, bufferKey(spec)));
    const result = (await env.run(createExportDataset(deps), {
      model: spec.name,
      workflowId: 'wf-score',
    })) as ExportResult;
    if (result.status !== 'ready') throw new Error(result.reason);
    return { spec, datasetKey: result.datasetKey };
  }

  async function trainAndValidate(task: 'regress' | 'classify', metric: GateMetric) {
    const { spec, datasetKey } = await exported(task, { gate: { ...PERMISSIVE_GATE, metric } });
    const trained = (await env.run(createTrainModel(deps), {
      model: spec.name,
      workflowId: `wf-${randomUUID().slice(0, 8)}`,
      datasetKey,
      epochs: spec.epochs,
      hyperparams: spec.hyperparams,
      incremental: false,
      gateMetric: metric,
    })) as TrainResult;
    const validation = (await env.run(createValidateModel(deps), {
      model: spec.name,
      datasetKey,
      candidateKey: trained.candidateKey,
    })) as ValidateResult;
    return { trained, validation };
  }

  it.each([
    ['regress', 'auto', 'mae'],
    ['regress', 'spearman', 'spearman'],
    ['classify', 'auto', 'f1'],
    ['classify', 'logLoss', 'logLoss'],
  ] as const)('%s under gate metric %s reports %s as validation figures it', async (task, gate, metric) => {
    const tensors = tf.memory().numTensors;
    const { trained, validation } = await trainAndValidate(task, gate);
    expect(validation.metric).toBe(metric);
    expect(trained.holdoutScore).toEqual({ metric, value: validation.candidate[metric] });
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
