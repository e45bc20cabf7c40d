import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify';

import { formatIssues } from '../common/format-issues';
import type { Ingestor } from '../storage/ingest';
import type { ModelRegistry } from '../storage/registry';
import { createLogger, redactSecrets, type LoggerSettings } from '../config/logger';
import { adminRoutes } from './admin';
import { BODY_TOO_LARGE, bodyTooLargeMessage, DEFAULT_BODY_LIMIT_BYTES } from './body-limit';
import type { DataBuffer } from '../storage/buffer';
import type { PredictionLog } from '../storage/prediction-log';
import { monitorReport, monitorRoutes } from './monitor-route';
import { buildFeatures, FeatureError, ModelRowsBodySchema } from './features';
import { ingestRoutes } from './ingest-route';
import { NO_VERSION_LABEL, ServingMetrics } from './metrics';
import { ModelPool, type StartupReport } from './model-pool';
import type { LiveReport } from '../monitoring/live-metrics';
import { dashboardRoutes } from './dashboard';
import { trainingAdminRoutes, type TrainingBackend } from './training-admin';

/** Metrics label for requests that name no model this server knows, so label cardinality stays bounded. */
const UNKNOWN_MODEL_LABEL = '_unknown';

/** Options of {@link createServer}. */
export interface ServerOptions {
  registry: ModelRegistry;
  /** The dashboard's links into the Temporal Web UI, and the servers its rollback reloads. */
  dashboard?: { temporalUiUrl: string; namespace: string; servingUrls: string[] };
  /** Guards the admin and ingest routes; without one they answer 503. */
  apiKey?: string;
  /**
   * Structured logs through the shared logger (config/logger): `true` for JSON on stderr, or its
   * settings (format, level, a destination tests read). @default false
   */
  logger?: boolean | LoggerSettings;
  /** Serves `POST /ingest` into the data buffer when given. */
  ingestor?: Ingestor;
  /** Backs the training admin routes (`/admin/trigger-training` ...); without it they answer 503. */
  temporal?: TrainingBackend;
  /** The model the daemon-style admin routes mean when a request names none (`RETRAIN_DEFAULT_MODEL`). */
  defaultModel?: string;
  /** Bodies of `POST /predict` and the admin routes above this are answered 413 naming the limit. @default 8 MiB */
  bodyLimitBytes?: number;
  /** The same for `POST /ingest`. @default 16 MiB */
  ingestBodyLimitBytes?: number;
  /** Records every /predict answer (sampled; see storage/prediction-log.ts); the caller closes it. */
  predictionLog?: PredictionLog;
  /**
   * With `predictionLog`: the data buffer the actuals arrive in, for `GET /admin/monitor` and the
   * `retrain_live_error` gauges (refreshed every `liveEveryMs` for the loaded models).
   */
  buffer?: DataBuffer;
  /** @default 60000 */
  liveEveryMs?: number;
}

/** The inference server before it listens: the Fastify app and its start-up load. */
export interface InferenceServer {
  app: FastifyInstance;
  pool: ModelPool;
  /** Loads every model's production version; `/readyz` answers 200 once it has run. */
  loadProductionModels(): Promise<StartupReport>;
}

/** Builds the inference server (predict, admin, health and metrics routes); the caller listens and closes. */
export function createServer(opts: ServerOptions): InferenceServer {
  const bodyLimit = opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const app = Fastify({
    bodyLimit,
    ...(opts.logger
      ? {
          loggerInstance: createLogger({
            name: 'serving',
            ...(opts.logger === true ? {} : opts.logger),
          }).child({}, { serializers: { req: requestForLog } }) as FastifyBaseLogger,
        }
      : { logger: false }),
  });
  const metrics = new ServingMetrics();
  const pool = new ModelPool(opts.registry, metrics);
  let startup: StartupReport | undefined;

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.code === BODY_TOO_LARGE)
      return reply
        .code(413)
        .send({ error: bodyTooLargeMessage(request.routeOptions.bodyLimit ?? bodyLimit) });
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) request.log.error(err);
    return reply.code(status).send({ error: status >= 500 ? 'internal error' : err.message });
  });
  app.addHook('onClose', async () => pool.close());

  app.post('/predict', async (request, reply) => {
    const started = process.hrtime.bigint();
    const body = ModelRowsBodySchema.safeParse(request.body);
    const named = (request.body as { model?: unknown } | undefined)?.model;
    const model = typeof named === 'string' && pool.isKnown(named) ? named : UNKNOWN_MODEL_LABEL;
    // The version serving now; the one that answers once its slot is taken.
    let version = (model === UNKNOWN_MODEL_LABEL ? undefined : pool.get(model)?.version) ?? NO_VERSION_LABEL;
    const answer = (status: number, payload: unknown) => {
      metrics.predicted(model, version, status, Number(process.hrtime.bigint() - started) / 1e9);
      return reply.code(status).send(payload);
    };
    if (!body.success) return answer(400, { error: `invalid request: ${formatIssues(body.error)}` });
    const slot = pool.get(body.data.model);
    if (!slot) {
      if (model === UNKNOWN_MODEL_LABEL) return answer(404, { error: `unknown model ${body.data.model}` });
      return answer(503, { error: `model ${body.data.model} has no loaded version on this server` });
    }
    version = slot.version;
    const pre = slot.preprocessing;
    let features;
    try {
      features = buildFeatures(body.data.rows, pre);
    } catch (err) {
      if (err instanceof FeatureError) return answer(400, { error: err.message });
      throw err;
    }
    let outputs: Float32Array;
    try {
      outputs = await slot.predict(features.x, features.width);
    } catch (err) {
      request.log.error(err);
      return answer(500, { error: 'prediction failed' });
    }
    const predictions = features.keys.map(({ value, ...key }, i) => {
      const raw = outputs[i] ?? Number.NaN;
      if (pre.task === 'classify') return { ...key, value: raw, label: raw >= 0.5 ? 1 : 0 };
      return { ...key, value: value(raw) };
    });
    if (opts.predictionLog) {
      const predictedAt = Date.now();
      const records = predictions.map((p) => ({
        model: slot.model,
        version: slot.version,
        entity: String(p.entity),
        time: Date.parse(p.time),
        for: 'for' in p && p.for !== undefined ? Date.parse(p.for) : null,
        value: p.value,
        label: 'label' in p ? p.label : null,
        predictedAt,
      }));
      // Not awaited: waiting for the journal write cost 10 % of throughput and 7 ms at p50 (bench/serve);
      // a SIGKILL can lose the last milliseconds of answers, a graceful close none. An answer stays
      // right when the log cannot take it: that is logged and counted, not turned into an error.
      void opts.predictionLog.record(records).catch((err: unknown) => {
        metrics.predictionLogFailed(slot.model);
        request.log.error({ err }, 'prediction log write failed');
      });
    }
    return answer(200, { model: slot.model, version: slot.version, predictions });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    if (!startup) return reply.code(503).send({ ready: false, reason: 'loading production models' });
    return {
      ready: true,
      models: Object.fromEntries(pool.list().map((s) => [s.model, s.version])),
      failed: startup.failed,
    };
  });

  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.contentType).send(await metrics.render()),
  );

  void app.register(adminRoutes, {
    prefix: '/admin',
    pool,
    registry: opts.registry,
    apiKey: opts.apiKey,
    defaultModel: opts.defaultModel,
  });
  void app.register(trainingAdminRoutes, {
    prefix: '/admin',
    registry: opts.registry,
    apiKey: opts.apiKey,
    temporal: opts.temporal,
    defaultModel: opts.defaultModel,
  });
  const monitored =
    opts.buffer && opts.predictionLog
      ? { buffer: opts.buffer, predictionLog: opts.predictionLog }
      : undefined;
  let liveReport: ((model: string) => Promise<LiveReport>) | undefined;
  if (monitored) {
    const live = { registry: opts.registry, ...monitored };
    const liveEveryMs = opts.liveEveryMs ?? 60_000;
    void app.register(monitorRoutes, {
      prefix: '/admin',
      ...live,
      apiKey: opts.apiKey,
      onReport: (report) => metrics.live(report),
    });
    // The latest 7-day report per model, refreshed every liveEveryMs: the gauges and the dashboard
    // read it rather than scanning the prediction log on every poll.
    const latest = new Map<string, { at: number; report: LiveReport }>();
    const measure = async (model: string) => {
      const report = await monitorReport(live, model);
      latest.set(model, { at: Date.now(), report });
      metrics.live(report);
      return report;
    };
    liveReport = async (model) => {
      const kept = latest.get(model);
      return kept && Date.now() - kept.at < liveEveryMs ? kept.report : measure(model);
    };
    const refresh = async () => {
      for (const slot of pool.list())
        await measure(slot.model).catch((err: unknown) =>
          app.log.warn({ err, model: slot.model }, 'live metrics not refreshed'),
        );
    };
    const timer = setInterval(() => void refresh(), liveEveryMs);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  }
  void app.register(dashboardRoutes, {
    prefix: '/ui',
    registry: opts.registry,
    apiKey: opts.apiKey,
    temporal: opts.temporal,
    ...(liveReport ? { liveReport } : {}),
    temporalUiUrl: opts.dashboard?.temporalUiUrl ?? 'http://localhost:8233',
    namespace: opts.dashboard?.namespace ?? 'default',
    servingUrls: opts.dashboard?.servingUrls ?? [],
  });
  if (opts.ingestor)
    void app.register(ingestRoutes, {
      ingestor: opts.ingestor,
      apiKey: opts.apiKey,
      onIngested: (model, rows) => metrics.ingested(model, rows),
      bodyLimitBytes: opts.ingestBodyLimitBytes,
    });

  return {
    app,
    pool,
    async loadProductionModels() {
      const report = await pool.loadProduction();
      for (const failure of report.failed) app.log.error(failure, 'production model failed to load');
      if (report.loaded.length) app.log.info({ loaded: report.loaded }, 'production models loaded');
      startup = report;
      return report;
    },
  };
}

/**
 * The request fields Fastify logs, with the values of secret query parameters redacted as secret log
 * fields are: a key sent as `?api_key=` by mistake must not end up in the logs with the URL.
 */
function requestForLog(req: FastifyRequest) {
  const at = req.url.indexOf('?');
  let url = req.url;
  if (at !== -1) {
    const query = redactSecrets(Object.fromEntries(new URLSearchParams(req.url.slice(at + 1)))) as Record<
      string,
      string
    >;
    url = `${req.url.slice(0, at)}?${new URLSearchParams(query).toString()}`;
  }
  return { method: req.method, url, host: req.host, remoteAddress: req.ip };
}
