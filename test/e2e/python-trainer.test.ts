import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PreprocessingSchema, type Preprocessing } from '../../common/artefacts';
import { outputValue, statsOf } from '../../common/model-inputs';
import { CPU_TASK_QUEUE } from '../../common/task-queues';
import { PYTHON_KINDS, type PythonKind } from '../../common/trainer-kinds';
import { loadManifest } from '../../datasets/dataset-io';
import { readFrameInfo } from '../../datasets/feature-frame';
import { ONNX_RUNTIME } from '../../ml/onnx-model';
import type { InferenceServer } from '../../serving/server';
import { sqlString, withDuckDb } from '../../storage/duckdb';
import { getJson } from '../../storage/open-store';
import { expectScoredAsValidated } from '../helpers/trainer-score';
import { loadFlightsIntoBuffer } from '../../storage/demo-data';
import {
  createPipeline,
  flightSpec,
  PERMISSIVE_GATE,
  TEST_FLIGHTS,
  type Pipeline,
} from '../helpers/pipeline';
import { predict, retrainOnCpu, servePipeline, startPipelinePythonWorker } from '../helpers/python-pipeline';
import { pythonForTests, type PythonWorker } from '../helpers/python-worker';
import { z } from 'zod';

const API_KEY = 'python-trainer-key-0123456789';
const PredictionsSchema = z.object({
  output: z.string(),
  width: z.number().int(),
  values: z.array(z.number()),
});

/*
 * The python trainer through the real pipeline: a spec with `"trainer": "python"` (XGBoost on the
 * flights data) is exported with its feature frame, trained by the Temporal Python worker as a child
 * process on the `-py` queue, validated and registered as an ONNX version, and served by /predict
 * with the answers the trainer's own model gives on the same rows.
 */
describe('the python trainer end to end', { timeout: 600_000 }, () => {
  let python: string;
  let pipeline: Pipeline;
  let worker: PythonWorker;
  let server: InferenceServer;
  let serverUrl: string;

  beforeAll(async () => {
    python = pythonForTests();
    pipeline = await createPipeline({
      trainer: 'python',
      hyperparams: { architecture: 'xgboost', params: { max_depth: 4, learning_rate: 0.2 }, seed: 3 },
      epochs: 40,
      gate: PERMISSIVE_GATE,
    });
    ({ server, url: serverUrl } = await servePipeline(pipeline, API_KEY));
    worker = await startPipelinePythonWorker(pipeline, { python });
  });

  afterAll(async () => {
    await server?.app.close();
    await worker?.stop();
    await pipeline?.cleanup();
  });

  it("agrees with the worker's kinds: the same names, tasks and parameters on both sides", () => {
    const script = [
      'import json',
      'from retrain_trainer.kinds import BUILTIN_KINDS',
      'print(json.dumps({n: {"tasks": sorted(k.tasks), "params": sorted(k.params)} for n, k in BUILTIN_KINDS.items()}))',
    ].join('\n');
    const theirs = JSON.parse(execFileSync(python, ['-c', script], { encoding: 'utf8' })) as Record<
      string,
      { tasks: string[]; params: string[] }
    >;
    const ours = Object.fromEntries(
      Object.entries(PYTHON_KINDS as Record<string, PythonKind>).map(([name, kind]) => [
        name,
        { tasks: [...kind.tasks].sort(), params: Object.keys(kind.params.shape).sort() },
      ]),
    );
    expect(ours).toEqual(theirs);
  });

  it('trains on retrain-py, registers an ONNX version and serves the trainer’s own answers', async () => {
    const { client, spec, deps, taskQueue } = pipeline;
    const workflowId = `retrain-${spec.name}-python-${Date.now()}`;
    const result = await retrainOnCpu(pipeline, spec.name, workflowId, serverUrl);
    expect(result.status, result.reason).toBe('completed');
    expect(result.version).toBe('v1');
    expect(result.backend).toMatch(/^xgboost \S+ cpu$/);

    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const train = (history.events ?? [])
      .map((e) => e.activityTaskScheduledEventAttributes)
      .find((a) => a?.activityType?.name === 'trainModel');
    expect(train?.taskQueue?.name).toBe(`${taskQueue}-py`);
    expect(taskQueue).not.toBe(CPU_TASK_QUEUE);

    const meta = await deps.registry.getMetadata(spec.name, 'v1');
    expect(meta?.format).toBe('onnx');
    // The trainer scored its holdout in the target's units, MASE over the airports, as validation.
    await expectScoredAsValidated(client, workflowId, 'mase', meta?.metrics.mase);
    const files = await deps.store.list(`${deps.registry.versionPrefix(spec.name, 'v1')}/`);
    expect(files.map((f) => f.split('/').pop()).sort()).toEqual([
      'claim.json',
      'metadata.json',
      'model.onnx',
    ]);

    const info = await fetch(`${serverUrl}/admin/model-info?model=${spec.name}`, {
      headers: { 'x-api-key': API_KEY },
    });
    expect(await info.json()).toMatchObject({ version: 'v1', format: 'onnx', runtime: ONNX_RUNTIME });

    // The trainer's own outputs on the frame's holdout, against /predict on the raw rows of the same samples.
    const datasetKey = `datasets/${spec.name}/${workflowId}`;
    const frame = await readFrameInfo(deps.store, datasetKey);
    if (!frame) throw new Error('no feature frame');
    const candidate = `checkpoints/${spec.name}/${workflowId}/final`;
    const own = (await getJson(deps.store, `${candidate}/holdout-predictions.json`, PredictionsSchema))
      ?.value;
    expect(own).toMatchObject({ output: 'value', width: 1 });
    expect(own?.values).toHaveLength(frame.rows.holdout);
    const pre = PreprocessingSchema.parse(meta?.preprocessing);
    const samples = await holdoutSamples(pipeline, datasetKey, frame.rows.train, [
      0,
      7,
      100,
      frame.rows.holdout - 1,
    ]);
    for (const sample of samples) {
      const { status, body } = await predict<{
        version: string;
        predictions: { entity: string; value: number }[];
      }>(serverUrl, spec.name, sample.rows);
      expect(status).toBe(200);
      const trainer = ownValue(pre, sample, own?.values[sample.k] as number);
      expect(body.version).toBe('v1');
      expect(body.predictions).toHaveLength(1);
      expect(body.predictions[0]?.entity).toBe(sample.entity);
      expect(Math.abs((body.predictions[0]?.value as number) - trainer)).toBeLessThan(
        1e-3 * Math.max(1, Math.abs(trainer)),
      );
    }
  });

  it("serves a binary classifier's ONNX probabilities as the trainer's own, label included", async () => {
    const { deps } = pipeline;
    const spec = flightSpec({
      task: 'classify',
      threshold: 15,
      trainer: 'python',
      hyperparams: { architecture: 'logistic', params: { C: 0.5, class_weight: 'balanced' } },
      gate: PERMISSIVE_GATE,
    });
    await deps.registry.saveSpec(spec);
    await loadFlightsIntoBuffer(deps.buffer, [spec.name], TEST_FLIGHTS);
    const workflowId = `retrain-${spec.name}-python-${Date.now()}`;
    const result = await retrainOnCpu(pipeline, spec.name, workflowId, serverUrl);
    expect(result.status, result.reason).toBe('completed');
    expect(result.metrics).toHaveProperty('f1');
    await expectScoredAsValidated(pipeline.client, workflowId, 'f1', result.metrics?.f1);
    const datasetKey = `datasets/${spec.name}/${workflowId}`;
    const frame = await readFrameInfo(deps.store, datasetKey);
    if (!frame) throw new Error('no feature frame');
    expect(frame.classes).toEqual(['0', '1']);
    const candidate = `checkpoints/${spec.name}/${workflowId}/final`;
    const own = (await getJson(deps.store, `${candidate}/holdout-predictions.json`, PredictionsSchema))
      ?.value;
    expect(own).toMatchObject({ output: 'probabilities', width: 2 });
    const samples = await holdoutSamples({ ...pipeline, spec }, datasetKey, frame.rows.train, [
      0,
      50,
      frame.rows.holdout - 1,
    ]);
    for (const sample of samples) {
      const { status, body } = await predict<{ predictions: { value: number; label: number }[] }>(
        serverUrl,
        spec.name,
        sample.rows,
      );
      expect(status).toBe(200);
      const [answer] = body.predictions;
      const positive = own?.values[sample.k * 2 + 1] as number;
      expect(Math.abs((answer?.value as number) - positive)).toBeLessThan(1e-4);
      expect(answer?.label).toBe(positive >= 0.5 ? 1 : 0);
    }
  });
});

interface Sample {
  /** Index among the holdout rows of the frame. */
  k: number;
  entity: string;
  /** The sample's lookback rows in the ingestion schema, oldest first. */
  rows: Record<string, unknown>[];
  /** The target at its newest row (change targets add to it). */
  last: number;
}

/** Holdout samples `ks` of the frame, each with the raw rows /predict takes, read from the dataset's rows file. */
async function holdoutSamples(
  pipeline: Pipeline,
  datasetKey: string,
  trainRows: number,
  ks: number[],
): Promise<Sample[]> {
  const { spec, deps, dir } = pipeline;
  const frameFile = path.join(dir, 'frame.parquet');
  const rowsFile = path.join(dir, 'rows.parquet');
  await fs.writeFile(
    frameFile,
    (await deps.store.get(`${datasetKey}/frame/frame.parquet`))?.body ?? new Uint8Array(),
  );
  await fs.writeFile(
    rowsFile,
    (await deps.store.get((await loadManifest(deps.store, datasetKey)).files.rows.key))?.body ??
      new Uint8Array(),
  );
  return withDuckDb(async (conn) => {
    const out: Sample[] = [];
    for (const k of ks) {
      const [head] = (
        await conn.runAndReadAll(
          `SELECT __entity AS e, __time AS t FROM read_parquet(${sqlString(frameFile)}) LIMIT 1 OFFSET ${trainRows + k}`,
        )
      ).getRowObjectsJson() as { e: string; t: string }[];
      if (!head) throw new Error(`no holdout row ${k}`);
      const rows = (
        await conn.runAndReadAll(
          `SELECT strftime(ts, '%Y-%m-%dT%H:%M:%SZ') AS ts, origin, flights, mean_delay, late_share
           FROM read_parquet(${sqlString(rowsFile)})
           WHERE origin = ${sqlString(head.e)} AND epoch_us(ts) <= ${head.t}
           ORDER BY ts DESC LIMIT ${spec.lookback}`,
        )
      ).getRowObjectsJson() as Record<string, unknown>[];
      const last = Number(rows[0]?.[spec.target as string]);
      out.push({ k, entity: head.e, rows: rows.reverse(), last });
    }
    return out;
  });
}

/** The trainer's output for a sample in the target's units, as the TypeScript side turns any output. */
function ownValue(pre: Preprocessing, sample: Sample, output: number): number {
  return outputValue(pre, statsOf(pre, sample.entity), sample.last, output);
}
