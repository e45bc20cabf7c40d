import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
import type { MinioConnection } from './minio';

const VERSITYGW_BIN = path.join(TOOLS_BIN, 'versitygw');
const REGION = 'us-east-1';
const HEALTH_PATH = '/health';

/** A Versity S3 gateway owned by one test run; its connection has MinIO's shape, so `ensureBucket` works on it. */
export interface VersityGw extends MinioConnection {
  stop(): Promise<void>;
}

export interface VersityGwOptions {
  /**
   * Run the posix backend with `--nometa`: no entity tags stored, so `If-None-Match: *` never sees the
   * object and is ignored. A real server that lacks a conditional write, for the start-up check's tests.
   * @default false
   */
  noMeta?: boolean;
  /**
   * Keep user accounts in an IAM directory (`--iam-dir`), so the admin API can create users that reach
   * only what a bucket policy grants them.
   * @default false
   */
  iam?: boolean;
}

/**
 * Starts `.tools/bin/versitygw` with its posix backend on a fresh directory, a free port and random
 * credentials: a second S3 implementation for the blob-store contract suite, next to MinIO.
 */
export async function startVersityGw({
  noMeta = false,
  iam = false,
}: VersityGwOptions = {}): Promise<VersityGw> {
  if (!fs.existsSync(VERSITYGW_BIN))
    throw new Error(`${VERSITYGW_BIN} is missing: run \`npm run setup\` to build it`);
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'retrain-versitygw-'));
  const accessKeyId = randomBytes(10).toString('hex');
  const secretAccessKey = randomBytes(20).toString('hex');
  const endpoint = `http://127.0.0.1:${port}`;
  const backend = noMeta ? ['posix', '--nometa', dataDir] : ['posix', dataDir];
  const iamDir = iam ? fs.mkdtempSync(path.join(os.tmpdir(), 'retrain-versitygw-iam-')) : undefined;
  const log = `.data/test/versitygw${noMeta ? '-nometa' : ''}.log`;
  const pid = spawnDaemon(
    VERSITYGW_BIN,
    [
      '--port',
      `127.0.0.1:${port}`,
      '--region',
      REGION,
      '--health',
      HEALTH_PATH,
      '--quiet',
      ...(iamDir ? ['--iam-dir', iamDir] : []),
      ...backend,
    ],
    path.join(ROOT, log),
    // The gateway reads its root credentials from the environment, so they stay out of `ps`.
    { ...process.env, ROOT_ACCESS_KEY: accessKeyId, ROOT_SECRET_KEY: secretAccessKey },
  );
  const stop = async () => {
    await stopProcess(pid, 5000);
    fs.rmSync(dataDir, { recursive: true, force: true });
    if (iamDir) fs.rmSync(iamDir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      `Versity S3 gateway on ${endpoint} (log: ${log})`,
      async () => isAlive(pid) && (await httpOk(`${endpoint}${HEALTH_PATH}`)),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoint, region: REGION, accessKeyId, secretAccessKey, stop };
}
