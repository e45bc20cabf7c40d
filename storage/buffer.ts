import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { ModelNameSchema } from '../common/model-spec';
import type { BlobStore } from './blob-store';
import { withBufferLock } from './buffer-lock';
import { withDuckDb } from './duckdb';
import {
  fileList,
  markNewRows,
  marksTable,
  queryDays,
  stageMarked,
  type AppendOptions,
  type AppendResult,
  type BufferKey,
  type BufferStats,
  type PartFile,
} from './buffer-parts';
import { StoreBuffer, type Compaction } from './store-buffer';

// What callers of the buffer name; the steps shared with the store's buffer stay in ./buffer-parts.
export { INTERNAL_PREFIX, type BufferKey, type BufferStats, type PartFile } from './buffer-parts';

/** Writers stage part files here, inside the model dir so the final rename stays on one file system. */
const STAGING_PREFIX = '.staging-';
/** Expired days are renamed here before they are deleted, so readers never see half a day vanish. */
const EXPIRED_PREFIX = '.expired-';
/**
 * A write's commit record, `.commit-<uuid>.json`: the part files it is renaming into its days. It
 * exists from before the first rename until after the last (the commit point is its removal), so a
 * writer killed in between leaves it behind: readers skip the files it names, and the next writer
 * removes them (the whole write undone).
 */
const COMMIT_PREFIX = '.commit-';
const COMMIT_SUFFIX = '.json';
/** Store mode: where the local copies of the store's parts are kept, inside `dir`. */
const STORE_CACHE = '.store-cache';
const DAY_DIR = /^day=(\d{4}-\d{2}-\d{2})$/;

/**
 * The data buffer: per model, a directory of daily Parquet part files
 * (`<dir>/<model>/day=YYYY-MM-DD/part-<uuid>.parquet`). Days grow by new part files and are never
 * rewritten; every write is staged beside them and renamed into place, and a failed write leaves
 * the buffer as it was. Writers of one model (in this process and others) take turns on a lock.
 */
export class DataBuffer {
  /** Store mode: the parts live in the store and `dir` is a cache. */
  private readonly parts: StoreBuffer | undefined;

  /**
   * The buffer under `dir`, or, with `store` (`RETRAIN_BUFFER_IN_STORE`), the one in the blob store
   * that every host shares ({@link StoreBuffer}), with `dir` holding only local copies of its parts.
   */
  constructor(
    readonly dir: string,
    store?: BlobStore,
  ) {
    this.parts = store && new StoreBuffer(store, path.join(dir, STORE_CACHE));
  }

  /**
   * The buffer a process's settings name (`RETRAIN_BUFFER_DIR`, `RETRAIN_BUFFER_IN_STORE`): in
   * `store` when `bufferInStore`, else under `bufferDir`.
   */
  static of(settings: { bufferDir: string; bufferInStore: boolean }, store: BlobStore): DataBuffer {
    return new DataBuffer(settings.bufferDir, settings.bufferInStore ? store : undefined);
  }

  /** Whether the parts live in the shared store (else on this host's disk). */
  get inStore(): boolean {
    return this.parts !== undefined;
  }

  /** The store-mode buffer, for moving a local buffer into it (`retrain buffer import`). */
  get storeParts(): StoreBuffer | undefined {
    return this.parts;
  }

  modelDir(model: string): string {
    return path.join(this.dir, ModelNameSchema.parse(model));
  }

  /**
   * Merges the model's days that hold several parts into one part each (see
   * {@link StoreBuffer.compact}); undefined for a local buffer, which keeps its parts.
   */
  async compact(model: string): Promise<Compaction | undefined> {
    return this.parts?.compact(model);
  }

  /** The models with a directory in a local buffer (none in store mode: see `retrain import-buffer`). */
  async localModels(): Promise<string[]> {
    if (this.parts) return [];
    const entries = await fs.readdir(this.dir, { withFileTypes: true }).catch(() => []);
    return entries
      .filter((e) => e.isDirectory() && ModelNameSchema.safeParse(e.name).success)
      .map((e) => e.name)
      .sort();
  }

  /**
   * DuckDB's `read_parquet` over the model's committed part files, or undefined when it has none.
   * A list rather than a `day=*` glob: the files of a writer killed mid-flush stay out (see partFiles).
   */
  async parquetSource(model: string): Promise<string | undefined> {
    const parts = await this.partFiles(model);
    return parts.length ? `read_parquet(${fileList(parts)}, hive_partitioning = false)` : undefined;
  }

  async hasData(model: string): Promise<boolean> {
    return (await this.partFiles(model)).length > 0;
  }

  /** Part files of a model, oldest day first; only those of `days` when given. */
  async partFiles(model: string, days?: readonly string[]): Promise<PartFile[]> {
    if (this.parts) return this.parts.partFiles(model, days);
    const dir = this.modelDir(model);
    const wanted = days && new Set(days);
    const entries = (await readdirIfPresent(dir)).sort();
    const uncommitted = new Set((await uncommittedWrites(dir, entries)).flatMap((w) => w.files));
    const found: PartFile[] = [];
    for (const entry of entries) {
      const day = DAY_DIR.exec(entry)?.[1];
      if (!day || (wanted && !wanted.has(day))) continue;
      for (const file of (await readdirIfPresent(path.join(dir, entry))).sort()) {
        const relative = `${entry}/${file}`;
        if (file.endsWith('.parquet') && !uncommitted.has(relative))
          found.push({ day, path: path.join(dir, entry, file) });
      }
    }
    return found;
  }

  /** Record, file, day and byte counts of a model's buffer (record counts come from Parquet footers). */
  async stats(model: string): Promise<BufferStats> {
    if (this.parts) return this.parts.stats(model);
    const parts = await this.partFiles(model);
    if (parts.length === 0) return { records: 0, files: 0, days: 0, firstDay: null, lastDay: null, bytes: 0 };
    const sizes = await Promise.all(parts.map(async (p) => (await fs.stat(p.path)).size));
    const records = await withDuckDb(async (conn) => {
      const reader = await conn.runAndReadAll(
        `SELECT coalesce(sum(num_rows), 0)::BIGINT AS n FROM parquet_file_metadata(${fileList(parts)})`,
      );
      return Number(reader.getRowObjectsJson()[0]?.n ?? 0);
    });
    const days = [...new Set(parts.map((p) => p.day))];
    return {
      records,
      files: parts.length,
      days: days.length,
      firstDay: days[0] ?? null,
      lastDay: days.at(-1) ?? null,
      bytes: sizes.reduce((a, b) => a + b, 0),
    };
  }

  /**
   * Appends the rows of a SQL query whose (time, entity) the buffer does not hold yet, as new part
   * files, one directory per UTC day of `timeColumn`; of several rows with one key in the query the
   * first by `orderBy` wins. Returns once the files are renamed into place and synced. The time
   * column must be a TIMESTAMP; every other column of the query except `__retrain_*` is written.
   */
  async appendQuery(
    conn: DuckDBConnection,
    model: string,
    query: string,
    key: BufferKey,
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    if (this.parts) return this.parts.appendQuery(conn, model, query, key, options);
    const dir = this.modelDir(model);
    const marks = marksTable(options);
    try {
      return await withBufferLock(dir, async () => {
        await removeLeftovers(dir);
        const days = await queryDays(conn, query, key);
        const result = await markNewRows(conn, query, key, await this.partFiles(model, days), marks, options);
        if (result.inserted > 0) await this.writeMarked(conn, dir, marks);
        return result;
      });
    } finally {
      if (!options.marks) await conn.run(`DROP TABLE IF EXISTS ${marks}`);
    }
  }

  /**
   * Deletes the days of a model older than `keepDays`, counted back from the newest day in its
   * buffer (not the wall clock): the newest day and the `keepDays - 1` days before it stay. Returns
   * the days deleted, oldest first.
   */
  async applyRetention(model: string, keepDays: number): Promise<string[]> {
    if (this.parts) return this.parts.applyRetention(model, keepDays);
    const dir = this.modelDir(model);
    if ((await readdirIfPresent(dir)).length === 0) return [];
    return withBufferLock(dir, async () => {
      // Day directories are renamed into place whole, so their names alone say which days exist.
      const days = (await readdirIfPresent(dir)).flatMap((entry) => DAY_DIR.exec(entry)?.[1] ?? []).sort();
      const newest = days.at(-1);
      if (!newest) return [];
      const cutoff = new Date(Date.parse(`${newest}T00:00:00Z`) - (keepDays - 1) * 86_400_000)
        .toISOString()
        .slice(0, 10);
      const expired = days.filter((day) => day < cutoff);
      for (const day of expired) {
        const trash = path.join(dir, `${EXPIRED_PREFIX}${randomUUID()}`);
        await fs.rename(path.join(dir, `day=${day}`), trash);
        await fs.rm(trash, { recursive: true, force: true });
      }
      return expired;
    });
  }

  /**
   * COPY into a staging dir, then rename each file into its day under a commit record (see
   * {@link COMMIT_PREFIX}); any failure undoes the renames, and so does the next writer after a crash.
   */
  private async writeMarked(conn: DuckDBConnection, dir: string, marks: string): Promise<void> {
    const id = randomUUID();
    const staging = path.join(dir, `${STAGING_PREFIX}${id}`);
    const commit = path.join(dir, `${COMMIT_PREFIX}${id}${COMMIT_SUFFIX}`);
    const moved: string[] = [];
    const createdDirs: string[] = [];
    try {
      const staged = (await stageMarked(conn, marks, staging)).map(({ day, from, name }) => ({
        from,
        dayDir: path.join(dir, `day=${day}`),
        name,
      }));
      for (const { from } of staged) await syncPath(from);
      const files = staged.map(({ dayDir, name }) => `${path.basename(dayDir)}/${name}`);
      await writeCommitRecord(commit, files);
      for (const { from, dayDir, name } of staged) {
        if (await mkdirIfAbsent(dayDir)) createdDirs.push(dayDir);
        const to = path.join(dayDir, name);
        await fs.rename(from, to);
        moved.push(to);
      }
      for (const dayDir of new Set(staged.map((s) => s.dayDir))) await syncPath(dayDir);
      await fs.rm(commit);
      await syncPath(dir);
    } catch (err) {
      for (const file of moved) await fs.rm(file, { force: true });
      for (const dayDir of createdDirs) await fs.rmdir(dayDir).catch(() => undefined);
      await fs.rm(commit, { force: true });
      throw err;
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
  }
}

/**
 * What writers that crashed left: their uncommitted part files (named by commit records), staging and
 * expired dirs. Only called while holding the model's lock, so no live writer owns any of it.
 */
async function removeLeftovers(dir: string): Promise<void> {
  const entries = await readdirIfPresent(dir);
  for (const { record, files } of await uncommittedWrites(dir, entries)) {
    for (const file of files) await fs.rm(path.join(dir, file), { force: true });
    for (const dayDir of new Set(files.map((f) => path.join(dir, path.dirname(f)))))
      await fs.rmdir(dayDir).catch(() => undefined);
    await fs.rm(record, { force: true });
  }
  for (const entry of entries) {
    const halfWrittenRecord = entry.startsWith(COMMIT_PREFIX) && !entry.endsWith(COMMIT_SUFFIX);
    if (entry.startsWith(STAGING_PREFIX) || entry.startsWith(EXPIRED_PREFIX) || halfWrittenRecord) {
      await fs.rm(path.join(dir, entry), { recursive: true, force: true });
    }
  }
  await syncPath(dir).catch(() => undefined);
}

/** Writes the record atomically (temp file, fsync, rename, fsync of the dir), so it is whole or absent. */
async function writeCommitRecord(record: string, files: string[]): Promise<void> {
  const tmp = `${record}.tmp`;
  const handle = await fs.open(tmp, 'wx');
  try {
    await handle.writeFile(JSON.stringify({ files }));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmp, record);
  await syncPath(path.dirname(record));
}

/** The commit records in a model dir (`entries`: its listing) and the part files (`day=.../name`) each names. */
async function uncommittedWrites(
  dir: string,
  entries: string[],
): Promise<{ record: string; files: string[] }[]> {
  const records = entries.filter((e) => e.startsWith(COMMIT_PREFIX) && e.endsWith(COMMIT_SUFFIX));
  const found: { record: string; files: string[] }[] = [];
  for (const entry of records) {
    const record = path.join(dir, entry);
    try {
      const { files } = JSON.parse(await fs.readFile(record, 'utf8')) as { files: string[] };
      found.push({ record, files: files.filter((f) => DAY_DIR.test(path.dirname(f))) });
    } catch (err) {
      // Its writer just committed (removed it) between the listing and this read.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return found;
}

async function readdirIfPresent(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw err;
  }
}

/** True when this call created the directory, so a rollback knows what to remove. */
async function mkdirIfAbsent(dir: string): Promise<boolean> {
  try {
    await fs.mkdir(dir);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** fsync a file or directory: a part file counts as written only once it and its name are on disk. */
async function syncPath(target: string): Promise<void> {
  const handle = await fs.open(target, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
