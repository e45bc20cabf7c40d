import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { trackProgress } from '../activities/train-model';
import type { TrainHeartbeat } from '../common/heartbeat';
import { HyperparamsSchema, type Hyperparams } from '../common/model-spec';
import { selectBackend, type BackendChoice } from '../ml/backend';
import { createModel, disposeModel, lossFunction } from '../ml/model';
import { fitModel, type BatchStats, type TrainingData } from '../ml/train';
import { machine, median, round } from './figures';

// The demo forecaster: lookback 6 x 3 features -> Dense 32 relu -> Dense 32 relu -> Dense 1.
const SHAPE = { task: 'forecast', lookback: 6, features: 3 } as const;
const WIDTH = SHAPE.lookback * SHAPE.features;
const HIDDEN = 32;
const BATCH = 256;
const LAYERS: [number, number][] = [
  [WIDTH, HIDDEN],
  [HIDDEN, HIDDEN],
  [HIDDEN, 1],
];

/**
 * Matrix-multiply FLOPs of one training sample: per dense layer forward X·W and the weight gradient
 * Xᵀ·dY, plus the input gradient dY·Wᵀ for every layer but the first (2 FLOPs per multiply-add).
 */
const FLOP_PER_SAMPLE = LAYERS.reduce((sum, [i, o], l) => sum + 2 * i * o * (l === 0 ? 2 : 3), 0);

/**
 * Training throughput of the demo forecaster on one backend, next to the same backend's
 * throughput on just the matrix multiplies of that training (same shapes, same batch), and the
 * cost of the activity's heartbeat bookkeeping. Selects the backend in this process: run one
 * backend per process (`npm run bench:train` prints one JSON document per backend).
 */
export async function trainBench(options: TrainBenchOptions = {}) {
  const { rows = 60000, epochs = 2, repeats = 5 } = options;
  const optimizer = HyperparamsSchema.shape.optimizer.parse(options.optimizer ?? 'adam');
  const backend = await selectBackend(options.backend ?? 'auto', (line) => console.error(line));
  const data: TrainingData = {
    x: Float32Array.from({ length: rows * WIDTH }, () => Math.random()),
    y: Float32Array.from({ length: rows }, () => Math.random()),
    rows,
    width: WIDTH,
  };

  await trainSamplesPerSec(data, 1, optimizer, false); // warm-up: kernels, allocator, JIT
  await matmulSamplesPerSec(rows);
  // Interleaved so that load from elsewhere on the machine hits both variants alike.
  const plain: number[] = [];
  const tracked: number[] = [];
  const matmul: number[] = [];
  for (let r = 0; r < repeats; r++) {
    // Alternating which variant goes first, so neither always inherits the other's garbage.
    for (const bookkeeping of r % 2 ? [true, false] : [false, true])
      (bookkeeping ? tracked : plain).push(await trainSamplesPerSec(data, epochs, optimizer, bookkeeping));
    matmul.push(await matmulSamplesPerSec(rows * epochs));
  }
  const train = median(plain);
  const withHeartbeat = median(tracked);
  const mm = median(matmul);
  const gflops = (samplesPerSec: number) => round((samplesPerSec * FLOP_PER_SAMPLE) / 1e9, 3);
  return {
    bench: 'train' as const,
    backend,
    machine: machine(),
    model: `MLP ${WIDTH}-${HIDDEN}-${HIDDEN}-1, batch ${BATCH}, ${optimizer}`,
    rows,
    epochs,
    repeats,
    flopPerSample: FLOP_PER_SAMPLE,
    training: { samplesPerSec: Math.round(train), gflops: gflops(train) },
    matmulOnly: { samplesPerSec: Math.round(mm), gflops: gflops(mm) },
    trainingToMatmul: round(train / mm, 3),
    heartbeat: {
      samplesPerSec: Math.round(withHeartbeat),
      // A/B difference of medians: within the machine's noise when the cost is this small.
      overheadPct: round((100 * (train - withHeartbeat)) / train, 2),
      // Measured directly: time inside the callbacks as a share of training time.
      callbackPct: round(100 * median(bookkeepingShare), 4),
    },
    runs: {
      plain: plain.map(Math.round),
      tracked: tracked.map(Math.round),
      matmul: matmul.map(Math.round),
    },
    tensorsLeft: tf.memory().numTensors,
  };
}

/**
 * fitModel on `data`; with `bookkeeping`, the activity's per-progress state update and a heartbeat
 * (the payload serialised, as the SDK does) every second, as trainModel runs it.
 */
async function trainSamplesPerSec(
  data: TrainingData,
  epochs: number,
  optimizer: Hyperparams['optimizer'],
  bookkeeping: boolean,
): Promise<number> {
  const hp = HyperparamsSchema.parse({ hiddenUnits: HIDDEN, batchSize: BATCH, seed: 1, optimizer });
  const model = createModel(SHAPE, hp);
  const state: TrainHeartbeat = {
    epoch: 0,
    totalEpochs: epochs,
    batch: 0,
    batches: 0,
    pct: 0,
    loss: null,
    valLoss: null,
    samplesPerSec: null,
    backend: tf.getBackend(),
    checkpoint: null,
  };
  const payloads: string[] = [];
  let bookkeepingMs = 0;
  const timed =
    <A extends unknown[]>(fn: (...args: A) => void) =>
    (...args: A) => {
      const t0 = performance.now();
      fn(...args);
      bookkeepingMs += performance.now() - t0;
    };
  const timer = bookkeeping
    ? setInterval(
        timed(() => payloads.push(JSON.stringify({ ...state }))),
        1000,
      )
    : undefined;
  const started = performance.now();
  try {
    await fitModel(model, data, undefined, {
      epochs,
      batchSize: BATCH,
      seed: 1,
      loss: lossFunction(SHAPE.task, hp.loss),
      ...(bookkeeping
        ? { onProgress: timed((stats: BatchStats) => trackProgress(state, stats, epochs)) }
        : {}),
    });
  } finally {
    clearInterval(timer);
    disposeModel(model);
  }
  const seconds = (performance.now() - started) / 1000;
  if (bookkeeping) bookkeepingShare.push(bookkeepingMs / 1000 / seconds);
  return (data.rows * epochs) / seconds;
}

/** Samples/s if training were only its matrix multiplies: forward and backward, per layer, per batch. */
async function matmulSamplesPerSec(samples: number): Promise<number> {
  const batches = Math.ceil(samples / BATCH);
  const tensors = LAYERS.map(([i, o]) => ({
    x: tf.randomUniform([BATCH, i]),
    w: tf.randomUniform([i, o]),
    dy: tf.randomUniform([BATCH, o]),
  }));
  const started = performance.now();
  let last: tf.Tensor | undefined;
  for (let b = 0; b < batches; b++) {
    last?.dispose();
    last = tf.tidy(() => {
      let out: tf.Tensor | undefined;
      tensors.forEach(({ x, w, dy }, l) => {
        out = tf.matMul(x, w); // forward
        out = tf.matMul(x, dy, true, false); // weight gradient
        if (l > 0) out = tf.matMul(dy, w, false, true); // input gradient
      });
      return out as tf.Tensor;
    });
    // Each batch's results are read as training reads its loss: not every batch, but the work is done.
    if (b % 64 === 63) await last.data();
  }
  await last?.data();
  const seconds = (performance.now() - started) / 1000;
  last?.dispose();
  tf.dispose(tensors.flatMap((t) => [t.x, t.w, t.dy]));
  return (batches * BATCH) / seconds;
}

/** Per tracked run: time spent in the bookkeeping callbacks / training time. */
const bookkeepingShare: number[] = [];

export interface TrainBenchOptions {
  backend?: BackendChoice;
  rows?: number;
  epochs?: number;
  repeats?: number;
  optimizer?: string;
}

export type TrainBenchResult = Awaited<ReturnType<typeof trainBench>>;

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'auto' },
      rows: { type: 'string', default: '60000' },
      epochs: { type: 'string', default: '2' },
      repeats: { type: 'string', default: '5' },
      optimizer: { type: 'string', default: 'adam' },
    },
  });
  trainBench({
    backend: values.backend as BackendChoice,
    rows: Number(values.rows),
    epochs: Number(values.epochs),
    repeats: Number(values.repeats),
    optimizer: values.optimizer,
  })
    .then((result) => console.log(JSON.stringify(result, null, 2)))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
