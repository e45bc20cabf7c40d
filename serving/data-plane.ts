import type { FastifyPluginAsync } from 'fastify';

import type { Ingestor } from '../storage/ingest';
import type { PredictionLog } from '../storage/prediction-log';
import type { ModelRegistry } from '../storage/registry';
import { adminRoutes } from './admin';
import { ingestRoutes } from './ingest-route';
import type { ServingMetrics } from './metrics';
import type { ModelPool, StartupReport } from './model-pool';
import { predictRoutes } from './predict-route';

/** Options of {@link dataPlane}. */
export interface DataPlaneOptions {
  registry: ModelRegistry;
  pool: ModelPool;
  metrics: ServingMetrics;
  /** What the start-up load did; undefined until it has run (`/readyz` answers 503 until then). */
  startup: () => StartupReport | undefined;
  /** Guards the admin and ingest routes; without one they answer 503. */
  apiKey?: string;
  /** The model `POST /admin/reload-model` means when a request names none (`RETRAIN_DEFAULT_MODEL`). */
  defaultModel?: string;
  /** Serves `POST /ingest` into the data buffer when given. */
  ingestor?: Ingestor;
  /** `POST /ingest` bodies above this are answered 413. @default 16 MiB */
  ingestBodyLimitBytes?: number;
  /** Records every /predict answer; the caller closes it. */
  predictionLog?: PredictionLog;
  /** With `ingestor`: /predict feeds the buffer for models whose spec does not say (`RETRAIN_PREDICT_FEEDS_BUFFER`). */
  predictFeedsBuffer?: boolean;
}

/**
 * The inference server's data plane: `/predict` on the hot-swapped models, `/ingest`, this server's
 * model admin (`/admin/model-info`, `/admin/reload`, `/admin/reload-model`), `/healthz`, `/readyz` and
 * `/metrics`.
 */
export const dataPlane: FastifyPluginAsync<DataPlaneOptions> = async (app, opts) => {
  const { pool, metrics, registry, apiKey, defaultModel, ingestor } = opts;

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const startup = opts.startup();
    if (!startup) {
      const progress = pool.startupProgress();
      return reply.code(503).send({
        ready: false,
        reason: progress
          ? `loading production models: ${progress.done} of ${progress.total} done`
          : 'loading production models: listing the registry',
        ...progress,
      });
    }
    return {
      ready: true,
      models: Object.fromEntries(pool.list().map((s) => [s.model, s.version])),
      failed: startup.failed,
    };
  });
  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.contentType).send(await metrics.render()),
  );

  await app.register(predictRoutes, {
    ...{ pool, metrics, predictionLog: opts.predictionLog },
    ...(ingestor ? { feed: { ingestor, registry, serverDefault: opts.predictFeedsBuffer } } : {}),
  });
  await app.register(adminRoutes, { prefix: '/admin', pool, registry, apiKey, defaultModel });
  if (ingestor)
    await app.register(ingestRoutes, {
      ingestor,
      apiKey,
      onIngested: (model, rows) => metrics.ingested(model, rows),
      bodyLimitBytes: opts.ingestBodyLimitBytes,
    });
};
