import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { createExportDataset } from '../../activities/export-dataset';
import { candidatePreprocessing } from '../../datasets/candidate-files';
import { loadManifest } from '../../datasets/dataset-io';
import { createTrainModel } from '../../activities/train-model';
import { loadFlightsIntoBuffer } from '../../storage/demo-data';
import { ErrorType, RetryableErrorType } from '../../common/errors';
import { TrainHeartbeatSchema, type TrainHeartbeat } from '../../common/heartbeat';
import { HyperparamsSchema, type Hyperparams, type ModelSpec } from '../../common/model-spec';
import type { ExportResult, TrainInput, TrainResult } from '../../common/stages';
import { selectBackend } from '../../ml/backend';
import { loadCheckpoint } from '../../ml/checkpoint';
import { disposeModel } from '../../ml/model';
import { storeLoadHandler } from '../../ml/store-io';
import { metadataFor } from '../helpers/models';
import { flightSpec, localDeps, TEST_FLIGHTS } from '../helpers/pipeline';
import { maxAbsDiff } from '../helpers/toy-training';

let dir: string;
let deps: ActivityDeps;
let spec: ModelSpec;
let datasetKey: string;
let trainModel: ReturnType<typeof createTrainModel>;

beforeAll(async () => {
  await selectBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'train-model-test-'));
  deps = localDeps(dir);
  spec = flightSpec({ name: `train-${randomUUID().slice(0, 8)}` });
  await deps.registry.saveSpec(spec);
  await loadFlightsIntoBuffer(deps.buffer, [spec.name], TEST_FLIGHTS);
  const exported = (await new MockActivityEnvironment().run(createExportDataset(deps), {
    model: spec.name,
    workflowId: 'wf-data',
  })) as ExportResult;
  if (exported.status !== 'ready') throw new Error(`test dataset not exported: ${exported.reason}`);
  datasetKey = exported.datasetKey;
  trainModel = createTrainModel(deps);
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function trainInput(over: Partial<TrainInput> = {}, hp: Partial<Hyperparams> = {}): TrainInput {
  return {
    model: spec.name,
    workflowId: `wf-${randomUUID().slice(0, 8)}`,
    datasetKey,
    epochs: 3,
    hyperparams: HyperparamsSchema.parse({ ...spec.hyperparams, ...hp }),
    incremental: false,
    ...over,
  };
}

/** Runs trainModel in a mock activity context, recording each heartbeat. */
function start(
  input: TrainInput,
  options: {
    heartbeatDetails?: unknown;
    onBeat?: (hb: TrainHeartbeat, env: MockActivityEnvironment) => void;
  } = {},
) {
  // Expected failures would otherwise fill the output with the SDK's "Activity failed" warnings.
  const env = new MockActivityEnvironment(
    { heartbeatDetails: options.heartbeatDetails },
    { logger: new DefaultLogger('ERROR') },
  );
  const beats: TrainHeartbeat[] = [];
  env.on('heartbeat', (details: unknown) => {
    const hb = TrainHeartbeatSchema.parse(details);
    beats.push(hb);
    options.onBeat?.(hb, env);
  });
  const result = env.run(trainModel, input) as Promise<TrainResult>;
  return { env, beats, result, last: () => beats[beats.length - 1] as TrainHeartbeat };
}

async function candidateWeights(result: TrainResult): Promise<Float32Array[]> {
  const model = await tf.loadLayersModel(storeLoadHandler(deps.store, result.candidateKey));
  try {
    return model.getWeights().map((w) => w.dataSync() as Float32Array);
  } finally {
    model.dispose();
  }
}

async function exists(key: string): Promise<boolean> {
  return (await deps.store.get(key)) !== undefined;
}

describe('trainModel', () => {
  it('heartbeats progress in order, the backend and each epoch checkpoint, and reports the backend', async () => {
    const input = trainInput({ epochs: 12 });
    const run = start(input);
    const result = await run.result;
    const prefix = `checkpoints/${spec.name}/${input.workflowId}`;

    const { beats } = run;
    expect(beats[0]).toMatchObject({ epoch: 0, totalEpochs: 12, backend: 'cpu', checkpoint: null });
    const checkpoints = beats.filter(
      (b, i) => b.checkpoint && b.checkpoint.key !== beats[i - 1]?.checkpoint?.key,
    );
    expect(checkpoints.map((b) => b.checkpoint?.key)).toEqual(
      Array.from({ length: 12 }, (_, i) => `${prefix}/epoch-${i + 1}`),
    );
    for (const b of checkpoints) {
      expect(b.epoch).toBe(b.checkpoint?.epoch);
      expect(b.pct).toBeCloseTo((100 * b.epoch) / 12, 6);
      expect(b.loss).toBeGreaterThan(0);
      expect(b.valLoss).toBeGreaterThan(0);
      expect(b.samplesPerSec).toBeGreaterThan(0);
      expect(await exists(`${b.checkpoint?.key}/model.json`)).toBe(true);
    }
    expect(beats.every((b) => b.backend === 'cpu' && b.batches > 0 && b.pct >= 0 && b.pct <= 100)).toBe(true);
    const pcts = beats.map((b) => b.pct);
    expect(pcts).toEqual([...pcts].sort((a, b) => a - b));

    expect(result).toMatchObject({ backend: 'cpu', epochs: 12, candidateKey: `${prefix}/final` });
    expect(result.valLoss).toBe(beats[beats.length - 1]?.valLoss);
    expect(result.bestValLoss).toBe(Math.min(...checkpoints.map((b) => b.valLoss as number)));
    expect(checkpoints[(result.bestEpoch as number) - 1]?.valLoss).toBe(result.bestValLoss);
    expect(await exists(`${prefix}/final/model.json`)).toBe(true);
  });

  it('puts a trial’s checkpoints and candidate under trial-<n>/ and leaks no tensors', async () => {
    const tensors = tf.memory().numTensors;
    const input = trainInput({ epochs: 2, trial: 2 });
    const run = start(input);
    const result = await run.result;
    const prefix = `checkpoints/${spec.name}/${input.workflowId}/trial-2`;
    expect(run.last()).toMatchObject({ trial: 2, checkpoint: { epoch: 2, key: `${prefix}/epoch-2` } });
    expect(result.candidateKey).toBe(`${prefix}/final`);
    expect(await exists(`${prefix}/epoch-1/weights.bin`)).toBe(true);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('resumes exactly: aborted after 2 of 4 epochs and resumed from the heartbeat equals an uninterrupted run', async () => {
    const straightRun = start(trainInput({ epochs: 4, workflowId: 'wf-straight' }));
    const straight = await straightRun.result;

    const input = trainInput({ epochs: 4 });
    let boundary: TrainHeartbeat | undefined;
    const first = start(input, {
      onBeat: (hb, env) => {
        if (hb.checkpoint?.epoch === 2 && !boundary) {
          boundary = hb;
          setImmediate(() => env.cancel());
        }
      },
    });
    await expect(first.result).rejects.toBeInstanceOf(CancelledFailure);
    const interrupted = first.last();
    expect(interrupted.checkpoint?.epoch).toBeGreaterThanOrEqual(2);
    expect(await exists(`checkpoints/${spec.name}/${input.workflowId}/final/model.json`)).toBe(false);

    // From the checkpoint the cancellation left (inside epoch 3), from the epoch-2 one, and from the
    // last one of all (a retry after a crash between the last epoch and the candidate's save).
    const done = straightRun.last();
    expect(done.checkpoint?.epoch).toBe(4);
    for (const heartbeatDetails of [interrupted, boundary, done]) {
      const resumed = await start(input, { heartbeatDetails }).result;
      expect(resumed.resumedFrom).toBe(heartbeatDetails?.checkpoint?.key);
      expect(
        maxAbsDiff(await candidateWeights(resumed), await candidateWeights(straight)),
      ).toBeLessThanOrEqual(1e-6);
      expect(resumed.loss).toBeCloseTo(straight.loss, 6);
      expect(resumed.valLoss).toBeCloseTo(straight.valLoss as number, 6);
    }
  });

  it('on cancellation stops within an epoch’s worth of batches and rejects with the cancellation, leaving a resumable checkpoint in the last heartbeat', async () => {
    let midEpoch: TrainHeartbeat | undefined;
    // Small batches make long epochs, so the 1 s heartbeat timer reports progress inside one.
    const input = trainInput({ epochs: 1000 }, { batchSize: 8 });
    const run = start(input, {
      onBeat: (hb, env) => {
        if (midEpoch || hb.batch === 0 || hb.batch >= hb.batches) return;
        midEpoch = hb;
        env.cancel();
      },
    });
    const error = await run.result.catch((err: unknown) => err);
    if (!midEpoch) throw new Error('no heartbeat came from inside an epoch');
    expect(midEpoch.loss).toBeGreaterThan(0);
    expect(midEpoch.samplesPerSec).toBeGreaterThan(0);
    expect(midEpoch.pct).toBeCloseTo((100 * (midEpoch.epoch + midEpoch.batch / midEpoch.batches)) / 1000, 6);
    expect(error).toBeInstanceOf(CancelledFailure);

    const saved = run.last().checkpoint;
    expect(saved?.key).toMatch(
      new RegExp(`^checkpoints/${spec.name}/${input.workflowId}/epoch-\\d+(-batch-\\d+)?$`),
    );
    const { model, meta } = await loadCheckpoint(deps.store, saved?.key as string);
    expect(meta.position).toMatchObject({ epoch: saved?.epoch, batch: saved?.batch });
    // Checked after every batch: fewer than one epoch's batches ran between the cancel and the stop.
    const batchesAfterCancel =
      (meta.position.epoch - midEpoch.epoch) * midEpoch.batches + meta.position.batch - midEpoch.batch;
    expect(batchesAfterCancel).toBeGreaterThanOrEqual(0);
    expect(batchesAfterCancel).toBeLessThan(midEpoch.batches);
    expect((await model.optimizer.getWeights()).length).toBeGreaterThan(1);
    disposeModel(model);
  });

  it('on worker shutdown checkpoints, heartbeats it and fails retryably; the retry resumes from it', async () => {
    const input = trainInput({ epochs: 6 });
    const run = start(input, {
      onBeat: (hb, env) => hb.checkpoint?.epoch === 1 && setImmediate(() => env.cancel('WORKER_SHUTDOWN')),
    });
    const error = await run.result.catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ type: RetryableErrorType.TrainingInterrupted, nonRetryable: false });
    const saved = run.last().checkpoint;
    expect((error as Error).message).toContain(saved?.key);
    expect(await exists(`${saved?.key}/weights.bin`)).toBe(true);

    const retry = await start(input, { heartbeatDetails: run.last() }).result;
    expect(retry.resumedFrom).toBe(saved?.key);
    expect(retry.epochs).toBe(6);
  });

  it('incremental warm-starts from production when the architecture matches and says why not otherwise', async () => {
    const none = await start(trainInput({ epochs: 1, incremental: true })).result;
    expect(none.warmStart).toEqual({ skipped: 'no production version yet' });

    const prod = trainInput({ epochs: 6, workflowId: 'wf-prod' });
    const trained = await start(prod).result;
    const manifest = await loadManifest(deps.store, datasetKey);
    const preprocessing = await candidatePreprocessing(deps.store, trained.candidateKey, manifest);
    const version = await deps.registry.registerVersion(spec.name, 'wf-prod', trained.candidateKey, (v) =>
      metadataFor(spec, v, { hyperparams: prod.hyperparams, preprocessing }),
    );
    await deps.registry.setAlias(spec.name, version, 'wf-prod');

    const scratch = start(trainInput({ epochs: 1 }));
    const warm = start(trainInput({ epochs: 1, incremental: true }));
    const [fromScratch, fromProd] = [await scratch.result, await warm.result];
    expect(fromProd.warmStart).toEqual({ from: version });
    expect(fromScratch.warmStart).toEqual({ skipped: 'incremental: false' });
    // Starting from trained weights shows in the very first epoch.
    expect(fromProd.loss).toBeLessThan(fromScratch.loss);

    const other = await start(trainInput({ epochs: 1, incremental: true }, { hiddenUnits: 8 })).result;
    expect('skipped' in other.warmStart && other.warmStart.skipped).toMatch(
      new RegExp(`architecture differs from production ${version} \\(mlp/16 units vs mlp/8\\)`),
    );
    // Weights trained on another target or scaling would start wrong: not reused.
    const level = await start(trainInput({ epochs: 1, incremental: true }, { targetTransform: 'level' }))
      .result;
    expect('skipped' in level.warmStart && level.warmStart.skipped).toBe(
      `inputs differ from production ${version} (entity normalisation, change target, calendar [] vs entity normalisation, level target, calendar [])`,
    );
  });

  it('fails non-retryably with TrainingDiverged when the loss becomes NaN', async () => {
    const input = trainInput(
      { epochs: 3 },
      { optimizer: 'sgd', learningRate: 1, hiddenUnits: 256, loss: 'mse' },
    );
    const error = await start(input).result.catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ type: ErrorType.TrainingDiverged, nonRetryable: true });
    expect((error as Error).message).toMatch(/loss became (NaN|Infinity) at epoch \d+, batch \d+/);
  });

  it('rejects an architecture the task cannot train before loading the splits', async () => {
    const error = await start(trainInput({}, { architecture: 'logistic' })).result.catch(
      (err: unknown) => err,
    );
    expect(error).toMatchObject({ type: ErrorType.InvalidInput, nonRetryable: true });
    expect((error as Error).message).toContain('architecture logistic cannot train a forecast model');
  });
});
