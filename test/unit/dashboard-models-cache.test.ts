import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { RegistryReadCache } from '../../control/registry-read-cache';
import { createServer, type InferenceServer } from '../../serving/server';
import type { StoredBlob } from '../../storage/blob-store';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { eventually } from '../helpers/eventually';
import { cpuLoadSpec, metadataFor, publishVersion } from '../helpers/models';

const REFRESH_MS = 5_000;

/** A file store that counts the objects read, by kind: `metadata.json`, `spec.json`, an alias, ... */
class CountingStore extends FileBlobStore {
  readonly gets: string[] = [];

  override get(key: string): Promise<StoredBlob | undefined> {
    this.gets.push(key);
    return super.get(key);
  }

  count(suffix: string): number {
    return this.gets.filter((key) => key.endsWith(suffix)).length;
  }

  reset(): void {
    this.gets.length = 0;
  }
}

/** A file store whose listing of the models never ends while `hold` is set. */
class HeldListingStore extends FileBlobStore {
  hold = false;
  held = 0;

  override listPrefixes(prefix: string): Promise<string[]> {
    if (this.hold && prefix === 'models/') {
      this.held++;
      return new Promise<string[]>(() => undefined);
    }
    return super.listPrefixes(prefix);
  }
}

let dir: string;
let store: CountingStore;
let registry: ModelRegistry;
let listing: HeldListingStore;
const specs = [cpuLoadSpec('cache-a'), cpuLoadSpec('cache-b'), cpuLoadSpec('cache-c')];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-dashboard-cache-'));
  store = new CountingStore(dir);
  registry = new ModelRegistry(store);
  listing = new HeldListingStore(dir);
  for (const spec of specs) {
    await registry.saveSpec(spec);
    await publishVersion(registry, spec, 'v1');
    await publishVersion(registry, spec, 'v2');
    await registry.setAlias(spec.name, 'v2', null);
  }
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

beforeEach(() => store.reset());

describe('GET /ui/api/models', () => {
  const KEY = 'dashboard-cache-key-0123456789';
  const poll = (server: InferenceServer) =>
    server.app.inject({ url: '/ui/api/models', headers: { 'x-api-key': KEY } });
  let server: InferenceServer;
  beforeAll(() => {
    server = createServer({ registry, apiKey: KEY });
  });
  afterAll(async () => {
    await server.app.close();
  });

  it('reads every version’s metadata at the first poll and none at the second, answering the same', async () => {
    const first = await poll(server);
    expect(first.statusCode).toBe(200);
    expect(first.json().map((m: { name: string; production: string }) => [m.name, m.production])).toEqual(
      specs.map((s) => [s.name, 'v2']),
    );
    expect(store.count('/metadata.json')).toBe(specs.length * 2);

    store.reset();
    const second = await poll(server);
    expect(store.count('/metadata.json')).toBe(0);
    expect(second.json()).toEqual(first.json());
  });

  it('reads each version’s metadata once when the first polls arrive at once', async () => {
    const fresh = createServer({ registry, apiKey: KEY });
    try {
      const answers = await Promise.all([poll(fresh), poll(fresh), poll(fresh)]);
      expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200]);
      expect(store.count('/metadata.json')).toBe(specs.length * 2);
    } finally {
      await fresh.app.close();
    }
  });
});

describe('GET /ui/api/models, a page at a time', () => {
  const KEY = 'dashboard-page-key-0123456789';
  let server: InferenceServer;
  beforeAll(() => {
    server = createServer({ registry, apiKey: KEY });
  });
  afterAll(async () => {
    await server.app.close();
  });
  const page = (query: string) =>
    server.app.inject({ url: `/ui/api/models?${query}`, headers: { 'x-api-key': KEY } });

  it('answers the page asked for, the total in X-Total-Count, reading the versions of that page only', async () => {
    const answer = await page('offset=1&limit=1');
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['x-total-count']).toBe(String(specs.length));
    expect(answer.json().map((m: { name: string }) => m.name)).toEqual([specs[1]!.name]);
    expect(store.count('/metadata.json')).toBe(2);
  });

  it('filters by a part of the name, the total counting the matches', async () => {
    const answer = await page('q=CACHE-C');
    expect(answer.headers['x-total-count']).toBe('1');
    expect(answer.json().map((m: { name: string }) => m.name)).toEqual(['cache-c']);
  });

  it('refuses a page size over 500, naming it', async () => {
    const answer = await page('limit=501');
    expect(answer.statusCode).toBe(400);
    expect(answer.body).toContain('limit');
  });

  it("answers the first poll from the models the server's pool listed at start-up, not waiting for a listing", async () => {
    const fresh = createServer({ registry: new ModelRegistry(listing), apiKey: KEY });
    try {
      await fresh.loadProductionModels();
      // From here on a listing of the registry never ends: the poll must not wait for one.
      listing.hold = true;
      const answer = await fresh.app.inject({ url: '/ui/api/models', headers: { 'x-api-key': KEY } });
      expect(answer.statusCode).toBe(200);
      expect(answer.json().map((m: { name: string }) => m.name)).toEqual(specs.map((s) => s.name));
      expect(listing.held).toBe(1);
    } finally {
      listing.hold = false;
      await fresh.app.close();
    }
  });
});

describe('RegistryReadCache', () => {
  let now: number;
  let reads: RegistryReadCache;
  // A store of its own: these tests move the alias and add a version.
  let own: CountingStore;
  let ownRegistry: ModelRegistry;
  const spec = cpuLoadSpec('cache-own');
  beforeAll(async () => {
    own = new CountingStore(path.join(dir, 'own'));
    ownRegistry = new ModelRegistry(own);
    await ownRegistry.saveSpec(spec);
    await publishVersion(ownRegistry, spec, 'v1');
    await publishVersion(ownRegistry, spec, 'v2');
  });
  beforeEach(async () => {
    await ownRegistry.setAlias(spec.name, 'v2', null);
    own.reset();
    now = 1_000_000;
    reads = new RegistryReadCache(ownRegistry, REFRESH_MS, () => now);
  });

  it('answers the kept spec, alias and version list, reading them again in the background once refreshMs old', async () => {
    expect((await reads.head(spec.name)).alias?.version).toBe('v2');
    expect(own.count('/spec.json')).toBe(1);
    expect(own.count('/aliases/production.json')).toBe(1);

    await ownRegistry.setAlias(spec.name, 'v1', null);
    own.reset();
    now += REFRESH_MS - 1;
    expect((await reads.head(spec.name)).alias?.version).toBe('v2');
    expect(own.gets).toEqual([]);

    now += 1;
    // Still the kept answer: the read it started lands for the next poll.
    expect((await reads.head(spec.name)).alias?.version).toBe('v2');
    await eventually(
      'the alias read again',
      async () => (await reads.head(spec.name)).alias?.version === 'v1',
    );
    expect(own.count('/spec.json')).toBe(1);
    expect(own.count('/aliases/production.json')).toBe(1);
  });

  it('keeps answering the kept head when a read in the background fails', async () => {
    const failing = new RegistryReadCache(ownRegistry, REFRESH_MS, () => now);
    await failing.head(spec.name);
    const listVersions = vi.spyOn(ownRegistry, 'listVersions').mockRejectedValue(new Error('store down'));
    try {
      now += REFRESH_MS;
      expect((await failing.head(spec.name)).alias?.version).toBe('v2');
      await eventually('the failed read', () =>
        listVersions.mock.settledResults.some((r) => r.type === 'rejected'),
      );
      expect((await failing.head(spec.name)).versions).toEqual(['v1', 'v2']);
    } finally {
      listVersions.mockRestore();
    }
  });

  it('reads the head again at once after forget (this process moved the alias)', async () => {
    await reads.head(spec.name);
    own.reset();
    reads.forget(spec.name);
    await reads.head(spec.name);
    expect(own.count('/aliases/production.json')).toBe(1);
  });

  it('shares one read between polls that ask at once', async () => {
    const listModels = vi.spyOn(ownRegistry, 'listModels');
    try {
      await Promise.all([
        reads.listModels(),
        reads.listModels(),
        reads.head(spec.name),
        reads.head(spec.name),
      ]);
      expect(listModels).toHaveBeenCalledTimes(1);
      expect(own.count('/aliases/production.json')).toBe(1);
    } finally {
      listModels.mockRestore();
    }
  });

  it('drops the kept head of a model the registry no longer lists', async () => {
    const gone = cpuLoadSpec('cache-gone');
    await ownRegistry.saveSpec(gone);
    await reads.head(gone.name);
    await own.delete('models/cache-gone/spec.json');
    expect(await reads.listModels()).not.toContain(gone.name);
    await expect(reads.head(gone.name)).rejects.toThrow('Model cache-gone has no spec');
  });

  it('keeps a version’s metadata for good, but reads again one that was incomplete', async () => {
    const first = await reads.metadata(spec.name, 'v1');
    now += 100 * REFRESH_MS;
    expect(await reads.metadata(spec.name, 'v1')).toEqual(first);
    expect(own.count('/metadata.json')).toBe(1);

    expect(await reads.metadata(spec.name, 'v3')).toBeUndefined();
    await own.put(
      `${ownRegistry.versionPrefix(spec.name, 'v3')}/metadata.json`,
      JSON.stringify(metadataFor(spec, 'v3')),
    );
    expect((await reads.metadata(spec.name, 'v3'))?.version).toBe('v3');
  });

  it('does not keep a failed read: the next call reads again', async () => {
    await expect(reads.head('cache-missing')).rejects.toThrow('Model cache-missing has no spec');
    own.reset();
    await expect(reads.head('cache-missing')).rejects.toThrow('Model cache-missing has no spec');
    expect(own.count('/spec.json')).toBe(1);
  });
});
