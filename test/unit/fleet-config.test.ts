import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../config/config';

describe("an inference server's fleet settings", () => {
  it('announces its listen address, beats every 10 s and polls the aliases every 30 s by default', () => {
    expect(loadConfig({}, '/nowhere').fleet).toEqual({
      serverUrl: 'http://127.0.0.1:8000',
      heartbeatSeconds: 10,
      aliasPollSeconds: 30,
    });
    expect(loadConfig({ SERVING_HOST: '::1', SERVING_PORT: '8100' }, '/nowhere').fleet.serverUrl).toBe(
      'http://[::1]:8100',
    );
  });

  it('takes RETRAIN_SERVER_URL and the two intervals from the environment', () => {
    const env = {
      RETRAIN_SERVER_URL: 'https://localhost:8443',
      RETRAIN_SERVER_HEARTBEAT_SECONDS: '5',
      RETRAIN_ALIAS_POLL_SECONDS: '60',
    };
    expect(loadConfig(env, '/nowhere').fleet).toEqual({
      serverUrl: 'https://localhost:8443',
      heartbeatSeconds: 5,
      aliasPollSeconds: 60,
    });
  });

  it('refuses a bad value naming the variable', () => {
    expect(() => loadConfig({ RETRAIN_SERVER_URL: 'localhost:8000' }, '/nowhere')).toThrow(
      /RETRAIN_SERVER_URL/,
    );
    expect(() => loadConfig({ RETRAIN_SERVER_HEARTBEAT_SECONDS: '0' }, '/nowhere')).toThrow(
      /RETRAIN_SERVER_HEARTBEAT_SECONDS/,
    );
    expect(() => loadConfig({ RETRAIN_ALIAS_POLL_SECONDS: 'often' }, '/nowhere')).toThrow(
      /RETRAIN_ALIAS_POLL_SECONDS/,
    );
  });
});
