import type { BatchSource } from './batch-source';
import type { BufferWriter } from './buffer-writer';
import type { ModelRegistry } from './registry';
import { bufferKey, loadCheckedBatch, type ConflictPolicy, type ExtraColumnsPolicy } from './row-check';

export { RowCheckError } from './batch-source';
export {
  ConflictPolicySchema,
  ExtraColumnsPolicySchema,
  type ConflictPolicy,
  type ExtraColumnsPolicy,
} from './row-check';

/** What one ingested batch did; `received = inserted + duplicates + conflictsResolved`. */
export interface IngestResult {
  model: string;
  received: number;
  inserted: number;
  /** Rows skipped because the buffer (or an earlier row of the same flush) holds their (time, entity). */
  duplicates: number;
  /**
   * Rows of the batch dropped by `onConflict: 'first' | 'last'` because another row of the batch with
   * the same (time, entity) but other values was kept; always 0 under `reject`.
   */
  conflictsResolved: number;
  /** Days retention deleted after the write. */
  expiredDays: string[];
}

/** Options of one ingested batch. */
export interface IngestOptions {
  /** Rows of the batch that repeat a (time, entity) with other values. @default 'reject' */
  onConflict?: ConflictPolicy;
  /** Columns (JSON keys) the spec does not name: reject the batch naming them, or drop them. @default 'reject' */
  extraColumns?: ExtraColumnsPolicy;
}

/**
 * Ingestion, shared by `retrain ingest` and `POST /ingest`: load the batch, check every row
 * against the model's spec (a bad row or a column the spec does not name rejects the whole batch with a {@link RowCheckError} and
 * writes nothing), resolve or reject rows of the batch that repeat a (time, entity) with other values
 * (`onConflict`, default `reject`), then hand it to the writer, which skips rows already in the
 * buffer (the stored row wins whatever the policy) and returns once the rest is durable. An unknown
 * model throws the registry's `ModelNotFoundError`.
 */
export class Ingestor {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly writer: BufferWriter,
  ) {}

  /** One batch of files (.csv, .parquet, .jsonl/.ndjson by extension). */
  ingestFiles(model: string, files: readonly string[], options: IngestOptions = {}): Promise<IngestResult> {
    return this.ingest(
      model,
      files.map((path) => ({ kind: 'file', path })),
      options,
    );
  }

  /** One batch of row objects, as in a `POST /ingest` body. */
  ingestRows(model: string, rows: unknown[], options: IngestOptions = {}): Promise<IngestResult> {
    return this.ingest(model, [{ kind: 'rows', rows }], options);
  }

  private async ingest(model: string, sources: BatchSource[], options: IngestOptions): Promise<IngestResult> {
    const spec = await this.registry.loadSpec(model);
    const key = bufferKey(spec);
    let conflictsResolved = 0;
    const outcome = await this.writer.submit(model, key, (conn, table) =>
      loadCheckedBatch(conn, spec, sources, table, {
        onConflict: options.onConflict,
        extraColumns: options.extraColumns,
        onResolved: (rows) => (conflictsResolved = rows),
      }),
    );
    return { model, ...outcome, received: outcome.received + conflictsResolved, conflictsResolved };
  }
}
