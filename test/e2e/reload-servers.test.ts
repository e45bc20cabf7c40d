import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { ActivityDeps } from '../../activities';
import { createReloadServers } from '../../activities/reload-servers';
import { ErrorType } from '../../common/errors';
import { ModelSpecSchema } from '../../common/model-spec';
import type { ReloadResult } from '../../common/stages';
import { selectBackend } from '../../ml/backend';
import { reloadServer } from '../../rollout/rollout';
import { createServer, type InferenceServer } from '../../serving/server';
import { DataBuffer } from '../../storage/buffer';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { corruptWeights, publishVersion } from '../helpers/models';

const API_KEY = 'reload-activity-key-0123456789';
const SPEC = ModelSpecSchema.parse({
  name: 'reload-me',
  task: 'forecast',
  timeColumn: 'ts',
  entityColumn: 'host',
  features: ['cpu'],
  target: 'cpu',
  lookback: 2,
});

describe('reloadServers activity against two real inference servers', () => {
  let dir: string;
  let registry: ModelRegistry;
  let servers: InferenceServer[];
  let urls: string[];
  let deps: ActivityDeps;
  const reload = (version: string, previous: string | null, targets = urls): Promise<ReloadResult> =>
    new MockActivityEnvironment().run(createReloadServers(deps), {
      model: SPEC.name,
      version,
      previous,
      targets,
    });

  beforeAll(async () => {
    await selectBackend('cpu');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-reload-'));
    const store = new FileBlobStore(dir);
    registry = new ModelRegistry(store);
    await registry.saveSpec(SPEC);
    for (const [version, seed] of [
      ['v1', 1],
      ['v2', 2],
      ['v3', 3],
    ] as const)
      await publishVersion(registry, SPEC, version, { seed });
    await corruptWeights(registry, SPEC.name, 'v3');
    await registry.setAlias(SPEC.name, 'v1', null);
    servers = [createServer({ registry, apiKey: API_KEY }), createServer({ registry, apiKey: API_KEY })];
    urls = [];
    for (const server of servers) {
      await server.loadProductionModels();
      urls.push(await server.app.listen({ host: '127.0.0.1', port: 0 }));
    }
    deps = {
      store,
      registry,
      buffer: new DataBuffer(dir),
      backend: 'cpu',
      servingUrls: urls,
      apiKey: API_KEY,
    };
  });
  afterAll(async () => {
    for (const server of servers ?? []) await server.app.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await registry.setAlias(SPEC.name, 'v1', null);
    await reload('v1', null);
  });

  it('moves every server to the new version and reports each', async () => {
    await registry.setAlias(SPEC.name, 'v2', 'wf');
    const result = await reload('v2', 'v1');
    expect(result.servers).toEqual(urls.map((url) => ({ url, ok: true, version: 'v2', attempts: 1 })));
    expect(servers.map((s) => s.pool.get(SPEC.name)?.version)).toEqual(['v2', 'v2']);
  });

  it('rolls the alias back and reloads the previous version when a server refuses; fails with every outcome', async () => {
    await registry.setAlias(SPEC.name, 'v3', 'wf');
    const failure = await reload('v3', 'v1').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(ApplicationFailure);
    const app = failure as ApplicationFailure;
    expect(app.type).toBe(ErrorType.ReloadFailed);
    expect(app.nonRetryable).toBe(true);
    expect(app.message).toMatch(
      /^Inference servers refused reload-me v3: .*Corrupt weights.*; production rolled back to v1/,
    );
    const [details] = app.details as [{ servers: unknown[]; rollback: { to: string; servers: unknown[] } }];
    expect(details.servers).toEqual(
      urls.map((url) => expect.objectContaining({ url, ok: false, error: expect.stringContaining('422') })),
    );
    expect(details.rollback).toMatchObject({
      to: 'v1',
      aliasMoved: true,
      servers: urls.map((url) => ({ url, ok: true, version: 'v1', attempts: 1 })),
    });
    expect((await registry.getAlias(SPEC.name))?.value).toMatchObject({ version: 'v1', previous: 'v3' });
    expect(servers.map((s) => s.pool.get(SPEC.name)?.version)).toEqual(['v1', 'v1']);
    expect(app.message).not.toContain(API_KEY);
  });

  it('leaves an alias that another writer moved meanwhile alone', async () => {
    await registry.setAlias(SPEC.name, 'v3', 'wf');
    await registry.setAlias(SPEC.name, 'v2', 'someone-else');
    await expect(reload('v3', 'v1')).rejects.toThrow(/production was moved to v2 meanwhile; left as it is/);
    expect((await registry.getAlias(SPEC.name))?.value.version).toBe('v2');
  });

  it('retries an unreachable server with backoff, and does not retry a refusal', async () => {
    const closed = createServer({ registry, apiKey: API_KEY });
    const gone = await closed.app.listen({ host: '127.0.0.1', port: 0 });
    await closed.app.close();
    const started = Date.now();
    const down = await reloadServer(gone, SPEC.name, 'v2', { apiKey: API_KEY, attempts: 3, backoffMs: 100 });
    expect(down).toMatchObject({ url: gone, ok: false, attempts: 3 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    const wrongKey = await reloadServer(urls[0]!, SPEC.name, 'v2', {
      apiKey: 'not-the-key-0123456789',
      attempts: 3,
    });
    expect(wrongKey).toMatchObject({
      ok: false,
      attempts: 1,
      error: expect.stringContaining('answered 401'),
    });
  });
});
