import fs from 'node:fs/promises';
import path from 'node:path';

import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createServer, type InferenceServer } from '../../serving/server';
import { loadConfig } from '../../config/config';
import { createBufferFixture, csv, hashTree, type BufferFixture } from '../helpers/buffer-fixture';
import { cliWith } from '../helpers/run-cli';

const REAL_KEY = 'real-admin-key-9f8e7d6c5b4a3210';
const SLUG_RULE = 'model name must be a lowercase slug';
const counts: Record<string, number> = {};
const count = (entry: string) => (counts[entry] = (counts[entry] ?? 0) + 1);

const POST_ROUTES = [
  '/predict',
  '/ingest',
  '/admin/reload',
  '/admin/reload-model',
  '/admin/trigger-training',
  '/admin/cancel-training',
] as const;

const ADMIN_ROUTES = [
  ['GET', '/admin/model-info'],
  ['POST', '/admin/reload'],
  ['POST', '/admin/reload-model'],
  ['POST', '/admin/trigger-training'],
  ['GET', '/admin/training-status'],
  ['GET', '/admin/training-stats'],
  ['POST', '/admin/cancel-training'],
  ['POST', '/ingest'],
] as const;

/** Wrong keys, each distinct so the log grep can tell them apart; `headers` says how it is sent. */
const WRONG_KEYS: { what: string; headers: (n: number) => Record<string, string> }[] = [
  { what: 'no key', headers: () => ({}) },
  { what: 'an empty key', headers: () => ({ 'x-api-key': '' }) },
  { what: 'a wrong key', headers: (n) => ({ 'x-api-key': `wrong-key-${n}-0123456789abcdef` }) },
  { what: 'the real key with a trailing space', headers: () => ({ 'x-api-key': `${REAL_KEY} ` }) },
  { what: 'the real key upper-cased', headers: () => ({ 'x-api-key': REAL_KEY.toUpperCase() }) },
  { what: 'the real key less its last character', headers: () => ({ 'x-api-key': REAL_KEY.slice(0, -1) }) },
  { what: 'the real key as a bearer token', headers: () => ({ authorization: `Bearer ${REAL_KEY}` }) },
  { what: 'a 64 KiB key', headers: (n) => ({ 'x-api-key': `${n}`.padEnd(64 * 1024, 'k') }) },
];
/** Keys sent in the query string by mistake: still 401, and redacted from the logged URL. */
const QUERY_KEYS = (n: number) => [
  `api_key=query-key-${n}-0123456789`,
  `apiKey=${REAL_KEY}`,
  `x-api-key=q-${n}-abcdefghijk`,
];

const BAD_NAMES = [
  '../x',
  'a/b',
  '%2e%2e',
  '..',
  '',
  'x'.repeat(64),
  'x'.repeat(5000),
  'modèle',
  'a\u0000b',
  'M',
  '-m',
];

let fx: BufferFixture;
let server: InferenceServer;
let logs: string[];

function start(options: { bodyLimitBytes?: number; ingestBodyLimitBytes?: number; apiKey?: string } = {}) {
  logs = [];
  server = createServer({
    registry: fx.registry,
    ingestor: fx.ingestor,
    apiKey: REAL_KEY,
    logger: { level: 'trace', destination: { write: (line: string) => logs.push(line) } },
    ...options,
  });
  return server.app.ready();
}

beforeEach(async () => {
  fx = await createBufferFixture({ maxDelayMs: 10 });
});

afterEach(async () => {
  await server?.app.close();
  await fx.cleanup();
});

afterAll(() => {
  console.log(`bad-input catalogue cases: ${JSON.stringify(counts)}`);
});

describe('oversized request bodies', () => {
  it.each(POST_ROUTES)('POST %s: 413 giving the configured limit, a body under it is not', async (url) => {
    count('oversized bodies');
    await start({ bodyLimitBytes: 4000, ingestBodyLimitBytes: 6000 });
    const limit = url === '/ingest' ? 6000 : 4000;
    const body = (bytes: number) => JSON.stringify({ model: fx.spec.name, pad: 'p'.repeat(bytes - 30) });
    const headers = { 'content-type': 'application/json', 'x-api-key': REAL_KEY };

    const over = await server.app.inject({ method: 'POST', url, headers, payload: body(limit + 100) });
    const under = await server.app.inject({ method: 'POST', url, headers, payload: body(limit - 100) });

    expect(over.statusCode).toBe(413);
    expect(over.json().error).toMatch(new RegExp(`^request body over ${limit} bytes: `));
    expect(under.statusCode).not.toBe(413);
    expect(await fx.buffer.hasData(fx.spec.name)).toBe(false);
  });

  it.each([
    ['/predict', 8],
    ['/admin/reload', 8],
    ['/ingest', 16],
  ] as const)('POST %s: 413 over the default %i MiB', async (url, mib) => {
    count('oversized bodies');
    await start();
    const res = await server.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', 'x-api-key': REAL_KEY },
      payload: JSON.stringify({ model: fx.spec.name, pad: 'p'.repeat(mib * 1024 * 1024) }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toContain(`request body over ${mib} MiB`);
  });
});

describe('the body limits from the environment', () => {
  it('SERVING_MAX_BODY_BYTES and SERVING_MAX_INGEST_BODY_BYTES set them; a bad value names the variable', () => {
    count('oversized bodies');
    const config = loadConfig(
      { SERVING_MAX_BODY_BYTES: '5000', SERVING_MAX_INGEST_BODY_BYTES: '7000' },
      fx.dir,
    );
    expect(config.serving).toMatchObject({ bodyLimitBytes: 5000, ingestBodyLimitBytes: 7000 });
    expect(loadConfig({}, fx.dir).serving).toMatchObject({
      bodyLimitBytes: 8 * 1024 * 1024,
      ingestBodyLimitBytes: 16 * 1024 * 1024,
    });
    expect(() => loadConfig({ SERVING_MAX_BODY_BYTES: 'lots' }, fx.dir)).toThrow(/SERVING_MAX_BODY_BYTES: /);
    expect(() => loadConfig({ SERVING_MAX_INGEST_BODY_BYTES: '10' }, fx.dir)).toThrow(
      /SERVING_MAX_INGEST_BODY_BYTES: /,
    );
  });
});

describe('missing or wrong API keys on the admin and ingest routes', () => {
  it.each(ADMIN_ROUTES)(
    '%s %s: 401 for every wrong key; neither the sent key nor the real one is in a body or a log line',
    async (method, url) => {
      await start();
      const sent: string[] = [];
      for (const [n, { headers }] of WRONG_KEYS.entries()) {
        count('API keys');
        const h = headers(n);
        sent.push(...Object.values(h).filter((v) => v.length >= 8));
        const res = await server.app.inject({
          method,
          url: `${url}?model=${fx.spec.name}`,
          headers: { ...h, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
          ...(method === 'POST' ? { payload: JSON.stringify({ model: fx.spec.name, rows: [{}] }) } : {}),
        });
        expect(res.statusCode, JSON.stringify(h).slice(0, 80)).toBe(401);
        expect(res.json()).toEqual({ error: 'missing or wrong X-API-Key header' });
      }
      for (const query of QUERY_KEYS(sent.length)) {
        count('API keys');
        sent.push(query.split('=')[1]!);
        const res = await server.app.inject({ method, url: `${url}?model=${fx.spec.name}&${query}` });
        expect(res.statusCode, query).toBe(401);
        expect(res.body).not.toContain(query.split('=')[1]!);
      }
      // The real key once too, so its absence from the logs means something.
      const ok = await server.app.inject({ method, url, headers: { 'x-api-key': REAL_KEY } });
      expect(ok.statusCode).not.toBe(401);
      await server.app.close();

      const text = logs.join('');
      expect(logs.length).toBeGreaterThan(WRONG_KEYS.length);
      for (const key of [REAL_KEY, REAL_KEY.toUpperCase(), REAL_KEY.slice(0, -1), ...sent]) {
        expect(text.includes(key.trim()), `a key in the logs: ${key.slice(0, 40)}`).toBe(false);
      }
    },
  );

  it('without a configured key the routes answer 503, whatever key is sent', async () => {
    count('API keys');
    await start({ apiKey: undefined });
    for (const [method, url] of ADMIN_ROUTES) {
      const res = await server.app.inject({ method, url, headers: { 'x-api-key': REAL_KEY } });
      expect(res.statusCode, url).toBe(503);
      expect(res.body).not.toContain(REAL_KEY);
    }
  });
});

describe('model names with path tricks', () => {
  it.each(BAD_NAMES)(
    'HTTP: %j is refused with 400 naming the rule on every route that takes a model',
    async (name) => {
      await start();
      const before = await hashTree(fx.dir);
      const requests = [
        { method: 'GET' as const, url: `/admin/model-info?model=${encodeURIComponent(name)}` },
        { method: 'POST' as const, url: `/admin/reload-model?model=${encodeURIComponent(name)}` },
        { method: 'POST' as const, url: '/admin/reload', payload: { model: name } },
        { method: 'POST' as const, url: '/predict', payload: { model: name, rows: [{}] } },
        { method: 'POST' as const, url: '/ingest', payload: { model: name, rows: [{}] } },
      ];
      for (const { method, url, payload } of requests) {
        count('model names (HTTP)');
        const res = await server.app.inject({
          method,
          url,
          headers: { 'x-api-key': REAL_KEY, ...(payload ? { 'content-type': 'application/json' } : {}) },
          ...(payload ? { payload: JSON.stringify(payload) } : {}),
        });
        expect(res.statusCode, `${method} ${url.slice(0, 60)}: ${res.body.slice(0, 200)}`).toBe(400);
        expect(res.json().error).toContain(SLUG_RULE);
      }
      expect(await hashTree(fx.dir)).toEqual(before);
    },
  );

  // A NUL cannot be in a process argument; `-m` reads as an option (refused as unknown, exit 2).
  it.each(BAD_NAMES.filter((n) => !n.includes('\u0000') && n !== '-m'))(
    'CLI: %j is refused naming the rule by every command that takes a model, nothing created',
    async (name) => {
      const retrain = cliWith(
        loadConfig({ RETRAIN_STORE: `file://${fx.storeDir}`, RETRAIN_BUFFER_DIR: fx.bufferDir }, fx.dir),
      );
      const spec = path.join(fx.dir, 'spec.json');
      await fs.writeFile(spec, JSON.stringify({ ...fx.spec, name }));
      const data = await fx.file('rows.csv', csv('ts,host,cpu,mem', ['2001-03-01T00:00:00Z,a,1,1']));
      const before = await hashTree(fx.dir);
      const commands = [
        ['models', 'create', spec],
        ['models', 'show', name],
        ['ingest', '--model', name, data],
        ['stats', '--model', name],
        ['rollback', '--model', name],
        ['list', '--model', name],
        ['schedule', 'create', '--model', name],
        ['schedule', 'describe', '--model', name],
      ];
      for (const argv of commands) {
        count('model names (CLI)');
        const result = await retrain(...argv);
        // A bad spec file is bad data (exit 1, naming the file and the field); a bad --model is usage (2).
        const specFile = argv[0] === 'models' && argv[1] === 'create';
        expect(result.code, `${argv.slice(0, 2).join(' ')}: ${result.stderr}`).toBe(specFile ? 1 : 2);
        expect(result.stderr).toContain(specFile ? `${spec}: name: ${SLUG_RULE}` : SLUG_RULE);
      }
      expect(await hashTree(fx.dir)).toEqual(before);
    },
  );
});
