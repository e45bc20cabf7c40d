import fs from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ROOT } from '../../scripts/lib/processes';
import { startDevServer, TEMPORAL_BIN } from '../../scripts/lib/temporal-server';
import { startMinio, type MinioConnection } from './minio';
import { startVersityGw } from './versitygw';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    minio: MinioConnection;
    /** Versity's S3 gateway (posix backend): the blob-store contract suite's second S3 implementation. */
    versitygw: MinioConnection;
  }
}

/** One in-memory Temporal dev server (the pinned binary), one MinIO and one Versity S3 gateway for the whole run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!fs.existsSync(TEMPORAL_BIN)) throw new Error(`${TEMPORAL_BIN} is missing: run npm run setup`);
  const temporal = await startDevServer({ log: path.join(ROOT, '.data', 'test', 'temporal.log') });
  const minio = await startMinio();
  const versitygw = await startVersityGw();
  project.provide('temporalAddress', temporal.address);
  project.provide('minio', connectionOf(minio));
  project.provide('versitygw', connectionOf(versitygw));
  return async () => {
    await temporal.stop();
    await minio.stop();
    await versitygw.stop();
  };
}

/** Only what tests need to connect: provided values must be serialisable, so no `stop`. */
function connectionOf({ endpoint, region, accessKeyId, secretAccessKey }: MinioConnection): MinioConnection {
  return { endpoint, region, accessKeyId, secretAccessKey };
}
