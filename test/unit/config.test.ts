import { describe, expect, it } from 'vitest';
import { eventSinksOf } from '../../workers/activity-deps';
import { ConfigError, loadConfig } from '../../config/config';

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
    expect(loadConfig({}, '/nowhere').events).toEqual({});
    const both = loadConfig(
      {
        RETRAIN_EVENTS_WEBHOOK_URL: 'https://hooks.example/retrain',
        RETRAIN_EVENTS_WEBHOOK_SECRET: 'a-secret-of-16-chars',
        RETRAIN_EVENTS_REDIS_URL: 'redis://:pw@redis:6379/0',
        RETRAIN_REDIS_STREAMS: '{"retrain.run.rejected": "learning.retraining.rejected"}',
      },
      '/nowhere',
    );
    expect(eventSinksOf(both).map((s) => s.name)).toEqual(['webhook', 'redis']);
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
    for (const sink of eventSinksOf(both)) void sink.close();
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
