import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/config';

describe("the retraining worker's environment", () => {
  it('REDIS_URL is the Redis the bridge reads when no RETRAIN_ variable names one', () => {
    expect(loadConfig({ REDIS_URL: 'redis://redis:6379/0' }, '/nowhere').bridge.redisUrl).toBe(
      'redis://redis:6379/0',
    );
    expect(
      loadConfig(
        { REDIS_URL: 'redis://redis:6379/0', RETRAIN_BRIDGE_REDIS_URL: 'redis://bridge:6379' },
        '/nowhere',
      ).bridge.redisUrl,
    ).toBe('redis://bridge:6379');
    expect(() => loadConfig({ REDIS_URL: 'http://redis' }, '/nowhere')).toThrow(/REDIS_URL/);
  });

  it.each([
    [{ LOG_LEVEL: 'INFO' }, 'info'],
    [{ LOG_LEVEL: 'DEBUG' }, 'debug'],
    [{ LOG_LEVEL: 'WARNING' }, 'warn'],
    [{ LOG_LEVEL: 'CRITICAL' }, 'fatal'],
    [{ RETRAIN_LOG_LEVEL: 'Error' }, 'error'],
    [{ RETRAIN_LOG_LEVEL: 'warn', LOG_LEVEL: 'DEBUG' }, 'warn'],
    [{}, 'info'],
  ])('log level from %j: %s', (env, level) => {
    expect(loadConfig(env, '/nowhere').logLevel).toBe(level);
  });

  it('a level that is none names LOG_LEVEL', () => {
    expect(() => loadConfig({ LOG_LEVEL: 'LOUD' }, '/nowhere')).toThrow(ConfigError);
    expect(() => loadConfig({ LOG_LEVEL: 'LOUD' }, '/nowhere')).toThrow(/LOG_LEVEL/);
  });

  it("the run counters' keys are set or turned off", () => {
    const redis = (env: NodeJS.ProcessEnv) =>
      loadConfig({ RETRAIN_EVENTS_REDIS_URL: 'redis://r:6379', ...env }, '/nowhere').events.redis;
    expect(redis({})?.counters).toBeUndefined();
    expect(
      redis({ RETRAIN_REDIS_STARTED_COUNTER: 'a', RETRAIN_REDIS_COMPLETED_COUNTER: '' })?.counters,
    ).toEqual({
      started: 'a',
      completed: '',
    });
  });
});
