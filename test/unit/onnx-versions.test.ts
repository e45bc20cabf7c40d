import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelSpecSchema } from '../../common/model-spec';
import { CorruptArtefactError } from '../../common/errors';
import { selectBackend } from '../../ml/backend';
import { loadStoredModel, onnxModel, tfjsModel } from '../../ml/loaded-model';
import { OnnxModel, OnnxModelError, ONNX_RUNTIME } from '../../ml/onnx-model';
import { createServer, type InferenceServer } from '../../serving/server';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { metadataFor, publishVersion, recentRows } from '../helpers/models';
import { linearOnnx, publishOnnxVersion } from '../helpers/onnx-graph';

const API_KEY = 'onnx-versions-key-0123456789';
const WEIGHTS = [0.5, -0.25, 0.125, 1, -1, 0.75];
const BIAS = 0.2;
/** Three steps of cpu and mem: six inputs, as the linear graph takes them. */
const SPEC = ModelSpecSchema.parse({
  name: 'onnx-versions',
  task: 'forecast',
  timeColumn: 'ts',
  entityColumn: 'host',
  features: ['cpu', 'mem'],
  target: 'cpu',
  lookback: 3,
});

describe('ONNX models through onnxruntime-node', () => {
  it('answers a linear graph with features · weights + bias, row by row', async () => {
    const model = await OnnxModel.load(linearOnnx([1, 2, 3], 0.5));
    try {
      expect([model.input, model.output, model.inputWidth]).toEqual(['features', 'value', 3]);
      const out = await model.run(Float32Array.from([1, 1, 1, 0, 0, 1, -1, 2, 0]), 3, 3);
      expect(out.width).toBe(1);
      expect(Array.from(out.values)).toEqual([6.5, 3.5, 3.5]);
    } finally {
      await model.release();
    }
  });

  it("answers a binary classifier's positive probability, or every class's for a multi-class one", async () => {
    const graph = linearOnnx([1, -1], 0, 'probabilities');
    const x = Float32Array.from([1, 0, 0, 1]);
    const binary = await onnxModel(graph);
    const multi = await onnxModel(graph, true);
    try {
      const p = 1 / (1 + Math.exp(-1));
      const one = await binary.predict(x, 2, 2);
      expect(one.width).toBe(1);
      expect(one.values[0]).toBeCloseTo(p, 6);
      expect(one.values[1]).toBeCloseTo(1 - p, 6);
      const all = await multi.predict(x, 2, 2);
      expect(all.width).toBe(2);
      expect(Array.from(all.values).map((v) => Number(v.toFixed(6)))).toEqual(
        [1 - p, p, p, 1 - p].map((v) => Number(v.toFixed(6))),
      );
    } finally {
      binary.dispose();
      multi.dispose();
    }
  });

  it('refuses bytes that are no ONNX graph, and names the stored key', async () => {
    await expect(OnnxModel.load(Uint8Array.from([1, 2, 3]))).rejects.toBeInstanceOf(OnnxModelError);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-onnx-corrupt-'));
    try {
      const store = new FileBlobStore(dir);
      await store.put('cand/model.onnx', Uint8Array.from([9, 9, 9]));
      const loading = loadStoredModel(store, 'cand');
      await expect(loading).rejects.toBeInstanceOf(CorruptArtefactError);
      await expect(loadStoredModel(store, 'cand')).rejects.toThrow(/cand\/model\.onnx/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('gives the same answers as a TensorFlow.js model with the same weights, through one interface', async () => {
    await selectBackend('cpu');
    const net = tf.sequential({
      layers: [tf.layers.dense({ units: 1, inputShape: [WEIGHTS.length] })],
    });
    net.setWeights([tf.tensor2d(WEIGHTS, [WEIGHTS.length, 1]), tf.tensor1d([BIAS])]);
    const tfjs = tfjsModel(net);
    const onnx = await onnxModel(linearOnnx(WEIGHTS, BIAS));
    try {
      const x = Float32Array.from({ length: 5 * WEIGHTS.length }, (_, i) => Math.sin(i));
      const a = await tfjs.predict(x, 5, WEIGHTS.length);
      const b = await onnx.predict(x, 5, WEIGHTS.length);
      expect([tfjs.format, onnx.format, onnx.runtime]).toEqual(['tfjs', 'onnx', ONNX_RUNTIME]);
      for (let i = 0; i < 5; i++) expect(b.values[i]).toBeCloseTo(a.values[i] as number, 5);
    } finally {
      tfjs.dispose();
      onnx.dispose();
    }
  });
});

describe('ONNX versions in the registry and the inference server', () => {
  let dir: string;
  let registry: ModelRegistry;
  let server: InferenceServer;

  beforeAll(async () => {
    await selectBackend('cpu');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-onnx-versions-'));
    registry = new ModelRegistry(new FileBlobStore(path.join(dir, 'store')));
    await registry.saveSpec(SPEC);
    await publishVersion(registry, SPEC, 'v1', { seed: 1 });
    await publishOnnxVersion(registry, SPEC, 'v2', linearOnnx(WEIGHTS, BIAS));
    await registry.setAlias(SPEC.name, 'v1', null);
    server = createServer({ registry, apiKey: API_KEY });
    await server.loadProductionModels();
  });

  afterAll(async () => {
    await server?.app.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('registers an ONNX candidate as model.onnx with metadata format onnx, and calls it complete', async () => {
    const candidate = 'checkpoints/onnx-versions/wf-onnx/final';
    await registry.store.put(`${candidate}/model.onnx`, linearOnnx(WEIGHTS, BIAS));
    const version = await registry.registerVersion(SPEC.name, 'wf-onnx', candidate, (v) =>
      metadataFor(SPEC, v, { format: 'onnx' }),
    );
    const files = await registry.store.list(`${registry.versionPrefix(SPEC.name, version)}/`);
    expect(files.map((f) => f.split('/').pop()).sort()).toEqual([
      'claim.json',
      'metadata.json',
      'model.onnx',
    ]);
    expect((await registry.getMetadata(SPEC.name, version))?.format).toBe('onnx');
    expect(await registry.versionProblem(SPEC.name, version)).toBeUndefined();
    expect(await registry.versionProblem(SPEC.name, 'v1')).toBeUndefined();
  });

  it('serves a tfjs version, hot-reloads to an ONNX one and back, and says which runs', async () => {
    const info = async () =>
      (
        await server.app.inject({
          method: 'GET',
          url: `/admin/model-info?model=${SPEC.name}`,
          headers: { 'x-api-key': API_KEY },
        })
      ).json<{ version: string; format: string; runtime: string }>();
    const reload = (version: string) =>
      server.app.inject({
        method: 'POST',
        url: '/admin/reload',
        headers: { 'x-api-key': API_KEY },
        payload: { model: SPEC.name, version },
      });
    expect(await info()).toMatchObject({ version: 'v1', format: 'tfjs', runtime: 'tensorflow.js cpu' });
    expect((await reload('v2')).statusCode).toBe(200);
    expect(await info()).toMatchObject({ version: 'v2', format: 'onnx', runtime: ONNX_RUNTIME });

    const rows = recentRows(SPEC, ['a']);
    const res = await server.app.inject({
      method: 'POST',
      url: '/predict',
      payload: { model: SPEC.name, rows },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ version: string; predictions: { value: number }[] }>();
    // The test metadata scales every feature and the target by mean 50, std 10 (level target).
    const ordered = [...rows].reverse() as { cpu: number; mem: number }[];
    const x = ordered.flatMap((r) => [(r.cpu - 50) / 10, (r.mem - 50) / 10]);
    const output = x.reduce((sum, v, i) => sum + v * (WEIGHTS[i] as number), BIAS);
    expect(body.version).toBe('v2');
    expect(body.predictions[0]?.value).toBeCloseTo(output * 10 + 50, 4);

    expect((await reload('v1')).statusCode).toBe(200);
    expect(await info()).toMatchObject({ version: 'v1', format: 'tfjs' });
  });

  it('refuses an ONNX version whose graph takes another width, and keeps serving', async () => {
    await publishOnnxVersion(registry, SPEC, 'v9', linearOnnx([1, 2], 0));
    const res = await server.app.inject({
      method: 'POST',
      url: '/admin/reload',
      headers: { 'x-api-key': API_KEY },
      payload: { model: SPEC.name, version: 'v9' },
    });
    expect(res.statusCode).toBe(422);
    expect(res.json<{ error: string }>().error).toMatch(/takes 2 input columns, expected 6/);
    expect(server.pool.get(SPEC.name)?.version).toBe('v1');
  });
});
