import * as ort from 'onnxruntime-node';

// ONNX model versions (the python trainer's, docs/trainers.md "Result"), run in Node by
// onnxruntime-node on the CPU: the graph takes float32 `features` [n, F] and answers `value` [n, 1]
// (forecast, regress), `probabilities` [n, k] (classify) or `cluster` [n] int64 (cluster).

/** The output names the trainer contract allows, in the order they are looked for. */
export const ONNX_OUTPUTS = ['value', 'probabilities', 'cluster'] as const;
export type OnnxOutput = (typeof ONNX_OUTPUTS)[number];

/** The runtime that runs ONNX versions, as `/admin/model-info` and metadata name it. */
export const ONNX_RUNTIME = `onnxruntime-node ${ort.env.versions.node ?? 'unknown'} cpu`;

/** Thrown when bytes are not an ONNX graph this project can serve; the message says why. */
export class OnnxModelError extends Error {
  override readonly name = 'OnnxModelError';
}

/** Raw outputs of a batch, row-major `[rows, width]`. */
export interface RawOutputs {
  values: Float32Array;
  width: number;
}

/**
 * One ONNX graph in an onnxruntime session. `run` answers every row with its raw outputs; for
 * `probabilities` of a binary classifier (no `classes`) only the positive class's, as a
 * TensorFlow.js classifier answers.
 */
export class OnnxModel {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly input: string,
    readonly output: OnnxOutput,
    /** The input's width when the graph fixes it, else undefined. */
    readonly inputWidth: number | undefined,
    private readonly multiClass: boolean,
  ) {}

  /**
   * Loads a graph from its bytes and checks its signature: one float input (`features` when named
   * so), an output the contract names. `multiClass`: keep every class probability per row.
   */
  static async load(bytes: Uint8Array, options: { multiClass?: boolean } = {}): Promise<OnnxModel> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        // One request's rows are few: threads cost more than they give, and servers run many requests.
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
      });
    } catch (err) {
      throw new OnnxModelError(
        `not a loadable ONNX graph: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const input = session.inputNames.includes('features') ? 'features' : session.inputNames[0];
    const output = ONNX_OUTPUTS.find((name) => session.outputNames.includes(name));
    const problem =
      session.inputNames.length !== 1 || input === undefined
        ? `takes inputs [${session.inputNames.join(', ')}], expected one: features`
        : output === undefined
          ? `answers [${session.outputNames.join(', ')}], expected one of ${ONNX_OUTPUTS.join(', ')}`
          : undefined;
    if (problem || input === undefined || output === undefined) {
      await session.release();
      throw new OnnxModelError(problem ?? 'no usable input or output');
    }
    const meta = session.inputMetadata.find((m) => m.name === input);
    const last = meta?.isTensor ? meta.shape[meta.shape.length - 1] : undefined;
    return new OnnxModel(
      session,
      input,
      output,
      typeof last === 'number' ? last : undefined,
      options.multiClass ?? false,
    );
  }

  /** Runs `rows` rows of `x` (row-major, `width` columns). */
  async run(x: Float32Array, rows: number, width: number): Promise<RawOutputs> {
    const feeds = { [this.input]: new ort.Tensor('float32', x.subarray(0, rows * width), [rows, width]) };
    const result = await this.session.run(feeds, [this.output]);
    const tensor = result[this.output];
    if (!tensor) throw new OnnxModelError(`the graph gave no ${this.output}`);
    try {
      return this.outputsOf(tensor, rows);
    } finally {
      tensor.dispose();
    }
  }

  /** Frees the session; the model cannot run afterwards. */
  async release(): Promise<void> {
    await this.session.release();
  }

  private outputsOf(tensor: ort.Tensor, rows: number): RawOutputs {
    const data = tensor.data;
    const numbers =
      data instanceof BigInt64Array
        ? Float32Array.from(data, (v) => Number(v))
        : data instanceof Float32Array
          ? Float32Array.from(data)
          : Float32Array.from(data as ArrayLike<number>);
    const width = rows > 0 ? numbers.length / rows : 1;
    if (!Number.isInteger(width) || width < 1)
      throw new OnnxModelError(`${this.output} has ${numbers.length} values for ${rows} rows`);
    if (this.output !== 'probabilities' || this.multiClass) return { values: numbers, width };
    if (width !== 2)
      throw new OnnxModelError(`a binary classifier's probabilities have 2 columns, this graph's ${width}`);
    return { values: Float32Array.from({ length: rows }, (_, r) => numbers[r * 2 + 1] as number), width: 1 };
  }
}
