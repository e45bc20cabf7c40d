import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CorruptArtefactError, ErrorType } from '../../common/errors';
import { storeLoadHandler } from '../../ml/store-io';
import { createServer, type InferenceServer } from '../../serving/server';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { corruptWeights, cpuLoadSpec, metadataFor, publishVersion, recentRows } from '../helpers/models';

const API_KEY = 'bad-input-artifacts-key-0123456789';
const SPEC = cpuLoadSpec();
const counts: Record<string, number> = {};

type Damage = (registry: ModelRegistry, prefix: string) => Promise<unknown>;
const put =
  (file: string, body: string | Uint8Array): Damage =>
  (registry, prefix) =>
    registry.store.put(`${prefix}/${file}`, body);
const remove =
  (file: string): Damage =>
  async (_registry, prefix) => {
    await fs.rm(path.join(storeDir, prefix, file));
  };
const editModelJson =
  (
    edit: (json: { modelTopology: unknown; weightsManifest: { weights: { shape: number[] }[] }[] }) => void,
  ): Damage =>
  async (registry, prefix) => {
    const blob = await registry.store.get(`${prefix}/model.json`);
    const json = JSON.parse(Buffer.from(blob!.body).toString('utf8'));
    edit(json);
    await registry.store.put(`${prefix}/model.json`, JSON.stringify(json));
  };
const metadata =
  (edit: Record<string, unknown>, version: string): Damage =>
  (registry, prefix) =>
    registry.store.put(`${prefix}/metadata.json`, JSON.stringify({ ...metadataFor(SPEC, version), ...edit }));

/** How a version is broken, and what the refusal must say (each names the key or the version). */
const CASES: {
  what: string;
  damage: (version: string) => Damage;
  error: (version: string) => string | RegExp;
}[] = [
  {
    what: 'truncated weights.bin',
    damage: () => (registry, prefix) => corruptWeights(registry, SPEC.name, prefix.split('/')[3]!),
    error: (v) =>
      new RegExp(`Corrupt weights at \\S+/versions/${v}/weights\\.bin: \\d+ bytes, expected \\d+`),
  },
  {
    what: 'an empty weights.bin',
    damage: () => put('weights.bin', new Uint8Array(0)),
    error: (v) => new RegExp(`Corrupt weights at \\S+/versions/${v}/weights\\.bin: 0 bytes`),
  },
  {
    what: 'weights.bin missing',
    damage: () => remove('weights.bin'),
    error: (v) => new RegExp(`No weights at \\S+/versions/${v}: weights\\.bin is missing`),
  },
  {
    what: 'garbage model.json',
    damage: () => put('model.json', new Uint8Array([0xde, 0xad, 0xbe, 0xef])),
    error: (v) => new RegExp(`Corrupt model at \\S+/versions/${v}/model\\.json: not valid JSON`),
  },
  {
    what: 'an empty model.json',
    damage: () => put('model.json', ''),
    error: (v) => new RegExp(`versions/${v}/model\\.json: not valid JSON`),
  },
  {
    what: 'model.json {}',
    damage: () => put('model.json', '{}'),
    error: (v) => new RegExp(`versions/${v}/model\\.json: modelTopology: `),
  },
  {
    what: 'model.json without weightsManifest',
    damage: () => editModelJson((j) => delete (j as Partial<typeof j>).weightsManifest),
    error: (v) => new RegExp(`versions/${v}/model\\.json: weightsManifest: `),
  },
  {
    what: 'a manifest shape that disagrees with weights.bin',
    damage: () => editModelJson((j) => (j.weightsManifest[0]!.weights[0]!.shape = [999, 999])),
    error: (v) => new RegExp(`Corrupt weights at \\S+/versions/${v}/weights\\.bin`),
  },
  {
    what: 'a topology tfjs cannot build',
    damage: () => editModelJson((j) => (j.modelTopology = { class_name: 'NoSuchLayer', config: {} })),
    error: (v) => new RegExp(`cpu-load ${v} cannot be loaded from \\S+/versions/${v}: `),
  },
  {
    what: 'model.json missing',
    damage: () => remove('model.json'),
    error: (v) => new RegExp(`No model at \\S+/versions/${v}: model\\.json is missing`),
  },
  {
    what: 'garbage metadata.json',
    damage: () => put('metadata.json', '{"model": "cpu-lo'),
    error: (v) => new RegExp(`unreadable metadata: \\S+/versions/${v}/metadata\\.json is not valid JSON`),
  },
  {
    what: 'metadata.json failing its schema',
    damage: () => put('metadata.json', JSON.stringify({ model: 1, version: [] })),
    error: (v) =>
      new RegExp(`unreadable metadata: \\S+/versions/${v}/metadata\\.json does not match its schema`),
  },
  {
    what: 'metadata.json missing',
    damage: () => remove('metadata.json'),
    error: (v) => `cpu-load ${v} does not exist or is incomplete (no metadata.json)`,
  },
  {
    what: 'metadata of another version',
    damage: (v) => metadata({ version: 'v1' }, v),
    error: (v) => `cpu-load ${v} has inconsistent metadata: metadata describes cpu-load v1`,
  },
  {
    what: 'a zero standard deviation',
    damage: (v) => metadata({ preprocessing: { ...metadataFor(SPEC, v).preprocessing, std: [0, 10] } }, v),
    error: () => 'normalisation statistics are not finite or a std is not positive',
  },
  {
    what: 'features other than the spec',
    damage: (v) =>
      metadata({ preprocessing: { ...metadataFor(SPEC, v).preprocessing, features: ['mem', 'cpu'] } }, v),
    error: () => "does not match the model's spec: features [mem, cpu] (spec: [cpu, mem])",
  },
];

let storeDir: string;
let registry: ModelRegistry;
let server: InferenceServer;

beforeAll(async () => {
  storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-bad-artifacts-'));
  registry = new ModelRegistry(new FileBlobStore(storeDir));
  await registry.saveSpec(SPEC);
  await publishVersion(registry, SPEC, 'v1', { seed: 1 });
  await registry.setAlias(SPEC.name, 'v1', null);
  for (const [i, { damage }] of CASES.entries()) {
    const version = `v${i + 2}`;
    await publishVersion(registry, SPEC, version, { seed: i + 2 });
    await damage(version)(registry, registry.versionPrefix(SPEC.name, version));
  }
  server = createServer({ registry, apiKey: API_KEY });
  await server.loadProductionModels();
  await server.app.ready();
});

afterAll(async () => {
  console.log(`bad-input catalogue cases: ${JSON.stringify(counts)}`);
  await server?.app.close();
  if (storeDir) await fs.rm(storeDir, { recursive: true, force: true });
});

async function predictVersion(): Promise<string> {
  const res = await server.app.inject({
    method: 'POST',
    url: '/predict',
    payload: { model: SPEC.name, rows: recentRows(SPEC, ['web-1']) },
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().version as string;
}

describe('a corrupt or truncated version in the registry', () => {
  it.each(CASES.map((c, i) => ({ ...c, version: `v${i + 2}` })))(
    '$what ($version): POST /admin/reload answers 422 naming it; v1 keeps serving',
    async ({ version, error }) => {
      counts['corrupt versions (reload)'] = (counts['corrupt versions (reload)'] ?? 0) + 1;
      const res = await server.app.inject({
        method: 'POST',
        url: '/admin/reload',
        headers: { 'x-api-key': API_KEY },
        payload: { model: SPEC.name, version },
      });

      expect(res.statusCode, res.body).toBe(422);
      const expected = error(version);
      if (typeof expected === 'string') expect(res.json().error).toContain(expected);
      else expect(res.json().error).toMatch(expected);
      expect(res.json()).toMatchObject({ success: false, serving: 'v1' });
      expect(await predictVersion()).toBe('v1');
      const info = await server.app.inject({
        url: `/admin/model-info?model=${SPEC.name}`,
        headers: { 'x-api-key': API_KEY },
      });
      expect(info.json().version).toBe('v1');
    },
  );

  it('at start-up, a production alias on a corrupt version is reported by /readyz naming the key, not served', async () => {
    counts['corrupt versions (start-up)'] = (counts['corrupt versions (start-up)'] ?? 0) + 1;
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-bad-startup-'));
    const other = new ModelRegistry(new FileBlobStore(dir));
    await other.saveSpec(SPEC);
    await publishVersion(other, SPEC, 'v1');
    await corruptWeights(other, SPEC.name, 'v1');
    await other.setAlias(SPEC.name, 'v1', null);
    const fresh = createServer({ registry: other });
    try {
      const report = await fresh.loadProductionModels();
      expect(report.loaded).toEqual([]);
      expect(report.failed).toEqual([
        {
          model: SPEC.name,
          error: expect.stringMatching(/Corrupt weights at \S+\/versions\/v1\/weights\.bin/),
        },
      ]);
      const ready = await fresh.app.inject({ url: '/readyz' });
      expect(ready.json()).toMatchObject({ ready: true, models: {}, failed: report.failed });
      const predict = await fresh.app.inject({
        method: 'POST',
        url: '/predict',
        payload: { model: SPEC.name, rows: recentRows(SPEC, ['web-1']) },
      });
      expect(predict.statusCode).toBe(503);
    } finally {
      await fresh.app.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('store-io refuses corrupt model files with a non-retryable CorruptArtefact ApplicationFailure', async () => {
    counts['corrupt versions (store-io)'] = (counts['corrupt versions (store-io)'] ?? 0) + 1;
    const handler = storeLoadHandler(registry.store, registry.versionPrefix(SPEC.name, 'v2'));
    const err = await handler.load!().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptArtefactError);
    expect(err).toMatchObject({ type: ErrorType.CorruptArtefact, nonRetryable: true });
  });
});
