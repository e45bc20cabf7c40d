import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../workers/config';

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
  it('parses RETRAIN_SERVING_URLS as a comma list', () => {
    expect(loadConfig({ RETRAIN_SERVING_URLS: 'http://a:1, http://b:2' }, '/nowhere').servingUrls).toEqual([
      'http://a:1',
      'http://b:2',
    ]);
  });
  it.each([
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
