import * as tf from '@tensorflow/tfjs';
import { seededRandom } from '../common/seeded-random';

/** Samples held as one row-major array. */
export interface TrainingData {
  /** Row-major features, `rows * width` values, already normalised. */
  x: Float32Array;
  y: Float32Array;
  rows: number;
  width: number;
}

/**
 * Normalised samples whose inputs are produced per batch (`gatherX`), so a source can build them
 * from stored rows (ml/windows.ts) instead of holding `rows * width` values.
 */
export interface SampleSource {
  rows: number;
  width: number;
  /** Normalised target of every sample. */
  y: Float32Array;
  /**
   * Writes the inputs of samples `order[from] .. order[from + count - 1]` (`from .. from + count - 1`
   * when `order` is undefined) row-major into `out`, `count * width` values.
   */
  gatherX(order: ArrayLike<number> | undefined, from: number, count: number, out: Float32Array): void;
}

/** Training data as a {@link SampleSource}: a source as it is, dense arrays behind one. */
export function sampleSource(data: TrainingData | SampleSource): SampleSource {
  if ('gatherX' in data) return data;
  const { x, y, rows, width } = data;
  return {
    rows,
    width,
    y,
    gatherX(order, from, count, out) {
      if (!order) {
        out.set(x.subarray(from * width, (from + count) * width));
        return;
      }
      for (let i = 0; i < count; i++) {
        const src = (order[from + i] as number) * width;
        for (let k = 0; k < width; k++) out[i * width + k] = x[src + k] as number;
      }
    },
  };
}

/**
 * Where training stands, and all that is needed to continue it exactly (with the weights and the
 * optimiser state): the batch order and dropout masks depend only on (seed, epoch, batch).
 */
export interface TrainPosition {
  /** Epochs completed. */
  epoch: number;
  /** Batches completed of epoch `epoch + 1`; 0 at an epoch boundary. */
  batch: number;
  /** Sum of batch loss x batch size, and samples, so far in epoch `epoch + 1`. */
  lossSum: number;
  seen: number;
}

export interface EpochStats {
  epoch: number;
  loss: number;
  valLoss: number | null;
  samplesPerSec: number;
}

export interface BatchStats {
  /** The epoch in progress (1-based). */
  epoch: number;
  /** Batches done in it. */
  batch: number;
  batches: number;
  /** Mean training loss of the epoch so far. */
  loss: number;
  samplesPerSec: number;
}

export type LossFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

export interface FitOptions {
  epochs: number;
  batchSize: number;
  seed: number;
  /** Per-sample loss (ml/model.ts lossFunction); the model's compiled optimiser minimises its mean. */
  loss: LossFn;
  /** Resume point; training continues with the next batch. Default: the very start. */
  start?: TrainPosition;
  /** Checked after every batch: once aborted, training stops and returns its position. */
  signal?: AbortSignal;
  /** Called after a batch at most every `progressEveryMs`, and after the last batch of an epoch. */
  onProgress?: (stats: BatchStats) => void;
  /** Awaited after every epoch: the place to checkpoint and report. */
  onEpoch?: (stats: EpochStats, position: TrainPosition) => Promise<void>;
  /** @default 250 */
  progressEveryMs?: number;
  /** Longest stretch without yielding to the event loop (timers, heartbeats, cancellation). @default 20 */
  yieldEveryMs?: number;
}

export interface FitResult {
  /** True when `signal` stopped training before the last epoch ended. */
  stopped: boolean;
  position: TrainPosition;
  /** Stats of the last completed epoch, if any completed in this call. */
  last: EpochStats | undefined;
}

/** Thrown when the loss turns NaN or infinite. */
export class DivergedError extends Error {
  override readonly name = 'DivergedError';
}

export const START: TrainPosition = { epoch: 0, batch: 0, lossSum: 0, seen: 0 };

/**
 * Mini-batch training with a validation loss per epoch. Rows are shuffled per epoch from
 * (seed, epoch); batch losses stay on the device and are read in groups, so the loop syncs only
 * for progress; it yields to the event loop every `yieldEveryMs` so heartbeats and cancellation
 * get through on the pure-JS and wasm backends too.
 */
export async function fitModel(
  model: tf.LayersModel,
  trainData: TrainingData | SampleSource,
  validation: TrainingData | SampleSource | undefined,
  options: FitOptions,
): Promise<FitResult> {
  const train = sampleSource(trainData);
  const { batchSize, seed, loss } = options;
  const progressEveryMs = options.progressEveryMs ?? 250;
  const yieldEveryMs = options.yieldEveryMs ?? 20;
  const { optimizer, variables, dropouts } = trainables(model);
  const batches = Math.ceil(train.rows / batchSize);
  const start = options.start ?? START;
  let position: TrainPosition = { ...start };
  let last: EpochStats | undefined;
  let lastYield = performance.now();

  for (let epoch = start.epoch + 1; epoch <= options.epochs; epoch++) {
    const order = shuffledRows(train.rows, seed, epoch);
    const started = performance.now();
    const first = position.batch;
    let lastProgress = started;
    const pending: { cost: tf.Scalar; size: number; batch: number }[] = [];
    // Losses are summed in batch order whenever they are read, so the sum does not depend on timing.
    const flush = async (batchesDone: number) => {
      if (pending.length === 0) return;
      const stacked = tf.stack(pending.map((p) => p.cost));
      const values = await stacked.data();
      for (let i = 0; i < pending.length; i++) {
        const { size, batch } = pending[i] as (typeof pending)[number];
        const value = values[i] as number;
        if (!Number.isFinite(value))
          throw new DivergedError(`loss became ${value} at epoch ${epoch}, batch ${batch + 1}`);
        position.lossSum += value * size;
        position.seen += size;
      }
      tf.dispose([stacked, ...pending.map((p) => p.cost)]);
      pending.length = 0;
      options.onProgress?.({
        epoch,
        batch: batchesDone,
        batches,
        loss: position.lossSum / Math.max(1, position.seen),
        samplesPerSec:
          (Math.min(train.rows, batchesDone * batchSize) - first * batchSize) / secondsSince(started),
      });
    };
    try {
      for (let b = first; b < batches; b++) {
        const from = b * batchSize;
        const size = Math.min(batchSize, train.rows - from);
        for (const layer of dropouts) (layer as unknown as { seed?: number }).seed = mix(seed, epoch, b + 1);
        const cost = trainStep(model, optimizer, variables, loss, train, order, from, size);
        pending.push({ cost, size, batch: b });
        position.batch = b + 1;
        const now = performance.now();
        if (now - lastProgress >= progressEveryMs || b === batches - 1 || options.signal?.aborted) {
          await flush(b + 1);
          lastProgress = now;
        }
        // The flush above already ran for an aborted signal.
        if (options.signal?.aborted) return { stopped: true, position, last };
        if (now - lastYield >= yieldEveryMs) {
          await new Promise((resolve) => setImmediate(resolve));
          lastYield = performance.now();
        }
      }
    } finally {
      tf.dispose(pending.map((p) => p.cost));
    }
    last = {
      epoch,
      loss: position.lossSum / Math.max(1, position.seen),
      valLoss: validation && validation.rows > 0 ? await meanLoss(model, validation, loss) : null,
      samplesPerSec: Math.max(0, train.rows - first * batchSize) / secondsSince(started),
    };
    position = { epoch, batch: 0, lossSum: 0, seen: 0 };
    await options.onEpoch?.(last, { ...position });
    lastYield = performance.now();
  }
  return { stopped: false, position, last };
}

/** What a training step updates: the compiled model's optimizer, its variables and its dropout layers. */
function trainables(model: tf.LayersModel) {
  const optimizer = model.optimizer as tf.Optimizer | undefined;
  if (!optimizer) throw new Error('fitModel needs a compiled model');
  return {
    optimizer,
    variables: model.trainableWeights.map((w) => w.read() as tf.Variable),
    dropouts: model.layers.filter((layer) => layer.getClassName() === 'Dropout'),
  };
}

/** Seconds since `started` (a performance.now() reading), never zero. */
function secondsSince(started: number): number {
  return Math.max((performance.now() - started) / 1000, 1e-9);
}

/** One optimizer step on the rows `order[from .. from + size)`; the batch's mean loss, left on the device. */
function trainStep(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  variables: tf.Variable[],
  loss: LossFn,
  train: SampleSource,
  order: Uint32Array,
  from: number,
  size: number,
): tf.Scalar {
  // Fresh arrays per batch: a backend may keep the array it was given as the tensor's storage.
  const xs = new Float32Array(size * train.width);
  const ys = new Float32Array(size);
  train.gatherX(order, from, size, xs);
  for (let i = 0; i < size; i++) ys[i] = train.y[order[from + i] as number] as number;
  return tf.tidy(() => {
    const bx = tf.tensor2d(xs, [size, train.width]);
    const by = tf.tensor2d(ys, [size, 1]);
    return optimizer.minimize(
      () => tf.mean(loss(by, model.apply(bx, { training: true }) as tf.Tensor)) as tf.Scalar,
      true,
      variables,
    ) as tf.Scalar;
  });
}

/** Mean loss over `data` in inference mode, in chunks that bound memory; yields between chunks. */
export async function meanLoss(
  model: tf.LayersModel,
  samples: TrainingData | SampleSource,
  loss: LossFn,
): Promise<number> {
  const data = sampleSource(samples);
  const chunk = 4096;
  let sum = 0;
  for (let from = 0; from < data.rows; from += chunk) {
    const size = Math.min(chunk, data.rows - from);
    const xs = new Float32Array(size * data.width);
    data.gatherX(undefined, from, size, xs);
    const total = tf.tidy(() => {
      const x = tf.tensor2d(xs, [size, data.width]);
      const y = tf.tensor2d(data.y.slice(from, from + size), [size, 1]);
      return tf.sum(loss(y, model.predict(x) as tf.Tensor));
    });
    sum += (await total.data())[0] as number;
    total.dispose();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return sum / Math.max(1, data.rows);
}

/** Row order for one epoch, a function of (seed, epoch) only: mulberry32 + Fisher-Yates. */
export function shuffledRows(count: number, seed: number, epoch: number): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const random = seededRandom(mix(seed, epoch, 0));
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i] as number;
    order[i] = order[j] as number;
    order[j] = t;
  }
  return order;
}

/** A positive 31-bit seed from (seed, epoch, batch), well mixed so neighbours differ in every bit. */
export function mix(seed: number, epoch: number, batch: number): number {
  let h =
    Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^
    Math.imul(epoch + 1, 0xc2b2ae35) ^
    Math.imul(batch, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 1 || 1;
}
