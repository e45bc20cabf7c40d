import type { BatchSource } from './batch-source';
import type { BufferWriter } from './buffer-writer';
import type { ModelRegistry } from './registry';
import { loadCheckedBatch } from './row-check';

export { RowCheckError } from './batch-source';

/** What one ingested batch did; `received = inserted + duplicates`. */
export interface IngestResult {
  model: string;
  received: number;
  inserted: number;
  /** Rows skipped because the buffer (or an earlier row of the same flush) holds their (time, entity). */
  duplicates: number;
  /** Days retention deleted after the write. */
  expiredDays: string[];
}

/**
 * Ingestion, shared by `retrain ingest` and `POST /ingest`: load the batch, check every row
 * against the model's spec (a bad row rejects the whole batch with a {@link RowCheckError} and
 * writes nothing), then hand it to the writer, which skips rows already in the buffer and returns
 * once the rest is durable. An unknown model throws the registry's `ModelNotFoundError`.
 */
export class Ingestor {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly writer: BufferWriter,
  ) {}

  /** One batch of files (.csv, .parquet, .jsonl/.ndjson by extension). */
  ingestFiles(model: string, files: readonly string[]): Promise<IngestResult> {
    return this.ingest(
      model,
      files.map((path) => ({ kind: 'file', path })),
    );
  }

  /** One batch of row objects, as in a `POST /ingest` body. */
  ingestRows(model: string, rows: unknown[]): Promise<IngestResult> {
    return this.ingest(model, [{ kind: 'rows', rows }]);
  }

  private async ingest(model: string, sources: BatchSource[]): Promise<IngestResult> {
    const spec = await this.registry.loadSpec(model);
    const key = { timeColumn: spec.timeColumn, entityColumn: spec.entityColumn };
    const outcome = await this.writer.submit(model, key, (conn, table) =>
      loadCheckedBatch(conn, spec, sources, table),
    );
    return { model, ...outcome };
  }
}
