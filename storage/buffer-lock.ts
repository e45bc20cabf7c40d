import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The lock file inside a model's buffer directory; not matched by the `day=*` glob. */
export const LOCK_FILE = '.lock';
/** How long a writer waits for another one before giving up. */
const WAIT_LIMIT_MS = 10 * 60_000;

/** A writer that died between creating the lock file and writing its owner leaves it empty. */
const EMPTY_LOCK_STALE_MS = 10_000;

const inProcess = new Map<string, Promise<unknown>>();

/**
 * Runs `critical` while holding the write lock of one model's buffer directory, so the
 * "skip rows already in the buffer" check and the write that follows are one step, also when the
 * CLI and the inference server ingest into the same model at once. In-process callers queue on a
 * promise; other processes on a lock file holding `pid@host`. A lock whose process is gone
 * (same host, pid not alive) is broken, so a crashed writer never blocks the buffer for good.
 */
export async function withBufferLock<T>(dir: string, critical: () => Promise<T>): Promise<T> {
  const previous = inProcess.get(dir) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => withLockFile(dir, critical));
  const tail = run.catch(() => undefined);
  inProcess.set(dir, tail);
  try {
    return await run;
  } finally {
    if (inProcess.get(dir) === tail) inProcess.delete(dir);
  }
}

async function withLockFile<T>(dir: string, critical: () => Promise<T>): Promise<T> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const owner = `${process.pid}@${os.hostname()}`;
  const started = Date.now();
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    try {
      await fs.writeFile(file, owner, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await fs.readFile(file, 'utf8').catch(() => '');
    if (isDead(holder) || (holder === '' && (await ageMs(file)) > EMPTY_LOCK_STALE_MS)) {
      await fs.rm(file, { force: true });
      continue;
    }
    if (Date.now() - started > WAIT_LIMIT_MS) {
      throw new Error(`The buffer ${dir} is locked by ${holder || 'another writer'} (${file})`);
    }
    await sleep(delay);
  }
  try {
    return await critical();
  } finally {
    await fs.rm(file, { force: true });
  }
}

function isDead(holder: string): boolean {
  const [pid, host] = holder.split('@');
  if (host !== os.hostname() || !pid || !/^\d+$/.test(pid)) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function ageMs(file: string): Promise<number> {
  const stat = await fs.stat(file).catch(() => undefined);
  return stat ? Date.now() - stat.mtimeMs : 0;
}
