import { parseArgs } from 'node:util';
import { DataBuffer } from '../../storage/buffer';
import { BufferWriter } from '../../storage/buffer-writer';
import { Ingestor } from '../../storage/ingest';
import { openBlobStore } from '../../storage/open-store';
import { ModelRegistry } from '../../storage/registry';
import type { Config } from '../../workers/config';
import { parseModelName, UsageError, type CommandOutput } from '../output';

const USAGE = 'usage: retrain ingest --model <m> <files...> [--json]   (.csv, .parquet, .jsonl, .ndjson)';

/** `retrain ingest`: all files form one batch, written completely or (on a bad row) not at all. */
export async function ingestCommand(argv: string[], config: Config, out: CommandOutput): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { model: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  if (!values.model || positionals.length === 0) throw new UsageError(USAGE);
  const model = parseModelName(values.model);
  const registry = new ModelRegistry(openBlobStore(config.store, config.s3));
  const writer = await BufferWriter.open(new DataBuffer(config.bufferDir), {
    retentionDays: config.bufferRetentionDays,
  });
  try {
    const result = await new Ingestor(registry, writer).ingestFiles(model, positionals);
    const expired = result.expiredDays.length
      ? `; retention deleted ${result.expiredDays.length} day(s) up to ${result.expiredDays.at(-1)}`
      : '';
    out.result(
      values.json,
      { ...result, files: positionals },
      `${result.model}: ${result.received} rows read, ${result.inserted} inserted, ${result.duplicates} duplicates skipped${expired}`,
    );
    return 0;
  } finally {
    await writer.close();
  }
}
