import fs from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ROOT } from '../../scripts/lib/processes';
import { startDevServer, TEMPORAL_BIN } from '../../scripts/lib/temporal-server';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
  }
}

/** One in-memory Temporal dev server (the pinned binary) for the whole project: the workflows and e2e tiers. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!fs.existsSync(TEMPORAL_BIN)) throw new Error(`${TEMPORAL_BIN} is missing: run npm run setup`);
  const log = path.join(ROOT, '.data', 'test', `temporal-${project.name || 'tests'}.log`);
  const temporal = await startDevServer({ log });
  project.provide('temporalAddress', temporal.address);
  return () => temporal.stop();
}
