import type { FastifyPluginAsync, onRequestHookHandler } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { AdmissionModeSchema, RunPrioritySchema } from '../common/admission';
import { lossCurveQuery, progressQuery, type EpochProgress } from '../common/messages';
import { ModelNameSchema } from '../common/model-spec';
import { RetrainInputSchema, type RetrainProgress } from '../common/retrain';
import {
  cancelRun,
  describeRun,
  isGoing,
  listRuns,
  readRun,
  startRun,
  summarize,
  type RunSummary,
} from '../runs';
import type { ModelRegistry } from '../storage/registry';
import { EndedRunCache } from './ended-run-cache';
import type { RegistryReadCache } from './registry-read-cache';
import { endedFigures, runningFigures, type RunFigures } from './run-figures';
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
  /** The registry as the dashboard reads it: a completed run's figures are its version's metadata. */
  reads: RegistryReadCache;
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

/** The dashboard's runs (under `/ui/api`): recent ones with progress, one with its loss curve, start and cancel (behind the key). */
export const dashboardRunRoutes: FastifyPluginAsync<DashboardRunOptions> = async (app, opts) => {
  const { registry, reads, needsKey, runUrl } = opts;
  const backend = () => {
    if (!opts.temporal) throw new NoTemporalError();
    return opts.temporal;
  };
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const ended = new EndedRunCache<RunDetail>();

  routes.get('/runs', { schema: { querystring: RunsQuerySchema } }, async (req) => {
    const { client } = backend();
    const runs = await listRuns(client, { limit: RECENT_RUNS, ...req.query });
    return Promise.all(
      runs.map(async (run) => {
        const status =
          run.status === 'running' ? await readRun(client, run.workflowId).catch(() => undefined) : undefined;
        const progress = status?.progress ?? null;
        const figures = isGoing(run.status) ? runningFigures(progress) : await endedRunFigures(reads, run);
        return { ...run, progress, figures, url: runUrl(run.workflowId, run.runId) };
      }),
    );
  });

  routes.get('/runs/:workflowId', { schema: { params: RunParamsSchema } }, async (req) => {
    const { client } = backend();
    // Which run the id names now (cheap): a workflow id started again is another run.
    const run = summarize(await describeRun(client.workflow.getHandle(req.params.workflowId)));
    const read = () => readDetail(client, reads, run, runUrl);
    const { detail } = isGoing(run.status)
      ? await read()
      : await ended.get(`${run.workflowId}/${run.runId}`, read, (answer) => answer.answered);
    return detail;
  });

  routes.post('/runs', { onRequest: needsKey, schema: { body: StartSchema } }, async (req) => {
    const { client, taskQueue } = backend();
    await registry.loadSpec(req.body.model);
    const started = await startRun(client, RetrainInputSchema.parse(req.body), {
      taskQueue,
      origin: 'started from the dashboard',
    });
    return { ...started, url: runUrl(started.workflowId, started.runId) };
  });

  routes.post(
    '/runs/:workflowId/cancel',
    { onRequest: needsKey, schema: { params: RunParamsSchema } },
    async (req) => {
      await cancelRun(backend().client, req.params.workflowId, 'cancelled from the dashboard');
      return { workflowId: req.params.workflowId, cancelRequested: true };
    },
  );
};

/** An ended run's figures from its memo and, completed, its version's metadata (kept by `reads`). */
async function endedRunFigures(reads: RegistryReadCache, run: RunSummary): Promise<RunFigures> {
  const { model, outcome } = run;
  const [meta, head] = model
    ? await Promise.all([
        outcome?.version ? reads.metadata(model, outcome.version).catch(() => undefined) : undefined,
        reads.head(model).catch(() => undefined),
      ])
    : [];
  return endedFigures(run, meta, head?.spec.epochs);
}

type RunDetail = Awaited<ReturnType<typeof readDetail>>;

/**
 * The run `named` (its workflow and run id) with its loss curve and progress, and whether every
 * query was answered. Ended runs answer queries too, but Temporal replays their history on a worker
 * for each: the caller keeps an ended run's complete answer.
 */
async function readDetail(
  client: TrainingBackend['client'],
  reads: RegistryReadCache,
  named: Pick<RunSummary, 'workflowId' | 'runId'>,
  runUrl: DashboardRunOptions['runUrl'],
) {
  const run = await readRun(client, named.workflowId, named.runId);
  const handle = client.workflow.getHandle(run.workflowId, run.runId);
  let answered = true;
  const ask = <T>(query: Parameters<typeof handle.query<T>>[0], fallback: T): Promise<T> =>
    client
      .withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(query))
      .catch(() => {
        answered = false;
        return fallback;
      });
  const going = isGoing(run.status);
  const [lossCurve, progress] = await Promise.all([
    ask<EpochProgress[]>(lossCurveQuery, []),
    // An ended run's last progress matters only for a multi-trial run's trial log.
    run.progress || going || (run.input?.trials ?? 1) <= 1
      ? Promise.resolve(run.progress)
      : ask<RetrainProgress | null>(progressQuery, null),
  ]);
  const figures = going ? runningFigures(progress) : await endedRunFigures(reads, run);
  const detail = { ...run, progress, figures, lossCurve, url: runUrl(run.workflowId, run.runId) };
  return { detail, answered };
}
