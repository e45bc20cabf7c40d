import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HyperparamsSchema } from '../../common/model-spec';
import { activateBackend, type BackendName } from '../../ml/backend';
import { loadCheckpoint, saveCheckpoint, type CheckpointMeta } from '../../ml/checkpoint';
import { createModel, disposeModel, lossFunction } from '../../ml/model';
import { storeLoadHandler, storeSaveHandler } from '../../ml/store-io';
import { fitModel, type FitOptions } from '../../ml/train';
import { FileBlobStore } from '../../storage/file-store';
import { maxAbsDiff, toyDataset, weightsOf } from '../helpers/toy-training';

// The native backend (@tensorflow/tfjs-node, whose binding tfjs-node-gpu shares) is built by
// scripts/setup.js from the PyPI tensorflow-cpu wheel; this file runs it against wasm both ways,
// on whichever Node runs it as on Node 24, which lacks node:util helpers tfjs-node 4.22 calls.
const SHAPE = { task: 'forecast' as const, lookback: 4, features: 2 };
const WIDTH = SHAPE.lookback * SHAPE.features;
const HP = HyperparamsSchema.parse({ optimizer: 'adam', hiddenUnits: 16, learningRate: 0.01, seed: 5 });
const TRAIN = toyDataset('forecast', 256, 1, WIDTH);
const PROBE = toyDataset('forecast', 64, 2, WIDTH);
// float32 kernels differ between libtensorflow (oneDNN) and XNNPACK in the last bits; a model that
// lost its optimizer state or mixed up its weights is off by orders of magnitude more.
const SAME_PREDICTIONS = 1e-5;
const SAME_RESUME = 1e-4;

const DIRECTIONS: [BackendName, BackendName][] = [
  ['tensorflow', 'wasm'],
  ['wasm', 'tensorflow'],
];

const NODE_UTIL = util as unknown as Record<string, unknown>;
/** What Node 24 removed from node:util (isNullOrUndefined) or may remove next (isArray). */
const REMOVED_IN_NODE_24 = ['isNullOrUndefined', 'isArray'];
const NODE_OWN = Object.fromEntries(REMOVED_IN_NODE_24.map((name) => [name, NODE_UTIL[name]]));

let store: FileBlobStore;
let dir: string;

beforeAll(async () => {
  // Before tfjs-node loads: ml/backend.ts must put them back, as it does on Node 24.
  for (const name of REMOVED_IN_NODE_24) delete NODE_UTIL[name];
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'native-backend-test-'));
  store = new FileBlobStore(dir);
});

afterAll(async () => {
  for (const name of REMOVED_IN_NODE_24)
    if (NODE_OWN[name] === undefined) delete NODE_UTIL[name];
    else NODE_UTIL[name] = NODE_OWN[name];
  await fs.rm(dir, { recursive: true, force: true });
});

function fitOptions(over: Partial<FitOptions> = {}): FitOptions {
  return { epochs: 3, batchSize: 32, seed: 7, loss: lossFunction('forecast'), progressEveryMs: 0, ...over };
}

async function predictions(model: tf.LayersModel): Promise<Float32Array> {
  const x = tf.tensor2d(PROBE.x, [PROBE.rows, WIDTH]);
  const y = model.predict(x) as tf.Tensor;
  const values = (await y.data()) as Float32Array;
  tf.dispose([x, y]);
  return values;
}

const META: Omit<CheckpointMeta, 'position' | 'backend'> = {
  fingerprint: 'native-backend-test',
  warmStart: { skipped: 'test' },
  best: null,
  last: null,
};

describe('the native tensorflow backend', () => {
  it('is installed and computes on libtensorflow, on a Node without util.isNullOrUndefined and util.isArray', async () => {
    expect(REMOVED_IN_NODE_24.map((name) => typeof NODE_UTIL[name])).toEqual(['undefined', 'undefined']);
    await activateBackend('tensorflow');
    expect(tf.getBackend()).toBe('tensorflow');
    const product = tf.matMul(
      [
        [1, 2],
        [3, 4],
      ],
      [[1], [1]],
    );
    expect(product.arraySync()).toEqual([[3], [7]]);
    // TopK calls util.isNullOrUndefined on its own arguments, besides every op's type attribute.
    const input = tf.tensor1d([3, 9, 1, 7]);
    const { values, indices } = tf.topk(input, 2);
    expect([values.arraySync(), indices.arraySync()]).toEqual([
      [9, 7],
      [1, 3],
    ]);
    tf.dispose([product, input, values, indices]);
  });

  it.each(DIRECTIONS)(
    'a model trained and saved on %s loads and predicts the same on %s',
    async (from, to) => {
      await activateBackend(from);
      const model = createModel(SHAPE, HP);
      await fitModel(model, TRAIN, undefined, fitOptions());
      const expected = await predictions(model);
      const prefix = `models/${from}-to-${to}`;
      await model.save(storeSaveHandler(store, prefix));
      disposeModel(model);

      await activateBackend(to);
      expect(tf.getBackend()).toBe(to);
      const loaded = await tf.loadLayersModel(storeLoadHandler(store, prefix));
      const got = await predictions(loaded);
      loaded.dispose();

      expect(got).toHaveLength(PROBE.rows);
      expect(got.every(Number.isFinite)).toBe(true);
      expect(maxAbsDiff([got], [expected])).toBeLessThanOrEqual(SAME_PREDICTIONS);
    },
  );

  it.each(DIRECTIONS)(
    'a checkpoint written on %s resumes on %s with its optimizer state, as if training never moved',
    async (from, to) => {
      await activateBackend(from);
      const straight = createModel(SHAPE, HP);
      await fitModel(straight, TRAIN, undefined, fitOptions({ epochs: 4 }));
      const reference = await weightsOf(straight);
      disposeModel(straight);

      const first = createModel(SHAPE, HP);
      const part = await fitModel(first, TRAIN, undefined, fitOptions({ epochs: 2 }));
      const key = `checkpoints/${from}-to-${to}/epoch-2`;
      await saveCheckpoint(store, key, first, { ...META, backend: from, position: part.position });
      const halfway = await weightsOf(first);
      disposeModel(first);

      await activateBackend(to);
      const { model: resumed, meta } = await loadCheckpoint(store, key);
      expect(meta.backend).toBe(from);
      expect(meta.position.epoch).toBe(2);
      await fitModel(resumed, TRAIN, undefined, fitOptions({ epochs: 4, start: meta.position }));
      const resumedDiff = maxAbsDiff(await weightsOf(resumed), reference);
      disposeModel(resumed);

      // The same two epochs from the same weights but a fresh optimizer: what losing the state costs.
      const restarted = createModel(SHAPE, HP);
      restarted.setWeights(halfway.map((w, i) => tf.tensor(w, restarted.getWeights()[i]?.shape)));
      await fitModel(restarted, TRAIN, undefined, fitOptions({ epochs: 4, start: part.position }));
      const restartedDiff = maxAbsDiff(await weightsOf(restarted), reference);
      disposeModel(restarted);

      expect(resumedDiff).toBeLessThanOrEqual(SAME_RESUME);
      expect(restartedDiff).toBeGreaterThan(10 * SAME_RESUME);
    },
  );
});
