import type { FastifyPluginAsync } from 'fastify';

import type { LiveReport } from '../monitoring/live-metrics';
import type { ModelRegistry } from '../storage/registry';
import { dashboardRoutes } from './dashboard';
import { LiveReports, type LiveSources } from './live-reports';
import { monitorRoutes } from './monitor-route';
import { queueRoutes } from './queue-route';
import { trainingAdminRoutes } from './training-admin';
import type { TrainingBackend } from './training-params';

export type { TrainingBackend } from './training-params';

/** Options of {@link controlPlane}. */
export interface ControlPlaneOptions {
  registry: ModelRegistry;
  /** Guards the admin routes and the dashboard's actions; without one they answer 503. */
  apiKey?: string;
  /** Backs the training routes and the dashboard's runs; without it they answer 503. */
  temporal?: TrainingBackend;
  /** The model the daemon-style routes mean when a request names none (`RETRAIN_DEFAULT_MODEL`). */
  defaultModel?: string;
  /** The dashboard's links into the Temporal Web UI, the servers its rollback reloads, whether its reads are open. */
  dashboard: {
    temporalUiUrl: string;
    namespace: string;
    servingUrls: string[];
    public: boolean;
    /** The models the server knows (its pool's), so the dashboard's first poll need not list the registry. */
    knownModels?: () => string[];
  };
  /**
   * Live figures: `GET /admin/monitor` and the dashboard's, every report to `onReport`, those of
   * `models()` measured every `everyMs`. Without it neither route nor figures.
   */
  live?: {
    sources: Omit<LiveSources, 'registry'>;
    everyMs: number;
    onReport: (report: LiveReport) => void;
    models: () => string[];
  };
}

/**
 * The inference server's control plane: the NordIQ daemon's training API, `GET /admin/queue` and `GET /admin/monitor`
 * under `/admin`, the dashboard under `/ui`. It acts on runs (Temporal), the registry and the fleet,
 * never on this server's loaded models (the data plane, serving/).
 */
export const controlPlane: FastifyPluginAsync<ControlPlaneOptions> = async (app, opts) => {
  const { registry, apiKey, temporal, defaultModel, live } = opts;
  await app.register(trainingAdminRoutes, { prefix: '/admin', registry, apiKey, temporal, defaultModel });
  await app.register(queueRoutes, { prefix: '/admin', apiKey, temporal });
  let reports: LiveReports | undefined;
  if (live) {
    reports = new LiveReports({ registry, ...live.sources }, live.everyMs, live.onReport);
    await app.register(monitorRoutes, { prefix: '/admin', reports, apiKey });
    const stop = reports.every(live.models, (err, model) =>
      app.log.warn({ err, model }, 'live metrics not refreshed'),
    );
    app.addHook('onClose', async () => stop());
  }
  await app.register(dashboardRoutes, {
    prefix: '/ui',
    registry,
    apiKey,
    temporal,
    ...(reports ? { liveReport: (model: string) => reports.get(model) } : {}),
    ...opts.dashboard,
  });
};
