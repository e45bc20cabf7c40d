import * as tf from '@tensorflow/tfjs';
import { CorruptArtefactError } from '../common/errors';
import type { BlobStore } from '../storage/blob-store';
import { OnnxModel, OnnxModelError, ONNX_RUNTIME, type RawOutputs } from './onnx-model';
import { storeLoadHandler } from './store-io';
import type { LoadedSplit } from './windows';

// A stored model of either format behind one interface: validation and the inference server run
// TensorFlow.js and ONNX versions alike through it.

/** How a model version is stored: TensorFlow.js layers (model.json, weights.bin) or an ONNX graph (model.onnx). */
export type ModelFormat = 'tfjs' | 'onnx';

/** The file an ONNX version or candidate keeps its graph in. */
export const ONNX_FILE = 'model.onnx';

/** A loaded model, whatever its format. */
export interface LoadedModel {
  readonly format: ModelFormat;
  /** What runs it: `tensorflow.js <backend>`, or `onnxruntime-node <version> cpu`. */
  readonly runtime: string;
  /** The input width the model fixes, when it says. */
  readonly inputWidth: number | undefined;
  /** Raw outputs for `rows` rows of `x` (row-major, `width` columns): one per row, or k class probabilities. */
  predict(x: Float32Array, rows: number, width: number): Promise<RawOutputs>;
  /** Frees it; call once, when no prediction runs any more. */
  dispose(): void;
}

/** A TensorFlow.js layers model as a {@link LoadedModel}. */
export function tfjsModel(net: tf.LayersModel): LoadedModel & { net: tf.LayersModel } {
  const shape = net.inputs.length === 1 ? net.inputs[0]?.shape : undefined;
  const last = shape?.[shape.length - 1];
  return {
    format: 'tfjs',
    net,
    get runtime() {
      return `tensorflow.js ${tf.getBackend()}`;
    },
    inputWidth: typeof last === 'number' ? last : undefined,
    async predict(x, rows, width) {
      const out = tf.tidy(
        () => net.predict(tf.tensor2d(x.subarray(0, rows * width), [rows, width])) as tf.Tensor,
      );
      try {
        const values = Float32Array.from(await out.data());
        return { values, width: rows > 0 ? values.length / rows : 1 };
      } finally {
        out.dispose();
      }
    },
    dispose: () => net.dispose(),
  };
}

/** An ONNX graph as a {@link LoadedModel}; `multiClass` keeps every class probability per row. */
export async function onnxModel(bytes: Uint8Array, multiClass = false): Promise<LoadedModel> {
  const onnx = await OnnxModel.load(bytes, { multiClass });
  return {
    format: 'onnx',
    runtime: ONNX_RUNTIME,
    inputWidth: onnx.inputWidth,
    predict: (x, rows, width) => onnx.run(x, rows, width),
    dispose: () => void onnx.release(),
  };
}

/** The format of what is stored under `prefix`: onnx when it holds model.onnx, else tfjs. */
export async function storedFormat(store: BlobStore, prefix: string): Promise<ModelFormat> {
  return (await store.list(`${prefix}/`)).includes(`${prefix}/${ONNX_FILE}`) ? 'onnx' : 'tfjs';
}

/**
 * Loads the model stored under `prefix` in `format` (absent: by what the prefix holds). A graph the
 * runtime cannot read is a {@link CorruptArtefactError} naming the key.
 */
export async function loadStoredModel(
  store: BlobStore,
  prefix: string,
  options: { format?: ModelFormat | undefined; multiClass?: boolean } = {},
): Promise<LoadedModel> {
  const format = options.format ?? (await storedFormat(store, prefix));
  if (format === 'tfjs') return tfjsModel(await tf.loadLayersModel(storeLoadHandler(store, prefix)));
  const key = `${prefix}/${ONNX_FILE}`;
  const blob = await store.get(key);
  if (!blob) throw new Error(`No model at ${store.uriFor(prefix)}: ${ONNX_FILE} is missing`);
  try {
    return await onnxModel(blob.body, options.multiClass);
  } catch (err) {
    if (!(err instanceof OnnxModelError)) throw err;
    throw new CorruptArtefactError(`Corrupt model at ${store.uriFor(key)}: ${err.message}`);
  }
}

/** Samples per predict call: bounds the memory one call takes. */
const PREDICT_CHUNK = 4096;

/**
 * A model's predictions for every sample of a split built under its own preprocessing: one value per
 * sample in the target's units (`split.values`), or k class probabilities per sample.
 */
export async function predictSplitWith(
  model: LoadedModel,
  split: LoadedSplit,
): Promise<{ values: Float64Array; width: number }> {
  const { rows, width } = split.data;
  const x = new Float32Array(Math.min(rows, PREDICT_CHUNK) * width);
  const chunks: RawOutputs[] = [];
  for (let from = 0; from < rows; from += PREDICT_CHUNK) {
    const size = Math.min(PREDICT_CHUNK, rows - from);
    split.data.gatherX(undefined, from, size, x);
    chunks.push(await model.predict(x, size, width));
  }
  const k = chunks[0]?.width ?? 1;
  const all = new Float64Array(rows * k);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk.values, at);
    at += chunk.values.length;
  }
  return { values: k === 1 ? split.values(all) : all, width: k };
}
