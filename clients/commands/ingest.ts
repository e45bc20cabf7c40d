import { DataBuffer } from '../../storage/buffer';
import { BufferWriter } from '../../storage/buffer-writer';
import { Ingestor, type ConflictPolicy, type ExtraColumnsPolicy } from '../../storage/ingest';
import { openBlobStore } from '../../storage/open-store';
import { ModelRegistry } from '../../storage/registry';
import type { Config } from '../../config/config';
import { parseModelName, type CommandOutput } from '../output';

/** The options of `retrain ingest`, as commander parses them. */
export interface IngestOptions {
  model: string;
  /** Rows of the batch that repeat a (time, entity) with other values: reject the batch, or keep the first or last. */
  onConflict: ConflictPolicy;
  /** Columns the spec does not name: reject the batch, or drop them. */
  extraColumns: ExtraColumnsPolicy;
  json?: boolean;
}

/** `retrain ingest`: all files form one batch, written completely or (on a bad row) not at all. */
export async function ingestCommand(
  files: string[],
  values: IngestOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const model = parseModelName(values.model);
  const registry = new ModelRegistry(openBlobStore(config.store, config.s3));
  const writer = await BufferWriter.open(DataBuffer.of(config, registry.store), {
    retentionDays: config.bufferRetentionDays,
  });
  try {
    const result = await new Ingestor(registry, writer).ingestFiles(model, files, {
      onConflict: values.onConflict,
      extraColumns: values.extraColumns,
    });
    const expired = result.expiredDays.length
      ? `; retention deleted ${result.expiredDays.length} day(s) up to ${result.expiredDays.at(-1)}`
      : '';
    const resolved = result.conflictsResolved
      ? `, ${result.conflictsResolved} conflicting rows dropped (--on-conflict ${values.onConflict})`
      : '';
    out.result(
      values.json,
      { ...result, files },
      `${result.model}: ${result.received} rows read, ${result.inserted} inserted, ${result.duplicates} duplicates skipped${resolved}${expired}`,
    );
    return 0;
  } finally {
    await writer.close();
  }
}
