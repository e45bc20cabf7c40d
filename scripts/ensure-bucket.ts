import { loadConfig } from '../config/config';
import { ensureBucket } from '../storage/s3-bucket';

/**
 * Creates the bucket of `RETRAIN_STORE` (an `s3://` URI) on `S3_ENDPOINT` unless it exists: compose's
 * `s3-bucket` job, run once before the workers and servers start. A `file://` store needs none.
 */
async function run(): Promise<void> {
  const config = loadConfig();
  if (!config.store.startsWith('s3://')) {
    console.log(`${config.store}: a file store, no bucket to create`);
    return;
  }
  const outcome = await ensureBucket(config.store, config.s3);
  console.log(`${config.store} on ${config.s3.endpoint ?? `AWS ${config.s3.region}`}: bucket ${outcome}`);
}

run().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
