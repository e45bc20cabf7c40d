/**
 * gpu-check, the TensorFlow.js half: trains the 18-32-32-1 MLP (batch 256, Adam, the data
 * bench_py.py wrote) on one native backend and writes one JSON row. Run by scripts/gpu-check.sh:
 *
 *   node --import tsx scripts/gpu/bench-tfjs.ts --backend tensorflow --data D --out O [--seconds S]
 *   node --import tsx scripts/gpu/bench-tfjs.ts --backend tensorflow-gpu --package DIR --data D --out O
 *
 * `tensorflow` is the project's CPU backend (@tensorflow/tfjs-node through ml/backend.ts);
 * `tensorflow-gpu` loads the tfjs-node-gpu build in DIR (scripts/gpu/install-tfjs-node-gpu.sh) by path.
 * Whether it trained on a GPU is what the binding says (`isUsingGpuDevice()`: libtensorflow's device
 * list has a GPU, so every op is placed on it), never the backend's name; the two share the name
 * `tensorflow`, so each run is its own process.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { activateBackend } from '../../ml/backend';
import { restoreUtilForTfjsNode } from '../../ml/tfjs-node-compat';

const FEATURES = 18;

interface Args {
  backend: 'tensorflow' | 'tensorflow-gpu';
  data: string;
  out: string;
  seconds: number;
  batch: number;
  pkg?: string;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const backend = get('backend');
  if (backend !== 'tensorflow' && backend !== 'tensorflow-gpu')
    throw new Error('--backend tensorflow|tensorflow-gpu');
  const data = get('data');
  const out = get('out');
  if (!data || !out) throw new Error('--data and --out are required');
  return {
    backend,
    data,
    out,
    seconds: Number(get('seconds') ?? 3),
    batch: Number(get('batch') ?? 256),
    pkg: get('package'),
  };
}

interface Row {
  framework: 'tfjs';
  asked: string;
  version: string | null;
  used?: string;
  on_gpu: boolean | null;
  rate: number | null;
  unit?: string;
  seconds?: number;
  work?: string;
  loss?: number;
  error: string | null;
}

/** Loads the backend and says what it is and where it runs, as the binding reports it. */
async function load(args: Args): Promise<{ version: string; onGpu: boolean; used: string }> {
  if (args.backend === 'tensorflow-gpu') {
    if (!args.pkg) throw new Error('--package is required for tensorflow-gpu');
    const binding = path.join(args.pkg, 'lib', 'napi-v8', 'tfjs_binding.node');
    if (!fs.existsSync(binding)) throw new Error(`not installed: no binding at ${binding}`);
    process.env['TF_CPP_MIN_LOG_LEVEL'] ??= '0'; // libtensorflow's own device log goes to stderr
    restoreUtilForTfjsNode();
    require(path.resolve(args.pkg));
    if (!(await tf.setBackend('tensorflow'))) throw new Error('backend tensorflow did not initialise');
    await tf.ready();
  } else {
    await activateBackend('tensorflow');
  }
  const backend = tf.backend() as unknown as {
    binding: { TF_Version: string; isUsingGpuDevice: () => boolean };
    isGPUPackage?: boolean;
  };
  const onGpu = backend.binding.isUsingGpuDevice();
  const pkg = backend.isGPUPackage ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  const version = `${pkg} ${tf.version.tfjs} (libtensorflow ${backend.binding.TF_Version})`;
  const used = onGpu
    ? 'GPU (binding: isUsingGpuDevice() true; ops placed on the GPU device)'
    : 'CPU (binding: isUsingGpuDevice() false)';
  return { version, onGpu, used };
}

function readData(file: string): { x: tf.Tensor2D; y: tf.Tensor2D; n: number } {
  const buf = fs.readFileSync(file);
  const n = buf.length / 4 / (FEATURES + 1);
  if (!Number.isInteger(n)) throw new Error(`${file}: not n x (18 + 1) float32`);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const x = tf.tensor2d(all.slice(0, n * FEATURES), [n, FEATURES]);
  const y = tf.tensor2d(all.slice(n * FEATURES), [n, 1]);
  return { x, y, n };
}

function mlp(): tf.Sequential {
  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [FEATURES], units: 32, activation: 'relu' }));
  model.add(tf.layers.dense({ units: 32, activation: 'relu' }));
  model.add(tf.layers.dense({ units: 1 }));
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'meanSquaredError' });
  return model;
}

/** model.fit over the whole set, stopped from onBatchEnd once `seconds` have passed; batches counted. */
async function timedFit(
  model: tf.Sequential,
  x: tf.Tensor2D,
  y: tf.Tensor2D,
  batch: number,
  seconds: number,
) {
  let batches = 0;
  let loss = NaN;
  const started = performance.now();
  const stop = () => performance.now() - started >= seconds * 1000;
  for (let epoch = 0; !stop(); epoch++) {
    await model.fit(x, y, {
      batchSize: batch,
      epochs: 1,
      shuffle: true,
      verbose: 0,
      callbacks: {
        onBatchEnd: async (_b, logs) => {
          batches += 1;
          loss = logs?.['loss'] ?? loss;
          if (stop()) model.stopTraining = true;
        },
      },
    });
  }
  return { batches, loss, elapsed: (performance.now() - started) / 1000 };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const asked = args.backend;
  let row: Row;
  try {
    const { version, onGpu, used } = await load(args);
    process.stderr.write(`[gpu-check] tfjs ${asked}: ${used}\n`);
    const { x, y, n } = readData(args.data);
    const model = mlp();
    // warm-up: kernels, (on a GPU) the driver's PTX compilation and cuBLAS handles
    await model.fit(x.slice(0, 8 * args.batch), y.slice(0, 8 * args.batch), {
      batchSize: args.batch,
      epochs: 1,
      verbose: 0,
    });
    const { batches, loss, elapsed } = await timedFit(model, x, y, args.batch, args.seconds);
    row = {
      framework: 'tfjs',
      asked,
      version,
      used,
      on_gpu: onGpu,
      rate: (batches * args.batch) / elapsed,
      unit: 'samples/s',
      seconds: elapsed,
      work: `${batches} batches of ${args.batch} (${n} samples), model.fit`,
      loss,
      error: asked === 'tensorflow-gpu' && !onGpu ? 'fell back to the CPU' : null,
    };
  } catch (err) {
    const message = err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : String(err);
    row = { framework: 'tfjs', asked, version: null, on_gpu: null, rate: null, error: message };
  }
  fs.writeFileSync(args.out, JSON.stringify([row], null, 1));
}

main().catch((err) => {
  process.stderr.write(`[gpu-check] ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
