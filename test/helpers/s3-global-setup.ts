import type { TestProject } from 'vitest/node';
import { startMinio, type MinioConnection } from './minio';
import { startVersityGw } from './versitygw';

declare module 'vitest' {
  export interface ProvidedContext {
    minio: MinioConnection;
    /** Versity's S3 gateway (posix backend): the blob-store contract suite's second S3 implementation. */
    versitygw: MinioConnection;
  }
}

/** One MinIO and one Versity S3 gateway for the whole project: the e2e tier. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const minio = await startMinio();
  const versitygw = await startVersityGw().catch(async (err: unknown) => {
    await minio.stop();
    throw err;
  });
  project.provide('minio', connectionOf(minio));
  project.provide('versitygw', connectionOf(versitygw));
  return async () => {
    await minio.stop();
    await versitygw.stop();
  };
}

/** Only what tests need to connect: provided values must be serialisable, so no `stop`. */
function connectionOf({ endpoint, region, accessKeyId, secretAccessKey }: MinioConnection): MinioConnection {
  return { endpoint, region, accessKeyId, secretAccessKey };
}
