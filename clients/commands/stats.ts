import { DataBuffer } from '../../storage/buffer';
import { bufferReport } from '../../storage/buffer-report';
import { openBlobStore } from '../../storage/open-store';
import { ModelRegistry } from '../../storage/registry';
import type { Config } from '../../config/config';
import { parseModelName, type CommandOutput } from '../output';

/** The options of `retrain stats`, as commander parses them. */
export interface StatsOptions {
  model: string;
  json?: boolean;
}

/** `retrain stats`: what the buffer holds, whether a run would get enough data, and the spec's defaults. */
export async function statsCommand(
  values: StatsOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const model = parseModelName(values.model);
  const registry = new ModelRegistry(openBlobStore(config.store, config.s3));
  const spec = await registry.loadSpec(model);
  const { stats, readiness } = await bufferReport(DataBuffer.of(config, registry.store), spec);
  const { windowDays, minRecords, minDays, epochs, lookback, horizon, hyperparams, gate } = spec;
  const result = {
    model: spec.name,
    ...stats,
    retentionDays: config.bufferRetentionDays,
    readyToTrain: readiness.ready,
    readyReason: readiness.reason,
    window: { records: readiness.records, days: readiness.days, from: readiness.from, to: readiness.to },
    defaults: { windowDays, minRecords, minDays, epochs, lookback, horizon, hyperparams, gate },
  };
  const range = stats.firstDay ? ` from ${stats.firstDay} to ${stats.lastDay}` : '';
  out.result(
    values.json,
    result,
    [
      `${spec.name}: ${stats.records} records in ${stats.files} files over ${stats.days} days${range}, ${stats.bytes} bytes`,
      `${readiness.ready ? 'ready to train' : 'not ready'}: ${readiness.reason}`,
      `defaults: windowDays ${windowDays}, minRecords ${minRecords}, epochs ${epochs}, lookback ${lookback}, horizon ${horizon}`,
    ].join('\n'),
  );
  return 0;
}
