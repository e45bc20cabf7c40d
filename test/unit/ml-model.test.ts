import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIssues } from '../../common/format-issues';
import { ARCHITECTURES, HyperparamsSchema, ModelSpecSchema, type Task } from '../../common/model-spec';
import { selectBackend } from '../../ml/backend';
import { loadCheckpoint, saveCheckpoint, type CheckpointMeta } from '../../ml/checkpoint';
import { createModel, disposeModel, lossFunction, positiveWeight } from '../../ml/model';
import { storeLoadHandler, storeSaveHandler } from '../../ml/store-io';
import {
  DivergedError,
  fitModel,
  shuffledRows,
  type FitOptions,
  type TrainingData,
  type TrainPosition,
} from '../../ml/train';
import { trainerFor, trainerPairs, UnsupportedArchitectureError } from '../../ml/trainers';
import { FileBlobStore } from '../../storage/file-store';
import { maxAbsDiff, toyDataset, weightsOf } from '../helpers/toy-training';

const LOOKBACK = 4;
const FEATURES = 2;
const WIDTH = LOOKBACK * FEATURES;

let dir: string;
let store: FileBlobStore;

beforeAll(async () => {
  await selectBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ml-model-test-'));
  store = new FileBlobStore(dir);
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function dataset(task: Task, rows: number, seed: number): TrainingData {
  return toyDataset(task, rows, seed, WIDTH);
}

function fitOptions(task: Task, over: Partial<FitOptions> = {}): FitOptions {
  return { epochs: 3, batchSize: 32, seed: 11, loss: lossFunction(task), progressEveryMs: 0, ...over };
}

const META: Omit<CheckpointMeta, 'position'> = {
  fingerprint: 'test',
  warmStart: { skipped: 'test' },
  best: null,
  last: null,
  backend: 'cpu',
};

describe('trainer registry', () => {
  it('has a trainer for exactly the architectures common/ allows per task', () => {
    const pairs = trainerPairs().map(({ task, architecture }) => `${task}/${architecture}`);
    const allowed = Object.entries(ARCHITECTURES).flatMap(([task, archs]) =>
      archs.map((a) => `${task}/${a}`),
    );
    expect(pairs.sort()).toEqual(allowed.sort());
    expect(pairs).toEqual(
      expect.arrayContaining(['forecast/mlp', 'forecast/lstm', 'classify/logistic', 'classify/mlp']),
    );
  });

  it('rejects an architecture the task cannot train, naming the allowed ones', () => {
    expect(() => trainerFor('forecast', 'logistic')).toThrow(UnsupportedArchitectureError);
    expect(() => trainerFor('classify', 'lstm')).toThrow(
      /lstm cannot train a classify model; use one of logistic, mlp/,
    );
  });

  it('makes spec validation reject such a pair at hyperparams.architecture', () => {
    const result = ModelSpecSchema.safeParse({
      name: 'load',
      task: 'forecast',
      timeColumn: 'ts',
      entityColumn: 'host',
      features: ['cpu'],
      target: 'cpu',
      hyperparams: { architecture: 'logistic' },
    });
    expect(result.success).toBe(false);
    if (!result.success)
      expect(formatIssues(result.error)).toContain(
        'hyperparams.architecture: architecture logistic cannot train a forecast model',
      );
  });

  it.each([
    [{ optimizer: 'adagrad' }, 'optimizer'],
    [{ learningRate: 0 }, 'learningRate'],
    [{ batchSize: 0 }, 'batchSize'],
    [{ hiddenUnits: 1.5 }, 'hiddenUnits'],
    [{ dropout: 0.95 }, 'dropout'],
    [{ seed: -1 }, 'seed'],
    [{ epochs: 3 }, '(root)'],
  ])('rejects hyperparams %j and names %s', (patch, field) => {
    const result = HyperparamsSchema.safeParse(patch);
    expect(result.success).toBe(false);
    if (!result.success) expect(formatIssues(result.error)).toContain(`${field}:`);
  });
});

describe('forecast losses', () => {
  it('Huber is quadratic within 0.5 standard deviations and linear beyond, per sample', () => {
    const yTrue = tf.tensor2d([[0], [0], [1], [2]]);
    const yPred = tf.tensor2d([[0.2], [-0.5], [3], [1]]);
    const values = (loss: 'huber' | 'mse' | 'mae') =>
      Array.from(lossFunction('forecast', loss)(yTrue, yPred).dataSync());
    // 0.5 e^2 for e <= 0.5; 0.5 * (e - 0.25) beyond.
    expect(values('huber').map((v) => Number(v.toFixed(6)))).toEqual([0.02, 0.125, 0.875, 0.375]);
    expect(values('mae').map((v) => Number(v.toFixed(6)))).toEqual([0.2, 0.5, 2, 1]);
    expect(values('mse').map((v) => Number(v.toFixed(6)))).toEqual([0.04, 0.25, 4, 1]);
    tf.dispose([yTrue, yPred]);
  });
});

describe('classifier class weights', () => {
  it('balanced weighs a positive by negatives/positives, bounded, and none weighs every row alike', () => {
    expect(positiveWeight([1, 0, 0, 0, 0], 'balanced')).toBe(4);
    expect(positiveWeight([1, 1, 1, 0], 'balanced')).toBeCloseTo(1 / 3);
    expect(positiveWeight([1, ...new Array<number>(500).fill(0)], 'balanced')).toBe(100);
    expect(positiveWeight([0, 0], 'balanced')).toBe(1);
    expect(positiveWeight([1, 0, 0, 0, 0], 'none')).toBe(1);
  });

  it('multiplies the cross-entropy of positive rows only', () => {
    const yTrue = tf.tensor2d([[1], [0]]);
    const yPred = tf.tensor2d([[0.8], [0.3]]);
    const plain = Array.from(lossFunction('classify')(yTrue, yPred).dataSync());
    const weighted = Array.from(lossFunction('classify', 'huber', 4)(yTrue, yPred).dataSync());
    expect(weighted[0]).toBeCloseTo(4 * (plain[0] as number), 5);
    expect(weighted[1]).toBeCloseTo(plain[1] as number, 6);
    expect(plain[0]).toBeCloseTo(-Math.log(0.8), 5);
    tf.dispose([yTrue, yPred]);
  });
});

describe('model builders', () => {
  it.each(trainerPairs().map(({ task, architecture }) => [task, architecture] as const))(
    '%s/%s survives a save/load round trip through the store with identical predictions',
    async (task, architecture) => {
      const hp = HyperparamsSchema.parse({ architecture, hiddenUnits: 8, dropout: 0.2, seed: 5 });
      const data = dataset(task, 96, 3);
      const model = createModel({ task, lookback: LOOKBACK, features: FEATURES }, hp);
      await fitModel(model, data, undefined, fitOptions(task, { epochs: 1 }));
      const prefix = `roundtrip/${task}-${architecture}`;
      await model.save(storeSaveHandler(store, prefix));
      const loaded = await tf.loadLayersModel(storeLoadHandler(store, prefix));
      const x = tf.tensor2d(data.x.subarray(0, 16 * WIDTH), [16, WIDTH]);
      const before = (model.predict(x) as tf.Tensor).dataSync();
      const after = (loaded.predict(x) as tf.Tensor).dataSync();
      expect(Array.from(after)).toEqual(Array.from(before));
      if (task === 'classify') expect(Array.from(after).every((p) => p > 0 && p < 1)).toBe(true);
      tf.dispose(x);
      disposeModel(model);
      loaded.dispose();
    },
  );

  it('builds the same initial weights from the same seed and different ones from another', async () => {
    const shape = { task: 'forecast' as const, lookback: LOOKBACK, features: FEATURES };
    const a = createModel(shape, HyperparamsSchema.parse({ seed: 1 }));
    const b = createModel(shape, HyperparamsSchema.parse({ seed: 1 }));
    const c = createModel(shape, HyperparamsSchema.parse({ seed: 2 }));
    expect(maxAbsDiff(await weightsOf(a), await weightsOf(b))).toBe(0);
    expect(maxAbsDiff(await weightsOf(a), await weightsOf(c))).toBeGreaterThan(0);
    [a, b, c].forEach(disposeModel);
  });
});

describe('fitModel', () => {
  it('shuffles rows as a function of (seed, epoch) only', () => {
    const a = shuffledRows(1000, 7, 2);
    expect(Array.from(a)).toEqual(Array.from(shuffledRows(1000, 7, 2)));
    expect(Array.from(a)).not.toEqual(Array.from(shuffledRows(1000, 7, 3)));
    expect(Array.from(a)).not.toEqual(Array.from(shuffledRows(1000, 8, 2)));
    expect([...a].sort((p, q) => p - q)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('learns the toy problem: validation loss falls well below its starting value', async () => {
    const hp = HyperparamsSchema.parse({ hiddenUnits: 16, learningRate: 0.01, seed: 4 });
    const model = createModel({ task: 'forecast', lookback: LOOKBACK, features: FEATURES }, hp);
    const train = dataset('forecast', 512, 1);
    const holdout = dataset('forecast', 128, 2);
    const epochs: (number | null)[] = [];
    await fitModel(
      model,
      train,
      holdout,
      fitOptions('forecast', { epochs: 8, onEpoch: async (s) => void epochs.push(s.valLoss) }),
    );
    expect(epochs).toHaveLength(8);
    expect(epochs[7] as number).toBeLessThan(0.5 * (epochs[0] as number));
    disposeModel(model);
  });

  it.each(['adam', 'sgd', 'rmsprop'] as const)(
    'resumes exactly with %s: k epochs + checkpoint + load + rest equals an uninterrupted run',
    async (optimizer) => {
      const hp = HyperparamsSchema.parse({
        optimizer,
        hiddenUnits: 8,
        dropout: 0.25,
        learningRate: 0.01,
        seed: 9,
      });
      const shape = { task: 'forecast' as const, lookback: LOOKBACK, features: FEATURES };
      const train = dataset('forecast', 200, 5);
      const straight = createModel(shape, hp);
      const full = await fitModel(straight, train, undefined, fitOptions('forecast', { epochs: 4 }));

      const first = createModel(shape, hp);
      const part = await fitModel(first, train, undefined, fitOptions('forecast', { epochs: 2 }));
      const key = `resume/${optimizer}/epoch-2`;
      await saveCheckpoint(store, key, first, { ...META, position: part.position });
      disposeModel(first);
      const { model: resumed, meta } = await loadCheckpoint(store, key);
      expect(meta.position).toEqual({ epoch: 2, batch: 0, lossSum: 0, seen: 0 });
      const rest = await fitModel(
        resumed,
        train,
        undefined,
        fitOptions('forecast', { epochs: 4, start: meta.position }),
      );

      expect(maxAbsDiff(await weightsOf(resumed), await weightsOf(straight))).toBeLessThanOrEqual(1e-6);
      expect(rest.last?.loss).toBeCloseTo(full.last?.loss as number, 6);
      disposeModel(straight);
      disposeModel(resumed);
    },
  );

  it('stops after the batch in which the signal aborts and resumes mid-epoch exactly', async () => {
    const hp = HyperparamsSchema.parse({ hiddenUnits: 8, dropout: 0.3, seed: 12 });
    const shape = { task: 'classify' as const, lookback: LOOKBACK, features: FEATURES };
    const train = dataset('classify', 320, 8);
    const straight = createModel(shape, hp);
    const full = await fitModel(straight, train, undefined, fitOptions('classify', { epochs: 3 }));

    const first = createModel(shape, hp);
    const abort = new AbortController();
    let batches = 0;
    const part = await fitModel(first, train, undefined, {
      ...fitOptions('classify', { epochs: 3 }),
      signal: abort.signal,
      onProgress: (s) => {
        batches++;
        if (s.epoch === 2 && s.batch === 4) abort.abort();
      },
    });
    expect(part.stopped).toBe(true);
    expect(part.position).toMatchObject({ epoch: 1, batch: 4, seen: 4 * 32 });
    expect(batches).toBe(10 + 4);
    await saveCheckpoint(store, 'resume/mid/epoch-2-batch-4', first, { ...META, position: part.position });
    disposeModel(first);
    const { model: resumed, meta } = await loadCheckpoint(store, 'resume/mid/epoch-2-batch-4');
    const rest = await fitModel(
      resumed,
      train,
      undefined,
      fitOptions('classify', { epochs: 3, start: meta.position }),
    );
    expect(maxAbsDiff(await weightsOf(resumed), await weightsOf(straight))).toBeLessThanOrEqual(1e-6);
    expect(rest.last?.loss).toBeCloseTo(full.last?.loss as number, 6);
    disposeModel(straight);
    disposeModel(resumed);
  });

  it('throws DivergedError naming the epoch and batch when the loss is not finite', async () => {
    const hp = HyperparamsSchema.parse({ hiddenUnits: 8, optimizer: 'sgd', learningRate: 1, seed: 1 });
    const model = createModel({ task: 'forecast', lookback: LOOKBACK, features: FEATURES }, hp);
    const data = dataset('forecast', 128, 2);
    data.x.forEach((v, i) => (data.x[i] = v * 1e18));
    await expect(fitModel(model, data, undefined, fitOptions('forecast'))).rejects.toThrow(
      /loss became (NaN|Infinity|-Infinity) at epoch 1, batch \d+/,
    );
    await expect(fitModel(model, data, undefined, fitOptions('forecast'))).rejects.toBeInstanceOf(
      DivergedError,
    );
    disposeModel(model);
  });

  it('leaves no tensors behind: a save/load/train cycle returns to the starting count', async () => {
    const baseline = tf.memory().numTensors;
    const hp = HyperparamsSchema.parse({ hiddenUnits: 4, seed: 2 });
    const model = createModel({ task: 'forecast', lookback: LOOKBACK, features: FEATURES }, hp);
    const position: TrainPosition = (
      await fitModel(model, dataset('forecast', 64, 1), dataset('forecast', 16, 2), fitOptions('forecast'))
    ).position;
    await saveCheckpoint(store, 'leak/epoch-3', model, { ...META, position });
    disposeModel(model);
    const { model: loaded } = await loadCheckpoint(store, 'leak/epoch-3');
    disposeModel(loaded);
    expect(tf.memory().numTensors).toBe(baseline);
  });
});
