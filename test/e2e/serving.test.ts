import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';

import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { type ModelSpec, ModelSpecSchema } from '../../common/model-spec';
import { selectBackend } from '../../ml/backend';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { buildFeatures, FeatureError } from '../../serving/features';
import { createServer, type InferenceServer } from '../../serving/server';
import { corruptWeights, cpuLoadSpec, preprocessingFor, publishVersion, smallModel } from '../helpers/models';

const API_KEY = 'test-key-0123456789abcdef';
const FORECAST = cpuLoadSpec();
const CLASSIFY = ModelSpecSchema.parse({
  name: 'outage',
  task: 'classify',
  timeColumn: 'ts',
  entityColumn: 'host',
  features: ['cpu'],
  target: 'cpu',
  threshold: 0.9,
  lookback: 2,
});

let dir: string;
let store: FileBlobStore;
let registry: ModelRegistry;

/** Writes a real tfjs model and its metadata as `version`; `seed` makes the weights differ. */
async function publish(
  spec: ModelSpec,
  version: string,
  seed: number,
  lookback = spec.lookback,
): Promise<void> {
  await publishVersion(registry, spec, version, { net: smallModel(spec, seed, lookback) });
}

/** `lookback` rows for each of `hosts`, one minute apart, shuffled so the server must sort them. */
function rows(hosts: string[], count = FORECAST.lookback) {
  const out = hosts.flatMap((host, h) =>
    Array.from({ length: count }, (_, i) => ({
      ts: new Date(Date.UTC(2024, 0, 1, 0, i)).toISOString(),
      host,
      cpu: 40 + h + i,
      mem: 60 - i,
    })),
  );
  return out.reverse();
}

beforeAll(async () => {
  await selectBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-serving-'));
  store = new FileBlobStore(dir);
  registry = new ModelRegistry(store);
  for (const spec of [FORECAST, CLASSIFY]) await registry.saveSpec(spec);
  await publish(FORECAST, 'v1', 1);
  await publish(FORECAST, 'v2', 2);
  await publish(FORECAST, 'v3', 3);
  await corruptWeights(registry, FORECAST.name, 'v3');
  await publish(FORECAST, 'v4', 4, 2);
  await publish(CLASSIFY, 'v1', 1);
  // Same shapes as the spec, but trained on the features in another order: rows would be misread.
  await publishVersion(registry, FORECAST, 'v5', {
    seed: 5,
    metadata: { preprocessing: preprocessingFor(FORECAST, { features: ['mem', 'cpu'] }) },
  });
  await registry.setAlias(FORECAST.name, 'v1', null);
  await registry.setAlias(CLASSIFY.name, 'v1', null);
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('inference server', () => {
  let server: InferenceServer;
  const admin = { 'x-api-key': API_KEY };
  const predict = (body: unknown) =>
    server.app.inject({ method: 'POST', url: '/predict', payload: body as object });
  const reload = (version?: string) =>
    server.app.inject({
      method: 'POST',
      url: '/admin/reload',
      headers: admin,
      payload: { model: FORECAST.name, version },
    });

  beforeEach(async () => {
    server = createServer({ registry, apiKey: API_KEY });
  });
  afterEach(async () => {
    await server.app.close();
  });

  it('answers /readyz 503 before the start-up load and 200 after it', async () => {
    expect((await server.app.inject('/healthz')).statusCode).toBe(200);
    expect((await server.app.inject('/readyz')).statusCode).toBe(503);
    const report = await server.loadProductionModels();
    expect(report.failed).toEqual([]);
    const ready = await server.app.inject('/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json().models).toEqual({ [FORECAST.name]: 'v1', [CLASSIFY.name]: 'v1' });
  });

  describe('after start-up', () => {
    beforeEach(async () => {
      await server.loadProductionModels();
    });

    it('predicts with the production version, one prediction per entity at its latest time', async () => {
      const res = await predict({ model: FORECAST.name, rows: rows(['a', 'b']) });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({ model: FORECAST.name, version: 'v1' });
      expect(body.predictions.map((p: { entity: string }) => p.entity).sort()).toEqual(['a', 'b']);
      for (const p of body.predictions) {
        expect(p.time).toBe('2024-01-01T00:02:00.000Z');
        expect(Number.isFinite(p.value)).toBe(true);
        expect(p.label).toBeUndefined();
      }
    });

    it('adds a 0/1 label for classifiers', async () => {
      const res = await predict({ model: CLASSIFY.name, rows: rows(['a'], 2) });
      expect(res.statusCode).toBe(200);
      const [p] = res.json().predictions;
      expect(p.value).toBeGreaterThanOrEqual(0);
      expect(p.value).toBeLessThanOrEqual(1);
      expect(p.label).toBe(p.value >= 0.5 ? 1 : 0);
    });

    it('refuses bad input with 400 naming the row and field, and unknown models with 404', async () => {
      const bad = rows(['a']);
      bad[1] = { ...bad[1]!, cpu: 'high' as unknown as number };
      const res = await predict({ model: FORECAST.name, rows: bad });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toContain('rows[1].cpu');
      const missing = await predict({ model: FORECAST.name, rows: [{ host: 'a', cpu: 1, mem: 1 }] });
      expect(missing.json().error).toContain('rows[0].ts: is required');
      const short = await predict({ model: FORECAST.name, rows: rows(['a'], 2) });
      expect(short.statusCode).toBe(400);
      expect(short.json().error).toMatch(/entity "a" has 2 row\(s\), needs 3/);
      expect((await predict({ rows: [] })).statusCode).toBe(400);
      expect((await predict({ model: 'nope', rows: rows(['a']) })).statusCode).toBe(404);
    });

    it('refuses admin calls without or with a wrong key (401), and answers 503 when no key is configured', async () => {
      expect((await server.app.inject({ method: 'GET', url: '/admin/model-info' })).statusCode).toBe(401);
      const wrong = await server.app.inject({
        method: 'GET',
        url: '/admin/model-info',
        headers: { 'x-api-key': 'wrong' },
      });
      expect(wrong.statusCode).toBe(401);
      const info = await server.app.inject({
        method: 'GET',
        url: `/admin/model-info?model=${FORECAST.name}`,
        headers: admin,
      });
      expect(info.json()).toMatchObject({
        model: FORECAST.name,
        version: 'v1',
        backend: 'cpu',
        preprocessing: { lookback: 3 },
      });
      const keyless = createServer({ registry });
      const disabled = await keyless.app.inject({ method: 'GET', url: '/admin/model-info', headers: admin });
      expect(disabled.statusCode).toBe(503);
      expect(disabled.json().error).toBe('admin API disabled: set RETRAIN_API_KEY');
      await keyless.app.close();
    });

    it('reloads to v2 and answers with it; back to production when no version is given', async () => {
      const res = await reload('v2');
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ model: FORECAST.name, version: 'v2', previous: 'v1' });
      const before = await predict({ model: FORECAST.name, rows: rows(['a']) });
      expect(before.json().version).toBe('v2');
      expect((await reload()).json()).toEqual({ model: FORECAST.name, version: 'v1', previous: 'v2' });
    });

    it('refuses a version with corrupt weights or the wrong input width; the old version keeps serving', async () => {
      const corrupt = await reload('v3');
      expect(corrupt.statusCode).toBe(422);
      expect(corrupt.json().error).toMatch(/Corrupt weights .* bytes, expected/);
      const narrow = await reload('v4');
      expect(narrow.statusCode).toBe(422);
      expect(narrow.json().error).toContain('expected [null,6]');
      expect((await reload('v99')).statusCode).toBe(422);
      const reordered = await reload('v5');
      expect(reordered.statusCode).toBe(422);
      expect(reordered.json().error).toBe(
        `${FORECAST.name} v5 does not match the model's spec: features [mem, cpu] (spec: [cpu, mem])`,
      );
      const res = await predict({ model: FORECAST.name, rows: rows(['a']) });
      expect(res.statusCode).toBe(200);
      expect(res.json().version).toBe('v1');
    });

    it('exposes Prometheus counters, the version gauge and the latency histogram', async () => {
      await predict({ model: FORECAST.name, rows: rows(['a']) });
      await predict({ model: FORECAST.name, rows: [] });
      await reload('v3');
      const text = (await server.app.inject('/metrics')).body;
      expect(text).toContain(`retrain_predict_requests_total{model="${FORECAST.name}",status="200"} 1`);
      expect(text).toContain(`retrain_predict_requests_total{model="${FORECAST.name}",status="400"} 1`);
      expect(text).toContain(`retrain_reloads_total{model="${FORECAST.name}",result="success"} 1`);
      expect(text).toContain(`retrain_reloads_total{model="${FORECAST.name}",result="failure"} 1`);
      expect(text).toContain(`retrain_model_version_info{model="${FORECAST.name}",version="v1"} 1`);
      expect(text).toContain(
        `retrain_predict_duration_seconds_count{model="${FORECAST.name}",version="v1"} 2`,
      );
    });

    it('keeps answering every predict request over real HTTP during 5 reloads, and frees retired versions', async () => {
      await server.app.listen({ host: '127.0.0.1', port: 0 });
      const base = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
      const tensorsBefore = tf.memory().numTensors;
      const body = JSON.stringify({ model: FORECAST.name, rows: rows(['a', 'b', 'c']) });
      const statuses: number[] = [];
      const versions = new Set<string>();
      let reloadsDone = false;
      const worker = async () => {
        while (!reloadsDone || statuses.length < 200) {
          const res = await fetch(`${base}/predict`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
          });
          statuses.push(res.status);
          versions.add(((await res.json()) as { version: string }).version);
        }
      };
      const reloads = async () => {
        const answers: number[] = [];
        for (const version of ['v2', 'v1', 'v2', 'v1', 'v2']) {
          const res = await fetch(`${base}/admin/reload`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...admin },
            body: JSON.stringify({ model: FORECAST.name, version }),
          });
          answers.push(res.status);
        }
        reloadsDone = true;
        return answers;
      };
      const [answers] = await Promise.all([reloads(), ...Array.from({ length: 20 }, worker)]);
      expect(answers).toEqual([200, 200, 200, 200, 200]);
      expect(statuses.length).toBeGreaterThanOrEqual(200);
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      expect([...versions].every((v) => v === 'v1' || v === 'v2')).toBe(true);
      // v1 and v2 have the same architecture: after the swaps exactly one of them holds tensors.
      expect(tf.memory().numTensors).toBe(tensorsBefore);
    });
  });
});

describe('inference server logs', () => {
  it('never write the API key, sent right or wrong, while logging requests and refused reloads', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logged = createServer({ registry, apiKey: API_KEY, logger: { destination: stream } });
    await logged.loadProductionModels();
    const wrongKey = 'wrong-key-that-must-not-leak';
    for (const key of [API_KEY, wrongKey]) {
      await logged.app.inject({
        method: 'POST',
        url: '/admin/reload',
        headers: { 'x-api-key': key },
        payload: { model: FORECAST.name, version: 'v3' },
      });
    }
    await logged.app.close();
    const text = lines.join('');
    expect(text).toContain('reload refused; the previous version keeps serving');
    expect(text).toContain('"statusCode":401');
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain(wrongKey);
  });
});

describe('buildFeatures', () => {
  it('orders the window oldest first and normalises each feature (a version from before per-entity scaling, change targets and calendars)', () => {
    const pre = {
      ...FORECAST,
      features: ['cpu', 'mem'],
      mean: [50, 50],
      std: [10, 10],
      targetMean: 50,
      targetStd: 10,
      lookback: 2,
    };
    const batch = buildFeatures(rows(['a'], 3), pre);
    expect(batch.width).toBe(4);
    expect(Array.from(batch.x)).toEqual(
      [(41 - 50) / 10, (59 - 50) / 10, (42 - 50) / 10, (58 - 50) / 10].map(Math.fround),
    );
    expect(batch.keys).toMatchObject([{ entity: 'a', time: '2024-01-01T00:02:00.000Z' }]);
    expect(batch.keys[0]?.value(0.5)).toBe(55);
    expect(() => buildFeatures([...rows(['a'], 2), rows(['a'], 1)[0]], pre)).toThrow(FeatureError);
  });
});
