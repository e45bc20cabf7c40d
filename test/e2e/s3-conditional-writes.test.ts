import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { PutBucketPolicyCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { openCheckedBlobStore } from '../../storage/open-store';
import { ConditionalWritesUnsupportedError } from '../../storage/s3-store';
import { ensureBucket, removeBucket, s3StoreOn } from '../helpers/minio';
import { startVersityGw, type VersityGw } from '../helpers/versitygw';

const NEEDS = 'the registry needs conditional writes (AWS S3, MinIO, Versity S3 gateway)';

describe.each(['minio', 'versitygw'] as const)('the conditional-write check on %s', (server) => {
  const bucket = `test-${randomUUID()}`;
  const connection = inject(server);

  beforeAll(() => ensureBucket(connection, bucket), 30_000);
  afterAll(() => removeBucket(connection, bucket), 30_000);

  it('passes and deletes its probe, so conditional writes go ahead', async () => {
    const store = s3StoreOn(connection, bucket);
    await store.verifyConditionalWrites();
    expect(await store.list('')).toEqual([]);

    await store.put('versions/1/claim.json', 'mine', { ifNoneMatch: '*' });
    expect(await store.list('')).toEqual(['versions/1/claim.json']);
  });
});

describe("the conditional-write check on Versity's gateway without metadata (posix --nometa)", () => {
  const bucket = `test-${randomUUID()}`;
  let gateway: VersityGw;

  beforeAll(async () => {
    gateway = await startVersityGw({ noMeta: true });
    await ensureBucket(gateway, bucket);
  }, 60_000);
  afterAll(() => gateway.stop(), 30_000);

  it('refuses the first conditional write, naming the endpoint and If-None-Match, and writes nothing', async () => {
    const store = s3StoreOn(gateway, bucket);
    const error = await store
      .put('versions/1/claim.json', 'mine', { ifNoneMatch: '*' })
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(ConditionalWritesUnsupportedError);
    expect((error as Error).message).toBe(
      `S3 at ${gateway.endpoint}: PutObject ignores If-None-Match: *; ${NEEDS}`,
    );
    expect(await store.list('')).toEqual([]);
    // Unconditional writes do not depend on the server's conditions, so they still work.
    await store.put('datasets/m/manifest.json', '{}');
    expect(await store.list('')).toEqual(['datasets/m/manifest.json']);
  });

  it('stops the start-up of a worker or server that opens it (openCheckedBlobStore)', async () => {
    const { endpoint, region, accessKeyId, secretAccessKey } = gateway;
    const opening = openCheckedBlobStore(`s3://${bucket}/startup-${randomUUID()}`, {
      endpoint,
      region,
      accessKeyId,
      secretAccessKey,
    });
    await expect(opening).rejects.toBeInstanceOf(ConditionalWritesUnsupportedError);
    await expect(opening).rejects.toThrow(`S3 at ${endpoint}: PutObject ignores If-None-Match: *; ${NEEDS}`);
  });
});

/**
 * A proxy in front of MinIO that removes the named request headers. The headers are signed, so the proxy
 * also drops the signature and the bucket lets anonymous callers in: MinIO with its conditions removed.
 */
async function startStrippingProxy(
  target: string,
  strip: string[],
): Promise<{ endpoint: string; close(): Promise<void> }> {
  const upstream = new URL(target);
  const dropped = new Set([...strip, 'authorization']);
  const proxy = http.createServer((req, res) => {
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(([name]) => !dropped.has(name.toLowerCase())),
    );
    const forward = http.request(
      { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', (err) => res.destroy(err));
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => proxy.close(() => resolve())),
  };
}

describe('the conditional-write check behind a proxy that strips conditional headers from MinIO', () => {
  const bucket = `test-${randomUUID()}`;
  const minio = inject('minio');

  beforeAll(async () => {
    await ensureBucket(minio, bucket);
    const client = new S3Client({
      endpoint: minio.endpoint,
      region: minio.region,
      forcePathStyle: true,
      credentials: { accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey },
    });
    const anyone = { Effect: 'Allow', Principal: { AWS: ['*'] } };
    const policy = {
      Version: '2012-10-17',
      Statement: [
        { ...anyone, Action: ['s3:ListBucket'], Resource: [`arn:aws:s3:::${bucket}`] },
        {
          ...anyone,
          Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
          Resource: [`arn:aws:s3:::${bucket}/*`],
        },
      ],
    };
    try {
      await client.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
    } finally {
      client.destroy();
    }
  }, 30_000);
  afterAll(() => removeBucket(minio, bucket), 30_000);

  it('passes through the proxy when it strips nothing but the signature', async () => {
    const proxy = await startStrippingProxy(minio.endpoint, []);
    try {
      await expect(
        s3StoreOn(minio, bucket, proxy.endpoint).verifyConditionalWrites(),
      ).resolves.toBeUndefined();
    } finally {
      await proxy.close();
    }
  });

  it.each([
    { strip: ['if-match'], ignored: 'If-Match' },
    { strip: ['if-none-match', 'if-match'], ignored: 'If-None-Match: * and If-Match' },
  ])('names what is missing when the proxy strips $strip', async ({ strip, ignored }) => {
    const proxy = await startStrippingProxy(minio.endpoint, strip);
    try {
      const store = s3StoreOn(minio, bucket, proxy.endpoint);
      await store.put('aliases/production.json', 'v1');
      const error = await store.verifyConditionalWrites().catch((err: unknown) => err);

      expect(error).toBeInstanceOf(ConditionalWritesUnsupportedError);
      expect((error as Error).message).toBe(
        `S3 at ${proxy.endpoint}: PutObject ignores ${ignored}; ${NEEDS}`,
      );
      expect(await store.list('')).toEqual(['aliases/production.json']);
    } finally {
      await proxy.close();
    }
  });
});
