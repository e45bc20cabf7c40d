import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ModelSpecSchema } from '../../common/model-spec';
import { corruptWeights, publishVersion } from '../helpers/models';
import {
  expectAllAnswered,
  reloadUnderLoad,
  startReloadServer,
  type ReloadServer,
} from '../helpers/reload-under-load';

const API_KEY = 'hot-reload-key-0123456789';
const SPEC = ModelSpecSchema.parse({
  name: 'load-under-reload',
  task: 'forecast',
  timeColumn: 'ts',
  entityColumn: 'host',
  features: ['cpu', 'mem'],
  target: 'cpu',
  lookback: 4,
});

describe('hot reload under load from a second process', () => {
  let served: ReloadServer;

  beforeAll(async () => {
    served = await startReloadServer({
      prefix: 'retrain-hot-reload-',
      apiKey: API_KEY,
      spec: SPEC,
      production: 'v1',
      publish: async (registry) => {
        await publishVersion(registry, SPEC, 'v1', { seed: 1 });
        await publishVersion(registry, SPEC, 'v2', { seed: 2 });
        await publishVersion(registry, SPEC, 'v3', { seed: 3 });
        await corruptWeights(registry, SPEC.name, 'v3');
      },
    });
  });

  afterAll(async () => {
    await served?.close();
  });

  it('answers every request of a separate client process during repeated reloads, with both versions, and refuses a corrupt one', async () => {
    const { url } = served;
    const { answers, summary } = await reloadUnderLoad(served, ['v2', 'v1', 'v3', 'v2', 'v1', 'v2']);

    expect(answers.map((a) => a.status)).toEqual([200, 200, 422, 200, 200, 200]);
    expect(answers[2]?.body.error).toMatch(/Corrupt weights/);
    expectAllAnswered(summary, ['v1', 'v2']);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain(`retrain_model_version_info{model="${SPEC.name}",version="v2"} 1`);
    expect(metrics).toContain(`retrain_reloads_total{model="${SPEC.name}",result="failure"} 1`);
  });
});
