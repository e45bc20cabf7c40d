import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { openCheckedBlobStore } from '../../storage/open-store';
import { removeBucket } from '../helpers/minio';

const ROOT = path.resolve(__dirname, '..', '..');

/** compose's `s3-bucket` job, as its container runs it: scripts/ensure-bucket.ts with the workers' environment. */
function bucketJob(env: Record<string, string>) {
  const result = spawnSync(process.execPath, ['--require', 'tsx/cjs', 'scripts/ensure-bucket.ts'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  return result;
}

describe("the s3-bucket job on Versity's S3 gateway (compose's default S3 server)", () => {
  const gateway = inject('versitygw');
  const bucket = `retrain-${randomUUID().slice(0, 8)}`;
  const env = {
    RETRAIN_STORE: `s3://${bucket}/registry`,
    S3_ENDPOINT: gateway.endpoint,
    AWS_REGION: gateway.region,
    AWS_ACCESS_KEY_ID: gateway.accessKeyId,
    AWS_SECRET_ACCESS_KEY: gateway.secretAccessKey,
  };
  afterAll(() => removeBucket(gateway, bucket), 30_000);

  it('creates the store bucket on a fresh server, finds it there the second time, and the store then opens', async () => {
    const first = bucketJob(env);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain(`s3://${bucket}/registry on ${gateway.endpoint}: bucket created`);
    const again = bucketJob(env);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('bucket exists');

    const store = await openCheckedBlobStore(env.RETRAIN_STORE, {
      endpoint: gateway.endpoint,
      region: gateway.region,
      accessKeyId: gateway.accessKeyId,
      secretAccessKey: gateway.secretAccessKey,
    });
    await store.put('probe.txt', 'ok');
    expect(new TextDecoder().decode((await store.get('probe.txt'))?.body)).toBe('ok');
  });

  it('fails naming the bad bucket name', () => {
    const result = bucketJob({ ...env, RETRAIN_STORE: 's3://No_Such/registry' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('"No_Such" is not an S3 bucket name');
  });
});
