import { durationMs } from '../common/durations';
import type { ModelSpec } from '../common/model-spec';
import { liveMetrics, type LiveReport } from '../monitoring/live-metrics';
import type { StoredLiveReports } from '../monitoring/stored-live-reports';
import type { DataBuffer } from '../storage/buffer';
import type { PredictionLog } from '../storage/prediction-log';
import type { ModelRegistry } from '../storage/registry';
import { SingleFlight } from './single-flight';

/** Where live reports come from: the specs, the prediction log and the actuals in the buffer. */
export interface LiveSources {
  registry: ModelRegistry;
  buffer: DataBuffer;
  predictionLog: Pick<PredictionLog, 'source'>;
  /** What the monitor's trigger checks measured; absent: every report is measured here. */
  stored?: Pick<StoredLiveReports, 'latest'>;
}

/**
 * The latest 7-day report per model, measured again once older than `everyMs`: the gauges and the
 * dashboard read it rather than scanning the prediction log on every poll. Every report measured goes
 * to `onReport` (the `retrain_live_error` gauges).
 */
export class LiveReports {
  private readonly latest = new Map<string, { at: number; report: LiveReport }>();
  private readonly measuring = new SingleFlight<LiveReport>();

  constructor(
    private readonly sources: LiveSources,
    private readonly everyMs: number,
    private readonly onReport: (report: LiveReport) => void,
  ) {}

  /** The kept report of `model`, or a new one when it is older than `everyMs`. */
  get(model: string): Promise<LiveReport> {
    const kept = this.latest.get(model);
    return kept && Date.now() - kept.at < this.everyMs ? Promise.resolve(kept.report) : this.measure(model);
  }

  /**
   * Measures `model` now, over `days`; a 7-day report is kept for {@link get}. For a model the
   * monitor checks (one with triggers), that report is the one its last check stored (over the
   * triggers' `liveWindowDays`), while at most two check intervals old: servers do not each scan
   * the prediction log again. Callers asking for the same model and days while a measurement runs
   * share it: a poll of every open dashboard at once runs one join, not one each.
   */
  measure(model: string, days = 7): Promise<LiveReport> {
    return this.measuring.run(`${model}/${days}`, () => this.measureNow(model, days));
  }

  private async measureNow(model: string, days: number): Promise<LiveReport> {
    const spec = await this.sources.registry.loadSpec(model);
    const report =
      (days === 7 ? await this.monitored(spec) : undefined) ??
      (await liveMetrics({ ...this.sources, spec, windowDays: days }));
    if (days === 7) this.latest.set(model, { at: Date.now(), report });
    this.onReport(report);
    return report;
  }

  /** The report the monitor stored for `spec`'s model, when it checks the model and its report is recent. */
  private async monitored({ name, triggers }: ModelSpec): Promise<LiveReport | undefined> {
    if (!this.sources.stored || !triggers) return undefined;
    const found = await this.sources.stored.latest(name);
    if (!found) return undefined;
    const fresh = Date.now() - Date.parse(found.measuredAt) <= 2 * durationMs(triggers.checkEvery);
    return fresh ? found.report : undefined;
  }

  /**
   * Measures every model `models()` names every `everyMs`, until the returned stop is called; a model
   * that fails is told to `onError` and the others go on. A refresh that outlasts `everyMs` (a
   * thousand models) is not overlapped: the tick that finds it running is skipped.
   */
  every(models: () => string[], onError: (err: unknown, model: string) => void): () => void {
    let running = false;
    const refresh = async () => {
      if (running) return;
      running = true;
      try {
        for (const model of models()) await this.measure(model).catch((err: unknown) => onError(err, model));
      } finally {
        running = false;
      }
    };
    const timer = setInterval(() => void refresh(), this.everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
