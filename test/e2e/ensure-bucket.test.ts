import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openCheckedBlobStore } from '../../storage/open-store';
import { removeBucket } from '../helpers/minio';
import { startVersityGw, type VersityGw } from '../helpers/versitygw';

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

describe('the s3-bucket job with S3_USERS=versitygw', () => {
  let gateway: VersityGw;
  let env: Record<string, string>;
  const secret = 'serving-secret-0123456789';

  beforeAll(async () => {
    gateway = await startVersityGw({ iam: true });
    env = {
      RETRAIN_STORE: 's3://retrain/registry',
      S3_ENDPOINT: gateway.endpoint,
      AWS_REGION: gateway.region,
      AWS_ACCESS_KEY_ID: gateway.accessKeyId,
      AWS_SECRET_ACCESS_KEY: gateway.secretAccessKey,
      S3_USERS: 'versitygw',
      S3_SERVING_ACCESS_KEY: 'retrain-serving',
      S3_SERVING_SECRET_KEY: secret,
      S3_BRIDGE_ACCESS_KEY: 'retrain-bridge',
      S3_BRIDGE_SECRET_KEY: 'bridge-secret-0123456789',
    };
  }, 60_000);
  afterAll(() => gateway?.stop());

  it('gives each role named its own user and the bucket its policy, the second time keeping them, never printing a secret', async () => {
    const first = bucketJob(env);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain('serving user retrain-serving: created');
    expect(first.stdout).toContain('bucket policy set for serving, bridge');
    const again = bucketJob(env);
    expect(again.stdout).toContain('serving user retrain-serving: kept');
    expect(`${first.stdout}${first.stderr}${again.stdout}${again.stderr}`).not.toContain(secret);
    const serving = await openCheckedBlobStore(env.RETRAIN_STORE!, {
      endpoint: gateway.endpoint,
      region: gateway.region,
      accessKeyId: 'retrain-serving',
      secretAccessKey: secret,
    });
    await serving.put('fleet/servers/srv-a.json', '{}');
    await expect(serving.put('models/m/spec.json', '{}')).rejects.toThrow(/AccessDenied|Access Denied/i);
  });

  it('names the variable when a role has an access key without a secret, or a bad one', () => {
    const missing = { ...env };
    delete missing.S3_BRIDGE_SECRET_KEY;
    const result = bucketJob(missing);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('S3_BRIDGE_SECRET_KEY is missing: set both or neither');
    const bad = bucketJob({ ...env, S3_SERVING_SECRET_KEY: 'short' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('S3_SERVING_SECRET_KEY must be 8 to 128');
    expect(bad.stderr).not.toContain('short');
  });
});
