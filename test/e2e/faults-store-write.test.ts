import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';

import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { selectBackend } from '../../ml/backend';
import { createServer, type InferenceServer } from '../../serving/server';
import { BlobIoError } from '../../storage/errors';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { S3BlobStore } from '../../storage/s3-store';
import {
  cpuLoadSpec,
  metadataFor,
  predictedVersion,
  publishVersion,
  saveModel,
  smallModel,
} from '../helpers/models';

const API_KEY = 'store-write-key-0123456789';
const SPEC = cpuLoadSpec('write-fails');
const CANDIDATE = `checkpoints/${SPEC.name}/wf-2/final`;
/** `nobody`: root ignores permission bits, so as root the failing write runs under this effective uid. */
const UNPRIVILEGED_UID = 65534;

/**
 * Runs `write` so that permission bits apply: as is when not root, else with the effective uid of
 * `nobody` (seteuid; the real uid stays root, so it is switched back afterwards).
 */
async function withoutRoot<T>(write: () => Promise<T>): Promise<T> {
  if (process.getuid?.() !== 0) return write();
  process.seteuid!(UNPRIVILEGED_UID);
  try {
    return await write();
  } finally {
    process.seteuid!(0);
  }
}

/** Everything under `dir`, relative, so a test can show that a failed write left nothing behind. */
async function tree(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { recursive: true })).map(String).sort();
}

describe('a store write that fails', () => {
  let dir: string;
  let registry: ModelRegistry;
  let server: InferenceServer;
  let url: string;

  const register = () =>
    registry.registerVersion(SPEC.name, 'wf-2', CANDIDATE, (v) =>
      metadataFor(SPEC, v, { workflowId: 'wf-2' }),
    );

  const servedVersion = () => predictedVersion(url, SPEC, 'web-1');

  beforeAll(async () => {
    await selectBackend('cpu');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-write-fails-'));
    // Readable by the unprivileged writer; each test takes write permission away where it needs to.
    await fs.chmod(dir, 0o755);
    registry = new ModelRegistry(new FileBlobStore(dir));
    await registry.saveSpec(SPEC);
    await publishVersion(registry, SPEC, 'v1', { seed: 1 });
    await registry.setAlias(SPEC.name, 'v1', null);
    await saveModel(registry, CANDIDATE, smallModel(SPEC, 2));
    server = createServer({ registry, apiKey: API_KEY });
    await server.loadProductionModels();
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
    expect(await servedVersion()).toBe('v1');
  });

  afterAll(async () => {
    await server?.app.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('on a file store whose versions folder is read-only: fails naming the key, no partial version, alias and served model unchanged', async () => {
    const versions = path.join(dir, 'models', SPEC.name, 'versions');
    const before = await tree(versions);
    await fs.chmod(versions, 0o555);
    try {
      const failed = await withoutRoot(() =>
        register().then(
          () => undefined,
          (err: unknown) => err,
        ),
      );
      expect(failed).toBeInstanceOf(BlobIoError);
      const key = `models/${SPEC.name}/versions/v2/claim.json`;
      expect((failed as BlobIoError).message).toMatch(
        new RegExp(`^could not write file://${dir}/${key}: EACCES: permission denied`),
      );
      expect((failed as BlobIoError).uri).toBe(`file://${path.join(dir, key)}`);
    } finally {
      await fs.chmod(versions, 0o755);
    }
    // Not a file more: no v2 folder, claim or temp file.
    expect(await tree(versions)).toEqual(before);
    expect(await registry.listVersions(SPEC.name)).toEqual(['v1']);
    expect((await registry.getAlias(SPEC.name))?.value).toMatchObject({ version: 'v1', previous: null });
    expect(await servedVersion()).toBe('v1');
  });

  it('on a file store whose aliases folder is read-only: the alias keeps its content and no temp file stays beside it', async () => {
    const aliases = path.join(dir, 'models', SPEC.name, 'aliases');
    const aliasBefore = await fs.readFile(path.join(aliases, 'production.json'), 'utf8');
    const version = await register();
    expect(version).toBe('v2');
    await fs.chmod(aliases, 0o555);
    try {
      await expect(withoutRoot(() => registry.setAlias(SPEC.name, version, 'wf-2'))).rejects.toThrow(
        `could not write file://${aliases}/production.json: EACCES`,
      );
    } finally {
      await fs.chmod(aliases, 0o755);
    }
    expect(await fs.readdir(aliases)).toEqual(['production.json']);
    expect(await fs.readFile(path.join(aliases, 'production.json'), 'utf8')).toBe(aliasBefore);
    expect(await servedVersion()).toBe('v1');
    // The retry a run would make completes the same version and moves the alias.
    expect(await register()).toBe('v2');
    expect(await registry.setAlias(SPEC.name, 'v2', 'wf-2')).toBe('v1');
    expect(await registry.listVersions(SPEC.name)).toEqual(['v1', 'v2']);
  });

  it('on S3 with the bucket missing: fails naming the bucket and key, and creates nothing', async () => {
    const minio = inject('minio');
    const bucket = `test-missing-${randomUUID().slice(0, 8)}`;
    const s3 = new S3BlobStore({ ...minio, bucket, prefix: 'registry' });
    const missing = new ModelRegistry(s3);
    const specUri = `s3://${bucket}/registry/models/${SPEC.name}/spec.json`;
    await expect(missing.saveSpec(SPEC)).rejects.toThrow(
      `could not write ${specUri}: The specified bucket does not exist (NoSuchBucket)`,
    );
    // A conditional write first probes the server; its failure still names the caller's key, not the probe's.
    await expect(missing.saveSpec(SPEC, { ifNoneMatch: '*' })).rejects.toThrow(
      `could not write ${specUri}: The specified bucket does not exist (NoSuchBucket)`,
    );
    await expect(missing.listVersions(SPEC.name)).rejects.toThrow(
      `could not list s3://${bucket}/registry/models/${SPEC.name}/versions/: The specified bucket does not exist`,
    );
    const client = new S3Client({
      endpoint: minio.endpoint,
      region: minio.region,
      forcePathStyle: true,
      credentials: { accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey },
    });
    try {
      await expect(client.send(new HeadBucketCommand({ Bucket: bucket }))).rejects.toMatchObject({
        name: 'NotFound',
      });
    } finally {
      client.destroy();
    }
  });
});
