import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { LOCK_FILE, withBufferLock } from '../../storage/buffer-lock';
import { acquireFileLock, LockTimeoutError } from '../../storage/file-lock';
import { eventually } from '../helpers/eventually';

const MODULE = path.resolve(__dirname, '..', '..', 'storage', 'file-lock.ts');

let dir: string;
let lockPath: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), `retrain-lock-${randomUUID()}-`));
  lockPath = path.join(dir, 'x.lock');
});

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await fs.rm(dir, { recursive: true, force: true });
});

/** Leaves the lock as a holder that stopped heartbeating `ageMs` ago leaves it; its pid@host is this live process. */
async function leaveLock(ageMs: number): Promise<void> {
  await fs.mkdir(lockPath);
  const token = path.join(lockPath, randomUUID());
  await fs.writeFile(token, `${process.pid}@${os.hostname()}`);
  const at = new Date(Date.now() - ageMs);
  await fs.utimes(token, at, at);
}

/** Another process that takes the lock and holds it, heartbeating, until it is killed. */
async function holdInChild(staleMs: number): Promise<ChildProcess> {
  const code = `require(${JSON.stringify(MODULE)}).acquireFileLock(process.argv[1], { staleMs: Number(process.argv[2]) })
    .then(() => { process.stdout.write('held\\n'); setInterval(() => {}, 1000); });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', code, lockPath, String(staleMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await eventually('the child to hold the lock', () => out.includes('held'), 30_000, 20);
  return child;
}

describe('file lock', () => {
  it('takes over a lock whose holder is gone after the stale timeout, though its pid is alive', async () => {
    await leaveLock(0);
    const started = Date.now();
    const lock = await acquireFileLock(lockPath, { staleMs: 1_000 });
    const waited = Date.now() - started;
    await lock.release();
    // Not before its heartbeat is stale (a lower bound: a busy machine only makes it longer).
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(lock.compromised).toBe(false);
  });

  it('never takes over a live holder that heartbeats, and takes over once it is SIGKILLed', async () => {
    const staleMs = 400;
    const child = await holdInChild(staleMs);
    await expect(acquireFileLock(lockPath, { staleMs, waitLimitMs: 6 * staleMs })).rejects.toThrow(
      LockTimeoutError,
    );

    child.kill('SIGKILL');
    await once(child, 'exit');
    // The wait limit only turns a takeover that never comes into a LockTimeoutError naming the holder.
    const lock = await acquireFileLock(lockPath, { staleMs, waitLimitMs: 60_000 });
    expect(lock.compromised).toBe(false);
    await lock.release();
  });

  it('keeps an in-process holder that outlives the stale timeout', async () => {
    const staleMs = 200;
    const holder = await acquireFileLock(lockPath, { staleMs });
    await expect(acquireFileLock(lockPath, { staleMs, waitLimitMs: 8 * staleMs })).rejects.toThrow(
      LockTimeoutError,
    );
    expect(holder.compromised).toBe(false);
    await holder.release();
    expect(holder.compromised).toBe(false);
    await expect(fs.access(lockPath)).rejects.toThrow();
  });

  it('lets exactly one of many waiters that find one stale lock hold it at a time', async () => {
    // `inside` can only be created by one holder at a time; a second one inside would get EEXIST.
    const inside = path.join(dir, 'inside');
    const intervals: [number, number][] = [];
    for (let round = 0; round < 10; round++) {
      await leaveLock(60_000);
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          // Staggered, so some waiters act on what they saw while another one is already claiming.
          await sleep(Math.random() * 4);
          const lock = await acquireFileLock(lockPath, { staleMs: 30_000, waitLimitMs: 20_000 });
          const enter = performance.now();
          await fs.writeFile(inside, 'x', { flag: 'wx' });
          await sleep(5);
          await fs.unlink(inside);
          intervals.push([enter, performance.now()]);
          await lock.release();
          expect(lock.compromised).toBe(false);
        }),
      );
    }
    expect(intervals).toHaveLength(80);
    intervals.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < intervals.length; i++) {
      expect(intervals[i]![0]).toBeGreaterThanOrEqual(intervals[i - 1]![1]);
    }
  });
});

describe('buffer lock', () => {
  it('takes over a lock file left by a writer of the previous version whose pid is alive again', async () => {
    // A container restarted under the same hostname: node is the same pid, but that writer is gone.
    const lock = path.join(dir, LOCK_FILE);
    await fs.writeFile(lock, `${process.pid}@${os.hostname()}`);
    const longAgo = new Date(Date.now() - 60_000);
    await fs.utimes(lock, longAgo, longAgo);
    expect(await withBufferLock(dir, () => Promise.resolve('written'))).toBe('written');
    await expect(fs.access(lock)).rejects.toThrow();
  });

  it('runs the writers of one process one at a time', async () => {
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        withBufferLock(dir, async () => {
          most = Math.max(most, ++inside);
          await sleep(5);
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
  });
});
