import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ModelSpec } from '../../common/model-spec';
import { selectBackend } from '../../ml/backend';
import { createServer, type InferenceServer } from '../../serving/server';
import { DataBuffer } from '../../storage/buffer';
import { BufferWriter } from '../../storage/buffer-writer';
import { FileBlobStore } from '../../storage/file-store';
import { Ingestor } from '../../storage/ingest';
import { ModelRegistry } from '../../storage/registry';
import { readBuffer } from '../helpers/buffer-fixture';
import { eventually } from '../helpers/eventually';
import { cpuLoadSpec, publishVersion, recentRows } from '../helpers/models';
import { samplesOf, scrape } from '../helpers/prometheus';

const FEED_METRIC = 'retrain_predict_feed_rows_total';

let dir: string;
let registry: ModelRegistry;

beforeAll(async () => {
  await selectBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-predict-feed-'));
  registry = new ModelRegistry(new FileBlobStore(path.join(dir, 'store')));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A served model: its spec (with `predictFeedsBuffer` as given) and a production v1. */
async function servedModel(name: string, predictFeedsBuffer?: boolean): Promise<ModelSpec> {
  const spec = { ...cpuLoadSpec(name), ...(predictFeedsBuffer === undefined ? {} : { predictFeedsBuffer }) };
  await registry.saveSpec(spec);
  await publishVersion(registry, spec, 'v1');
  await registry.setAlias(spec.name, 'v1', null);
  return spec;
}

/** A real inference server on loopback with its own buffer, writer and ingestor. */
async function serve(bufferName: string, predictFeedsBuffer?: boolean) {
  const buffer = new DataBuffer(path.join(dir, bufferName));
  const writer = await BufferWriter.open(buffer, { retentionDays: 60 });
  const server: InferenceServer = createServer({
    registry,
    ingestor: new Ingestor(registry, writer),
    ...(predictFeedsBuffer === undefined ? {} : { predictFeedsBuffer }),
  });
  await server.loadProductionModels();
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    buffer,
    url,
    async predict(spec: ModelSpec, rows: Record<string, unknown>[]) {
      const res = await fetch(`${url}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: spec.name, rows }),
      });
      expect(res.status, await res.clone().text()).toBe(200);
    },
    async fed(model: string, result: string): Promise<number> {
      const samples = samplesOf(await scrape(`${url}/metrics`), FEED_METRIC, { model, result });
      return samples.reduce((sum, s) => sum + s.value, 0);
    },
    async close() {
      await server.app.close();
      await writer.close();
    },
  };
}

describe('/predict feeding the data buffer', { timeout: 120_000 }, () => {
  it('appends the rows of a model whose spec opts in, deduplicated like ingest (the same rows twice append once), and nothing for a model that does not', async () => {
    const fed = await servedModel('fed-by-spec', true);
    const unfed = await servedModel('not-fed');
    const server = await serve('buffer-spec');
    try {
      const rows = recentRows(fed, ['h1', 'h2']);
      await server.predict(fed, rows);
      await server.predict(unfed, recentRows(unfed, ['h1', 'h2']));
      await eventually(
        'the first rows in the buffer',
        async () => (await server.fed(fed.name, 'inserted')) === 6,
      );
      expect(await readBuffer(server.buffer, fed.name)).toHaveLength(6);

      await server.predict(fed, rows);
      await eventually(
        'the repeat counted as duplicates',
        async () => (await server.fed(fed.name, 'duplicate')) === 6,
      );
      const stored = await readBuffer(server.buffer, fed.name);
      expect(stored).toHaveLength(6);
      expect(stored.map((r) => `${r.ts} ${r.host} ${r.cpu} ${r.mem}`)).toEqual(
        rows
          .map(
            (r) =>
              `${String(r.ts).replace('.000Z', 'Z')} ${String(r.host)} ${String(r.cpu)} ${String(r.mem)}`,
          )
          .sort(),
      );
    } finally {
      await server.close();
    }
    expect(await server.buffer.hasData(unfed.name)).toBe(false);
  });

  it('with RETRAIN_PREDICT_FEEDS_BUFFER every model is fed unless its spec says false; rows waiting at close are written', async () => {
    const silent = await servedModel('server-default');
    const refusing = await servedModel('spec-says-no', false);
    const server = await serve('buffer-server', true);
    try {
      await server.predict(silent, recentRows(silent, ['a']));
      await server.predict(refusing, recentRows(refusing, ['a']));
    } finally {
      // Closing at once: the feed's waiting rows are appended before the writer closes.
      await server.close();
    }
    expect(await readBuffer(server.buffer, silent.name)).toHaveLength(3);
    expect(await server.buffer.hasData(refusing.name)).toBe(false);
  });
});
