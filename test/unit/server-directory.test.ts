import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FileBlobStore } from '../../storage/file-store';
import {
  SERVER_DIRECTORY_PREFIX,
  ServerDirectory,
  type ServerAnnouncement,
} from '../../storage/server-directory';

const NOW = new Date('2026-12-07T12:00:00.000Z');

/** An announcement of `id` that last beat `ageSeconds` before {@link NOW}, every `heartbeatSeconds`. */
function announcement(id: string, ageSeconds: number, heartbeatSeconds = 10): ServerAnnouncement {
  return {
    id,
    url: `http://127.0.0.1:${8000 + id.length}`,
    startedAt: '2026-12-07T11:00:00.000Z',
    heartbeatAt: new Date(NOW.getTime() - ageSeconds * 1000).toISOString(),
    heartbeatSeconds,
    models: { 'cpu-load': 'v3' },
  };
}

describe('server directory in the blob store', () => {
  let dir: string;
  let directory: ServerDirectory;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-directory-'));
    directory = new ServerDirectory(new FileBlobStore(dir));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('keeps one object per server under fleet/servers/, rewritten by each heartbeat', async () => {
    await directory.announce(announcement('one', 5));
    await directory.announce({ ...announcement('one', 0), models: { 'cpu-load': 'v4' } });
    expect(await directory.store.list(SERVER_DIRECTORY_PREFIX)).toEqual(['fleet/servers/one.json']);
    expect(await directory.list()).toEqual([{ ...announcement('one', 0), models: { 'cpu-load': 'v4' } }]);
    await directory.withdraw('one');
    expect(await directory.list()).toEqual([]);
  });

  it('counts a server alive while its last heartbeat is within three of its own intervals', async () => {
    await directory.announce(announcement('fresh', 29));
    await directory.announce(announcement('edge', 30));
    await directory.announce(announcement('stale', 31));
    await directory.announce(announcement('slow-beat', 100, 60));
    const alive = (await directory.aliveServers(NOW)).map((server) => server.id).sort();
    expect(alive).toEqual(['edge', 'fresh', 'slow-beat']);
    for (const id of ['fresh', 'edge', 'stale', 'slow-beat']) await directory.withdraw(id);
  });

  it('leaves out an announcement that is not one, without hiding the others', async () => {
    await directory.announce(announcement('good', 1));
    await directory.store.put(`${SERVER_DIRECTORY_PREFIX}broken.json`, '{"id": "broken"');
    await directory.store.put(`${SERVER_DIRECTORY_PREFIX}wrong.json`, '{"id": "wrong", "url": "ftp://x"}');
    expect((await directory.aliveServers(NOW)).map((server) => server.id)).toEqual(['good']);
  });

  it('refuses an id that is not a plain name, so no announcement lands outside the directory', async () => {
    await expect(directory.announce(announcement('../models', 1))).rejects.toThrow();
    expect(() => directory.keyOf('a/b')).toThrow();
  });

  it('withdrawing a server that never announced is not an error', async () => {
    await expect(directory.withdraw('never-was')).resolves.toBeUndefined();
  });
});
