import { defineConfig } from 'vitest/config';

const TEMPORAL = 'test/helpers/global-setup.ts';
const S3 = 'test/helpers/s3-global-setup.ts';

/**
 * Three tiers (docs/testing.md), one vitest project each: `vitest run --project unit` and so on;
 * `vitest run` runs them all, each project with only the servers it needs.
 */
export default defineConfig({
  test: {
    globals: false,
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: training and Temporal workers compete for them.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          setupFiles: ['test/helpers/in-process-guard.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'workflows',
          include: ['test/workflows/**/*.test.ts', 'test/replay/**/*.test.ts'],
          globalSetup: [TEMPORAL],
        },
      },
      {
        extends: true,
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], globalSetup: [TEMPORAL, S3] },
      },
    ],
  },
});
