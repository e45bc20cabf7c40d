import type { ModelSpec } from '../../common/model-spec';
import { putJson } from '../../storage/open-store';
import type { ModelRegistry } from '../../storage/registry';
import { metadataFor } from './models';

// A linear ONNX graph written as protobuf bytes by hand (onnx.proto field numbers), so tests can
// make ONNX versions without Python: `value = features · weights + bias`.

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

/** A varint field. */
const int = (field: number, n: number): number[] => [...varint(field << 3), ...varint(n)];

/** A length-delimited field (string, bytes or message). */
function bytes(field: number, body: Uint8Array | number[] | string): number[] {
  const data = typeof body === 'string' ? [...Buffer.from(body, 'utf8')] : [...body];
  return [...varint((field << 3) | 2), ...varint(data.length), ...data];
}

const FLOAT = 1;

/** TensorProto of float32 values with `dims`, by raw data. */
function tensor(name: string, dims: number[], values: number[]): number[] {
  const raw = new Uint8Array(Float32Array.from(values).buffer);
  return [...dims.flatMap((d) => int(1, d)), ...int(2, FLOAT), ...bytes(8, name), ...bytes(9, raw)];
}

/** ValueInfoProto of a float tensor; a string dim is symbolic (the batch). */
function valueInfo(name: string, dims: (number | string)[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, typeof d === 'number' ? int(1, d) : bytes(2, d)));
  const tensorType = [...int(1, FLOAT), ...bytes(2, shape)];
  return [...bytes(1, name), ...bytes(2, bytes(1, tensorType))];
}

function node(op: string, inputs: string[], outputs: string[]): number[] {
  return [...inputs.flatMap((i) => bytes(1, i)), ...outputs.flatMap((o) => bytes(2, o)), ...bytes(4, op)];
}

/**
 * A ModelProto (IR 8, opset 13) computing `value [n,1] = features [n,F] · weights + bias`. With
 * `output: 'probabilities'` it answers `[1 - p, p]` with `p = sigmoid(features · weights + bias)`.
 */
export function linearOnnx(
  weights: number[],
  bias: number,
  output: 'value' | 'probabilities' = 'value',
): Uint8Array {
  const f = weights.length;
  const nodes =
    output === 'value'
      ? [node('MatMul', ['features', 'W'], ['xw']), node('Add', ['xw', 'b'], ['value'])]
      : [
          node('MatMul', ['features', 'W'], ['xw']),
          node('Add', ['xw', 'b'], ['z']),
          node('Sigmoid', ['z'], ['p']),
          node('Sub', ['one', 'p'], ['q']),
          node('Concat', ['q', 'p'], ['probabilities']),
        ];
  // Concat's `axis` attribute (AttributeProto: name 1, i 3, type 20 = INT 2).
  const withAxis = nodes.map((n, i) =>
    output === 'probabilities' && i === nodes.length - 1
      ? [...n, ...bytes(5, [...bytes(1, 'axis'), ...int(3, 1), ...int(20, 2)])]
      : n,
  );
  const graph = [
    ...withAxis.flatMap((n) => bytes(1, n)),
    ...bytes(2, 'linear'),
    ...bytes(5, tensor('W', [f, 1], weights)),
    ...bytes(5, tensor('b', [1], [bias])),
    ...(output === 'probabilities' ? bytes(5, tensor('one', [1], [1])) : []),
    ...bytes(11, valueInfo('features', ['n', f])),
    ...bytes(12, valueInfo(output, ['n', output === 'value' ? 1 : 2])),
  ];
  const model = [
    ...int(1, 8),
    ...bytes(2, 'retrain-test'),
    ...bytes(7, graph),
    ...bytes(8, [...bytes(1, ''), ...int(2, 13)]),
  ];
  return Uint8Array.from(model);
}

/**
 * Writes a complete ONNX registry version of `spec`: a linear graph over its `lookback * features`
 * inputs and metadata with `format: "onnx"`. Written directly, as `publishVersion` writes tfjs ones.
 */
export async function publishOnnxVersion(
  registry: ModelRegistry,
  spec: ModelSpec,
  version: string,
  graph: Uint8Array,
): Promise<void> {
  const prefix = registry.versionPrefix(spec.name, version);
  await registry.store.put(`${prefix}/model.onnx`, graph);
  await putJson(
    registry.store,
    `${prefix}/metadata.json`,
    metadataFor(spec, version, { format: 'onnx', backend: 'xgboost 3.2.0 cpu' }),
  );
}
