import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileBlobStore } from '../../storage/file-store';

/**
 * The store's calls that publish or remove a name (link, rename, unlink, mkdir) and the directory
 * fsyncs, in order, with paths relative to `root` ('.' for root itself); temp and lock files are
 * left out.
 */
function recordCalls(root: string): string[] {
  const calls: string[] = [];
  const rel = (p: unknown) => path.relative(root, String(p)) || '.';
  const own = (p: unknown) =>
    !String(p)
      .split(path.sep)
      .some((name) => name.startsWith('.retrain-'));
  const { link, rename, unlink, open, mkdir } = { ...fs };
  vi.spyOn(fs, 'link').mockImplementation(async (from, to) => {
    await link(from, to);
    calls.push(`link ${rel(to)}`);
  });
  vi.spyOn(fs, 'rename').mockImplementation(async (from, to) => {
    await rename(from, to);
    if (own(to)) calls.push(`rename ${rel(to)}`);
  });
  vi.spyOn(fs, 'unlink').mockImplementation(async (file) => {
    await unlink(file);
    if (own(file)) calls.push(`unlink ${rel(file)}`);
  });
  vi.spyOn(fs, 'mkdir').mockImplementation((async (dir: string, options?: { recursive?: boolean }) => {
    const made = await mkdir(dir, options);
    if (own(dir) && made !== undefined) calls.push(`mkdir ${rel(dir)}`);
    return made;
  }) as typeof fs.mkdir);
  vi.spyOn(fs, 'open').mockImplementation(async (file, flags, mode) => {
    const handle = await open(file, flags, mode);
    if (!(await handle.stat()).isDirectory()) return handle;
    const sync = handle.sync.bind(handle);
    handle.sync = async () => {
      await sync();
      calls.push(`fsync ${rel(file)}/`);
    };
    return handle;
  });
  return calls;
}

describe('the file store makes what it publishes durable', () => {
  let dir: string;
  let store: FileBlobStore;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-fsync-'));
    store = new FileBlobStore(dir);
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => fs.rm(dir, { recursive: true, force: true }));

  it('fsyncs each new folder in its parent and the key folder after a create-only link', async () => {
    const calls = recordCalls(dir);
    await store.put('a/b/created.json', '{}', { ifNoneMatch: '*' });
    expect(calls).toEqual(['mkdir a/b', 'fsync a/', 'fsync ./', 'link a/b/created.json', 'fsync a/b/']);
  });

  it('fsyncs the key folder after the rename of a plain write and of a compare-and-swap', async () => {
    const { etag } = await store.put('a/b/swapped.json', 'one');
    const calls = recordCalls(dir);
    await store.put('a/b/swapped.json', 'two', { ifMatch: etag });
    await store.put('a/b/plain.json', 'three');
    expect(calls).toEqual(['rename a/b/swapped.json', 'fsync a/b/', 'rename a/b/plain.json', 'fsync a/b/']);
  });

  it('fsyncs the key folder after a delete', async () => {
    await store.put('a/gone.json', 'x');
    const calls = recordCalls(dir);
    await store.delete('a/gone.json');
    expect(calls).toEqual(['unlink a/gone.json', 'fsync a/']);
  });
});
