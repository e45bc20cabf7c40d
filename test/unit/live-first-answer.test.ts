import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveMetrics } from '../../monitoring/live-metrics';
import { selectBackend } from '../../ml/backend';
import { DataBuffer } from '../../storage/buffer';
import { withDuckDb } from '../../storage/duckdb';
import { FileBlobStore } from '../../storage/file-store';
import { PredictionLog } from '../../storage/prediction-log';
import { ModelRegistry } from '../../storage/registry';
import { createServer } from '../../serving/server';
import { hourlySpec, seedHourlyActuals } from '../helpers/live-buffer';
import { publishVersion, smallModel } from '../helpers/models';

const HOUR = 3_600_000;
const at = (h: number) => Date.UTC(2024, 0, 1) + h * HOUR;

let dir: string;

beforeAll(async () => {
  await selectBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-live-first-'));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('live figures', () => {
  it('score the first answer for a target: a /predict with past timestamps does not change them', async () => {
    const spec = hourlySpec(`first-${randomUUID().slice(0, 8)}`);
    const buffer = new DataBuffer(path.join(dir, 'buffer'));
    // Host a: y = 10 + h at hours 0-5.
    await seedHourlyActuals(buffer, spec.name, [0, 1, 2, 3, 4, 5]);
    const registry = new ModelRegistry(new FileBlobStore(path.join(dir, 'store')));
    await registry.saveSpec(spec);
    await publishVersion(registry, spec, 'v1', { net: smallModel(spec, 1) });
    await registry.setAlias(spec.name, 'v1', null);
    const log = await PredictionLog.open(path.join(dir, 'predictions'));
    const server = createServer({ registry, predictionLog: log, buffer });
    try {
      // The answer given live, at hour 2, for hour 3 (actual 13): error 0.5.
      await log.record([
        {
          model: spec.name,
          version: 'v1',
          entity: 'a',
          time: at(2),
          for: at(3),
          value: 13.5,
          label: null,
          predictedAt: at(2),
        },
      ]);
      await log.flush();
      const before = await liveMetrics({ spec, buffer, predictionLog: log, registry });
      expect(before.versions[0]?.all).toMatchObject({ predictions: 1, metrics: { mae: 0.5 } });

      // Anyone's /predict, later, with the same past timestamps and other inputs: answered and logged.
      await server.loadProductionModels();
      const reply = await server.app.inject({
        method: 'POST',
        url: '/predict',
        payload: { model: spec.name, rows: [{ ts: new Date(at(2)).toISOString(), host: 'a', y: 500 }] },
      });
      expect(reply.statusCode).toBe(200);
      const answered = reply.json().predictions as { entity: string; value: number }[];
      expect(answered).toHaveLength(1);
      expect(answered[0]?.value).not.toBeCloseTo(13.5, 6);
      await log.flush();
      const source = await log.source(spec.name);
      const logged = await withDuckDb(async (conn) =>
        (await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM ${source}`)).getRowObjectsJson(),
      );
      expect(logged).toEqual([{ n: 2 }]);

      expect(await liveMetrics({ spec, buffer, predictionLog: log, registry })).toEqual(before);
    } finally {
      await server.app.close();
      await log.close();
    }
  });
});
