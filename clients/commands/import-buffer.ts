import path from 'node:path';
import { DataBuffer } from '../../storage/buffer';
import { openBlobStore } from '../../storage/open-store';
import type { Config } from '../../config/config';
import { parseModelName, UsageError, type CommandOutput } from '../output';

/** The options of `retrain import-buffer`, as commander parses them. */
export interface ImportBufferOptions {
  from?: string;
  model?: string;
  json?: boolean;
}

/**
 * `retrain import-buffer`: moves a host's local buffer (an earlier release's `RETRAIN_BUFFER_DIR`)
 * into the buffer in the store, model by model; parts already there are skipped, so it can run again.
 * The local files are left as they are.
 */
export async function importBufferCommand(
  values: ImportBufferOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const store = openBlobStore(config.store, config.s3);
  const target = DataBuffer.of(config, store).storeParts;
  if (!target)
    throw new UsageError(
      'the buffer is not in the store here: set RETRAIN_BUFFER_IN_STORE=true (the default with an s3:// store)',
    );
  const from = path.resolve(values.from ?? config.bufferDir);
  const local = new DataBuffer(from);
  const models = values.model ? [parseModelName(values.model)] : await local.localModels();
  const imported: { model: string; localParts: number; added: number }[] = [];
  for (const model of models) {
    const parts = await local.partFiles(model);
    if (values.model && parts.length === 0) throw new UsageError(`${from} holds no data of ${model}`);
    imported.push({ model, localParts: parts.length, added: await target.importParts(model, parts) });
  }
  out.result(
    values.json,
    { from, store: store.uri, models: imported },
    [
      `${from} -> ${store.uri}: ${imported.length} model(s)`,
      ...imported.map((m) => `${m.model}: ${m.added} of ${m.localParts} part files added`),
    ].join('\n') + '\n',
  );
  return 0;
}
