import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { BlobStore } from './blob-store';
import { sqlString, withDuckDb } from './duckdb';
import { PreconditionFailedError } from './errors';
import { getJson, putJson } from './open-store';

/** Where the prediction log's parts live in the store: `predictions/model=<m>/day=<UTC day>/`. */
const ROOT = 'predictions/';
const MANIFEST = 'compacted.json';
const PART = /^part-[^/]+\.parquet$/;
const DAY_PREFIX = /day=(\d{4}-\d{2}-\d{2})\/$/;
const DAY_MS = 86_400_000;
/** Snapshots retried when a compaction moved the day's files while they were read. */
const SNAPSHOT_TRIES = 5;

/** A day's compaction: the file that holds the merged parts, and the parts' names, which readers then skip. */
const ManifestSchema = z.object({
  file: z.string().regex(/^compact-[^/]+\.parquet$/),
  parts: z.array(z.string()),
});
type Manifest = z.infer<typeof ManifestSchema>;

/** A file of a snapshot that a compaction removed before it was read: the snapshot is taken again. */
class MovedError extends Error {}

/**
 * The prediction log's Parquet parts in the blob store, shared by every server that answers and
 * every process that reads live figures. A server's turn uploads one part per (model, day) named
 * after its journal (`part-<journal>.parquet`, so a turn repeated after a crash replaces it). Readers
 * copy parts into `cacheDir` once (parts never change) and query the copies. A day that has ended is
 * compacted by the next reader into one `compact-<id>.parquet`, recorded in the day's
 * `compacted.json` with the names of the parts it holds; the manifest moves by compare-and-swap, so
 * of two readers compacting at once one wins and the other drops its file, and a reader counts a
 * part either in the compacted file or on its own, never both. A part that lands after its day was
 * compacted (a dead server's journal turned later) is read on its own and merged at the next read.
 */
export class PredictionParts {
  constructor(
    private readonly store: BlobStore,
    private readonly cacheDir: string,
  ) {}

  /**
   * Uploads what a turn staged, `staging/model=<m>/day=<d>/<file>.parquet`, to the same names in
   * the store (also a log directory of a release that kept its Parquet files there).
   */
  async upload(staging: string): Promise<void> {
    const models = (await fs.readdir(staging).catch(() => [] as string[])).filter((n) =>
      n.startsWith('model='),
    );
    for (const model of models)
      for (const day of await fs.readdir(path.join(staging, model)))
        for (const file of await fs.readdir(path.join(staging, model, day)))
          await this.store.put(
            `${ROOT}${model}/${day}/${file}`,
            await fs.readFile(path.join(staging, model, day, file)),
          );
  }

  /**
   * The model's answers as a DuckDB relation over local copies of its files, or undefined while it
   * has none. Days before `now`'s UTC day with more than one file are compacted first.
   */
  async source(model: string, now = Date.now()): Promise<string | undefined> {
    const today = utcDay(now);
    const files: string[] = [];
    for (const prefix of await this.store.listPrefixes(`${ROOT}model=${model}/`)) {
      const day = DAY_PREFIX.exec(prefix)?.[1];
      if (day === undefined) continue;
      files.push(...(await this.dayFiles(prefix, day < today)));
    }
    await this.forgetCached(`${ROOT}model=${model}/`, new Set(files));
    if (files.length === 0) return undefined;
    const local = files.map((key) => this.cachePath(key));
    return `read_parquet([${local.map(sqlString).join(', ')}], hive_partitioning = false)`;
  }

  /**
   * Deletes the days older than `retentionDays` before `now`'s UTC day, for every model; how many
   * days it deleted. Whole days go, so a reader never sees part of one.
   */
  async dropExpired(retentionDays: number, now = Date.now()): Promise<number> {
    const oldestKept = utcDay(now - retentionDays * DAY_MS);
    let dropped = 0;
    for (const model of await this.store.listPrefixes(ROOT)) {
      for (const prefix of await this.store.listPrefixes(model)) {
        const day = DAY_PREFIX.exec(prefix)?.[1];
        if (day === undefined || day >= oldestKept) continue;
        for (const key of await this.store.list(prefix)) await this.store.delete(key);
        await fs.rm(this.cachePath(prefix), { recursive: true, force: true });
        dropped += 1;
      }
    }
    return dropped;
  }

  /** The keys of one day's files, copied into the cache: a consistent snapshot, compacted first when `closed`. */
  private async dayFiles(prefix: string, closed: boolean): Promise<string[]> {
    for (let attempt = 1; ; attempt++) {
      if (attempt > SNAPSHOT_TRIES)
        throw new Error(`${this.store.uriFor(prefix)}: its files kept moving while they were read`);
      try {
        const snapshot = await this.snapshot(prefix);
        if (snapshot === undefined) continue;
        const { manifest, loose } = snapshot;
        if (closed && loose.length > (manifest ? 0 : 1)) {
          await this.compact(prefix, snapshot);
          continue;
        }
        const keys = [...(manifest ? [manifest.value.file] : []), ...loose].map((name) => prefix + name);
        for (const key of keys) await this.cache(key);
        return keys;
      } catch (err) {
        if (!(err instanceof MovedError)) throw err;
      }
    }
  }

  /**
   * The day's manifest and the parts it does not hold, or undefined when a compaction moved the
   * manifest while the parts were listed (read again).
   */
  private async snapshot(
    prefix: string,
  ): Promise<{ manifest?: { value: Manifest; etag: string }; loose: string[] } | undefined> {
    const manifest = await getJson(this.store, prefix + MANIFEST, ManifestSchema);
    const merged = new Set(manifest?.value.parts);
    const loose = (await this.store.list(prefix))
      .map((key) => key.slice(prefix.length))
      .filter((name) => PART.test(name) && !merged.has(name));
    const after = await getJson(this.store, prefix + MANIFEST, ManifestSchema);
    if (after?.etag !== manifest?.etag) return undefined;
    return { ...(manifest ? { manifest } : {}), loose };
  }

  /** Merges a day's compacted file and loose parts into a new compacted file; a lost race drops it. */
  private async compact(
    prefix: string,
    { manifest, loose }: { manifest?: { value: Manifest; etag: string }; loose: string[] },
  ): Promise<void> {
    const inputs = [...(manifest ? [manifest.value.file] : []), ...loose].map((name) => prefix + name);
    for (const key of inputs) await this.cache(key);
    const file = `compact-${randomUUID()}.parquet`;
    const local = this.cachePath(prefix + file);
    await withDuckDb((conn) =>
      conn.run(
        `COPY (SELECT * FROM read_parquet([${inputs.map((k) => sqlString(this.cachePath(k))).join(', ')}], hive_partitioning = false))
         TO ${sqlString(local)} (FORMAT parquet)`,
      ),
    );
    await this.store.put(prefix + file, await fs.readFile(local), { ifNoneMatch: '*' });
    const next: Manifest = { file, parts: [...(manifest?.value.parts ?? []), ...loose] };
    try {
      await putJson(
        this.store,
        prefix + MANIFEST,
        next,
        manifest ? { ifMatch: manifest.etag } : { ifNoneMatch: '*' },
      );
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      // Another reader compacted the day first: its file is the one.
      await this.store.delete(prefix + file);
      await fs.rm(local, { force: true });
      return;
    }
    for (const name of loose) await this.store.delete(prefix + name);
    if (manifest) await this.store.delete(prefix + manifest.value.file);
  }

  /** Copies `key` into the cache unless it is there; a file a compaction removed meanwhile is {@link MovedError}. */
  private async cache(key: string): Promise<void> {
    const local = this.cachePath(key);
    if (
      await fs.stat(local).then(
        () => true,
        () => false,
      )
    )
      return;
    const blob = await this.store.get(key);
    if (!blob) throw new MovedError(`${this.store.uriFor(key)} was compacted away while it was read`);
    await fs.mkdir(path.dirname(local), { recursive: true });
    const partial = `${local}.${randomUUID()}.partial`;
    await fs.writeFile(partial, blob.body);
    await fs.rename(partial, local);
  }

  /** Removes cached copies under `prefix` that are no longer among `keep` (compacted or expired). */
  private async forgetCached(prefix: string, keep: Set<string>): Promise<void> {
    const root = this.cachePath(prefix);
    for (const day of await fs.readdir(root).catch(() => [] as string[]))
      for (const name of await fs.readdir(path.join(root, day)).catch(() => [] as string[]))
        if (!name.endsWith('.partial') && !keep.has(`${prefix}${day}/${name}`))
          await fs.rm(path.join(root, day, name), { force: true });
  }

  private cachePath(key: string): string {
    return path.join(this.cacheDir, key);
  }
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
