import type * as tf from '@tensorflow/tfjs';
import type { Task } from '../../common/model-spec';
import type { TrainingData } from '../../ml/train';

/** A learnable toy problem: the target is a fixed linear mix of the window (thresholded for classify). */
export function toyDataset(task: Task, rows: number, seed: number, width: number): TrainingData {
  let state = seed;
  const rand = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const x = Float32Array.from({ length: rows * width }, rand);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let v = 0;
    for (let c = 0; c < width; c++) v += (x[r * width + c] as number) * ((c % 3) - 1);
    y[r] = task === 'classify' ? Number(v > 0) : v;
  }
  return { x, y, rows, width };
}

export async function weightsOf(model: tf.LayersModel): Promise<Float32Array[]> {
  return Promise.all(model.getWeights().map(async (w) => (await w.data()) as Float32Array));
}

/** Largest element-wise difference between two lists of same-shaped arrays. */
export function maxAbsDiff(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  if (a.length !== b.length) throw new Error(`${a.length} arrays against ${b.length}`);
  let max = 0;
  a.forEach((arr, i) => {
    const other = b[i] as ArrayLike<number>;
    if (arr.length !== other.length)
      throw new Error(`array ${i}: ${arr.length} values against ${other.length}`);
    for (let j = 0; j < arr.length; j++)
      max = Math.max(max, Math.abs((arr[j] as number) - (other[j] as number)));
  });
  return max;
}
