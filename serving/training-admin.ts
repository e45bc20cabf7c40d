import {
  isGrpcServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import type { FastifyError, FastifyPluginAsync, RouteHandlerMethod } from 'fastify';
import { z } from 'zod';

import { listRuns, type RunSummary } from '../clients/commands/list';
import { RetrainRunNotFoundError, RetrainRunNotRunningError, requestCancel } from '../clients/cancel-run';
import { readStatus } from '../clients/progress';
import { retrainStartOptions, workflowIdFor } from '../clients/retrain-options';
import { formatIssues } from '../common/format-issues';
import { ModelNameSchema } from '../common/model-spec';
import { RetrainInputSchema, type RetrainResult } from '../common/retrain';
import { ModelNotFoundError, type ModelRegistry } from '../storage/registry';
import { retrainWorkflow } from '../workflows';
import { apiKeyCheck } from './api-key';

/** The Temporal side of the training routes: where runs start and whom to ask about them. */
export interface TrainingBackend {
  client: Client;
  taskQueue: string;
}

/** Options of {@link trainingAdminRoutes}. */
export interface TrainingAdminOptions {
  registry: ModelRegistry;
  /** Without a key the routes answer 503, like the other admin routes. */
  apiKey?: string;
  /** Without it (Temporal unreachable at start-up) the routes answer 503 and predictions go on. */
  temporal?: TrainingBackend;
}

/** Runs `GET /admin/training-stats` looks at unless `limit` says otherwise. */
const DEFAULT_STATS_LIMIT = 50;
const ROUTES = [
  ['POST', '/trigger-training'],
  ['GET', '/training-status'],
  ['GET', '/training-stats'],
  ['POST', '/cancel-training'],
] as const;
const ORIGIN = 'triggered through POST /admin/trigger-training';
const DEFAULT_CANCEL_REASON = 'cancelled through POST /admin/cancel-training';
/** gRPC codes that mean "Temporal is not there right now", not "the request was wrong". */
const UNAVAILABLE_CODES = new Set([4, 14]);

// The HTTP caller may not point the worker's reloads at other servers, nor override the spec's hyperparameters.
const TriggerBodySchema = RetrainInputSchema.omit({ reloadTargets: true, hyperparams: true });

const WorkflowIdSchema = z.string().min(1).max(1000);
/** `model` or `workflowId`, never both: which run a status or cancel request is about. */
const oneRunOf = <T extends { model?: string; workflowId?: string }>(v: T) =>
  (v.model === undefined) !== (v.workflowId === undefined);
const ONE_RUN_MESSAGE = { message: 'give either model or workflowId' };

const StatusQuerySchema = z
  .object({ model: ModelNameSchema.optional(), workflowId: WorkflowIdSchema.optional() })
  .strict()
  .refine(oneRunOf, ONE_RUN_MESSAGE);
const StatsQuerySchema = z
  .object({
    model: ModelNameSchema,
    limit: z.coerce.number().int().min(1).max(1000).default(DEFAULT_STATS_LIMIT),
  })
  .strict();
const CancelBodySchema = z
  .object({
    model: ModelNameSchema.optional(),
    workflowId: WorkflowIdSchema.optional(),
    reason: z.string().min(1).max(500).optional(),
  })
  .strict()
  .refine(oneRunOf, ONE_RUN_MESSAGE);

/** How a finished run ended, as `GET /admin/training-stats` counts it. */
type RunResult = 'completed' | 'rejected' | 'cancelled' | 'failed';

/**
 * `POST /admin/trigger-training`, `GET /admin/training-status`, `GET /admin/training-stats` and
 * `POST /admin/cancel-training`: the API home-grown retraining daemons expose, so their callers keep
 * working after the move to Temporal. Every answer comes from Temporal (and the registry), never from
 * state in this process, so any replica answers the same. Register with prefix `/admin`.
 */
export const trainingAdminRoutes: FastifyPluginAsync<TrainingAdminOptions> = async (
  app,
  { registry, apiKey, temporal },
) => {
  app.addHook('onRequest', apiKeyCheck(apiKey, 'admin API disabled: set RETRAIN_API_KEY'));
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (!isTemporalUnavailable(err)) throw err;
    request.log.warn({ reason: err.message }, 'Temporal unavailable');
    return reply.code(503).send({ error: 'training API unavailable: Temporal is not reachable' });
  });
  const handlers = temporal ? trainingHandlers(registry, temporal) : undefined;
  for (const [method, url] of ROUTES) app.route({ method, url, handler: handlers?.[url] ?? unavailable });
};

/** Stands in for every training route while the server has no Temporal client. */
const unavailable: RouteHandlerMethod = async (_request, reply) =>
  reply.code(503).send({
    error:
      'training API unavailable: this server has no Temporal connection (Temporal was not reachable at start-up; restart the server once it is)',
  });

function trainingHandlers(
  registry: ModelRegistry,
  { client, taskQueue }: TrainingBackend,
): Record<(typeof ROUTES)[number][1], RouteHandlerMethod> {
  /** 404 for a model without a spec: the name is all the caller needs, not where specs live. */
  const knownModel = async (model: string): Promise<boolean> => {
    try {
      await registry.loadSpec(model);
      return true;
    } catch (err) {
      if (err instanceof ModelNotFoundError) return false;
      throw err;
    }
  };

  const trigger: RouteHandlerMethod = async (request, reply) => {
    const body = TriggerBodySchema.safeParse(request.body ?? {});
    if (!body.success) return reply.code(400).send({ error: `invalid request: ${formatIssues(body.error)}` });
    const { model } = body.data;
    if (!(await knownModel(model))) return reply.code(404).send({ error: `unknown model ${model}` });
    const alreadyRunning = (workflowId: string) =>
      reply.code(409).send({
        error: `${model} is already training in ${workflowId}; one run per model at a time`,
        workflowId,
      });
    const running = await runningRunOf(client, model);
    if (running) return alreadyRunning(running);
    const workflowId = workflowIdFor(model);
    try {
      const handle = await client.workflow.start(retrainWorkflow, {
        ...retrainStartOptions(body.data, ORIGIN, taskQueue),
        workflowId,
      });
      request.log.info({ model, workflowId }, 'training triggered');
      return reply.code(202).send({ workflowId, runId: handle.firstExecutionRunId });
    } catch (err) {
      // Two triggers within the same second get the same id: the second one finds the first running.
      if (err instanceof WorkflowExecutionAlreadyStartedError) return alreadyRunning(workflowId);
      throw err;
    }
  };

  const status: RouteHandlerMethod = async (request, reply) => {
    const query = StatusQuerySchema.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: `invalid request: ${formatIssues(query.error)}` });
    const { model } = query.data;
    const workflowId = query.data.workflowId ?? (await listRuns(client, model))[0]?.workflowId;
    if (workflowId === undefined) return reply.code(404).send({ error: `no retrain run of ${model}` });
    try {
      return await readStatus(client, workflowId);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        return reply.code(404).send({ error: `no retrain run with id ${workflowId}` });
      throw err;
    }
  };

  const stats: RouteHandlerMethod = async (request, reply) => {
    const query = StatsQuerySchema.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: `invalid request: ${formatIssues(query.error)}` });
    const { model, limit } = query.data;
    if (!(await knownModel(model))) return reply.code(404).send({ error: `unknown model ${model}` });
    const runs = (await listRuns(client, model)).slice(0, limit);
    const byStatus: Record<string, number> = {};
    const byResult: Record<RunResult, number> = { completed: 0, rejected: 0, cancelled: 0, failed: 0 };
    for (const run of runs) {
      byStatus[run.status] = (byStatus[run.status] ?? 0) + 1;
      const result = resultOf(run);
      if (result) byResult[result] += 1;
    }
    const completed = runs.find((run) => resultOf(run) === 'completed');
    const production = await registry.getAlias(model);
    return {
      model,
      runs: runs.length,
      limit,
      byStatus,
      byResult,
      running: runs.find((run) => run.status === 'RUNNING')?.workflowId ?? null,
      lastCompleted: completed
        ? {
            workflowId: completed.workflowId,
            version: await versionOf(client, completed),
            closeTime: completed.closeTime,
          }
        : null,
      production: production?.value ?? null,
    };
  };

  const cancel: RouteHandlerMethod = async (request, reply) => {
    const body = CancelBodySchema.safeParse(request.body ?? {});
    if (!body.success) return reply.code(400).send({ error: `invalid request: ${formatIssues(body.error)}` });
    const { model, reason = DEFAULT_CANCEL_REASON } = body.data;
    const workflowId =
      body.data.workflowId ?? (model === undefined ? undefined : await runningRunOf(client, model));
    if (workflowId === undefined)
      return reply.code(404).send({ error: `no running retrain run of ${model}` });
    try {
      await requestCancel(client, workflowId, reason);
    } catch (err) {
      if (err instanceof RetrainRunNotFoundError || err instanceof RetrainRunNotRunningError)
        return reply.code(404).send({ error: err.message });
      throw err;
    }
    request.log.info({ workflowId, reason }, 'training cancel requested');
    return reply.code(202).send({ workflowId });
  };

  return {
    '/trigger-training': trigger,
    '/training-status': status,
    '/training-stats': stats,
    '/cancel-training': cancel,
  };
}

/** The workflow id of `model`'s running retrain run, from Temporal visibility. */
async function runningRunOf(client: Client, model: string): Promise<string | undefined> {
  // `model` is a validated slug, so it cannot break out of the quotes.
  const query = `WorkflowType = 'retrainWorkflow' AND ModelName = '${model}' AND ExecutionStatus = 'Running'`;
  for await (const run of client.workflow.list({ query })) return run.workflowId;
  return undefined;
}

/** How a run ended: the workflow's own outcome (kept in RetrainStage) or Temporal's for runs that did not return. */
function resultOf(run: RunSummary): RunResult | undefined {
  switch (run.status) {
    case 'COMPLETED':
      return run.stage === 'completed' || run.stage === 'rejected' || run.stage === 'cancelled'
        ? run.stage
        : undefined;
    case 'FAILED':
    case 'TIMED_OUT':
      return 'failed';
    case 'CANCELLED':
    case 'TERMINATED':
      return 'cancelled';
    default:
      return undefined;
  }
}

/** The version a completed run registered, from its result. */
async function versionOf(client: Client, run: RunSummary): Promise<string | null> {
  const result = (await client.workflow.getHandle(run.workflowId, run.runId).result()) as RetrainResult;
  return result.version ?? null;
}

function isTemporalUnavailable(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (isGrpcServiceError(e) && UNAVAILABLE_CODES.has(e.code)) return true;
  }
  return false;
}
