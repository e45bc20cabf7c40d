import { log } from '@temporalio/activity';
import type { LastRun, TriggerEvaluation, TriggerFigures, Triggers } from '../common/triggers';
import { DEFAULT_EVALUATION_RETENTION_DAYS, TriggerHistory } from '../storage/trigger-history';
import type { ActivityDeps } from './deps';
import { liveMetrics } from '../monitoring/live-metrics';
import { StoredLiveReports } from '../monitoring/stored-live-reports';
import { loadSpecOrFail } from './load-spec';

/** What a trigger check needs to decide: the spec's triggers, the figures, and where the cool-down counts from. */
export interface MeasuredTriggers {
  /** Absent when the spec declares none (then nothing was measured). */
  triggers?: Triggers;
  figures: TriggerFigures;
  lastRun?: LastRun;
  /** Rows the measurement read: predictions joined with their actuals, and buffer records. */
  scanned: { predictions: number; records: number };
}

/**
 * Measures the figures a model's triggers look at: buffer records since the production version's
 * training window, its live gate metric over the live window beside its holdout figure, and per
 * feature drift. The cool-down counts from the later of the last triggered run and the production
 * version's registration.
 */
export function createMeasureTriggers(deps: ActivityDeps) {
  return async ({ model }: { model: string }): Promise<MeasuredTriggers> => {
    const spec = await loadSpecOrFail(deps.registry, model);
    const { triggers } = spec;
    if (!triggers) return { figures: { newRecords: 0, drift: {} }, scanned: { predictions: 0, records: 0 } };
    const [report, stats, lastTriggered] = await Promise.all([
      liveMetrics({
        spec,
        buffer: deps.buffer,
        predictionLog: deps.predictionLog ?? { source: async () => undefined },
        registry: deps.registry,
        windowDays: triggers.liveWindowDays,
      }),
      deps.buffer.stats(model),
      new TriggerHistory(deps.store).lastTriggered(model),
    ]);
    // The servers' gauges and the dashboard read it from the store rather than measuring again.
    await new StoredLiveReports(deps.store)
      .put(report)
      .catch((err: unknown) => log.warn('live report not stored', { model, error: String(err) }));
    const production = report.production;
    const figures: TriggerFigures = { newRecords: stats.records, drift: {} };
    let lastRun = lastTriggered;
    if (production) {
      const live = report.versions.find((v) => v.version === production.version);
      const meta = await deps.registry.getMetadata(model, production.version);
      figures.production = production.version;
      figures.newRecords = production.newRecords;
      figures.drift = production.drift;
      figures.live = {
        metric: report.metric,
        value: live ? (live.window.metrics[report.metric] ?? null) : null,
        holdout: live?.holdout ?? meta?.metrics[report.metric] ?? null,
        predictions: live?.window.predictions ?? 0,
        windowDays: triggers.liveWindowDays,
      };
      if (meta && (!lastRun || Date.parse(meta.createdAt) > Date.parse(lastRun.at)))
        lastRun = {
          workflowId: meta.workflowId,
          at: meta.createdAt,
          what: `registered ${production.version}`,
        };
    }
    const predictions = report.versions.reduce((n, v) => n + v.all.predictions, 0);
    return {
      triggers,
      figures,
      ...(lastRun ? { lastRun } : {}),
      scanned: { predictions, records: stats.records },
    };
  };
}

/**
 * Keeps a check's evaluation in the model's trigger history (see storage/trigger-history) and prunes the
 * evaluations that aged out; a failed pruning is logged, never fails the check.
 */
export function createRecordEvaluation(deps: ActivityDeps) {
  return (evaluation: TriggerEvaluation): Promise<void> =>
    new TriggerHistory(deps.store, {
      days: deps.evaluationRetentionDays ?? DEFAULT_EVALUATION_RETENTION_DAYS,
      onError: (err) =>
        log.warn('pruning old trigger evaluations failed; the evaluation is recorded', {
          model: evaluation.model,
          error: err instanceof Error ? err.message : String(err),
        }),
    }).record(evaluation);
}
