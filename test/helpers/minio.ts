import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DeleteBucketCommand,
  DeleteObjectCommand,
  paginateListObjectsV2,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  freePort,
  httpOk,
  isAlive,
  ROOT,
  spawnDaemon,
  stopProcess,
  TOOLS_BIN,
  waitFor,
} from '../../scripts/lib/processes';
import { ensureBucket as ensureStoreBucket } from '../../storage/s3-bucket';
import { S3BlobStore } from '../../storage/s3-store';

const MINIO_BIN = path.join(TOOLS_BIN, 'minio');
/** MinIO ignores the region, but the SDK signs requests with one. */
const REGION = 'us-east-1';

/** How tests reach MinIO; also fits `openBlobStore`'s S3 settings. */
export interface MinioConnection {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** A MinIO owned by one test run; `stop()` ends it and deletes its data. */
export interface Minio extends MinioConnection {
  stop(): Promise<void>;
  /** Ends the server but keeps its data directory and port, for an outage that {@link restart} ends. */
  kill(): Promise<void>;
  /** Starts the server again on the same data directory, port and credentials; resolves once it answers. */
  restart(): Promise<void>;
  /**
   * Freezes the running server (SIGSTOP) and resolves once every one of its threads is stopped: it
   * still accepts TCP connections (the kernel does) but answers nothing, like a hung server.
   */
  freeze(): Promise<void>;
  /** Lets a frozen server run again (SIGCONT). */
  thaw(): void;
}

/**
 * Starts `.tools/bin/minio` on a free port with a fresh data directory and random root credentials,
 * so parallel test runs (and a running `npm run stack:up`) never share or stop each other's MinIO.
 */
export async function startMinio(): Promise<Minio> {
  if (!fs.existsSync(MINIO_BIN))
    throw new Error(`${MINIO_BIN} is missing: run \`npm run setup\` to build it`);
  const [port, consolePort] = [await freePort(), await freePort()];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'retrain-minio-'));
  // MinIO caps root user and password at 20 and 40 characters.
  const accessKeyId = randomBytes(10).toString('hex');
  const secretAccessKey = randomBytes(20).toString('hex');
  const endpoint = `http://127.0.0.1:${port}`;
  const log = path.join(ROOT, '.data', 'test', 'minio.log');
  const env = { ...process.env, MINIO_ROOT_USER: accessKeyId, MINIO_ROOT_PASSWORD: secretAccessKey };
  const args = [
    'server',
    dataDir,
    '--address',
    `127.0.0.1:${port}`,
    '--console-address',
    `127.0.0.1:${consolePort}`,
    '--quiet',
  ];
  let pid: number | undefined;
  const kill = async () => {
    if (pid !== undefined) await stopProcess(pid, 5000);
    pid = undefined;
  };
  const stop = async () => {
    await kill();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  const restart = async () => {
    if (pid !== undefined) throw new Error(`MinIO on ${endpoint} is running already (pid ${pid})`);
    const started = spawnDaemon(MINIO_BIN, args, log, env);
    pid = started;
    await waitFor(
      `MinIO on ${endpoint} (log: .data/test/minio.log)`,
      async () => isAlive(started) && (await httpOk(`${endpoint}/minio/health/live`)),
    );
  };
  try {
    await restart();
  } catch (err) {
    await stop();
    throw err;
  }
  const running = () => {
    if (pid === undefined) throw new Error(`MinIO on ${endpoint} is not running`);
    return pid;
  };
  const freeze = async () => {
    const target = running();
    process.kill(target, 'SIGSTOP');
    // kill() only queues the stop; on a busy VM a thread may run on a while before it takes effect.
    await waitFor(`MinIO pid ${target} to stop`, async () => allThreadsStopped(target), 10_000);
  };
  const thaw = () => process.kill(running(), 'SIGCONT');
  return { endpoint, region: REGION, accessKeyId, secretAccessKey, stop, kill, restart, freeze, thaw };
}

/** True when every thread of `pid` is in state T (stopped), read from /proc. */
function allThreadsStopped(pid: number): boolean {
  const tasks = fs.readdirSync(`/proc/${pid}/task`);
  return tasks.every((tid) => {
    const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // The state follows the command name, which is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
  });
}

/** An S3BlobStore in `bucket` of `connection`, under a fresh `test-<uuid>` prefix; `endpoint` to go through a proxy. */
export function s3StoreOn(
  connection: MinioConnection,
  bucket: string,
  endpoint = connection.endpoint,
): S3BlobStore {
  const { region, accessKeyId, secretAccessKey } = connection;
  return new S3BlobStore({
    bucket,
    prefix: `test-${randomUUID()}`,
    endpoint,
    region,
    accessKeyId,
    secretAccessKey,
  });
}

/** Creates `bucket` unless it exists already. */
export async function ensureBucket(minio: MinioConnection, bucket: string): Promise<void> {
  await ensureStoreBucket(`s3://${bucket}`, minio);
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
