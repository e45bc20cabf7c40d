import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventSinksFor } from '../../events/event-sinks';
import { ConfigError, LOCAL_API_KEY_FILE, loadConfig } from '../../config/config';
import { createLogger } from '../../config/logger';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({}, '/nowhere');
    expect(config.temporal.address).toBe('127.0.0.1:7233');
    expect(config.store).toBe('file://.data/store');
    expect(config.gpuSlots).toBe(1);
    expect(config.bufferRetentionDays).toBe(60);
    expect(config.apiKey).toBeUndefined();
  });
  it('binds the metrics endpoints on 127.0.0.1 unless METRICS_HOST says otherwise; logs default to info', () => {
    const local = loadConfig({}, '/nowhere');
    expect(local).toMatchObject({ metricsHost: '127.0.0.1', metricsPorts: { cpu: 9464, gpu: 9465 } });
    expect(local).toMatchObject({ logFormat: undefined, logLevel: 'info' });
    const compose = loadConfig({ METRICS_HOST: '0.0.0.0', RETRAIN_LOG_FORMAT: 'pretty' }, '/nowhere');
    expect(compose).toMatchObject({ metricsHost: '0.0.0.0', logFormat: 'pretty' });
  });
  it('configures the run-event sinks and the bridge from their variables, and refuses them half set', () => {
    expect(loadConfig({}, '/nowhere').events).toEqual({ maxAgeMs: 24 * 3600 * 1000 });
    const both = loadConfig(
      {
        RETRAIN_EVENTS_WEBHOOK_URL: 'https://hooks.example/retrain',
        RETRAIN_EVENTS_WEBHOOK_SECRET: 'a-secret-of-16-chars',
        RETRAIN_EVENTS_REDIS_URL: 'redis://:pw@redis:6379/0',
        RETRAIN_REDIS_STREAMS: '{"retrain.run.rejected": "learning.retraining.rejected"}',
      },
      '/nowhere',
    );
    expect(eventSinksFor(both.events).map((s) => s.name)).toEqual(['webhook', 'redis']);
    expect(both.events.redis).toEqual({
      url: 'redis://:pw@redis:6379/0',
      prefix: 'quantum:stream:',
      streams: { 'retrain.run.rejected': 'learning.retraining.rejected' },
    });
    expect(both.bridge).toEqual({
      redisUrl: 'redis://:pw@redis:6379/0',
      streamPrefix: 'quantum:stream:',
      metricsPort: 9466,
    });
    for (const sink of eventSinksFor(both.events)) void sink.close();
    expect(() => loadConfig({ RETRAIN_EVENTS_WEBHOOK_URL: 'https://hooks.example/x' }, '/nowhere')).toThrow(
      /RETRAIN_EVENTS_WEBHOOK_SECRET is required with RETRAIN_EVENTS_WEBHOOK_URL/,
    );
    expect(() => loadConfig({ RETRAIN_REDIS_STREAMS: '{"retrain.run.exploded": "x"}' }, '/nowhere')).toThrow(
      /RETRAIN_REDIS_STREAMS: must be a JSON object of event type/,
    );
    expect(() => loadConfig({ RETRAIN_EVENTS_REDIS_URL: 'http://redis' }, '/nowhere')).toThrow(
      /RETRAIN_EVENTS_REDIS_URL/,
    );
  });
  it('takes a webhook over https, or over http only to loopback, and names a bad URL without its query', () => {
    const secret = { RETRAIN_EVENTS_WEBHOOK_SECRET: 'a-secret-of-16-chars' };
    for (const url of [
      'https://hooks.example/retrain',
      'http://127.0.0.1:8080/hook',
      'http://localhost/h',
      'http://[::1]:9/h',
    ])
      expect(loadConfig({ ...secret, RETRAIN_EVENTS_WEBHOOK_URL: url }, '/nowhere').events.webhook?.url).toBe(
        url,
      );
    expect(() =>
      loadConfig(
        { ...secret, RETRAIN_EVENTS_WEBHOOK_URL: 'http://hooks.example/retrain?token=t0ps3cret' },
        '/nowhere',
      ),
    ).toThrow(
      /RETRAIN_EVENTS_WEBHOOK_URL: http:\/\/hooks\.example\/retrain must use https \(http only to a loopback host/,
    );
    expect(() =>
      loadConfig(
        { ...secret, RETRAIN_EVENTS_WEBHOOK_URL: 'http://hooks.example/retrain?token=t0ps3cret' },
        '/nowhere',
      ),
    ).not.toThrow(/t0ps3cret/);
  });
  it('takes a raw webhook secret or a whsec_ one of 24 to 64 bytes, and never echoes it', () => {
    const url = { RETRAIN_EVENTS_WEBHOOK_URL: 'https://hooks.example/retrain' };
    const whsec = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    expect(
      loadConfig({ ...url, RETRAIN_EVENTS_WEBHOOK_SECRET: whsec }, '/nowhere').events.webhook?.secret,
    ).toBe(whsec);
    for (const bad of ['whsec_c2hvcnQtc2hvcnQtc2hvcnQ=', 'whsec_not base64 at all!!'])
      expect(() => loadConfig({ ...url, RETRAIN_EVENTS_WEBHOOK_SECRET: bad }, '/nowhere')).toThrow(
        /RETRAIN_EVENTS_WEBHOOK_SECRET: a whsec_ secret must be whsec_ and the base64 of 24 to 64 random bytes$/,
      );
  });
  it('reads RETRAIN_EVENTS_MAX_AGE as a duration and refuses anything else', () => {
    expect(loadConfig({ RETRAIN_EVENTS_MAX_AGE: '90m' }, '/nowhere').events.maxAgeMs).toBe(90 * 60_000);
    expect(() => loadConfig({ RETRAIN_EVENTS_MAX_AGE: '1 day' }, '/nowhere')).toThrow(
      /RETRAIN_EVENTS_MAX_AGE: the age must be a count and a unit/,
    );
  });
  it('parses RETRAIN_SERVING_URLS as a comma list', () => {
    expect(loadConfig({ RETRAIN_SERVING_URLS: 'http://a:1, http://b:2' }, '/nowhere').servingUrls).toEqual([
      'http://a:1',
      'http://b:2',
    ]);
  });
  it('parses RETRAIN_COACHING_MODELS as a comma list of model names; absent, every model', () => {
    expect(loadConfig({ RETRAIN_COACHING_MODELS: 'coach-a, coach-b' }, '/nowhere').coachingModels).toEqual([
      'coach-a',
      'coach-b',
    ]);
    expect(loadConfig({}, '/nowhere').coachingModels).toBeUndefined();
  });
  it.each([
    ['RETRAIN_COACHING_MODELS', "a', 'b"],
    ['GPU_SLOTS', 'zero'],
    ['TFJS_BACKEND', 'gpu'],
    ['RETRAIN_STORE', 'ftp://x'],
    ['RETRAIN_SERVING_URLS', 'not a url'],
    ['RETRAIN_LOG_FORMAT', 'xml'],
    ['RETRAIN_LOG_LEVEL', 'loud'],
  ])('stops on a bad %s with a message that names it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });
  it('never echoes a rejected secret', () => {
    try {
      loadConfig({ RETRAIN_API_KEY: 'short-secret' });
      expect.unreachable();
    } catch (err) {
      expect(String(err)).toContain('RETRAIN_API_KEY');
      expect(String(err)).not.toContain('short-secret');
    }
  });
});

describe('the API key from a secret file, and in a fleet', () => {
  const KEY = 'file-key-0123456789abcdef';
  let dir: string;
  let keyFile: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'retrain-config-'));
    keyFile = path.join(dir, 'api-key.secret');
    fs.mkdirSync(path.join(dir, path.dirname(LOCAL_API_KEY_FILE)), { recursive: true });
    fs.writeFileSync(path.join(dir, LOCAL_API_KEY_FILE), 'local-key-0123456789abcdef\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The ConfigError `env` raises (a test fails when it raises none). */
  function configError(env: NodeJS.ProcessEnv): string {
    try {
      loadConfig(env, dir);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return String(err);
    }
    return expect.unreachable('loadConfig accepted the environment');
  }

  it('reads RETRAIN_API_KEY_FILE, trimmed, relative to the working directory too', () => {
    fs.writeFileSync(keyFile, `  ${KEY}\n`);
    expect(loadConfig({ RETRAIN_API_KEY_FILE: keyFile }, dir).apiKey).toBe(KEY);
    expect(loadConfig({ RETRAIN_API_KEY_FILE: 'api-key.secret' }, dir).apiKey).toBe(KEY);
  });

  it('refuses a missing, unreadable or too short key file, naming the variable and the file but not the contents', () => {
    const missing = configError({ RETRAIN_API_KEY_FILE: path.join(dir, 'absent') });
    expect(missing).toContain('RETRAIN_API_KEY_FILE');
    expect(missing).toContain(path.join(dir, 'absent'));
    expect(missing).toContain('ENOENT');

    const folder = configError({ RETRAIN_API_KEY_FILE: dir });
    expect(folder).toContain('RETRAIN_API_KEY_FILE');
    expect(folder).toContain('EISDIR');

    fs.writeFileSync(keyFile, ' short-secret \n');
    const short = configError({ RETRAIN_API_KEY_FILE: keyFile });
    expect(short).toContain('RETRAIN_API_KEY_FILE');
    expect(short).toContain(keyFile);
    expect(short).toContain('at least 16');
    expect(short).not.toContain('short-secret');
  });

  it('refuses RETRAIN_API_KEY and RETRAIN_API_KEY_FILE together', () => {
    fs.writeFileSync(keyFile, KEY);
    const both = configError({ RETRAIN_API_KEY: 'env-key-0123456789abcdef', RETRAIN_API_KEY_FILE: keyFile });
    expect(both).toContain('RETRAIN_API_KEY or RETRAIN_API_KEY_FILE, not both');
    expect(both).not.toContain('env-key-0123456789abcdef');
    expect(both).not.toContain(KEY);
  });

  it('falls back to .data/api-key with a file:// store only: a fleet (s3:// store) never reads it', () => {
    expect(loadConfig({}, dir).apiKey).toBe('local-key-0123456789abcdef');
    expect(loadConfig({ RETRAIN_STORE: 'file:///srv/store' }, dir).apiKey).toBe('local-key-0123456789abcdef');
    const fleet = { RETRAIN_STORE: 's3://models/prod', S3_ENDPOINT: 'http://127.0.0.1:9000' };
    expect(loadConfig(fleet, dir).apiKey).toBeUndefined();
    fs.writeFileSync(keyFile, KEY);
    expect(loadConfig({ ...fleet, RETRAIN_API_KEY_FILE: keyFile }, dir).apiKey).toBe(KEY);
    expect(loadConfig({ ...fleet, RETRAIN_API_KEY: 'env-key-0123456789abcdef' }, dir).apiKey).toBe(
      'env-key-0123456789abcdef',
    );
  });

  it('keeps the key out of the logs when the configuration is logged', () => {
    fs.writeFileSync(keyFile, KEY);
    const config = loadConfig({ RETRAIN_API_KEY_FILE: keyFile }, dir);
    const lines: string[] = [];
    createLogger({ destination: { write: (line: string) => lines.push(line) } }).info({ config }, 'config');
    expect(lines.join('')).toContain('"apiKey":"[redacted]"');
    expect(lines.join('')).not.toContain(KEY);
  });
});
