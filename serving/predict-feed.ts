import type { FastifyBaseLogger } from 'fastify';
import { Counter, type Registry } from 'prom-client';

import { ModelNotFoundError, type ModelRegistry } from '../storage/registry';
import { RowCheckError, type IngestOptions, type Ingestor } from '../storage/ingest';

/** Options of {@link PredictFeed}. */
export interface PredictFeedOptions {
  ingestor: Ingestor;
  /** Where a model's spec says whether its /predict rows feed the buffer (`predictFeedsBuffer`). */
  registry: ModelRegistry;
  /** `RETRAIN_PREDICT_FEEDS_BUFFER`: whether models whose spec does not say are fed. @default false */
  serverDefault?: boolean;
  /** Where `retrain_predict_feed_rows_total` is registered (the server's /metrics). */
  metrics: Registry;
  log: FastifyBaseLogger;
  /** Rows waiting at most; the rows of a request that would pass it are dropped and counted. @default 100000 */
  maxQueuedRows?: number;
  /** Waiting rows are appended this long after the first of them arrived ... @default 1000 */
  flushEveryMs?: number;
  /** ... or as soon as this many wait. @default 10000 */
  flushRows?: number;
  /** How long a spec's answer (fed or not) is trusted before it is read again. @default 10000 */
  specTtlMs?: number;
}

/** What became of rows /predict was sent, as `retrain_predict_feed_rows_total{model,result}` counts them. */
export type FeedResult = 'inserted' | 'duplicate' | 'dropped' | 'failed';

/**
 * Stored as ingest stores (the row in the buffer wins): a (time, entity) sent twice with other values
 * keeps the first; columns the spec does not name (extra keys a /predict client sends) are dropped.
 */
const APPEND: IngestOptions = { onConflict: 'first', extraColumns: 'drop' };

/**
 * Appends the rows /predict answered to the data buffer, off the request path: {@link offer} only
 * queues them (bounded: past `maxQueuedRows` a request's rows are dropped and counted, never waited
 * for); a flush at most every `flushEveryMs` ingests each model's waiting rows as one batch through
 * the {@link Ingestor}, so they are checked and deduplicated as `POST /ingest` rows are. A model is fed
 * when its spec's `predictFeedsBuffer` says so, else when the server's default does. {@link close}
 * appends what waits.
 */
export class PredictFeed {
  private queued = new Map<string, unknown[][]>();
  private queuedRows = 0;
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private closed = false;
  private readonly decisions = new Map<string, { feeds: boolean; until: number }>();
  private readonly counter: Counter<'model' | 'result'>;
  private readonly maxQueuedRows: number;
  private readonly flushEveryMs: number;
  private readonly flushRows: number;
  private readonly specTtlMs: number;

  constructor(private readonly options: PredictFeedOptions) {
    this.maxQueuedRows = options.maxQueuedRows ?? 100_000;
    this.flushEveryMs = options.flushEveryMs ?? 1000;
    this.flushRows = options.flushRows ?? 10_000;
    this.specTtlMs = options.specTtlMs ?? 10_000;
    this.counter = new Counter({
      name: 'retrain_predict_feed_rows_total',
      help: 'Rows POST /predict was sent, by what became of them in the data buffer: inserted, duplicate, dropped (queue full), failed.',
      labelNames: ['model', 'result'] as const,
      registers: [options.metrics],
    });
  }

  /** Queues the rows of one answered request for the buffer; returns at once, whatever happens to them. */
  offer(model: string, rows: unknown[]): void {
    const known = this.decisions.get(model);
    if (known && known.until > Date.now() && !known.feeds) return;
    if (this.closed || this.queuedRows + rows.length > this.maxQueuedRows) {
      this.count(model, 'dropped', rows.length);
      return;
    }
    const batches = this.queued.get(model);
    if (batches) batches.push(rows);
    else this.queued.set(model, [rows]);
    this.queuedRows += rows.length;
    if (this.queuedRows >= this.flushRows) this.flushSoon(0);
    else this.flushSoon(this.flushEveryMs);
  }

  /** Appends every queued row, then refuses more (they are counted as dropped). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.flushing || this.queuedRows > 0) await (this.flushing ?? this.flush());
  }

  private count(model: string, result: FeedResult, rows: number): void {
    if (rows > 0) this.counter.inc({ model, result }, rows);
  }

  private flushSoon(delayMs: number): void {
    if (this.flushing) return;
    if (delayMs === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delayMs);
  }

  private flush(): Promise<void> {
    const taken = this.queued;
    this.queued = new Map();
    this.queuedRows = 0;
    this.flushing = Promise.all([...taken].map(([model, batches]) => this.append(model, batches)))
      .then(() => undefined)
      .finally(() => {
        this.flushing = undefined;
        if (this.queuedRows > 0 && !this.closed) this.flushSoon(this.flushEveryMs);
      });
    return this.flushing;
  }

  /** One model's waiting rows as one ingest batch; a bad request's rows fail alone (the batch is retried per request). */
  private async append(model: string, batches: unknown[][]): Promise<void> {
    const rows = batches.flat();
    try {
      if (!(await this.feeds(model))) return;
    } catch (err) {
      return this.failed(model, rows.length, err);
    }
    try {
      this.record(model, await this.options.ingestor.ingestRows(model, rows, APPEND));
    } catch (err) {
      if (!(err instanceof RowCheckError) || batches.length === 1)
        return this.failed(model, rows.length, err);
      for (const batch of batches) {
        await this.options.ingestor.ingestRows(model, batch, APPEND).then(
          (result) => this.record(model, result),
          (cause: unknown) => this.failed(model, batch.length, cause),
        );
      }
    }
  }

  private record(model: string, result: { inserted: number; duplicates: number; conflictsResolved: number }) {
    this.count(model, 'inserted', result.inserted);
    this.count(model, 'duplicate', result.duplicates + result.conflictsResolved);
  }

  private failed(model: string, rows: number, err: unknown): void {
    this.count(model, 'failed', rows);
    this.options.log.warn({ err, model, rows }, 'predict rows not appended to the buffer');
  }

  /** Whether the model's rows are fed: its spec's `predictFeedsBuffer`, else the server's default (cached). */
  private async feeds(model: string): Promise<boolean> {
    const known = this.decisions.get(model);
    if (known && known.until > Date.now()) return known.feeds;
    const spec = await this.options.registry.loadSpec(model).catch((err: unknown) => {
      if (err instanceof ModelNotFoundError) return undefined;
      throw err;
    });
    const feeds = spec?.predictFeedsBuffer ?? (spec !== undefined && this.options.serverDefault === true);
    this.decisions.set(model, { feeds, until: Date.now() + this.specTtlMs });
    return feeds;
  }
}
