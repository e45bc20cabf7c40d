import { liveMetrics, type LiveFigures } from '../../monitoring/live-metrics';
import { DataBuffer } from '../../storage/buffer';
import { openBlobStore } from '../../storage/open-store';
import { predictionLogReader } from '../../storage/prediction-log';
import { ModelRegistry } from '../../storage/registry';
import type { Config } from '../../config/config';
import { parseModelName, UsageError, type CommandOutput } from '../output';

/** The options of `retrain monitor`, as commander parses them. */
export interface MonitorOptions {
  model: string;
  days?: string;
  json?: boolean;
}

/**
 * `retrain monitor`: per version, the holdout figure it was registered with and its live figures
 * (predictions the inference servers logged, joined with the actuals ingested since).
 */
export async function monitorCommand(
  values: MonitorOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const model = parseModelName(values.model);
  const windowDays = Number(values.days ?? 7);
  if (!Number.isInteger(windowDays) || windowDays < 1 || windowDays > 3650)
    throw new UsageError(`--days must be a whole number of days from 1 to 3650, not ${values.days}`);
  const registry = new ModelRegistry(openBlobStore(config.store, config.s3));
  const spec = await registry.loadSpec(model);
  const report = await liveMetrics({
    spec,
    buffer: DataBuffer.of(config, registry.store),
    predictionLog: predictionLogReader(config.predictionLog.dir, registry.store),
    registry,
    windowDays,
  });
  const m = report.metric;
  const figure = (f: LiveFigures) => {
    const baselines = Object.entries(f.baselines)
      .map(([name, b]) => `${name} ${fmt(b[m])}`)
      .join(', ');
    return `${m} ${fmt(f.metrics[m])} over ${f.predictions} predictions (${baselines})`;
  };
  const lines = report.versions.length
    ? report.versions.flatMap((v) => [
        `${v.version}: holdout ${m} ${fmt(v.holdout ?? undefined)}; live ${figure(v.all)}`,
        `  last ${windowDays} days: ${figure(v.window)}`,
        ...v.days
          .slice(-windowDays)
          .map((d) => `  ${d.day}: ${m} ${fmt(d.metrics[m])} over ${d.predictions}`),
      ])
    : [`${model}: no logged prediction has its actual yet`];
  const since = report.production;
  if (since) {
    const drift = Object.entries(since.drift)
      .map(([feature, psi]) => `${feature} ${psi === null ? '-' : psi.toFixed(3)}`)
      .join(', ');
    lines.unshift(
      `production ${since.version}, trained on ${since.trainedOn.from} to ${since.trainedOn.to}: ${since.newRecords} records since; drift (PSI) ${drift}`,
    );
  }
  out.result(values.json, report, lines.join('\n'));
  return 0;
}

function fmt(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(4);
}
