import * as tf from '@tensorflow/tfjs';
import type { LoadedSplit } from './windows';

/** Samples per predict call and per batch (tfjs would otherwise cut each call into batches of 32). */
const PREDICT_CHUNK = 4096;

/**
 * A model's predictions for every sample of a split built under its own preprocessing, in the
 * target's units (probabilities for classifiers), in chunks that bound memory.
 */
export function predictSplit(model: tf.LayersModel, split: LoadedSplit): Float64Array {
  const { rows, width } = split.data;
  const outputs = new Float32Array(rows);
  const x = new Float32Array(Math.min(rows, PREDICT_CHUNK) * width);
  for (let from = 0; from < rows; from += PREDICT_CHUNK) {
    const size = Math.min(PREDICT_CHUNK, rows - from);
    split.data.gatherX(undefined, from, size, x);
    const out = tf.tidy(() =>
      (
        model.predict(tf.tensor2d(x.subarray(0, size * width), [size, width]), {
          batchSize: PREDICT_CHUNK,
        }) as tf.Tensor
      ).dataSync(),
    );
    outputs.set(out, from);
  }
  return split.values(outputs);
}
