import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { announce } from '../../serving/announce';
import type { ModelSlot } from '../../serving/model-slot';
import { repeatEvery } from '../../serving/repeat';
import type { BlobStore } from '../../storage/blob-store';
import { FileBlobStore } from '../../storage/file-store';
import { ServerDirectory } from '../../storage/server-directory';
import { eventually } from '../helpers/eventually';

/** A pool stub that serves `cpu-load` v3. */
const POOL = { list: () => [{ model: 'cpu-load', version: 'v3' } as ModelSlot] };

/** A logger whose JSON lines land in `lines`. */
function capturingLogger(lines: { msg: string; id?: string }[]) {
  return pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
}

describe('a server announcing itself', () => {
  let dir: string;
  let store: FileBlobStore;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-announce-'));
    store = new FileBlobStore(dir);
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('writes its url and served versions at once, beats again, and withdraws on leaving', async () => {
    const directory = new ServerDirectory(store);
    const lines: { msg: string }[] = [];
    const announcement = announce({
      directory,
      id: 'steady',
      url: 'http://127.0.0.1:8000',
      everyMs: 20,
      pool: POOL,
      log: capturingLogger(lines),
    });
    await announcement.first;
    const [first] = await directory.list();
    expect(first).toMatchObject({
      id: 'steady',
      url: 'http://127.0.0.1:8000',
      heartbeatSeconds: 0.02,
      models: { 'cpu-load': 'v3' },
    });
    await eventually('a second heartbeat', async () => {
      const [now] = await directory.list();
      return now !== undefined && now.heartbeatAt !== first?.heartbeatAt;
    });
    await announcement.withdraw();
    expect(await directory.list()).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('logs a store that fails and announces again at the next beat, never throwing', async () => {
    let failures = 2;
    const flaky: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      put: (...args: Parameters<BlobStore['put']>) => {
        if (failures-- > 0) return Promise.reject(new Error('store unavailable'));
        return store.put(...args);
      },
    });
    const directory = new ServerDirectory(flaky);
    const lines: { msg: string; id?: string }[] = [];
    const announcement = announce({
      directory,
      id: 'flaky',
      url: 'http://127.0.0.1:8001',
      everyMs: 10,
      pool: POOL,
      log: capturingLogger(lines),
    });
    await expect(announcement.first).resolves.toBeUndefined();
    await eventually('the announcement once the store is back', async () =>
      (await directory.list()).some((server) => server.id === 'flaky'),
    );
    expect(lines.filter((line) => line.msg.startsWith('server announcement failed'))).toHaveLength(2);
    expect(lines[0]).toMatchObject({ id: 'flaky' });
    await announcement.withdraw();
  });
});

describe('repeatEvery', () => {
  it('never overlaps runs of a task slower than its interval, and stop waits for the one running', async () => {
    let running = 0;
    let most = 0;
    let runs = 0;
    const repeating = repeatEvery(
      async () => {
        running++;
        most = Math.max(most, running);
        await sleep(30);
        running--;
        runs++;
      },
      1,
      (err) => {
        throw err;
      },
    );
    await eventually('three runs', () => runs >= 3);
    await repeating.stop();
    const stoppedAt = runs;
    expect(running).toBe(0);
    await sleep(50);
    expect(runs).toBe(stoppedAt);
    expect(most).toBe(1);
  });

  it('hands a failed run to onError and runs again', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const repeating = repeatEvery(
      async () => {
        runs++;
        if (runs === 1) throw new Error('first run fails');
      },
      1,
      (err) => errors.push(err),
    );
    await eventually('a run after the failed one', () => runs >= 2);
    await repeating.stop();
    expect(errors).toEqual([new Error('first run fails')]);
  });
});
