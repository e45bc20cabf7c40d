import { createHash, randomUUID } from 'node:crypto';
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

import type { BlobStore, PutOptions, StoredBlob } from './blob-store';
import {
  assertValidKey,
  assertValidPrefix,
  guardIo,
  PreconditionFailedError,
  RESERVED_NAME_PREFIX,
} from './errors';
import { withFileLock } from './file-lock';

/**
 * Blob store on a local directory (`file://`), the embedded default. Safe for several processes on one
 * host: writes are atomic renames, creates are atomic links and every replace or delete holds a per-key lock.
 * Durable once `put` or `delete` returns: the data is fsynced before it is published, and the folder that
 * publishes it (and every folder created for it) after, so a power loss cannot take back a key a
 * caller was told exists (a registered version, a moved alias) nor bring back a deleted one.
 */
export class FileBlobStore implements BlobStore {
  /** Absolute directory that holds the objects. */
  readonly root: string;
  readonly uri: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.uri = `file://${this.root}`;
  }

  uriFor(key: string): string {
    return `file://${this.pathOf(key)}`;
  }

  async get(key: string): Promise<StoredBlob | undefined> {
    return guardIo('read', this.uriFor(key), async () => {
      const body = await readIfPresent(this.pathOf(key));
      return body && { body, etag: etagOf(body) };
    });
  }

  /** Failures other than a false condition throw {@link BlobIoError} naming the key; the key is left as it was. */
  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<{ etag: string }> {
    return guardIo('write', this.uriFor(key), () => this.write(key, body, options));
  }

  private async write(
    key: string,
    body: Uint8Array | string,
    options: PutOptions,
  ): Promise<{ etag: string }> {
    const file = this.pathOf(key);
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    await makeFolder(path.dirname(file));
    if (options.ifNoneMatch === '*') {
      await viaTempFile(file, bytes, async (tmp) => {
        await fs.link(tmp, file).catch((err: unknown) => {
          throw hasCode(err, 'EEXIST') ? new PreconditionFailedError(key) : err;
        });
        await syncFolder(path.dirname(file));
      });
    } else {
      // The temp file is written under the lock: a writer killed while it waits (for as long as
      // another holds the key) leaves nothing behind.
      await withLock(file, async () => {
        if (options.ifMatch !== undefined) {
          const current = await readIfPresent(file);
          if (!current || etagOf(current) !== options.ifMatch) throw new PreconditionFailedError(key);
        }
        await viaTempFile(file, bytes, async (tmp) => {
          await fs.rename(tmp, file);
          await syncFolder(path.dirname(file));
        });
      });
    }
    return { etag: etagOf(bytes) };
  }

  async list(prefix: string): Promise<string[]> {
    assertValidPrefix(prefix);
    const deepestFolder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const names = prefix.slice(deepestFolder.length);
    const keys = await guardIo('list', `${this.uri}/${prefix}`, () =>
      listFiles(this.root, deepestFolder, names),
    );
    return keys.sort();
  }

  /** One directory read, plus a look into each folder found for a key (a delete leaves empty directories). */
  async listPrefixes(prefix: string): Promise<string[]> {
    assertValidPrefix(prefix);
    const deepestFolder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const folders = await guardIo('list', `${this.uri}/${prefix}`, async () => {
      const entries = await readFolder(path.join(this.root, deepestFolder));
      const found = await Promise.all(
        entries
          .filter((entry) => entry.isDirectory() && !entry.name.startsWith(RESERVED_NAME_PREFIX))
          .map((entry) => `${deepestFolder}${entry.name}/`)
          .filter((folder) => folder.startsWith(prefix))
          .map(async (folder) => ((await holdsKey(path.join(this.root, folder))) ? [folder] : [])),
      );
      return found.flat();
    });
    return folders.sort();
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    await guardIo('delete', this.uriFor(key), async () => {
      try {
        await withLock(file, async () => {
          await fs.unlink(file);
          await syncFolder(path.dirname(file));
        });
      } catch (err) {
        if (!isAbsent(err)) throw err;
      }
    });
  }

  private pathOf(key: string): string {
    assertValidKey(key);
    return path.join(this.root, key);
  }
}

/** Content hash, so `get` and `put` agree on the tag without storing it anywhere. */
function etagOf(bytes: Uint8Array): string {
  return `"${createHash('sha256').update(bytes).digest('hex')}"`;
}

async function readIfPresent(file: string): Promise<Uint8Array | undefined> {
  try {
    const buffer = await fs.readFile(file);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (err) {
    if (isAbsent(err)) return undefined;
    throw err;
  }
}

/** Writes `bytes` durably to a temp file beside `file`, runs `publish` on it, then removes what is left of it. */
async function viaTempFile(
  file: string,
  bytes: Uint8Array,
  publish: (tmp: string) => Promise<void>,
): Promise<void> {
  const tmp = path.join(path.dirname(file), `${RESERVED_NAME_PREFIX}tmp-${randomUUID()}`);
  try {
    await writeDurably(tmp, bytes);
    await publish(tmp);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** fsync before the rename, so a crash never leaves a published key with partial content. */
async function writeDurably(file: string, bytes: Uint8Array): Promise<void> {
  const handle = await fs.open(file, 'wx');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Creates `dir` and its missing parents, each entry fsynced in its parent: a new folder's name is
 * only durable once the folder that holds it is.
 */
async function makeFolder(dir: string): Promise<void> {
  const first = await fs.mkdir(dir, { recursive: true });
  if (first === undefined) return;
  for (let created = dir; ; created = path.dirname(created)) {
    await syncFolder(path.dirname(created));
    if (created === first || created === path.dirname(created)) return;
  }
}

/** fsync of a directory: makes the names just linked, renamed or unlinked in it survive a crash. */
async function syncFolder(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Per-key lock beside the key; a writer that died holding it is taken over once its heartbeat is stale. */
async function withLock<T>(file: string, critical: () => Promise<T>): Promise<T> {
  const lock = path.join(path.dirname(file), `${RESERVED_NAME_PREFIX}lock-${path.basename(file)}`);
  return withFileLock(lock, critical);
}

/** A directory's entries; none when it does not exist. */
async function readFolder(dir: string): Promise<Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isAbsent(err)) return [];
    throw err;
  }
}

/** Whether a key lies anywhere below `dir`; stops at the first one found. */
async function holdsKey(dir: string): Promise<boolean> {
  const entries = (await readFolder(dir)).filter((entry) => !entry.name.startsWith(RESERVED_NAME_PREFIX));
  if (entries.some((entry) => !entry.isDirectory())) return true;
  for (const entry of entries) if (await holdsKey(path.join(dir, entry.name))) return true;
  return false;
}

/** The keys below `folder` whose name there starts with `names`; only matching subfolders are walked. */
async function listFiles(root: string, folder: string, names = ''): Promise<string[]> {
  const entries = await readFolder(path.join(root, folder));
  const nested = await Promise.all(
    entries
      .filter((entry) => entry.name.startsWith(names) && !entry.name.startsWith(RESERVED_NAME_PREFIX))
      .map((entry) =>
        entry.isDirectory() ? listFiles(root, `${folder}${entry.name}/`) : [`${folder}${entry.name}`],
      ),
  );
  return nested.flat();
}

/** The key has no object: missing, below a file, or a folder of other keys. */
function isAbsent(err: unknown): boolean {
  return hasCode(err, 'ENOENT') || hasCode(err, 'ENOTDIR') || hasCode(err, 'EISDIR');
}

function hasCode(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
