import { versionSummary } from '../common/artefacts';
import type { LiveReport } from '../monitoring/live-metrics';
import type { RegistryReadCache } from './registry-read-cache';

/**
 * One model as the dashboard shows it: its versions' gate figures beside the baselines', and live
 * figures. Reads through `reads`, so a poll re-reads no version's metadata.
 */
export async function modelView(
  reads: RegistryReadCache,
  liveReport: ((model: string) => Promise<LiveReport>) | undefined,
  model: string,
) {
  const { spec, alias, versions } = await reads.head(model);
  const metas = await Promise.all(versions.map((v) => reads.metadata(model, v).catch(() => undefined)));
  const live = await liveReport?.(model).catch(() => undefined);
  return {
    name: model,
    task: spec.task,
    production: alias?.version ?? null,
    versions: metas.flatMap((m) =>
      m
        ? [
            {
              ...versionSummary(m),
              baselines: Object.fromEntries(
                Object.entries(m.baselines).map(([name, figures]) => [name, figures[m.gate.metric] ?? null]),
              ),
            },
          ]
        : [],
    ),
    live: live
      ? live.versions.map((v) => ({
          version: v.version,
          metric: live.metric,
          holdout: v.holdout,
          predictions: v.window.predictions,
          value: v.window.metrics[live.metric] ?? null,
          lastValue: v.window.baselines.lastValue?.[live.metric] ?? null,
        }))
      : [],
  };
}
