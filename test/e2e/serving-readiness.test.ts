import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { selectBackend } from '../../ml/backend';
import type { StoredBlob } from '../../storage/blob-store';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { createServer } from '../../serving/server';
import { eventually } from '../helpers/eventually';
import { corruptWeights, cpuLoadSpec, publishVersion, recentRows } from '../helpers/models';

const MODELS = 5;
const CONCURRENCY = 2;

/** A file store whose metadata.json reads (but those `passes` lets through) wait for {@link GatedStore.open}, counting those waiting. */
class GatedStore extends FileBlobStore {
  waiting = 0;
  mostWaiting = 0;
  private opened = false;
  private release: () => void = () => undefined;
  private readonly gate = new Promise<void>((resolve) => (this.release = resolve));

  constructor(
    root: string,
    /** Keys that never wait. */
    private readonly passes: (key: string) => boolean = () => false,
  ) {
    super(root);
  }

  override async get(key: string): Promise<StoredBlob | undefined> {
    if (key.endsWith('/metadata.json') && !this.opened && !this.passes(key)) {
      this.waiting++;
      this.mostWaiting = Math.max(this.mostWaiting, this.waiting);
      await this.gate;
      this.waiting--;
    }
    return super.get(key);
  }

  open(): void {
    this.opened = true;
    this.release();
  }
}

let dir: string;
const specs = Array.from({ length: MODELS }, (_, i) => cpuLoadSpec(`readiness-${i}`));
const broken = specs[MODELS - 1]!;

beforeAll(async () => {
  await selectBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-readiness-'));
  const registry = new ModelRegistry(new FileBlobStore(dir));
  for (const spec of specs) {
    await registry.saveSpec(spec);
    await publishVersion(registry, spec, 'v1');
    await registry.setAlias(spec.name, 'v1', null);
  }
  await corruptWeights(registry, broken.name, 'v1');
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('start-up load of production models', () => {
  it('loads a model on its first request when the start-up load has not reached it, ahead of the queue', async () => {
    const last = specs[MODELS - 2]!;
    // Every metadata read waits except the last loadable model's: start-up is stuck on the first two.
    const store = new GatedStore(dir, (key) => key.includes(`/${last.name}/`));
    const server = createServer({ registry: new ModelRegistry(store), loadConcurrency: CONCURRENCY });
    try {
      const loading = server.loadProductionModels();
      await eventually(`${CONCURRENCY} metadata reads waiting`, async () => store.waiting === CONCURRENCY);

      const answered = await server.app.inject({
        method: 'POST',
        url: '/predict',
        payload: { model: last.name, rows: recentRows(last, ['web-1']) },
      });

      expect(answered.statusCode).toBe(200);
      expect(answered.json()).toMatchObject({ model: last.name, version: 'v1' });
      // Start-up is still where it was: the request did not wait its turn.
      expect(store.waiting).toBe(CONCURRENCY);
      expect((await server.app.inject('/readyz')).json()).toMatchObject({ ready: false, done: 0 });
      store.open();
      const report = await loading;
      // Loaded once: start-up joined the load the request began.
      expect(report.loaded.filter((l) => l.model === last.name)).toEqual([
        { model: last.name, version: 'v1' },
      ]);
    } finally {
      await server.app.close();
    }
  });

  it(`loads ${CONCURRENCY} at a time, answers /readyz 503 with its progress until every model is settled, then 200`, async () => {
    const store = new GatedStore(dir);
    const server = createServer({ registry: new ModelRegistry(store), loadConcurrency: CONCURRENCY });
    try {
      const loading = server.loadProductionModels();
      await eventually(`${CONCURRENCY} metadata reads waiting`, async () => store.waiting === CONCURRENCY);
      const waiting = await server.app.inject('/readyz');
      expect(waiting.statusCode).toBe(503);
      expect(waiting.json()).toEqual({
        ready: false,
        reason: `loading production models: 0 of ${MODELS} done`,
        done: 0,
        total: MODELS,
      });
      // Listed, its load under way: the request waits for that load and is answered by it.
      const early = server.app.inject({
        method: 'POST',
        url: '/predict',
        payload: { model: specs[0]!.name, rows: recentRows(specs[0]!, ['web-1']) },
      });

      store.open();
      const answered = await early;
      expect(answered.statusCode).toBe(200);
      expect(answered.json()).toMatchObject({ model: specs[0]!.name, version: 'v1' });
      const report = await loading;
      expect(store.mostWaiting).toBe(CONCURRENCY);
      expect(report.loaded.map((l) => l.model).sort()).toEqual(specs.slice(0, -1).map((s) => s.name));
      expect(report.failed).toEqual([
        {
          model: broken.name,
          error: expect.stringMatching(/Corrupt weights at \S+\/versions\/v1\/weights\.bin/),
        },
      ]);
      const ready = await server.app.inject('/readyz');
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({
        ready: true,
        models: Object.fromEntries(specs.slice(0, -1).map((s) => [s.name, 'v1'])),
        failed: report.failed,
      });
    } finally {
      await server.app.close();
    }
  });

  it('refuses a load concurrency below 1, naming it', () => {
    expect(() =>
      createServer({ registry: new ModelRegistry(new FileBlobStore(dir)), loadConcurrency: 0 }),
    ).toThrow('loadConcurrency must be a whole number of at least 1, got 0');
  });
});
