import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';

import { createLogger, redactSecrets, type LoggerSettings } from '../config/logger';
import { coachingRoutes } from '../control/coaching/coaching-routes';
import { controlPlane, type TrainingBackend } from '../control/control-plane';
import type { LiveReport } from '../monitoring/live-metrics';
import type { DataBuffer } from '../storage/buffer';
import type { Ingestor } from '../storage/ingest';
import { StoredLiveReports } from '../monitoring/stored-live-reports';
import type { PredictionLog } from '../storage/prediction-log';
import type { ModelRegistry } from '../storage/registry';
import { DEFAULT_BODY_LIMIT_BYTES } from './body-limit';
import { dataPlane } from './data-plane';
import { errorHandler } from './error-handler';
import { DEFAULT_HTTP_TIMEOUTS, fastifyTimeouts, type HttpTimeouts } from './http-timeouts';
import { ERROR_TABLE } from './error-table';
import { ServingMetrics } from './metrics';
import { joinFleet, type FleetMember, type FleetSettings } from './fleet-member';
import { ModelPool, type StartupReport } from './model-pool';

/** Options of {@link createServer}. */
export interface ServerOptions {
  registry: ModelRegistry;
  /**
   * The dashboard's links into the Temporal Web UI, the servers its rollback reloads, and whether its
   * reads answer without the API key (`RETRAIN_DASHBOARD_PUBLIC`). @default reads need the key
   */
  dashboard?: { temporalUiUrl: string; namespace: string; servingUrls: string[]; public?: boolean };
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
  /** `RETRAIN_COACHING_ROUTES_OPEN`: FinCoach's routes answer without the API key (logged as a warning). @default false */
  coachingRoutesOpen?: boolean;
  /** The models the FinCoach routes' overviews list (`RETRAIN_COACHING_MODELS`); absent: every model. */
  coachingModels?: readonly string[];
  /** Bodies of `POST /predict` and the admin routes above this are answered 413 naming the limit. @default 8 MiB */
  bodyLimitBytes?: number;
  /** The same for `POST /ingest`. @default 16 MiB */
  ingestBodyLimitBytes?: number;
  /** How long a client may take to send its headers and its request, and stay idle. @default {@link DEFAULT_HTTP_TIMEOUTS} */
  timeouts?: HttpTimeouts;
  /** Records every /predict answer (sampled; see storage/prediction-log.ts); the caller closes it. */
  predictionLog?: PredictionLog;
  /**
   * With `ingestor`: /predict appends its rows to the buffer for models whose spec does not say
   * (`predictFeedsBuffer`). `RETRAIN_PREDICT_FEEDS_BUFFER`. @default false
   */
  predictFeedsBuffer?: boolean;
  /** Production models the start-up load loads at once (`RETRAIN_LOAD_CONCURRENCY`). @default 8 */
  loadConcurrency?: number;
  /**
   * With `predictionLog`: the data buffer the actuals arrive in, for `GET /admin/monitor` and the
   * `retrain_live_error` gauges (refreshed every `liveEveryMs` for the loaded models).
   */
  buffer?: DataBuffer;
  /** @default 60000 */
  liveEveryMs?: number;
  /** Where and how often {@link InferenceServer.joinFleet} announces the server and polls the aliases. */
  fleet?: FleetSettings;
}

/** The inference server before it listens: the Fastify app and its start-up load. */
export interface InferenceServer {
  app: FastifyInstance;
  pool: ModelPool;
  /** Loads every model's production version; `/readyz` answers 200 once it has run. */
  loadProductionModels(): Promise<StartupReport>;
  /**
   * With `fleet`: announces the server at `url` (where it listens, as the fleet reaches it) and follows
   * the production aliases until the app closes; settles after the first heartbeat and poll.
   */
  joinFleet(url: string): Promise<void>;
}

/** Builds the inference server (its data and control planes, one error handler); the caller listens and closes. */
export function createServer(opts: ServerOptions): InferenceServer {
  const bodyLimit = opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const app = Fastify({
    bodyLimit,
    ...fastifyTimeouts(opts.timeouts ?? DEFAULT_HTTP_TIMEOUTS),
    ...loggerOptions(opts.logger),
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler(errorHandler(ERROR_TABLE, bodyLimit));
  const metrics = new ServingMetrics();
  if (opts.predictionLog) metrics.watchPredictionLog(opts.predictionLog.faults);
  const pool = new ModelPool(opts.registry, metrics, opts.loadConcurrency);
  let startup: StartupReport | undefined;
  app.addHook('onClose', async () => pool.close());
  let member: FleetMember | undefined;
  // Before the server stops listening: reloads stop counting on it while it drains.
  app.addHook('preClose', async () => member?.leave());

  const { registry, apiKey, defaultModel, predictionLog, buffer } = opts;
  void app.register(dataPlane, {
    ...{ registry, pool, metrics, apiKey, defaultModel, predictionLog },
    startup: () => startup,
    ingestor: opts.ingestor,
    ingestBodyLimitBytes: opts.ingestBodyLimitBytes,
    predictFeedsBuffer: opts.predictFeedsBuffer,
  });
  void app.register(controlPlane, {
    ...{ registry, apiKey, defaultModel, temporal: opts.temporal },
    dashboard: {
      temporalUiUrl: opts.dashboard?.temporalUiUrl ?? 'http://127.0.0.1:8233',
      namespace: opts.dashboard?.namespace ?? 'default',
      servingUrls: opts.dashboard?.servingUrls ?? [],
      public: opts.dashboard?.public ?? false,
      knownModels: () => pool.knownModels(),
    },
    ...(buffer && predictionLog
      ? {
          live: {
            // What the monitor measured, from the registry's store, before measuring here.
            sources: { buffer, predictionLog, stored: new StoredLiveReports(registry.store) },
            everyMs: opts.liveEveryMs ?? 60_000,
            onReport: (report: LiveReport) => metrics.live(report),
            models: () => pool.list().map((slot) => slot.model),
          },
        }
      : {}),
  });
  void app.register(coachingRoutes, {
    prefix: '/coaching/continuous-learning',
    ...{
      registry,
      apiKey,
      temporal: opts.temporal,
      open: opts.coachingRoutesOpen,
      models: opts.coachingModels,
    },
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
    joinFleet(url) {
      if (!opts.fleet) throw new Error('joinFleet needs the fleet option of createServer');
      member = joinFleet(opts.fleet, { url, pool, registry, log: app.log });
      return member.ready;
    },
  };
}

/** Fastify's logger options: the shared logger (config/logger), its request lines redacted, or none. */
function loggerOptions(logger: ServerOptions['logger']) {
  if (!logger) return { logger: false };
  const base = createLogger({ name: 'serving', ...(logger === true ? {} : logger) });
  return {
    loggerInstance: base.child({}, { serializers: { req: requestForLog } }) as FastifyBaseLogger,
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
