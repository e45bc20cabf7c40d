import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/config';
import { cliWith } from '../helpers/run-cli';

describe('retrain bridge redis options', () => {
  // No Redis is reached: each case stops at its options.
  const retrain = cliWith(loadConfig({}, '/nowhere'));

  it.each([
    [
      ['--from', 'yesterday'],
      '--from must be $ (new jobs), 0 (the backlog) or a stream entry id, not yesterday',
    ],
    [
      ['--from-start', '--from', '1700000000000-0'],
      '--from-start reads from 0; it cannot go with --from 1700000000000-0',
    ],
  ])('%j exits 2 naming the option', async (options, reason) => {
    const result = await retrain('bridge', 'redis', '--redis', 'redis://127.0.0.1:1', ...options);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(reason);
  });

  it('without a Redis it names every variable it reads, REDIS_URL too', async () => {
    const result = await retrain('bridge', 'redis');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('set RETRAIN_BRIDGE_REDIS_URL (or REDIS_URL)');
  });
});
