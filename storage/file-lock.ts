import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Options of {@link withFileLock} and {@link acquireFileLock}. */
export interface FileLockOptions {
  /**
   * A lock whose holder has not heartbeaten for this long is abandoned and taken over. Hosts that
   * share the directory need clocks closer than this. @default 30000
   */
  staleMs?: number;
  /** Give up with {@link LockTimeoutError} after waiting this long. @default Infinity */
  waitLimitMs?: number;
}

/** Thrown when a lock stayed held by a live (heartbeating) holder for longer than `waitLimitMs`. */
export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';

  constructor(
    readonly lockPath: string,
    readonly holder: string,
  ) {
    super(`${lockPath} is held by ${holder || 'another writer'}`);
  }
}

/** Thrown after the critical section when the lock was taken over while it ran (its heartbeat stalled past `staleMs`). */
export class LockCompromisedError extends Error {
  override readonly name = 'LockCompromisedError';

  constructor(readonly lockPath: string) {
    super(`${lockPath} was taken over by another writer while held; the work done under it may have raced`);
  }
}

/** A held lock; {@link release} it exactly once. */
export interface FileLock {
  /** True once a heartbeat found the lock taken over. */
  readonly compromised: boolean;
  release(): Promise<void>;
}

const DEFAULT_STALE_MS = 30_000;
const CLAIM_INFIX = '.claim-';

const inProcess = new Map<string, Promise<unknown>>();

/**
 * Runs `critical` while holding the lock at `lockPath`, across processes, containers and hosts that
 * share the directory. Callers in one process queue on a promise; others see the lock directory.
 * The holder heartbeats; a holder that died (crash, SIGKILL, container restart) is taken over once
 * its heartbeat is `staleMs` old, whatever pid or hostname it had.
 */
export async function withFileLock<T>(
  lockPath: string,
  critical: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const previous = inProcess.get(lockPath) ?? Promise.resolve();
  const run = previous
    .catch(() => undefined)
    .then(async () => {
      const lock = await acquireFileLock(lockPath, options);
      let result: T;
      try {
        result = await critical();
      } finally {
        await lock.release();
      }
      if (lock.compromised) throw new LockCompromisedError(lockPath);
      return result;
    });
  const tail = run.catch(() => undefined);
  inProcess.set(lockPath, tail);
  try {
    return await run;
  } finally {
    if (inProcess.get(lockPath) === tail) inProcess.delete(lockPath);
  }
}

/**
 * Takes the lock at `lockPath` without the in-process queue. The lock is a directory holding one
 * token file named by a fresh UUID, whose mtime is the heartbeat. It is claimed by renaming a
 * prepared directory onto the lock path, which fails while the lock holds a token; an abandoned
 * token is unlinked by its name, so a waiter that acts on an old observation can only remove that
 * token, never the next holder's, and of many waiters exactly one claim succeeds.
 */
export async function acquireFileLock(lockPath: string, options: FileLockOptions = {}): Promise<FileLock> {
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const waitLimitMs = options.waitLimitMs ?? Infinity;
  const token = randomUUID();
  const started = Date.now();
  await fs.mkdir(path.dirname(lockPath), { recursive: true });
  for (let delay = 2; ; delay = Math.min(delay * 2, 100)) {
    if (await tryClaim(lockPath, token)) return startHeartbeat(lockPath, token, staleMs);
    const holder = await breakIfStale(lockPath, staleMs);
    if (holder === undefined) continue;
    if (Date.now() - started > waitLimitMs) throw new LockTimeoutError(lockPath, holder);
    await sleep(delay * (0.5 + Math.random()));
  }
}

async function tryClaim(lockPath: string, token: string): Promise<boolean> {
  const claim = `${lockPath}${CLAIM_INFIX}${token}`;
  await fs.mkdir(claim);
  try {
    await fs.writeFile(path.join(claim, token), `${process.pid}@${os.hostname()}`);
    // Replaces a missing or empty lock directory atomically; fails while it holds a token.
    await fs.rename(claim, lockPath);
    return true;
  } catch (err) {
    if (hasCode(err, 'ENOTEMPTY') || hasCode(err, 'EEXIST') || hasCode(err, 'ENOTDIR')) return false;
    throw err;
  } finally {
    await fs.rm(claim, { recursive: true, force: true });
  }
}

/**
 * Looks at the lock that refused a claim: removes its token when the heartbeat is older than
 * `staleMs` and answers undefined (try again now), else answers who holds it.
 */
async function breakIfStale(lockPath: string, staleMs: number): Promise<string | undefined> {
  let tokens: string[];
  try {
    tokens = await fs.readdir(lockPath);
  } catch (err) {
    if (hasCode(err, 'ENOENT')) return undefined;
    // A lock file of the previous format (`pid@host`); it has no heartbeat, so its mtime is its age.
    if (hasCode(err, 'ENOTDIR')) return breakStaleFile(lockPath, lockPath, staleMs);
    throw err;
  }
  for (const token of tokens) {
    const holder = await breakStaleFile(lockPath, path.join(lockPath, token), staleMs);
    if (holder !== undefined) return holder;
  }
  return undefined;
}

async function breakStaleFile(lockPath: string, file: string, staleMs: number): Promise<string | undefined> {
  const stat = await fs.stat(file).catch((err: unknown) => {
    if (hasCode(err, 'ENOENT')) return undefined;
    throw err;
  });
  if (!stat) return undefined;
  if (Date.now() - stat.mtimeMs > staleMs) {
    // unlink, not rm: on the lock path it fails on a directory, so it never removes a new-format lock.
    await fs.unlink(file).catch((err: unknown) => {
      if (!hasCode(err, 'ENOENT') && !hasCode(err, 'EISDIR') && !hasCode(err, 'EPERM')) throw err;
    });
    return undefined;
  }
  const holder = await fs.readFile(file, 'utf8').catch(() => '');
  return holder || `an unnamed writer (${lockPath})`;
}

function startHeartbeat(lockPath: string, token: string, staleMs: number): FileLock {
  const file = path.join(lockPath, token);
  let compromised = false;
  let beating: Promise<void> = Promise.resolve();
  const timer = setInterval(
    () => {
      beating = beating.then(async () => {
        const now = new Date();
        await fs.utimes(file, now, now).catch((err: unknown) => {
          if (hasCode(err, 'ENOENT')) compromised = true;
        });
      });
    },
    Math.max(10, Math.floor(staleMs / 4)),
  );
  timer.unref();
  let released = false;
  return {
    get compromised() {
      return compromised;
    },
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      await beating;
      // Both steps only ever touch our own token, or an empty directory that nobody holds.
      await fs.unlink(file).catch((err: unknown) => {
        if (hasCode(err, 'ENOENT')) compromised = true;
        else throw err;
      });
      await fs.rmdir(lockPath).catch(() => undefined);
    },
  };
}

function hasCode(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
