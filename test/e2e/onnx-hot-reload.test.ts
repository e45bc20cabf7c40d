import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ModelSpecSchema } from '../../common/model-spec';
import { ONNX_RUNTIME } from '../../ml/onnx-model';
import { publishVersion } from '../helpers/models';
import { linearOnnx, publishOnnxVersion } from '../helpers/onnx-graph';
import {
  expectAllAnswered,
  reloadUnderLoad,
  startReloadServer,
  type ReloadServer,
} from '../helpers/reload-under-load';

const API_KEY = 'onnx-hot-reload-key-0123456789';
const SPEC = ModelSpecSchema.parse({
  name: 'tfjs-to-onnx-under-reload',
  task: 'forecast',
  timeColumn: 'ts',
  entityColumn: 'host',
  features: ['cpu', 'mem'],
  target: 'cpu',
  lookback: 4,
});

describe('hot reload across formats (TensorFlow.js and ONNX) under load from a second process', () => {
  let served: ReloadServer;

  beforeAll(async () => {
    served = await startReloadServer({
      prefix: 'retrain-onnx-hot-reload-',
      apiKey: API_KEY,
      spec: SPEC,
      production: 'v1',
      publish: async (registry) => {
        await publishVersion(registry, SPEC, 'v1', { seed: 1 });
        // An ONNX version of the same inputs (4 steps of cpu and mem), and one whose graph is not ONNX.
        await publishOnnxVersion(
          registry,
          SPEC,
          'v2',
          linearOnnx([0.1, -0.2, 0.3, 0.05, -0.1, 0.2, 0.4, -0.3], 0.1),
        );
        await publishOnnxVersion(registry, SPEC, 'v3', Uint8Array.from([1, 2, 3, 4]));
      },
    });
  });

  afterAll(async () => {
    await served?.close();
  });

  it('answers every request of a separate client process while reloads swap tfjs and ONNX versions, and refuses a corrupt graph', async () => {
    const { url } = served;
    const { answers, summary } = await reloadUnderLoad(served, ['v2', 'v1', 'v3', 'v2', 'v1', 'v2']);

    expect(answers.map((a) => a.status)).toEqual([200, 200, 422, 200, 200, 200]);
    expect(answers[2]?.body.error).toMatch(
      /v3 cannot be loaded from .*model\.onnx: not a loadable ONNX graph/,
    );
    expectAllAnswered(summary, ['v1', 'v2']);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain(`retrain_model_version_info{model="${SPEC.name}",version="v2"} 1`);
    expect(metrics).toContain(`retrain_reloads_total{model="${SPEC.name}",result="failure"} 1`);
    const info = await fetch(`${url}/admin/model-info?model=${SPEC.name}`, {
      headers: { 'x-api-key': API_KEY },
    });
    expect(await info.json()).toMatchObject({ version: 'v2', format: 'onnx', runtime: ONNX_RUNTIME });
  });
});
