import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { z } from 'zod';
import { ModelNameSchema } from '../common/model-spec';
import type { BlobStore } from './blob-store';
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
import { sqlString, withDuckDb } from './duckdb';
import { PreconditionFailedError } from './errors';
import { getJson, putJson } from './open-store';

const ROOT = 'buffer/';
const MANIFEST = 'manifest.json';
/** Writers that lost the manifest's compare-and-swap this many times in a row give up. */
const MAX_ATTEMPTS = 20;
/** A part no manifest names, this old, was uploaded by a writer that died before its commit. */
const ORPHAN_AFTER_MS = 3_600_000;
const PART_NAME = /^part-(\d+)-[0-9a-f-]+\.parquet$/;

const PartSchema = z.object({
  day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  name: z.string().regex(PART_NAME),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
});
/** A model's committed parts: what readers see, moved only by compare-and-swap. */
const ManifestSchema = z.object({ parts: z.array(PartSchema) });
type Part = z.infer<typeof PartSchema>;
type Manifest = z.infer<typeof ManifestSchema>;
type Snapshot = { manifest: Manifest; etag?: string };

/** A part of a snapshot that retention deleted before it was read: the snapshot is taken again. */
class GoneError extends Error {}

/** What {@link StoreBuffer.compact} did to one model's buffer. */
export interface Compaction {
  /** The days merged, each now one part. */
  days: string[];
  partsBefore: number;
  partsAfter: number;
}

/** Thrown when an append lost the manifest's compare-and-swap {@link MAX_ATTEMPTS} times in a row. */
export class BufferContentionError extends Error {}

/**
 * The data buffer in the blob store (`RETRAIN_STORE`), shared by every server that ingests and every
 * worker that exports: per model, Parquet part files written create-only under
 * `buffer/<model>/day=<d>/part-<ms>-<uuid>.parquet` and a manifest, `buffer/<model>/manifest.json`,
 * that lists the committed ones and moves by compare-and-swap. An append reads the manifest, skips the
 * keys its days' parts hold, uploads its new parts, and commits them by swapping the manifest; when
 * another writer committed first it deletes its parts and starts again from the new manifest, so its
 * rows are checked against the parts the other added too and `inserted`/`duplicates` stay exact
 * without a lock. Readers work from one manifest snapshot, reading local copies of its parts (cached
 * under `cacheDir`: parts never change). Retention swaps expired days out of the manifest, then
 * deletes their parts and the parts of writers that died before committing.
 */
export class StoreBuffer {
  /** The manifest version each model's cache was last pruned at (see {@link pruneCache}). */
  private readonly prunedAt = new Map<string, string>();

  constructor(
    private readonly store: BlobStore,
    private readonly cacheDir: string,
  ) {}

  /** Part files of a model from one manifest snapshot, local copies, oldest day first; only those of `days` when given. */
  async partFiles(model: string, days?: readonly string[]): Promise<PartFile[]> {
    const wanted = days && new Set(days);
    return this.fromSnapshot(model, async ({ manifest, etag }) => {
      await this.pruneCache(model, manifest.parts, etag);
      return this.cached(
        model,
        manifest.parts.filter((p) => !wanted || wanted.has(p.day)),
      );
    });
  }

  /**
   * Removes this host's copies of parts the manifest no longer names (compacted or expired by
   * another host) once they are an hour old, so no read still in flight holds them; looked for
   * once per manifest version.
   */
  private async pruneCache(model: string, parts: readonly Part[], etag: string | undefined): Promise<void> {
    if (etag === undefined || this.prunedAt.get(model) === etag) return;
    this.prunedAt.set(model, etag);
    const now = Date.now();
    const listed = new Set(parts.map((p) => `day=${p.day}/${p.name}`));
    const root = path.join(this.cacheDir, ModelNameSchema.parse(model));
    for (const day of await fs.readdir(root).catch(() => [] as string[]))
      for (const name of await fs.readdir(path.join(root, day)).catch(() => [] as string[])) {
        if (listed.has(`${day}/${name}`)) continue;
        const file = path.join(root, day, name);
        const stat = await fs.stat(file).catch(() => undefined);
        if (stat && now - stat.mtimeMs > ORPHAN_AFTER_MS) await fs.rm(file, { force: true });
      }
  }

  /** Record, file, day and byte counts of a model's buffer, from its manifest. */
  async stats(model: string): Promise<BufferStats> {
    const { parts } = (await this.snapshot(model)).manifest;
    const days = [...new Set(parts.map((p) => p.day))].sort();
    return {
      records: parts.reduce((n, p) => n + p.rows, 0),
      files: parts.length,
      days: days.length,
      firstDay: days[0] ?? null,
      lastDay: days.at(-1) ?? null,
      bytes: parts.reduce((n, p) => n + p.bytes, 0),
    };
  }

  /** {@link DataBuffer.appendQuery} with a manifest swap for the commit (see the class). */
  async appendQuery(
    conn: DuckDBConnection,
    model: string,
    query: string,
    key: BufferKey,
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    const marks = marksTable(options);
    const days = await queryDays(conn, query, key);
    try {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const current = await this.snapshot(model);
        let existing: PartFile[];
        try {
          existing = await this.cached(
            model,
            current.manifest.parts.filter((p) => days.includes(p.day)),
          );
        } catch (err) {
          // Retention deleted a part of this snapshot meanwhile: take another.
          if (err instanceof GoneError) continue;
          throw err;
        }
        const result = await markNewRows(conn, query, key, existing, marks, options);
        if (result.inserted === 0) return result;
        if (await this.commit(conn, model, marks, current)) return result;
        await jitter(attempt);
      }
    } finally {
      if (!options.marks) await conn.run(`DROP TABLE IF EXISTS ${marks}`);
    }
    throw new BufferContentionError(
      `the buffer of ${model} changed under ${MAX_ATTEMPTS} appends in a row (${this.store.uriFor(this.manifestKey(model))}); retry`,
    );
  }

  /**
   * Deletes the days of a model older than `keepDays` before its newest day (as the local buffer
   * does); returns them. Their parts, and parts of writers that died uncommitted, are deleted after
   * the manifest no longer names them.
   */
  async applyRetention(model: string, keepDays: number): Promise<string[]> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const current = await this.snapshot(model);
      const days = [...new Set(current.manifest.parts.map((p) => p.day))].sort();
      const newest = days.at(-1);
      if (!newest) return [];
      const cutoff = new Date(Date.parse(`${newest}T00:00:00Z`) - (keepDays - 1) * 86_400_000)
        .toISOString()
        .slice(0, 10);
      const expired = days.filter((day) => day < cutoff);
      if (expired.length === 0) return [];
      const kept = current.manifest.parts.filter((p) => p.day >= cutoff);
      if (!(await this.swap(model, current, { parts: kept }))) {
        await jitter(attempt);
        continue;
      }
      await this.forget(
        model,
        current.manifest.parts.filter((p) => p.day < cutoff),
      );
      await this.deleteOrphans(model, kept);
      return expired;
    }
    throw new BufferContentionError(`the buffer of ${model} kept changing during retention; retry`);
  }

  /**
   * Merges each day of the model that holds more than one part into a single part (the rows as
   * they were: parts of one model never share a key), swapped into the manifest in one
   * compare-and-swap; the merged parts are deleted after it. A writer that commits meanwhile makes
   * the swap fail: the merge is dropped and taken again from the new manifest. Returns the days
   * merged and the parts before and after.
   */
  async compact(model: string): Promise<Compaction> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const current = await this.snapshot(model);
      const byDay = new Map<string, Part[]>();
      for (const p of current.manifest.parts) byDay.set(p.day, [...(byDay.get(p.day) ?? []), p]);
      const days = [...byDay].filter(([, parts]) => parts.length > 1).map(([day]) => day);
      const before = current.manifest.parts.length;
      if (days.length === 0) return { days: [], partsBefore: before, partsAfter: before };
      const merged: Part[] = [];
      try {
        await withDuckDb(async (conn) => {
          for (const day of days) merged.push(await this.merge(conn, model, day, byDay.get(day) ?? []));
        });
      } catch (err) {
        await this.forget(model, merged);
        if (err instanceof GoneError) continue;
        throw err;
      }
      const replaced = new Set(days);
      const parts = [...current.manifest.parts.filter((p) => !replaced.has(p.day)), ...merged].sort((a, b) =>
        a.day.localeCompare(b.day),
      );
      if (await this.swap(model, current, { parts })) {
        await this.forget(
          model,
          current.manifest.parts.filter((p) => replaced.has(p.day)),
        );
        return { days, partsBefore: before, partsAfter: parts.length };
      }
      await this.forget(model, merged);
      await jitter(attempt);
    }
    throw new BufferContentionError(`the buffer of ${model} kept changing during compaction; retry`);
  }

  /** One new part holding every row of `parts` (one day's), uploaded create-only; its cached copy kept. */
  private async merge(
    conn: DuckDBConnection,
    model: string,
    day: string,
    parts: readonly Part[],
  ): Promise<Part> {
    const inputs = await this.cached(model, parts);
    const name = newPartName();
    const local = this.cachePath(model, day, name);
    await fs.mkdir(path.dirname(local), { recursive: true });
    await conn.run(
      `COPY (SELECT * FROM read_parquet(${fileList(inputs)}, hive_partitioning = false, union_by_name = true))
       TO ${sqlString(local)} (FORMAT parquet)`,
    );
    const body = await fs.readFile(local);
    await this.store.put(this.partKey(model, day, name), body, { ifNoneMatch: '*' });
    return { day, name, rows: await rowsOf(conn, local), bytes: body.byteLength };
  }

  /**
   * Adds a local buffer's part files of `model` (an earlier release's `RETRAIN_BUFFER_DIR`) to its
   * manifest, under their own names; parts already there are skipped, so running it again adds
   * nothing. Returns how many parts it added.
   */
  async importParts(model: string, local: readonly PartFile[]): Promise<number> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const current = await this.snapshot(model);
      const known = new Set(current.manifest.parts.map((p) => `${p.day}/${p.name}`));
      const fresh = local.filter((file) => !known.has(`${file.day}/${importedName(file.path)}`));
      const added = await withDuckDb(async (conn) => {
        const uploaded: Part[] = [];
        for (const file of fresh) {
          const name = importedName(file.path);
          const body = await fs.readFile(file.path);
          await this.store.put(this.partKey(model, file.day, name), body);
          uploaded.push({ day: file.day, name, rows: await rowsOf(conn, file.path), bytes: body.byteLength });
        }
        return uploaded;
      });
      if (added.length === 0) return 0;
      const parts = [...current.manifest.parts, ...added].sort((a, b) => a.day.localeCompare(b.day));
      if (await this.swap(model, current, { parts })) return added.length;
      await jitter(attempt);
    }
    throw new BufferContentionError(`the buffer of ${model} kept changing during the import; retry`);
  }

  /** Uploads the marked rows as new parts and swaps them into the manifest; false (parts deleted) when another writer swapped first. */
  private async commit(
    conn: DuckDBConnection,
    model: string,
    marks: string,
    current: Snapshot,
  ): Promise<boolean> {
    const staging = path.join(this.cacheDir, '.staging', randomUUID());
    const added: Part[] = [];
    await fs.mkdir(path.dirname(staging), { recursive: true });
    try {
      for (const { day, from } of await stageMarked(conn, marks, staging)) {
        const name = newPartName();
        const body = await fs.readFile(from);
        await this.store.put(this.partKey(model, day, name), body, { ifNoneMatch: '*' });
        added.push({ day, name, rows: await rowsOf(conn, from), bytes: body.byteLength });
        // The part is the same bytes in the store: the staged file is its cached copy.
        const local = this.cachePath(model, day, name);
        await fs.mkdir(path.dirname(local), { recursive: true });
        await fs.rename(from, local);
      }
      const parts = [...current.manifest.parts, ...added].sort((a, b) => a.day.localeCompare(b.day));
      if (await this.swap(model, current, { parts })) return true;
    } catch (err) {
      await this.forget(model, added);
      throw err;
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
    await this.forget(model, added);
    return false;
  }

  /** Swaps the manifest from `current` to `next`; false when it moved meanwhile. */
  private async swap(model: string, current: Snapshot, next: Manifest): Promise<boolean> {
    try {
      await putJson(
        this.store,
        this.manifestKey(model),
        next,
        current.etag === undefined ? { ifNoneMatch: '*' } : { ifMatch: current.etag },
      );
      return true;
    } catch (err) {
      if (err instanceof PreconditionFailedError) return false;
      throw err;
    }
  }

  /** Deletes uncommitted parts from the store and the cache. */
  private async forget(model: string, parts: readonly Part[]): Promise<void> {
    for (const p of parts) {
      await this.store.delete(this.partKey(model, p.day, p.name)).catch(() => undefined);
      await fs.rm(this.cachePath(model, p.day, p.name), { force: true });
    }
  }

  /**
   * Deletes the model's part objects the manifest (`kept`) does not name that are over an hour old:
   * uploaded by a writer that died before its commit (a younger one may be about to commit).
   */
  private async deleteOrphans(model: string, kept: readonly Part[]): Promise<void> {
    const prefix = `${ROOT}${ModelNameSchema.parse(model)}/`;
    const listed = new Set(kept.map((p) => `day=${p.day}/${p.name}`));
    const cutoff = Date.now() - ORPHAN_AFTER_MS;
    for (const key of await this.store.list(prefix)) {
      const relative = key.slice(prefix.length);
      const name = relative.split('/')[1];
      if (name === undefined || listed.has(relative)) continue;
      const uploadedAt = Number(PART_NAME.exec(name)?.[1] ?? Number.NaN);
      if (!(uploadedAt < cutoff)) continue;
      await this.store.delete(key);
    }
  }

  /** Runs `read` on a manifest snapshot, again on a fresh one when a part it names was deleted meanwhile. */
  private async fromSnapshot<T>(model: string, read: (snapshot: Snapshot) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await read(await this.snapshot(model));
      } catch (err) {
        if (!(err instanceof GoneError) || attempt >= MAX_ATTEMPTS) throw err;
      }
    }
  }

  private async snapshot(model: string): Promise<Snapshot> {
    const found = await getJson(this.store, this.manifestKey(model), ManifestSchema);
    return found ? { manifest: found.value, etag: found.etag } : { manifest: { parts: [] } };
  }

  /** Local copies of `parts`, downloaded once; a part gone from the store is {@link GoneError}. */
  private async cached(model: string, parts: readonly Part[]): Promise<PartFile[]> {
    const files: PartFile[] = [];
    for (const p of parts) {
      const local = this.cachePath(model, p.day, p.name);
      if (
        !(await fs.stat(local).then(
          () => true,
          () => false,
        ))
      ) {
        const blob = await this.store.get(this.partKey(model, p.day, p.name));
        if (!blob) throw new GoneError(`${this.store.uriFor(this.partKey(model, p.day, p.name))} is gone`);
        await fs.mkdir(path.dirname(local), { recursive: true });
        const partial = `${local}.${randomUUID()}.partial`;
        await fs.writeFile(partial, blob.body);
        await fs.rename(partial, local);
      }
      files.push({ day: p.day, path: local });
    }
    return files;
  }

  private manifestKey(model: string): string {
    return `${ROOT}${ModelNameSchema.parse(model)}/${MANIFEST}`;
  }

  private partKey(model: string, day: string, name: string): string {
    return `${ROOT}${ModelNameSchema.parse(model)}/day=${day}/${name}`;
  }

  private cachePath(model: string, day: string, name: string): string {
    return path.join(this.cacheDir, ModelNameSchema.parse(model), `day=${day}`, name);
  }
}

/** A part's name in the store: when it was written (orphans age by it) and a uuid. */
function newPartName(): string {
  return `part-${Date.now()}-${randomUUID()}.parquet`;
}

/** The rows of a Parquet file, from its footer. */
async function rowsOf(conn: DuckDBConnection, file: string): Promise<number> {
  const reader = await conn.runAndReadAll(
    `SELECT coalesce(sum(num_rows), 0)::BIGINT AS n FROM parquet_file_metadata(${sqlString(file)})`,
  );
  return Number(reader.getRowObjectsJson()[0]?.n ?? 0);
}

/**
 * A local part's name in the store, the same at every import of it (so a second import finds it):
 * `part-0-<the uuid DuckDB gave it>.parquet`, or a digest of its name for a file named otherwise.
 */
function importedName(file: string): string {
  const base = path.basename(file);
  const id =
    /part-([0-9a-f-]{36})/.exec(base)?.[1] ?? createHash('sha256').update(base).digest('hex').slice(0, 36);
  return `part-0-${id}.parquet`;
}

/** Waits a little, more after each lost swap, so contending writers spread out. */
function jitter(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(1000, 20 * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
