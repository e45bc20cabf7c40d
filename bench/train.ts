import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { trackProgress } from '../activities/train-model';
import type { TrainHeartbeat } from '../common/heartbeat';
import { HyperparamsSchema, type Hyperparams } from '../common/model-spec';
import { selectBackend, type BackendChoice } from '../ml/backend';
import { createModel, disposeModel, lossFunction } from '../ml/model';
import { fitModel, type BatchStats, type TrainingData } from '../ml/train';
import { ROOT } from '../scripts/lib/processes';
import { machine, median, round } from './figures';
import { benchPython, NO_PYTHON, runPythonJson } from './python';
import { markdownTable, type BenchRow } from './table';

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
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
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

/** What bench/python/train_bench.py prints. */
export interface PythonTrainResult {
  python: string;
  versions: Record<string, string>;
  rows: number;
  epochs: number;
  repeats: number;
  yardstick: { what: string; threads: number; samplesPerSec: number; runs: number[] };
  kinds: Record<
    'mlp' | 'xgboost' | 'lightgbm',
    {
      unit: string;
      epochs: number;
      threads: number;
      samplesPerSec: number;
      wallSeconds: number;
      runs: number[];
    }
  >;
}

/** TensorFlow.js backends side by side, each in its own process (a process selects one backend). */
export const TFJS_BACKENDS: BackendChoice[] = ['wasm', 'cpu', 'tensorflow'];

/** The goal of issue 20: for each kind, the default trainer at no less than half of the yardstick. */
export const RATIO_GOAL = 0.5;

export interface SideBySideResult {
  machine: string;
  python: PythonTrainResult | { error: string };
  tfjs: { backend: string; result?: TrainBenchResult; error?: string }[];
  /** The backend `auto` picks here (tfjs's default trainer), the first of the native one and wasm that ran. */
  defaultBackend?: string;
}

/** `tsx bench/train.ts --backend <b>` in a fresh process; its JSON document. */
function trainInChild(backend: BackendChoice, options: TrainBenchOptions): Promise<TrainBenchResult> {
  const args = ['bench/train.ts', '--backend', backend];
  for (const key of ['rows', 'epochs', 'repeats'] as const)
    if (options[key] !== undefined) args.push(`--${key}`, String(options[key]));
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(ROOT, 'node_modules', '.bin', 'tsx'), args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.once('close', (code) => {
      if (code === 0) return resolve(JSON.parse(out) as TrainBenchResult);
      reject(new Error(err.trim().split('\n').at(-1) ?? `exit ${code}`));
    });
  });
}

/**
 * Every trainer and backend on the same model and data: the PyTorch yardstick and the python kinds
 * (bench/python/train_bench.py, the venv's python, no Temporal), then each TensorFlow.js backend in
 * its own process. Same rows, epochs and repeats for the MLPs; boosting runs `rounds` rounds.
 */
export async function trainSideBySide(
  options: TrainBenchOptions & { rounds?: number } = {},
): Promise<SideBySideResult> {
  const { rows = 30000, epochs = 2, repeats = 3, rounds = 50 } = options;
  const python = await runPythonJson<PythonTrainResult>('train_bench.py', [
    '--rows',
    String(rows),
    '--epochs',
    String(epochs),
    '--repeats',
    String(repeats),
    '--rounds',
    String(rounds),
  ]).catch((err: Error) => ({ error: err.message }));
  const tfjs: SideBySideResult['tfjs'] = [];
  for (const backend of TFJS_BACKENDS) {
    process.stderr.write(`train: tfjs ${backend}...\n`);
    try {
      tfjs.push({ backend, result: await trainInChild(backend, { rows, epochs, repeats }) });
    } catch (err) {
      tfjs.push({ backend, error: (err as Error).message });
    }
  }
  // The yardstick again after the TensorFlow.js runs: on a shared machine the load moves, so its
  // figure is the median of the runs before and after them.
  if (!('error' in python)) {
    const after = await runPythonJson<{ yardstick: { runs: number[] } }>('train_bench.py', [
      '--yardstick-only',
      '--rows',
      String(rows),
      '--epochs',
      String(epochs),
      '--repeats',
      String(repeats),
    ]).catch(() => undefined);
    if (after) {
      const all = [...python.yardstick.runs, ...after.yardstick.runs];
      python.yardstick = { ...python.yardstick, samplesPerSec: median(all), runs: all };
    }
  }
  const defaultBackend = ['tensorflow', 'wasm'].find((b) => tfjs.some((t) => t.backend === b && t.result));
  return { machine: machine(), python, tfjs, ...(defaultBackend ? { defaultBackend } : {}) };
}

const num = (n: number) => Math.round(n).toLocaleString('en-US');

/** The side-by-side table: each figure beside the yardstick, and the default trainer's ratio per kind. */
export function sideBySideRows(r: SideBySideResult): BenchRow[] {
  const rows: BenchRow[] = [];
  const row = (backend: string, figure: string, value: string) =>
    rows.push({ bench: 'train', backend, figure, value });
  const py = 'error' in r.python ? undefined : r.python;
  const yard = py?.yardstick.samplesPerSec;
  const beside = (value: number) =>
    yard ? `${num(value)} vs ${num(yard)} (${round(value / yard, 2)} of it)` : `${num(value)}`;
  if (py) row('pytorch', `yardstick: ${py.yardstick.what}, samples/s`, num(py.yardstick.samplesPerSec));
  else row('pytorch', 'yardstick', `failed: ${(r.python as { error: string }).error}`);
  const model = `MLP 18-32-32-1, batch 256, adam`;
  for (const t of r.tfjs) {
    if (!t.result) {
      row(t.backend, `tfjs training samples/s (${model})`, `failed: ${t.error ?? ''}`.slice(0, 200));
      continue;
    }
    row(
      t.backend,
      `tfjs training samples/s (${model}) vs yardstick`,
      beside(t.result.training.samplesPerSec),
    );
    row(t.backend, 'tfjs matmul-only samples/s, same shapes', num(t.result.matmulOnly.samplesPerSec));
    row(t.backend, 'tfjs training / matmul', `${t.result.trainingToMatmul}`);
    row(t.backend, 'peak RSS of its process', `${Math.round(t.result.peakRssBytes / 2 ** 20)} MiB`);
  }
  if (py) {
    const k = py.kinds;
    row(
      'python',
      `mlp (PyTorch, as the worker trains it, ${k.mlp.threads} thread) samples/s vs yardstick`,
      beside(k.mlp.samplesPerSec),
    );
    for (const kind of ['xgboost', 'lightgbm'] as const)
      row(
        'python',
        `${kind} ${py.versions[kind]} (${k[kind].epochs} rounds, defaults, ${k[kind].threads} thread${k[kind].threads === 1 ? '' : 's'}) boosting rows/s per round vs yardstick`,
        beside(k[kind].samplesPerSec),
      );
  }
  // Each kind's default trainer: mlp is TensorFlow.js's (spec trainer tfjs), the boosters only python's.
  const tfDefault = r.tfjs.find((t) => t.backend === r.defaultBackend)?.result;
  const defaults: [string, string, number | undefined][] = [
    ['mlp', `tfjs ${r.defaultBackend ?? '?'}`, tfDefault?.training.samplesPerSec],
    ['xgboost', 'python', py?.kinds.xgboost.samplesPerSec],
    ['lightgbm', 'python', py?.kinds.lightgbm.samplesPerSec],
  ];
  for (const [kind, trainer, value] of defaults) {
    const ratio = value !== undefined && yard ? value / yard : undefined;
    row(
      'default',
      `${kind}: default trainer / PyTorch ratio (${trainer}; goal >= ${RATIO_GOAL})`,
      ratio === undefined
        ? 'not measured'
        : `${round(ratio, 2)}, ${ratio >= RATIO_GOAL ? 'meets goal' : 'misses goal'}`,
    );
  }
  return rows;
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'auto' },
      'side-by-side': { type: 'boolean', default: false },
      rows: { type: 'string' },
      epochs: { type: 'string', default: '2' },
      repeats: { type: 'string' },
      rounds: { type: 'string', default: '50' },
      optimizer: { type: 'string', default: 'adam' },
    },
  });
  const common = {
    rows: Number(values.rows ?? (values['side-by-side'] ? 30000 : 60000)),
    epochs: Number(values.epochs),
  };
  const run = values['side-by-side']
    ? trainSideBySide({
        ...common,
        repeats: Number(values.repeats ?? 3),
        rounds: Number(values.rounds),
      }).then((result) => {
        console.error(JSON.stringify(result));
        if (!benchPython()) console.error(`python kinds: ${NO_PYTHON}`);
        return `train, side by side: ${result.machine}\n\n${markdownTable(sideBySideRows(result))}`;
      })
    : trainBench({
        ...common,
        backend: values.backend as BackendChoice,
        repeats: Number(values.repeats ?? 5),
        optimizer: values.optimizer,
      }).then((result) => JSON.stringify(result, null, 2));
  run
    .then((out) => console.log(out))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
