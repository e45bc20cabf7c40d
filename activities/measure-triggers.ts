import { log } from '@temporalio/activity';
import { DatasetManifestSchema } from '../common/artefacts';
import type { ModelSpec } from '../common/model-spec';
import {
  BACK_OFF_MAX_FACTOR,
  type JudgedRun,
  type LastRun,
  type RejectedRun,
  type TriggerEvaluation,
  type TriggerFigures,
  type Triggers,
} from '../common/triggers';
import { manifestKey } from '../datasets/dataset-io';
import { getJson } from '../storage/open-store';
import { DEFAULT_EVALUATION_RETENTION_DAYS, TriggerHistory } from '../storage/trigger-history';
import type { ActivityDeps } from './deps';
import { datasetKey } from './export-dataset';
import type { JudgedRunRecord, JudgedRuns } from './judged-runs';
import { liveMetrics } from '../monitoring/live-metrics';
import { recordsAfter } from '../monitoring/records-after';
import { StoredLiveReports } from '../monitoring/stored-live-reports';
import { loadSpecOrFail } from './load-spec';

/** Judging runs read per check: the latest, and enough rejected ones in a row for the longest back-off. */
const JUDGED_RUNS_READ = Math.log2(BACK_OFF_MAX_FACTOR) + 2;

/** What a trigger check needs to decide: the spec's triggers, the figures, and where the cool-down counts from. */
export interface MeasuredTriggers {
  /** Absent when the spec declares none (then nothing was measured). */
  triggers?: Triggers;
  figures: TriggerFigures;
  lastRun?: LastRun;
  /** Triggered runs rejected in a row since the latest completed run, newest first (the back-off). */
  rejected?: RejectedRun[];
  /** Rows the measurement read: predictions joined with their actuals, and buffer records. */
  scanned: { predictions: number; records: number };
}

/**
 * Measures the figures a model's triggers look at: buffer records since the production version's
 * training window (or since the window of a later run that judged them, completed or rejected), its
 * live gate metric over the live window beside its holdout figure, and per feature drift; and the
 * triggered runs rejected since the latest completed one, which back their triggers off. The
 * cool-down counts from the later of the last triggered run and the production version's
 * registration. `judgedRuns` absent (benchmarks, tests outside a worker): no run judged anything.
 */
export function createMeasureTriggers(deps: ActivityDeps, judgedRuns?: JudgedRuns) {
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
    const runs = judgedRuns ? await judgedRuns(model, JUDGED_RUNS_READ, lastTriggered?.workflowId) : [];
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
    const judged = await judgedAfter(deps, spec, runs, production?.trainedOn.to);
    if (judged) {
      const since = await recordsAfter(deps.buffer, spec, judged.to);
      figures.judgedBy = { ...judged, records: Math.max(0, figures.newRecords - since) };
      figures.newRecords = since;
    }
    const rejected = rejectedInARow(runs);
    const predictions = report.versions.reduce((n, v) => n + v.all.predictions, 0);
    return {
      triggers,
      figures,
      ...(lastRun ? { lastRun } : {}),
      ...(rejected.length ? { rejected } : {}),
      scanned: { predictions, records: stats.records },
    };
  };
}

/**
 * The latest of `runs` that exported a dataset (a run rejected for too little data exported none),
 * when its window ended after `productionTo`, the production version's: new records count from there.
 */
async function judgedAfter(
  deps: ActivityDeps,
  spec: ModelSpec,
  runs: JudgedRunRecord[],
  productionTo: string | undefined,
): Promise<Omit<JudgedRun, 'records'> | undefined> {
  for (const run of runs) {
    const found = await getJson(
      deps.store,
      manifestKey(datasetKey(spec.name, run.workflowId)),
      DatasetManifestSchema,
    );
    if (!found) continue;
    const { to } = found.value.window;
    if (productionTo !== undefined && Date.parse(to) <= Date.parse(productionTo)) return undefined;
    return { workflowId: run.workflowId, status: run.status, to };
  }
  return undefined;
}

/** The triggered runs rejected in a row, newest first, until a run that completed or was not triggered. */
function rejectedInARow(runs: JudgedRunRecord[]): RejectedRun[] {
  const rejected: RejectedRun[] = [];
  for (const run of runs) {
    if (run.status !== 'rejected' || !run.triggeredOn) break;
    const { figures } = run.triggeredOn;
    rejected.push({ workflowId: run.workflowId, at: run.closedAt, ...(figures ? { figures } : {}) });
  }
  return rejected;
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
