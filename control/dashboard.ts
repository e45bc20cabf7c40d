import fs from 'node:fs';
import path from 'node:path';

import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { ModelNameSchema } from '../common/model-spec';
import type { LiveReport } from '../monitoring/live-metrics';
import { rollBack, ServersRefusedError } from '../rollout/rollback';
import { describeReloads } from '../rollout/rollout';
import type { ModelRegistry } from '../storage/registry';
import { apiKeyCheck } from './api-key';
import { modelView } from './dashboard-models';
import { RegistryReadCache } from './registry-read-cache';
import { dashboardRunRoutes } from './dashboard-runs';
import type { TrainingBackend } from './training-params';

/** Options of {@link dashboardRoutes}. */
export interface DashboardOptions {
  registry: ModelRegistry;
  apiKey?: string;
  temporal?: TrainingBackend;
  /** A model's live report (the server keeps the latest); absent: the models view shows none. */
  liveReport?: (model: string) => Promise<LiveReport>;
  /** Where the Temporal Web UI is, for links to every run. */
  temporalUiUrl: string;
  namespace: string;
  /** The inference servers a rollback reloads (RETRAIN_SERVING_URLS). */
  servingUrls: string[];
}

const PAGE = path.join(__dirname, 'ui', 'index.html');
// Chart.js's browser build, beside the entry point its exports allow resolving.
const CHART = path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js');
const ModelParamsSchema = z.object({ model: ModelNameSchema });

/**
 * The dashboard at `/ui`: one page (control/ui/index.html, Chart.js from node_modules, no build step)
 * over a small JSON API. Reading is open, as the Temporal Web UI is; starting, cancelling and
 * rolling back need the X-API-Key, which the page keeps in session storage.
 */
export const dashboardRoutes: FastifyPluginAsync<DashboardOptions> = async (app, opts) => {
  const page = fs.readFileSync(PAGE, 'utf8');
  const chart = fs.readFileSync(CHART, 'utf8');
  const needsKey = apiKeyCheck(opts.apiKey, 'dashboard actions disabled: set RETRAIN_API_KEY');
  const workflowsUrl = `${opts.temporalUiUrl}/namespaces/${encodeURIComponent(opts.namespace)}/workflows`;
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const reads = new RegistryReadCache(opts.registry);

  routes.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page));
  routes.get('/chart.js', async (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=86400').send(chart),
  );
  routes.get('/api/config', async () => ({ temporalUi: workflowsUrl }));
  routes.get('/api/models', async () => {
    const models = await reads.listModels();
    return Promise.all(models.map((model) => modelView(reads, opts.liveReport, model)));
  });

  routes.post(
    '/api/models/:model/rollback',
    { onRequest: needsKey, schema: { params: ModelParamsSchema } },
    async (req) => {
      const { model } = req.params;
      // Shown at the next poll, not `REGISTRY_REFRESH_MS` later: the alias may have moved even if this throws.
      const report = await rollBack(opts.registry, {
        model,
        targets: opts.servingUrls,
        apiKey: opts.apiKey,
      }).finally(() => reads.forget(model));
      if (!report.ok) throw new ServersRefusedError(report);
      return { model, from: report.from, to: report.to, servers: describeReloads(report.servers) };
    },
  );

  await app.register(dashboardRunRoutes, {
    registry: opts.registry,
    temporal: opts.temporal,
    needsKey,
    runUrl: (workflowId: string, runId?: string) =>
      `${workflowsUrl}/${encodeURIComponent(workflowId)}${runId ? `/${encodeURIComponent(runId)}` : ''}`,
  });
};
