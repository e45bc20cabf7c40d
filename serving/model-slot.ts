import * as tf from '@tensorflow/tfjs';

import type { EntityStats, ModelMetadata, Preprocessing } from '../common/artefacts';
import { inputWidth } from '../common/model-inputs';
import type { ModelSpec } from '../common/model-spec';
import { CorruptArtefactError } from '../common/errors';
import { onnxModel, tfjsModel, ONNX_FILE, type LoadedModel, type ModelFormat } from '../ml/loaded-model';
import { storeLoadHandler } from '../ml/store-io';
import type { ModelRegistry } from '../storage/registry';

const PROBE_ROWS = 4;
/** Batch sizes run once before the swap, so the first real requests do not pay for kernel set-up. */
const WARM_UP_ROWS = [1, 32];

/** Thrown by {@link loadVersion} when a version cannot be served; the message says why. */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
}

/**
 * One loaded model version, TensorFlow.js or ONNX. Requests hold it with {@link ModelSlot.acquire};
 * once retired by a reload, its tensors or session are freed when the last request using it is done.
 */
export class ModelSlot {
  readonly loadedAt = new Date().toISOString();
  private inFlight = 0;
  private retired = false;
  private disposed = false;

  constructor(
    readonly model: string,
    readonly version: string,
    readonly runner: LoadedModel,
    readonly metadata: ModelMetadata,
  ) {}

  /** How the version is stored and run: `tfjs` or `onnx`. */
  get format(): ModelFormat {
    return this.runner.format;
  }

  /** What runs it: `tensorflow.js <backend>` or `onnxruntime-node <version> cpu`. */
  get runtime(): string {
    return this.runner.runtime;
  }

  get preprocessing(): Preprocessing {
    return this.metadata.preprocessing;
  }

  /**
   * The TensorFlow.js backend this version runs on (one per process), or `cpu` for ONNX (onnxruntime's
   * CPU provider), for `GET /admin/model-info`.
   */
  get backend(): string {
    return this.runner.format === 'tfjs' ? tf.getBackend() : 'cpu';
  }

  /** Requests currently using this version. */
  get pending(): number {
    return this.inFlight;
  }

  /** Marks one request as using the model; call the returned function exactly once when it is done. */
  acquire(): () => void {
    if (this.disposed) throw new Error(`${this.model} ${this.version} was already disposed`);
    this.inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      this.disposeWhenIdle();
    };
  }

  /**
   * Runs the model on `x` (row-major, `width` columns) and returns its raw outputs: one per row, or
   * k class probabilities per row (multi-class).
   */
  async predict(x: Float32Array, width: number): Promise<Float32Array> {
    // acquire() runs before the first await, so a reload cannot dispose the model under this call.
    const release = this.acquire();
    try {
      return (await this.runner.predict(x, x.length / width, width)).values;
    } finally {
      release();
    }
  }

  /** Takes the version out of service: disposed now when idle, else when its last request ends. */
  retire(): void {
    this.retired = true;
    this.disposeWhenIdle();
  }

  private disposeWhenIdle(): void {
    if (this.retired && this.inFlight === 0 && !this.disposed) {
      this.disposed = true;
      this.runner.dispose();
    }
  }
}

/**
 * Loads `model` `version` from the registry and checks it can serve: metadata consistent with the
 * request and with the model's spec (the row schema clients send), input width `lookback * features`,
 * output `[null, 1]`, finite outputs on a probe batch; then warms it up.
 * Throws {@link ModelLoadError} with the reason otherwise; nothing is left allocated then.
 */
export async function loadVersion(
  registry: ModelRegistry,
  model: string,
  version: string,
  spec?: ModelSpec,
): Promise<ModelSlot> {
  const what = `${model} ${version}`;
  const metadata = await registry.getMetadata(model, version).catch((err: unknown) => {
    throw new ModelLoadError(`${what}: unreadable metadata: ${messageOf(err)}`);
  });
  if (!metadata) throw new ModelLoadError(`${what} does not exist or is incomplete (no metadata.json)`);
  checkMetadata(what, model, version, metadata);
  if (spec) checkAgainstSpec(what, metadata.preprocessing, spec);
  const runner =
    metadata.format === 'onnx'
      ? await loadOnnxVersion(registry, what, registry.versionPrefix(model, version), metadata.preprocessing)
      : await loadTfjsVersion(registry, what, registry.versionPrefix(model, version), metadata.preprocessing);
  return new ModelSlot(model, version, runner, metadata);
}

/** A TensorFlow.js version's layers, checked by {@link checkModel}. */
async function loadTfjsVersion(
  registry: ModelRegistry,
  what: string,
  prefix: string,
  pre: Preprocessing,
): Promise<LoadedModel> {
  const net = await tf.loadLayersModel(storeLoadHandler(registry.store, prefix)).catch((err: unknown) => {
    // Store-io errors name the key already; tfjs's own (a topology it cannot build) do not.
    const from = err instanceof CorruptArtefactError ? '' : ` from ${registry.store.uriFor(prefix)}`;
    throw new ModelLoadError(`${what} cannot be loaded${from}: ${messageOf(err)}`);
  });
  try {
    checkModel(what, net, pre);
  } catch (err) {
    net.dispose();
    throw err instanceof ModelLoadError
      ? err
      : new ModelLoadError(`${what} failed its checks: ${messageOf(err)}`);
  }
  return tfjsModel(net);
}

/**
 * An ONNX version's graph in an onnxruntime session, checked as a TensorFlow.js version is: the
 * input width the preprocessing makes, finite outputs on a probe batch; then warmed up.
 */
async function loadOnnxVersion(
  registry: ModelRegistry,
  what: string,
  prefix: string,
  pre: Preprocessing,
): Promise<LoadedModel> {
  const uri = registry.store.uriFor(`${prefix}/${ONNX_FILE}`);
  const blob = await registry.store.get(`${prefix}/${ONNX_FILE}`).catch((err: unknown) => {
    throw new ModelLoadError(`${what} cannot be loaded from ${uri}: ${messageOf(err)}`);
  });
  if (!blob) throw new ModelLoadError(`${what} cannot be loaded: ${uri} is missing`);
  const runner = await onnxModel(blob.body, pre.classes !== undefined).catch((err: unknown) => {
    throw new ModelLoadError(`${what} cannot be loaded from ${uri}: ${messageOf(err)}`);
  });
  try {
    const width = inputWidth(pre);
    if (runner.inputWidth !== undefined && runner.inputWidth !== width)
      throw new ModelLoadError(`${what} takes ${runner.inputWidth} input columns, expected ${width}`);
    const probe = await runner.predict(new Float32Array(PROBE_ROWS * width), PROBE_ROWS, width);
    if (probe.values.length !== PROBE_ROWS * probe.width || !probe.values.every(Number.isFinite))
      throw new ModelLoadError(
        `${what} gives non-finite outputs on a probe batch: ${Array.from(probe.values).join(', ')}`,
      );
    for (const rows of WARM_UP_ROWS) await runner.predict(new Float32Array(rows * width), rows, width);
    return runner;
  } catch (err) {
    runner.dispose();
    throw err instanceof ModelLoadError
      ? err
      : new ModelLoadError(`${what} failed its checks: ${messageOf(err)}`);
  }
}

function checkMetadata(what: string, model: string, version: string, metadata: ModelMetadata): void {
  const pre = metadata.preprocessing;
  const problems: string[] = [];
  if (metadata.model !== model || metadata.version !== version) {
    problems.push(`metadata describes ${metadata.model} ${metadata.version}`);
  }
  if (pre.features.length === 0 || pre.lookback < 1) problems.push('no features or lookback < 1');
  if (pre.mean.length !== pre.features.length || pre.std.length !== pre.features.length) {
    problems.push(`${pre.features.length} features but ${pre.mean.length} means and ${pre.std.length} stds`);
  }
  const unusable = (stats: EntityStats) =>
    stats.mean.length !== pre.features.length ||
    stats.std.length !== pre.features.length ||
    ![...stats.mean, ...stats.std, stats.targetMean, stats.targetStd].every(Number.isFinite) ||
    stats.std.some((s) => s <= 0) ||
    stats.targetStd <= 0;
  if (unusable(pre)) problems.push('normalisation statistics are not finite or a std is not positive');
  const bad = Object.entries(pre.entities ?? {}).filter(([, stats]) => unusable(stats));
  if (bad.length)
    problems.push(
      `statistics of ${bad.length} entit${bad.length === 1 ? 'y' : 'ies'} (${bad
        .slice(0, 3)
        .map(([e]) => JSON.stringify(e))
        .join(', ')}) are unusable`,
    );
  if (problems.length) throw new ModelLoadError(`${what} has inconsistent metadata: ${problems.join('; ')}`);
}

function checkAgainstSpec(what: string, pre: Preprocessing, spec: ModelSpec): void {
  const differ = (['task', 'timeColumn', 'entityColumn', 'lookback'] as const)
    .filter((k) => pre[k] !== spec[k])
    .map((k) => `${k} ${String(pre[k])} (spec: ${String(spec[k])})`);
  if (pre.features.join() !== spec.features.join()) {
    differ.push(`features [${pre.features.join(', ')}] (spec: [${spec.features.join(', ')}])`);
  }
  if (differ.length)
    throw new ModelLoadError(`${what} does not match the model's spec: ${differ.join('; ')}`);
}

function checkModel(what: string, net: tf.LayersModel, pre: Preprocessing): void {
  const width = inputWidth(pre);
  const input = net.inputs.length === 1 ? net.inputs[0]?.shape : undefined;
  if (!input || input.length !== 2 || input[1] !== width) {
    throw new ModelLoadError(
      `${what} takes input ${JSON.stringify(input ?? net.inputs.map((i) => i.shape))}, expected [null,${width}] (lookback ${pre.lookback} x ${pre.features.length} features${pre.calendar?.length ? ` + ${pre.calendar.length} calendar sine/cosine pairs` : ''})`,
    );
  }
  const output = net.outputs.length === 1 ? net.outputs[0]?.shape : undefined;
  if (!output || output.length !== 2 || output[1] !== 1) {
    throw new ModelLoadError(
      `${what} has output ${JSON.stringify(output ?? net.outputs.map((o) => o.shape))}, expected [null,1]`,
    );
  }
  const probe = tf.tidy(() => (net.predict(tf.zeros([PROBE_ROWS, width])) as tf.Tensor).dataSync());
  if (probe.length !== PROBE_ROWS || !Array.from(probe).every(Number.isFinite)) {
    throw new ModelLoadError(
      `${what} gives non-finite outputs on a probe batch: ${Array.from(probe).join(', ')}`,
    );
  }
  for (const rows of WARM_UP_ROWS)
    tf.tidy(() => (net.predict(tf.zeros([rows, width])) as tf.Tensor).dataSync());
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
