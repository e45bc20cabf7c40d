import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HyperparamsSchema } from '../../common/model-spec';
import { selectBackend } from '../../ml/backend';
import { loadCheckpoint, saveCheckpoint } from '../../ml/checkpoint';
import { FusedAdam, FusedRmsProp } from '../../ml/fused-optimizers';
import { createModel, disposeModel, lossFunction } from '../../ml/model';
import { fitModel, type TrainingData } from '../../ml/train';
import { FileBlobStore } from '../../storage/file-store';

const SHAPE = { task: 'forecast', lookback: 4, features: 2 } as const;
const WIDTH = SHAPE.lookback * SHAPE.features;

let dir: string;
let store: FileBlobStore;

beforeAll(async () => {
  await selectBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fused-optimizers-test-'));
  store = new FileBlobStore(dir);
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function dataset(rows: number, seed: number): TrainingData {
  let state = seed;
  const rand = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const x = Float32Array.from({ length: rows * WIDTH }, rand);
  const y = Float32Array.from(
    { length: rows },
    (_, r) => (x[r * WIDTH] as number) - (x[r * WIDTH + 1] as number),
  );
  return { x, y, rows, width: WIDTH };
}

/** Variables shaped like the MLP's kernels and biases, with a copy of the same values under other names. */
function variablePair(seed: number): [tf.Variable[], tf.Variable[]] {
  const shapes = [[WIDTH, 8], [8], [8, 8], [8], [8, 1], [1]];
  const values = shapes.map((shape, i) => tf.randomNormal(shape, 0, 1, 'float32', seed + i));
  const pair = [values.map((v) => v.variable()), values.map((v) => v.variable())] as [
    tf.Variable[],
    tf.Variable[],
  ];
  tf.dispose(values);
  return pair;
}

async function maxAbsDiff(a: tf.Tensor[], b: tf.Tensor[]): Promise<number> {
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [await (a[i] as tf.Tensor).data(), await (b[i] as tf.Tensor).data()];
    x.forEach((v, j) => (max = Math.max(max, Math.abs(v - (y[j] as number)))));
  }
  return max;
}

/** Each fused optimiser with tfjs's own of the same settings. */
const CASES = [
  ['adam', () => new FusedAdam(0.01), () => tf.train.adam(0.01)],
  ['rmsprop', () => new FusedRmsProp(0.01), () => tf.train.rmsprop(0.01)],
  ['rmsprop (momentum)', () => new FusedRmsProp(0.01, 0.9, 0.5), () => tf.train.rmsprop(0.01, 0.9, 0.5)],
] as const;

describe.each(CASES)('fused %s', (_name, fused, reference) => {
  it('applies the same updates as tfjs’s optimiser to the same gradients (within 1e-5 over 5 steps)', async () => {
    const [mine, theirs] = variablePair(3);
    const [ours, tfjs] = [fused(), reference()];
    for (let step = 0; step < 5; step++) {
      const gradients = mine.map((v, i) => tf.randomNormal(v.shape, 0, 1, 'float32', 100 * step + i));
      ours.applyGradients(mine.map((v, i) => ({ name: v.name, tensor: gradients[i] as tf.Tensor })));
      tfjs.applyGradients(theirs.map((v, i) => ({ name: v.name, tensor: gradients[i] as tf.Tensor })));
      tf.dispose(gradients);
    }
    expect(await maxAbsDiff(mine, theirs)).toBeLessThanOrEqual(1e-5);
    // The update moved the variables: the comparison is not of two untouched copies.
    const [start] = variablePair(3);
    expect(await maxAbsDiff(mine, start)).toBeGreaterThan(1e-3);
    ours.dispose();
    tfjs.dispose();
    tf.dispose([...mine, ...theirs, ...start]);
  });
});

describe.each(CASES)('fused %s', (_name, fused, reference) => {
  it('trains a model as tfjs’s optimiser does: same weights within 1e-5 after 3 epochs', async () => {
    const hp = HyperparamsSchema.parse({ hiddenUnits: 8, seed: 4, learningRate: 0.01 });
    const [a, b] = [createModel(SHAPE, hp), createModel(SHAPE, hp)];
    a.compile({ optimizer: fused(), loss: 'meanSquaredError' });
    b.compile({ optimizer: reference(), loss: 'meanSquaredError' });
    const options = { epochs: 3, batchSize: 32, seed: 1, loss: lossFunction('forecast') };
    const [ra, rb] = [
      await fitModel(a, dataset(128, 1), undefined, options),
      await fitModel(b, dataset(128, 1), undefined, options),
    ];
    expect(await maxAbsDiff(a.getWeights(), b.getWeights())).toBeLessThanOrEqual(1e-5);
    expect(ra.last?.loss).toBeCloseTo(rb.last?.loss as number, 5);
    disposeModel(a);
    disposeModel(b);
  });
});

describe('FusedAdam state', () => {
  it('is what createModel compiles for adam and rmsprop, and a checkpoint brings it back with its state', async () => {
    const baseline = tf.memory().numTensors;
    const hp = HyperparamsSchema.parse({ hiddenUnits: 8, seed: 5, learningRate: 0.003 });
    const model = createModel(SHAPE, hp);
    expect(model.optimizer).toBeInstanceOf(FusedAdam);
    const rms = createModel(SHAPE, { ...hp, optimizer: 'rmsprop' });
    expect(rms.optimizer).toBeInstanceOf(FusedRmsProp);
    disposeModel(rms);

    const trained = await fitModel(model, dataset(96, 2), undefined, {
      epochs: 1,
      batchSize: 32,
      seed: 1,
      loss: lossFunction('forecast'),
    });
    const saved = await model.optimizer.getWeights();
    expect(saved.map((w) => [w.name, w.tensor.shape])).toEqual([
      ['iter', []],
      ['FusedAdam/m', [8 * WIDTH + 8 + 8 * 8 + 8 + 8 + 1]],
      ['FusedAdam/v', [8 * WIDTH + 8 + 8 * 8 + 8 + 8 + 1]],
    ]);
    tf.dispose(saved[0]?.tensor);
    await saveCheckpoint(store, 'fused/epoch-1', model, {
      position: trained.position,
      fingerprint: 'test',
      warmStart: { skipped: 'test' },
      best: null,
      last: null,
      backend: 'cpu',
    });
    const { model: loaded } = await loadCheckpoint(store, 'fused/epoch-1');
    expect(loaded.optimizer).toBeInstanceOf(FusedAdam);
    expect(loaded.optimizer.getConfig()).toEqual(model.optimizer.getConfig());
    expect(loaded.optimizer.iterations).toBe(3);
    const [before, after] = [await model.optimizer.getWeights(), await loaded.optimizer.getWeights()];
    expect(
      await maxAbsDiff(
        before.slice(1).map((w) => w.tensor),
        after.slice(1).map((w) => w.tensor),
      ),
    ).toBe(0);
    tf.dispose([before[0]?.tensor, after[0]?.tensor] as tf.Tensor[]);
    disposeModel(model);
    disposeModel(loaded);
    expect(tf.memory().numTensors).toBe(baseline);
  });

  it('refuses to update variables other than those its state was built for, naming both', () => {
    const [first, second] = variablePair(7);
    const adam = new FusedAdam(0.01);
    const step = (vars: tf.Variable[]) =>
      tf.tidy(() => adam.applyGradients(vars.map((v) => ({ name: v.name, tensor: tf.onesLike(v) }))));
    step(first);
    expect(() => step(second)).toThrow(/FusedAdam updates \[.+\] and cannot update \[.+\]/);
    adam.dispose();
    tf.dispose([...first, ...second]);
  });

  it('rejects restored state that is not its flat vectors, and state that does not fit the variables', async () => {
    const adam = new FusedAdam(0.01);
    const iter = tf.scalar(2, 'int32');
    const wrong = tf.zeros([3, 2]);
    await expect(
      adam.setWeights([
        { name: 'iter', tensor: iter },
        { name: 'x/m', tensor: wrong },
      ]),
    ).rejects.toThrow(/expected 2 flat state vectors of one size \(m, v\), got x\/m \[3, 2\]/);
    const small = tf.zeros([3]);
    await adam.setWeights([
      { name: 'iter', tensor: iter },
      { name: 'm', tensor: small },
      { name: 'v', tensor: small },
    ]);
    const [vars] = variablePair(9);
    expect(() =>
      tf.tidy(() => adam.applyGradients(vars.map((v) => ({ name: v.name, tensor: tf.onesLike(v) })))),
    ).toThrow(/restored state holds 3 values but the variables have 153/);
    adam.dispose();
    tf.dispose([iter, wrong, small, ...vars]);
  });

  it('continues bit for bit after setWeights, as an uninterrupted optimiser does', async () => {
    const [a, b] = variablePair(11);
    const straight = new FusedAdam(0.01);
    let resumed = new FusedAdam(0.01);
    for (let step = 0; step < 6; step++) {
      if (step === 3) {
        const state = await resumed.getWeights();
        const copies = state.map((w) => ({ name: w.name, tensor: w.tensor.clone() }));
        tf.dispose(state[0]?.tensor);
        resumed.dispose();
        resumed = new FusedAdam(0.01);
        await resumed.setWeights(copies);
        tf.dispose(copies.map((c) => c.tensor));
      }
      const g = a.map((v, i) => tf.randomNormal(v.shape, 0, 1, 'float32', 10 * step + i));
      straight.applyGradients(a.map((v, i) => ({ name: v.name, tensor: g[i] as tf.Tensor })));
      resumed.applyGradients(b.map((v, i) => ({ name: v.name, tensor: g[i] as tf.Tensor })));
      tf.dispose(g);
    }
    expect(resumed.iterations).toBe(6);
    expect(await maxAbsDiff(a, b)).toBe(0);
    straight.dispose();
    resumed.dispose();
    tf.dispose([...a, ...b]);
  });
});
