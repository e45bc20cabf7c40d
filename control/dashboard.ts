import fs from 'node:fs';
import path from 'node:path';

import type { FastifyPluginAsync, onRequestHookHandler } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { ModelNameSchema } from '../common/model-spec';
import type { LiveReport } from '../monitoring/live-metrics';
import { rollBack, ServersRefusedError } from '../rollout/rollback';
import { holdModel, rollbackHolder } from '../runs';
import { describeReloads } from '../rollout/rollout';
import type { ModelRegistry } from '../storage/registry';
import { apiKeyCheck } from './api-key';
import { modelView } from './dashboard-models';
import { REGISTRY_REFRESH_MS, RegistryReadCache } from './registry-read-cache';
import { dashboardRunRoutes, NoTemporalError } from './dashboard-runs';
import type { TrainingBackend } from './training-params';

/** Options of {@link dashboardRoutes}. */
export interface DashboardOptions {
  registry: ModelRegistry;
  apiKey?: string;
  temporal?: TrainingBackend;
  /** A model's live report (the server keeps the latest); absent: the models view shows none. */
  liveReport?: (model: string) => Promise<LiveReport>;
  /** The models the server knows already (its model pool's): the first poll need not list the registry. */
  knownModels?: () => string[];
  /** Where the Temporal Web UI is, for links to every run. */
  temporalUiUrl: string;
  namespace: string;
  /** The inference servers a rollback reloads (RETRAIN_SERVING_URLS). */
  servingUrls: string[];
  /**
   * `RETRAIN_DASHBOARD_PUBLIC=true`: the JSON API's reads answer without `X-API-Key` (logged as a
   * warning at start); its actions need the key either way. @default false
   */
  public?: boolean;
}

const PAGE = path.join(__dirname, 'ui', 'index.html');
// Chart.js's browser build, beside the entry point its exports allow resolving.
const CHART = path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js');
const ModelParamsSchema = z.object({ model: ModelNameSchema });
/** `GET /ui/api/models?q=&offset=&limit=`: the models whose name contains `q`, a page of them; the total in `X-Total-Count`. */
const ModelPageSchema = z.object({
  q: z.string().max(128).optional(),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

/**
 * The dashboard at `/ui`: one page (control/ui/index.html, Chart.js from node_modules, no build step)
 * over a small JSON API under `/ui/api`. The page and Chart.js hold no data and load without a key;
 * every API route needs the X-API-Key (the page asks for it and keeps it in session storage), except
 * reads when `public` is set. Starting, cancelling and rolling back need the key either way.
 */
export const dashboardRoutes: FastifyPluginAsync<DashboardOptions> = async (app, opts) => {
  const page = fs.readFileSync(PAGE, 'utf8');
  const chart = fs.readFileSync(CHART, 'utf8');
  const needsKey = apiKeyCheck(opts.apiKey, 'dashboard actions disabled: set RETRAIN_API_KEY');
  const readsNeedKey = apiKeyCheck(
    opts.apiKey,
    'dashboard disabled: set RETRAIN_API_KEY (or RETRAIN_DASHBOARD_PUBLIC=true for open reads)',
  );
  if (opts.public)
    app.log.warn('dashboard reads (/ui/api) answer without X-API-Key: RETRAIN_DASHBOARD_PUBLIC=true');
  const workflowsUrl = `${opts.temporalUiUrl}/namespaces/${encodeURIComponent(opts.namespace)}/workflows`;
  const reads = new RegistryReadCache(opts.registry, REGISTRY_REFRESH_MS, Date.now, opts.knownModels);

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page));
  app.get('/chart.js', async (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=86400').send(chart),
  );
  await app.register(dashboardApi, { ...opts, prefix: '/api', reads, needsKey, readsNeedKey, workflowsUrl });
};

/** The dashboard's JSON API (`/ui/api`). */
const dashboardApi: FastifyPluginAsync<
  DashboardOptions & {
    reads: RegistryReadCache;
    needsKey: onRequestHookHandler;
    readsNeedKey: onRequestHookHandler;
    workflowsUrl: string;
  }
> = async (app, opts) => {
  const { reads, needsKey, workflowsUrl } = opts;
  // One hook in front of the whole API, so no read added later is left open by mistake.
  if (!opts.public) app.addHook('onRequest', opts.readsNeedKey);
  const routes = app.withTypeProvider<ZodTypeProvider>();
  routes.get('/config', async () => ({ temporalUi: workflowsUrl }));
  routes.get('/models', { schema: { querystring: ModelPageSchema } }, async (req, reply) => {
    const { q, offset, limit } = req.query;
    const names = (await reads.listModels()).filter((model) => !q || model.includes(q.toLowerCase()));
    // A page of models: with a thousand, a poll reads the versions of those shown, not of all.
    void reply.header('x-total-count', String(names.length));
    const page = names.slice(offset, offset + limit);
    return Promise.all(page.map((model) => modelView(reads, opts.liveReport, model)));
  });

  routes.post(
    '/models/:model/rollback',
    { onRequest: needsKey, schema: { params: ModelParamsSchema } },
    async (req) => {
      const { model } = req.params;
      // Under the model's lease, as a run: refused (409) while a run holds it.
      if (!opts.temporal) throw new NoTemporalError();
      const { client, taskQueue } = opts.temporal;
      const hold = { model, taskQueue, holder: rollbackHolder(model), action: 'rollback' };
      // Shown at the next poll, not `REGISTRY_REFRESH_MS` later: the alias may have moved even if this throws.
      const report = await rollBack(opts.registry, {
        model,
        targets: opts.servingUrls,
        apiKey: opts.apiKey,
        hold: (work) => holdModel(client, hold, work),
      }).finally(() => reads.forget(model));
      if (!report.ok) throw new ServersRefusedError(report);
      return { model, from: report.from, to: report.to, servers: describeReloads(report.servers) };
    },
  );

  await app.register(dashboardRunRoutes, {
    registry: opts.registry,
    reads,
    temporal: opts.temporal,
    needsKey,
    runUrl: (workflowId: string, runId?: string) =>
      `${workflowsUrl}/${encodeURIComponent(workflowId)}${runId ? `/${encodeURIComponent(runId)}` : ''}`,
  });
};
