import { versionSummary, type ModelMetadata } from '../common/artefacts';
import type { LiveReport } from '../monitoring/live-metrics';
import type { RegistryReadCache } from './registry-read-cache';

/**
 * One model as the dashboard shows it: its versions' gate figures beside the baselines' (each version
 * marked when it was rolled back), and live figures. Reads through `reads`, so a poll re-reads no
 * version's metadata.
 */
export async function modelView(
  reads: RegistryReadCache,
  liveReport: ((model: string) => Promise<LiveReport>) | undefined,
  model: string,
) {
  const { spec, alias, versions } = await reads.head(model);
  const metas = await Promise.all(versions.map((v) => reads.metadata(model, v).catch(() => undefined)));
  const live = await liveReport?.(model).catch(() => undefined);
  const complete = metas.filter((m) => m !== undefined);
  const rolledBack = rolledBackVersions(complete, alias?.version);
  return {
    name: model,
    task: spec.task,
    production: alias?.version ?? null,
    versions: metas.flatMap((m) =>
      m
        ? [
            {
              ...versionSummary(m),
              rolledBack: rolledBack.has(m.version),
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

/**
 * Which of `metas` (oldest first, as the registry lists them) were rolled back and are not production
 * now: every version after production (a rollback, or a
 * rollout that failed and moved the alias back), and every version between the production a later
 * version was validated against and that later version (production had gone back before it).
 */
export function rolledBackVersions(metas: ModelMetadata[], production: string | undefined): Set<string> {
  const order = new Map(metas.map((m, i) => [m.version, i]));
  const at = production === undefined ? undefined : order.get(production);
  const rolledBack = new Set<string>();
  metas.forEach((m, i) => {
    if (at !== undefined && i > at) rolledBack.add(m.version);
    const against = m.production && order.get(m.production.version);
    if (against === undefined) return;
    for (let j = against + 1; j < i; j++) rolledBack.add((metas[j] as ModelMetadata).version);
  });
  // Rolled back once, production again since (`retrain rollback --to`).
  if (production !== undefined) rolledBack.delete(production);
  return rolledBack;
}
