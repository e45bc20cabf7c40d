import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LiveReport } from '../monitoring/live-metrics';
import { PREDICTION_LOG_FAULT_KINDS, type PredictionLogFaults } from '../storage/prediction-log-faults';

/** Predict latency bounds, seconds: a millisecond to a slow five-second batch. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The `version` label of a request no loaded version answered (unknown model, nothing loaded yet). */
export const NO_VERSION_LABEL = 'none';

/**
 * The inference server's metrics, served on `GET /metrics`: Node's process metrics (prom-client's
 * defaults) and the server's own series. Each server keeps its own registry, so several in one
 * process (tests) do not share counts.
 */
export class ServingMetrics {
  readonly registry = new Registry();
  private readonly predictRequests = new Counter({
    name: 'retrain_predict_requests_total',
    help: 'Predict requests by model and HTTP status.',
    labelNames: ['model', 'status'] as const,
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'retrain_predict_duration_seconds',
    help: 'Predict request latency in seconds, by model and the version that answered.',
    labelNames: ['model', 'version'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly reloads = new Counter({
    name: 'retrain_reloads_total',
    help: 'Model loads and reloads by model and result (success or failure).',
    labelNames: ['model', 'result'] as const,
    registers: [this.registry],
  });
  private readonly versionInfo = new Gauge({
    name: 'retrain_model_version_info',
    help: 'The version each model serves (always 1).',
    labelNames: ['model', 'version'] as const,
    registers: [this.registry],
  });
  private readonly ingestRows = new Counter({
    name: 'retrain_ingest_rows_total',
    help: 'Rows POST /ingest wrote to the data buffer (duplicates not counted), by model.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  private readonly predictionLogFailures = new Counter({
    name: 'retrain_prediction_log_failures_total',
    help: 'Predict answers the prediction log could not record, by model.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  private readonly predictionLogFaultSource: { faults?: PredictionLogFaults } = {};
  private readonly predictionLogFaults = new Counter({
    name: 'retrain_prediction_log_faults_total',
    help: 'Faults the prediction log met and contained: journal writes that failed (a full disk), journals that failed to turn into Parquet, torn journal lines cut.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
    collect: collectFaults(this.predictionLogFaultSource),
  });
  private readonly liveError = new Gauge({
    name: 'retrain_live_error',
    help: 'Live figures of each version over the monitor window: logged predictions against the actuals ingested since.',
    labelNames: ['model', 'version', 'metric'] as const,
    registers: [this.registry],
  });
  private readonly served = new Map<string, string>();
  /** Per model, the versions this server served and then replaced: their series are gone and stay gone. */
  private readonly retired = new Map<string, Set<string>>();
  /** The `metric` labels of the live gauges set, per model and version, to remove them with it. */
  private readonly liveMetrics = new Map<string, Map<string, Set<string>>>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Counts one predict request and observes its latency. A request the replaced version was still
   * answering at a reload is counted but not timed: timing it would bring back the retired series.
   */
  predicted(model: string, version: string, status: number, seconds: number): void {
    this.predictRequests.inc({ model, status: String(status) });
    if (!this.isRetired(model, version)) this.latency.observe({ model, version }, seconds);
  }

  reloaded(model: string, result: 'success' | 'failure'): void {
    this.reloads.inc({ model, result });
  }

  /**
   * Records that `model` now serves `version`. The series of the version it replaced (its version
   * info, latency histogram and live gauges) are removed, so a server that reloads for months does
   * not keep a series set per version it ever served; serving a version again (a rollback) brings its series back.
   */
  serving(model: string, version: string): void {
    const before = this.served.get(model);
    this.retired.get(model)?.delete(version);
    if (before !== undefined && before !== version) this.retire(model, before);
    this.versionInfo.set({ model, version }, 1);
    this.served.set(model, version);
  }

  /**
   * Sets the live gauges of a model from its report (every metric of each version's window), but for
   * versions this server replaced: the window still holds their predictions for days.
   */
  live(report: LiveReport): void {
    const { model } = report;
    for (const v of report.versions) {
      if (this.isRetired(model, v.version)) continue;
      for (const [metric, value] of Object.entries(v.window.metrics))
        if (Number.isFinite(value)) {
          this.liveError.set({ model, version: v.version, metric }, value);
          this.liveMetricsOf(model, v.version).add(metric);
        }
    }
  }

  /** Serves the faults of the prediction log this server records to. */
  watchPredictionLog(faults: PredictionLogFaults): void {
    this.predictionLogFaultSource.faults = faults;
  }

  predictionLogFailed(model: string): void {
    this.predictionLogFailures.inc({ model });
  }

  ingested(model: string, rows: number): void {
    this.ingestRows.inc({ model }, rows);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  private retire(model: string, version: string): void {
    this.versionInfo.remove({ model, version });
    this.latency.remove({ model, version });
    for (const metric of this.liveMetrics.get(model)?.get(version) ?? [])
      this.liveError.remove({ model, version, metric });
    this.liveMetrics.get(model)?.delete(version);
    const retired = this.retired.get(model) ?? new Set<string>();
    retired.add(version);
    this.retired.set(model, retired);
  }

  private isRetired(model: string, version: string): boolean {
    return this.retired.get(model)?.has(version) ?? false;
  }

  private liveMetricsOf(model: string, version: string): Set<string> {
    const versions = this.liveMetrics.get(model) ?? new Map<string, Set<string>>();
    this.liveMetrics.set(model, versions);
    const metrics = versions.get(version) ?? new Set<string>();
    versions.set(version, metrics);
    return metrics;
  }
}

/** Reads the prediction log's fault counts at each scrape (the log lives in storage/, which has no registry). */
function collectFaults(source: { faults?: PredictionLogFaults }): (this: Counter<'kind'>) => void {
  return function (this: Counter<'kind'>) {
    if (!source.faults) return;
    this.reset();
    for (const kind of PREDICTION_LOG_FAULT_KINDS) this.inc({ kind }, source.faults.count(kind));
  };
}
