import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  paginateListObjectsV2,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { z } from 'zod';

const REPO = path.resolve(__dirname, '../..');
const MINIO_BIN = path.join(REPO, '.tools/bin/minio');
const MINIO_DIR = path.join(REPO, '.data/minio');
const CREDENTIALS_FILE = path.join(MINIO_DIR, 'credentials.json');
const ENDPOINT = 'http://127.0.0.1:9000';
/** MinIO ignores the region, but the SDK signs requests with one. */
const REGION = 'us-east-1';
const START_TIMEOUT_MS = 60_000;

const CredentialsSchema = z.object({ accessKeyId: z.string().min(3), secretAccessKey: z.string().min(8) });

/** How tests reach MinIO; also fits `openBlobStore`'s S3 settings. */
export interface MinioConnection {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** A MinIO for tests; `stop()` ends it only when this call started it. */
export interface Minio extends MinioConnection {
  stop(): Promise<void>;
}

/**
 * Reuses the MinIO answering on 127.0.0.1:9000 (e.g. from `npm run stack:up`) or starts `.tools/bin/minio`
 * with the root credentials kept in `.data/minio/credentials.json`, creating them on first use.
 */
export async function startMinio(): Promise<Minio> {
  if (await isLive()) {
    const reused = await readCredentials();
    return { ...reused, endpoint: ENDPOINT, region: REGION, stop: async () => {} };
  }
  await fs.access(MINIO_BIN).catch(() => {
    throw new Error(`${MINIO_BIN} is missing: run \`npm run setup\` to build it`);
  });
  const credentials = await loadOrCreateCredentials();
  const child = spawnMinio(credentials);
  await waitUntilLive(child);
  return { ...credentials, endpoint: ENDPOINT, region: REGION, stop: () => stopProcess(child) };
}

/** Creates `bucket` unless it exists already. */
export async function ensureBucket(minio: MinioConnection, bucket: string): Promise<void> {
  const client = clientFor(minio);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if (!(err instanceof S3ServiceException && err.name === 'BucketAlreadyOwnedByYou')) throw err;
  } finally {
    client.destroy();
  }
}

/** Deletes every object in `bucket`, then the bucket: the clean-up for a per-run test bucket. */
export async function removeBucket(minio: MinioConnection, bucket: string): Promise<void> {
  const client = clientFor(minio);
  try {
    for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket })) {
      for (const { Key } of page.Contents ?? [])
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
    }
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}

function clientFor({ endpoint, region, accessKeyId, secretAccessKey }: MinioConnection): S3Client {
  return new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
}

async function isLive(): Promise<boolean> {
  try {
    const res = await fetch(`${ENDPOINT}/minio/health/live`, { signal: AbortSignal.timeout(1_000) });
    return res.ok;
  } catch {
    return false;
  }
}

async function readCredentials(): Promise<z.infer<typeof CredentialsSchema>> {
  const text = await fs.readFile(CREDENTIALS_FILE, 'utf8').catch((err: unknown) => {
    throw new Error(`cannot read MinIO credentials from ${CREDENTIALS_FILE}`, { cause: err });
  });
  return CredentialsSchema.parse(JSON.parse(text));
}

/** The link publishes the file whole and atomically, so test workers starting together agree on one pair of keys. */
async function loadOrCreateCredentials(): Promise<z.infer<typeof CredentialsSchema>> {
  await fs.mkdir(MINIO_DIR, { recursive: true });
  const tmp = `${CREDENTIALS_FILE}.${randomUUID()}.tmp`;
  // MinIO caps root user and password at 20 and 40 characters.
  const fresh = {
    accessKeyId: randomBytes(10).toString('hex'),
    secretAccessKey: randomBytes(20).toString('hex'),
  };
  await fs.writeFile(tmp, JSON.stringify(fresh), { mode: 0o600, flag: 'wx' });
  try {
    await fs.link(tmp, CREDENTIALS_FILE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await fs.rm(tmp, { force: true });
  }
  return readCredentials();
}

function spawnMinio({ accessKeyId, secretAccessKey }: z.infer<typeof CredentialsSchema>): ChildProcess {
  const log = openSync(path.join(MINIO_DIR, 'minio.log'), 'a');
  try {
    const args = [
      'server',
      path.join(MINIO_DIR, 'data'),
      '--address',
      '127.0.0.1:9000',
      '--console-address',
      '127.0.0.1:9001',
    ];
    return spawn(MINIO_BIN, args, {
      env: { ...process.env, MINIO_ROOT_USER: accessKeyId, MINIO_ROOT_PASSWORD: secretAccessKey },
      stdio: ['ignore', log, log],
    });
  } finally {
    closeSync(log);
  }
}

/** Also succeeds when our child lost the port to a MinIO that another test worker started at the same moment. */
async function waitUntilLive(child: ChildProcess): Promise<void> {
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (await isLive()) return;
    if (spawnError) throw new Error(`cannot start ${MINIO_BIN}`, { cause: spawnError });
    if (child.exitCode !== null)
      throw new Error(`MinIO exited with code ${child.exitCode}; see ${MINIO_DIR}/minio.log`);
    await sleep(250);
  }
  await stopProcess(child);
  throw new Error(
    `MinIO did not answer on ${ENDPOINT} within ${START_TIMEOUT_MS / 1000}s; see ${MINIO_DIR}/minio.log`,
  );
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const escalate = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(escalate);
}
