type Labels = Record<string, string>;

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A metric family keyed by its label set, rendered in the Prometheus text format (0.0.4). */
class Family {
  protected readonly series = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
  ) {}

  add(labels: Labels, by: number): void {
    const key = labelText(labels);
    const entry = this.series.get(key) ?? { labels, value: 0 };
    entry.value += by;
    this.series.set(key, entry);
  }

  set(labels: Labels, value: number): void {
    this.series.set(labelText(labels), { labels, value });
  }

  /** Drops every series whose labels include `match`. */
  remove(match: Labels): void {
    for (const [key, entry] of this.series) {
      if (Object.entries(match).every(([k, v]) => entry.labels[k] === v)) this.series.delete(key);
    }
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const [key, { value }] of this.series) lines.push(`${this.name}${key} ${value}`);
    return lines;
  }
}

class Histogram {
  private readonly series = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {}

  observe(labels: Labels, value: number): void {
    const key = labelText(labels);
    const entry = this.series.get(key) ?? { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    this.buckets.forEach((bound, i) => {
      if (value <= bound) entry.counts[i] = (entry.counts[i] ?? 0) + 1;
    });
    entry.sum += value;
    entry.count++;
    this.series.set(key, entry);
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((bound, i) => {
        lines.push(`${this.name}_bucket${labelText({ ...labels, le: String(bound) })} ${counts[i] ?? 0}`);
      });
      lines.push(`${this.name}_bucket${labelText({ ...labels, le: '+Inf' })} ${count}`);
      lines.push(
        `${this.name}_sum${labelText(labels)} ${sum}`,
        `${this.name}_count${labelText(labels)} ${count}`,
      );
    }
    return lines;
  }
}

/** The inference server's metrics, served on `GET /metrics`. */
export class ServingMetrics {
  private readonly predictRequests = new Family(
    'retrain_predict_requests_total',
    'Predict requests by model and HTTP status.',
    'counter',
  );
  private readonly reloads = new Family(
    'retrain_reloads_total',
    'Model loads and reloads by model and result (success or failure).',
    'counter',
  );
  private readonly versionInfo = new Family(
    'retrain_model_version_info',
    'The version each model serves (always 1).',
    'gauge',
  );
  private readonly latency = new Histogram(
    'retrain_predict_duration_seconds',
    'Predict request latency in seconds.',
    LATENCY_BUCKETS,
  );

  /** Counts one predict request and, for known models, its latency. */
  predicted(model: string, status: number, seconds: number): void {
    this.predictRequests.add({ model, status: String(status) }, 1);
    this.latency.observe({ model }, seconds);
  }

  reloaded(model: string, result: 'success' | 'failure'): void {
    this.reloads.add({ model, result }, 1);
  }

  serving(model: string, version: string): void {
    this.versionInfo.remove({ model });
    this.versionInfo.set({ model, version }, 1);
  }

  render(): string {
    return (
      [this.predictRequests, this.reloads, this.versionInfo, this.latency]
        .flatMap((m) => m.render())
        .join('\n') + '\n'
    );
  }
}

function labelText(labels: Labels): string {
  const pairs = Object.entries(labels).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
  );
  return pairs.length ? `{${pairs.join(',')}}` : '';
}
