import type { FastifyPluginAsync, onRequestHookHandler } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { AdmissionModeSchema, RunPrioritySchema } from '../common/admission';
import { lossCurveQuery, progressQuery, type EpochProgress } from '../common/messages';
import { ModelNameSchema } from '../common/model-spec';
import { RetrainInputSchema, type RetrainProgress } from '../common/retrain';
import { cancelRun, listRuns, readRun, startRun } from '../runs';
import type { ModelRegistry } from '../storage/registry';
import type { TrainingBackend } from './training-params';

/** Thrown by the dashboard's run routes on a server that has no Temporal client; answered 503. */
export class NoTemporalError extends Error {
  override readonly name = 'NoTemporalError';
  constructor() {
    super('Temporal is unreachable from this server; runs are unavailable');
  }
}

/** Options of {@link dashboardRunRoutes}. */
export interface DashboardRunOptions {
  registry: ModelRegistry;
  temporal: TrainingBackend | undefined;
  /** The API key check of the dashboard's actions. */
  needsKey: onRequestHookHandler;
  /** A run's page in the Temporal Web UI. */
  runUrl: (workflowId: string, runId?: string) => string;
}

const RECENT_RUNS = 20;
const QUERY_DEADLINE_MS = 3000;

const StartSchema = z
  .object({
    model: ModelNameSchema,
    epochs: z.number().int().min(1).max(10000).optional(),
    trials: z.number().int().min(1).max(64).optional(),
    admission: AdmissionModeSchema.optional(),
    priority: RunPrioritySchema.optional(),
  })
  .strict();
const RunParamsSchema = z.object({ workflowId: z.string().min(1) });
/** `?model=`: only that model's runs. */
const RunsQuerySchema = z.object({ model: ModelNameSchema.optional() });

/** The dashboard's runs: recent ones with progress, one with its loss curve, start and cancel (behind the key). */
export const dashboardRunRoutes: FastifyPluginAsync<DashboardRunOptions> = async (app, opts) => {
  const { registry, needsKey, runUrl } = opts;
  const backend = () => {
    if (!opts.temporal) throw new NoTemporalError();
    return opts.temporal;
  };
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.get('/api/runs', { schema: { querystring: RunsQuerySchema } }, async (req) => {
    const { client } = backend();
    const runs = await listRuns(client, { limit: RECENT_RUNS, ...req.query });
    return Promise.all(
      runs.map(async (run) => {
        const status =
          run.status === 'running' ? await readRun(client, run.workflowId).catch(() => undefined) : undefined;
        return { ...run, progress: status?.progress ?? null, url: runUrl(run.workflowId, run.runId) };
      }),
    );
  });

  routes.get('/api/runs/:workflowId', { schema: { params: RunParamsSchema } }, async (req) => {
    const { client } = backend();
    const run = await readRun(client, req.params.workflowId);
    // Ended runs answer queries too: Temporal replays them on a worker.
    const handle = client.workflow.getHandle(run.workflowId, run.runId);
    const ask = <T>(query: Parameters<typeof handle.query<T>>[0], fallback: T): Promise<T> =>
      client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(query)).catch(() => fallback);
    const [lossCurve, progress] = await Promise.all([
      ask<EpochProgress[]>(lossCurveQuery, []),
      run.progress ? Promise.resolve(run.progress) : ask<RetrainProgress | null>(progressQuery, null),
    ]);
    return { ...run, progress, lossCurve, url: runUrl(run.workflowId, run.runId) };
  });

  routes.post('/api/runs', { onRequest: needsKey, schema: { body: StartSchema } }, async (req) => {
    const { client, taskQueue } = backend();
    await registry.loadSpec(req.body.model);
    const started = await startRun(client, RetrainInputSchema.parse(req.body), {
      taskQueue,
      origin: 'started from the dashboard',
    });
    return { ...started, url: runUrl(started.workflowId, started.runId) };
  });

  routes.post(
    '/api/runs/:workflowId/cancel',
    { onRequest: needsKey, schema: { params: RunParamsSchema } },
    async (req) => {
      await cancelRun(backend().client, req.params.workflowId, 'cancelled from the dashboard');
      return { workflowId: req.params.workflowId, cancelRequested: true };
    },
  );
};
