import * as tf from '@tensorflow/tfjs';

export interface TrainingData {
  /** Row-major features, `rows * width` values, already normalised. */
  x: Float32Array;
  y: Float32Array;
  rows: number;
  width: number;
}

export interface EpochStats {
  epoch: number;
  loss: number;
  valLoss: number | null;
  samplesPerSec: number;
}

export interface BatchStats {
  epoch: number;
  batch: number;
  batches: number;
  loss: number;
}

export interface FitOptions {
  /** Epochs already done (resume): training continues at `startEpoch + 1`. */
  startEpoch: number;
  epochs: number;
  batchSize: number;
  seed: number;
  onBatch?: (stats: BatchStats) => void;
  /** Awaited after every epoch: the place to checkpoint and report. */
  onEpoch?: (stats: EpochStats) => Promise<void>;
  /** Checked between batches; true stops training after the current batch. */
  shouldStop?: () => boolean;
}

/** Thrown when the loss turns NaN or infinite. */
export class DivergedError extends Error {
  override readonly name = 'DivergedError';
}

/**
 * Mini-batch training with validation loss per epoch. Yields to the event loop between batches
 * so heartbeats and cancellation get through on the pure-JS and wasm backends too.
 */
export async function fitModel(
  model: tf.LayersModel,
  train: TrainingData,
  validation: TrainingData | undefined,
  options: FitOptions,
): Promise<{ stopped: boolean; last: EpochStats | undefined }> {
  const xs = tf.tensor2d(train.x, [train.rows, train.width]);
  const ys = tf.tensor2d(train.y, [train.rows, 1]);
  const val =
    validation && validation.rows > 0
      ? ([
          tf.tensor2d(validation.x, [validation.rows, validation.width]),
          tf.tensor2d(validation.y, [validation.rows, 1]),
        ] as const)
      : undefined;
  const batches = Math.ceil(train.rows / options.batchSize);
  let stopped = false;
  let last: EpochStats | undefined;
  try {
    for (let epoch = options.startEpoch + 1; epoch <= options.epochs && !stopped; epoch++) {
      const started = performance.now();
      const order = shuffledBatches(batches, options.seed + epoch);
      let lossSum = 0;
      let seen = 0;
      for (let i = 0; i < order.length; i++) {
        const b = order[i] as number;
        const start = b * options.batchSize;
        const size = Math.min(options.batchSize, train.rows - start);
        const bx = xs.slice([start, 0], [size, train.width]);
        const by = ys.slice([start, 0], [size, 1]);
        let result: number | number[];
        try {
          result = await model.trainOnBatch(bx, by);
        } finally {
          tf.dispose([bx, by]);
        }
        const batchLoss = Array.isArray(result) ? (result[0] as number) : result;
        if (!Number.isFinite(batchLoss))
          throw new DivergedError(`loss became ${batchLoss} at epoch ${epoch}, batch ${i + 1}`);
        lossSum += batchLoss * size;
        seen += size;
        options.onBatch?.({ epoch, batch: i + 1, batches, loss: lossSum / seen });
        await new Promise((resolve) => setImmediate(resolve));
        if (options.shouldStop?.()) {
          stopped = true;
          break;
        }
      }
      if (stopped) break;
      const valLoss = val ? evaluateLoss(model, val[0], val[1]) : null;
      const seconds = (performance.now() - started) / 1000;
      last = { epoch, loss: lossSum / seen, valLoss, samplesPerSec: seen / Math.max(seconds, 1e-9) };
      await options.onEpoch?.(last);
    }
  } finally {
    tf.dispose([xs, ys, ...(val ?? [])]);
  }
  return { stopped, last };
}

function evaluateLoss(model: tf.LayersModel, x: tf.Tensor2D, y: tf.Tensor2D): number {
  return tf.tidy(() => {
    const result = model.evaluate(x, y, { batchSize: 4096 });
    const scalar = Array.isArray(result) ? result[0]! : result;
    return scalar.dataSync()[0] as number;
  });
}

/** Batch order for one epoch, reproducible from the seed (mulberry32 + Fisher-Yates). */
export function shuffledBatches(count: number, seed: number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}
