import os from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { HyperparamsSchema } from '../common/model-spec';
import { selectBackend, type BackendChoice } from '../ml/backend';
import { createModel } from '../ml/model';
import { fitModel } from '../ml/train';

/** Training throughput of the demo forecaster's shape (lookback 6 x 3 features, MLP 32) on one backend. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { backend: { type: 'string', default: 'auto' }, rows: { type: 'string', default: '60000' } },
  });
  const backend = await selectBackend(values.backend as BackendChoice);
  const rows = Number(values.rows);
  const width = 18;
  const hp = HyperparamsSchema.parse({ hiddenUnits: 32, batchSize: 256 });
  const x = Float32Array.from({ length: rows * width }, () => Math.random());
  const y = Float32Array.from({ length: rows }, () => Math.random());
  const model = createModel({ task: 'forecast', lookback: 6, features: 3 }, hp);
  const epochs = 3;
  const started = performance.now();
  const { last } = await fitModel(model, { x, y, rows, width }, undefined, {
    startEpoch: 0,
    epochs,
    batchSize: hp.batchSize,
    seed: 1,
  });
  const seconds = (performance.now() - started) / 1000;
  // Forward + backward of the dense layers: about 3x the forward multiply-adds, 2 FLOP each.
  const flopPerSample = 3 * 2 * (width * 32 + 32 * 32 + 32);
  console.log(
    JSON.stringify({
      bench: 'train',
      backend,
      machine: `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
      rows,
      epochs,
      seconds: Number(seconds.toFixed(2)),
      samplesPerSec: Math.round((rows * epochs) / seconds),
      lastEpochSamplesPerSec: Math.round(last?.samplesPerSec ?? 0),
      gflops: Number(((flopPerSample * rows * epochs) / seconds / 1e9).toFixed(3)),
      heapMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
      tensors: tf.memory().numTensors,
    }),
  );
  model.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
