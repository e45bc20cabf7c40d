import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type InferenceServer } from '../../serving/server';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { cpuLoadSpec } from '../helpers/models';

const KEY = 'dashboard-auth-key-0123456789';
const READS = ['/ui/api/config', '/ui/api/models', '/ui/api/runs', '/ui/api/runs/retrain-x-1'];

let dir: string;
let registry: ModelRegistry;
const servers: InferenceServer[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-dashboard-auth-'));
  registry = new ModelRegistry(new FileBlobStore(dir));
  await registry.saveSpec(cpuLoadSpec('auth-model'));
});

afterAll(async () => {
  for (const server of servers) await server.app.close();
  await fs.rm(dir, { recursive: true, force: true });
});

function server(opts: { apiKey?: string; public?: boolean }): InferenceServer {
  const built = createServer({
    registry,
    ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
    dashboard: {
      temporalUiUrl: 'http://127.0.0.1:8233',
      namespace: 'default',
      servingUrls: [],
      ...(opts.public === undefined ? {} : { public: opts.public }),
    },
  });
  servers.push(built);
  return built;
}

const statuses = (app: InferenceServer['app'], headers: Record<string, string> = {}) =>
  Promise.all(READS.map(async (url) => (await app.inject({ url, headers })).statusCode));

describe('the dashboard API behind the key (RETRAIN_DASHBOARD_PUBLIC unset)', () => {
  it('answers every read 401 without the key or with a wrong one, and never echoes the key', async () => {
    const { app } = server({ apiKey: KEY });
    expect(await statuses(app)).toEqual([401, 401, 401, 401]);
    expect(await statuses(app, { 'x-api-key': 'wrong-key-0123456789' })).toEqual([401, 401, 401, 401]);
    const refused = await app.inject({
      url: '/ui/api/models',
      headers: { 'x-api-key': 'wrong-key-0123456789' },
    });
    expect(refused.json()).toEqual({ error: 'missing or wrong X-API-Key header' });
  });

  it('answers reads with the key (runs: 503 here, a server without Temporal)', async () => {
    const { app } = server({ apiKey: KEY });
    expect(await statuses(app, { 'x-api-key': KEY })).toEqual([200, 200, 503, 503]);
    const models = await app.inject({ url: '/ui/api/models', headers: { 'x-api-key': KEY } });
    expect(models.json().map((m: { name: string }) => m.name)).toEqual(['auth-model']);
  });

  it('serves the page and Chart.js without the key: they hold no data, and the page asks for the key', async () => {
    const { app } = server({ apiKey: KEY });
    const page = await app.inject('/ui');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('data-testid="api-key"');
    expect((await app.inject('/ui/chart.js')).statusCode).toBe(200);
  });

  it('answers reads 503 naming the settings on a server without a key', async () => {
    const { app } = server({});
    expect(await statuses(app)).toEqual([503, 503, 503, 503]);
    expect((await app.inject('/ui/api/models')).json().error).toBe(
      'dashboard disabled: set RETRAIN_API_KEY (or RETRAIN_DASHBOARD_PUBLIC=true for open reads)',
    );
  });
});

describe('RETRAIN_DASHBOARD_PUBLIC=true', () => {
  it('answers reads without the key, and still refuses actions without it', async () => {
    const { app } = server({ apiKey: KEY, public: true });
    expect(await statuses(app)).toEqual([200, 200, 503, 503]);
    const rollback = await app.inject({ method: 'POST', url: '/ui/api/models/auth-model/rollback' });
    expect(rollback.statusCode).toBe(401);
    const start = await app.inject({ method: 'POST', url: '/ui/api/runs', payload: { model: 'auth-model' } });
    expect(start.statusCode).toBe(401);
  });
});
