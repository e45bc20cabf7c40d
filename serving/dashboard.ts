import fs from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { LiveReport } from '../monitoring/live-metrics';
import { versionSummary } from '../common/artefacts';
import { formatIssues } from '../common/format-issues';
import { lossCurveQuery, progressQuery, type EpochProgress } from '../common/messages';
import { ModelNameSchema } from '../common/model-spec';
import { RetrainInputSchema, type RetrainProgress } from '../common/retrain';
import { describeReloads, rollOut } from '../rollout/rollout';
import {
  cancelRun,
  listRuns,
  ModelBusyError,
  readRun,
  RunNotFoundError,
  RunNotRunningError,
  startRun,
} from '../runs';
import { ModelNotFoundError, RollbackRefusedError, type ModelRegistry } from '../storage/registry';
import { apiKeyCheck } from './api-key';
import type { TrainingBackend } from './training-admin';

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
const RECENT_RUNS = 20;
const QUERY_DEADLINE_MS = 3000;

const StartSchema = z
  .object({
    model: ModelNameSchema,
    epochs: z.number().int().min(1).max(10000).optional(),
    trials: z.number().int().min(1).max(64).optional(),
  })
  .strict();

/**
 * The dashboard at `/ui`: one page (serving/ui/index.html, Chart.js from node_modules, no build step)
 * over a small JSON API. Reading is open, as the Temporal Web UI is; starting, cancelling and
 * rolling back need the X-API-Key, which the page keeps in session storage.
 */
export const dashboardRoutes: FastifyPluginAsync<DashboardOptions> = async (app, opts) => {
  const page = fs.readFileSync(PAGE, 'utf8');
  const chart = fs.readFileSync(CHART, 'utf8');
  const needsKey = apiKeyCheck(opts.apiKey, 'dashboard actions disabled: set RETRAIN_API_KEY');
  const runUrl = (workflowId: string, runId?: string) =>
    `${opts.temporalUiUrl}/namespaces/${encodeURIComponent(opts.namespace)}/workflows/${encodeURIComponent(workflowId)}${runId ? `/${encodeURIComponent(runId)}` : ''}`;
  const temporal = (reply: { code(n: number): { send(b: unknown): unknown } }) => {
    if (!opts.temporal)
      reply.code(503).send({ error: 'Temporal is unreachable from this server; runs are unavailable' });
    return opts.temporal;
  };

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page));
  app.get('/chart.js', async (_req, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=86400').send(chart),
  );

  app.get('/api/config', async () => ({
    temporalUi: `${opts.temporalUiUrl}/namespaces/${encodeURIComponent(opts.namespace)}/workflows`,
  }));

  app.get('/api/models', async () => {
    const models = await opts.registry.listModels();
    return Promise.all(models.map((model) => modelView(opts, model)));
  });

  app.get('/api/runs', async (req, reply) => {
    const backend = temporal(reply);
    if (!backend) return reply;
    const runs = await listRuns(backend.client, { limit: RECENT_RUNS });
    return Promise.all(
      runs.map(async (run) => {
        const status =
          run.status === 'running'
            ? await readRun(backend.client, run.workflowId).catch(() => undefined)
            : undefined;
        return { ...run, progress: status?.progress ?? null, url: runUrl(run.workflowId, run.runId) };
      }),
    );
  });

  app.get<{ Params: { workflowId: string } }>('/api/runs/:workflowId', async (req, reply) => {
    const backend = temporal(reply);
    if (!backend) return reply;
    try {
      const run = await readRun(backend.client, req.params.workflowId);
      // Ended runs answer queries too: Temporal replays them on a worker.
      const handle = backend.client.workflow.getHandle(run.workflowId, run.runId);
      const ask = <T>(query: Parameters<typeof handle.query<T>>[0], fallback: T): Promise<T> =>
        backend.client
          .withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(query))
          .catch(() => fallback);
      const [lossCurve, progress] = await Promise.all([
        ask<EpochProgress[]>(lossCurveQuery, []),
        run.progress ? Promise.resolve(run.progress) : ask<RetrainProgress | null>(progressQuery, null),
      ]);
      return { ...run, progress, lossCurve, url: runUrl(run.workflowId, run.runId) };
    } catch (err) {
      if (err instanceof RunNotFoundError) return reply.code(404).send({ error: err.message });
      throw err;
    }
  });

  app.post('/api/runs', { onRequest: needsKey }, async (req, reply) => {
    const backend = temporal(reply);
    if (!backend) return reply;
    const body = StartSchema.safeParse(req.body);
    if (!body.success) return reply.code(400).send({ error: `invalid request: ${formatIssues(body.error)}` });
    try {
      await opts.registry.loadSpec(body.data.model);
      const started = await startRun(backend.client, RetrainInputSchema.parse(body.data), {
        taskQueue: backend.taskQueue,
        origin: 'started from the dashboard',
      });
      return { ...started, url: runUrl(started.workflowId, started.runId) };
    } catch (err) {
      if (err instanceof ModelBusyError) return reply.code(409).send({ error: err.message });
      if (err instanceof ModelNotFoundError) return reply.code(404).send({ error: (err as Error).message });
      throw err;
    }
  });

  app.post<{ Params: { workflowId: string } }>(
    '/api/runs/:workflowId/cancel',
    { onRequest: needsKey },
    async (req, reply) => {
      const backend = temporal(reply);
      if (!backend) return reply;
      try {
        await cancelRun(backend.client, req.params.workflowId, 'cancelled from the dashboard');
        return { workflowId: req.params.workflowId, cancelRequested: true };
      } catch (err) {
        if (err instanceof RunNotFoundError) return reply.code(404).send({ error: err.message });
        if (err instanceof RunNotRunningError) return reply.code(409).send({ error: err.message });
        throw err;
      }
    },
  );

  app.post<{ Params: { model: string } }>(
    '/api/models/:model/rollback',
    { onRequest: needsKey },
    async (req, reply) => {
      const model = ModelNameSchema.safeParse(req.params.model);
      if (!model.success)
        return reply.code(400).send({ error: `invalid model: ${formatIssues(model.error)}` });
      try {
        const move = await opts.registry.rollback(model.data);
        const outcome = await rollOut(opts.registry, {
          model: model.data,
          version: move.to,
          previous: move.from,
          targets: opts.servingUrls,
          apiKey: opts.apiKey,
        });
        const servers = describeReloads(outcome.servers);
        if (!outcome.ok)
          return reply
            .code(502)
            .send({ error: `servers refused ${move.to}: ${servers}; ${outcome.revert.note}` });
        return { model: model.data, from: move.from, to: move.to, servers };
      } catch (err) {
        if (err instanceof RollbackRefusedError) return reply.code(409).send({ error: err.message });
        if (err instanceof ModelNotFoundError) return reply.code(404).send({ error: (err as Error).message });
        throw err;
      }
    },
  );
};

/** One model as the page shows it: its versions' gate figures beside the baselines', and live figures. */
async function modelView(opts: DashboardOptions, model: string) {
  const [spec, alias, versions] = await Promise.all([
    opts.registry.loadSpec(model),
    opts.registry.getAlias(model),
    opts.registry.listVersions(model),
  ]);
  const metas = await Promise.all(
    versions.map((v) => opts.registry.getMetadata(model, v).catch(() => undefined)),
  );
  const live = await opts.liveReport?.(model).catch(() => undefined);
  return {
    name: model,
    task: spec.task,
    production: alias?.value.version ?? null,
    versions: metas.flatMap((m) =>
      m
        ? [
            {
              ...versionSummary(m),
              baselines: Object.fromEntries(
                Object.entries(m.baselines).map(([name, figures]) => [name, figures[m.gate.metric] ?? null]),
              ),
            },
          ]
        : [],
    ),
    live: live
      ? live.versions.map((v) => ({
          version: v.version,
          metric: live.metric,
          holdout: v.holdout,
          predictions: v.window.predictions,
          value: v.window.metrics[live.metric] ?? null,
          lastValue: v.window.baselines.lastValue?.[live.metric] ?? null,
        }))
      : [],
  };
}
