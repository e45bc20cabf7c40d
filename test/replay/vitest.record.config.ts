import path from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * Records the workflow histories that test/replay/replay.test.ts replays:
 * `npm run record-histories`. Run it after a deliberate change
 * to the workflow's commands (and bump nothing else); commit the new files in histories/.
 */
export default defineConfig({
  root: path.resolve(__dirname, '..', '..'),
  test: {
    globals: false,
    pool: 'forks',
    include: ['test/replay/record-histories.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
