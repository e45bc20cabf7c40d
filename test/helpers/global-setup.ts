import fs from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import {
  freePort,
  isAlive,
  portOpen,
  ROOT,
  spawnDaemon,
  stopProcess,
  waitFor,
} from '../../scripts/lib/processes';
import { TEMPORAL_BIN, temporalArgs } from '../../scripts/lib/temporal-server';
import { startMinio, type MinioConnection } from './minio';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    minio: MinioConnection;
  }
}

/** One in-memory Temporal dev server (the pinned binary) and one MinIO for the whole run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!fs.existsSync(TEMPORAL_BIN)) throw new Error(`${TEMPORAL_BIN} is missing: run npm run setup`);
  const port = await freePort();
  const pid = spawnDaemon(
    TEMPORAL_BIN,
    temporalArgs({ port }),
    path.join(ROOT, '.data', 'test', 'temporal.log'),
  );
  await waitFor('Temporal dev server', async () => isAlive(pid) && (await portOpen(port)));
  const minio = await startMinio();
  project.provide('temporalAddress', `127.0.0.1:${port}`);
  project.provide('minio', {
    endpoint: minio.endpoint,
    region: minio.region,
    accessKeyId: minio.accessKeyId,
    secretAccessKey: minio.secretAccessKey,
  });
  return async () => {
    await stopProcess(pid, 5000);
    await minio.stop();
  };
}
