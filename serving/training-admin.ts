import { isGrpcServiceError, type Client } from '@temporalio/client';
import type {
  FastifyError,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  RouteHandlerMethod,
} from 'fastify';
import { z } from 'zod';

import { formatIssues } from '../common/format-issues';
import type { ModelSpec } from '../common/model-spec';
import { RetrainInputSchema } from '../common/retrain';
import {
  cancelRun,
  latestRun,
  ModelBusyError,
  readRun,
  runHistory,
  runningRunOf,
  RunNotFoundError,
  RunNotRunningError,
  startRun,
} from '../runs';
import type { DataBuffer } from '../storage/buffer';
import { bufferReport } from '../storage/buffer-report';
import type { ModelRegistry } from '../storage/registry';
import { apiKeyCheck } from './api-key';
import { ModelChoiceError, resolveModel } from './resolve-model';
import { trainingJob } from './training-job';

/** What the training routes stand on: Temporal (where runs start, whom to ask about them) and the data buffer. */
export interface TrainingBackend {
  client: Client;
  taskQueue: string;
  /** For readiness and the `data_buffer` figures. */
  buffer: DataBuffer;
}

/** Options of {@link trainingAdminRoutes}. */
export interface TrainingAdminOptions {
  registry: ModelRegistry;
  /** The model meant when a request names none (`RETRAIN_DEFAULT_MODEL`). */
  defaultModel?: string;
  /** Without a key the routes answer 503, like the other admin routes. */
  apiKey?: string;
  /** Without it (Temporal unreachable at start-up) the routes answer 503 and predictions go on. */
  temporal?: TrainingBackend;
}

const ROUTES = [
  ['POST', '/trigger-training'],
  ['GET', '/training-status'],
  ['GET', '/training-stats'],
  ['POST', '/cancel-training'],
] as const;
type Route = (typeof ROUTES)[number][1];

const ORIGIN = 'triggered through POST /admin/trigger-training';
const DEFAULT_CANCEL_REASON = 'cancelled through POST /admin/cancel-training';
/** gRPC codes that mean "Temporal is not there right now", not "the request was wrong". */
const UNAVAILABLE_CODES = new Set([4, 14]);
const BYTES_PER_MB = 1024 * 1024;

/** `true`/`false` as a query string says it (`?incremental=false` must not become true), or a JSON boolean. */
const Flag = z.union([
  z.boolean(),
  z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1'),
]);
const Count = z.coerce.number().int();

/** Query string and JSON body alike: the daemon's documented parameters, plus retrain's own run options. */
const TriggerSchema = z
  .object({
    model: z.unknown().optional(),
    epochs: Count.optional(),
    incremental: Flag.optional(),
    blocking: Flag.default(false),
    trials: Count.optional(),
    windowDays: Count.optional(),
    minRecords: Count.optional(),
  })
  .strict();
const StatusSchema = z
  .object({ job_id: z.string().min(1).max(1000).optional(), model: z.unknown().optional() })
  .strict();
const StatsSchema = z.object({ model: z.unknown().optional() }).strict();
const CancelSchema = z
  .object({
    job_id: z.string().min(1).max(1000).optional(),
    model: z.unknown().optional(),
    reason: z.string().min(1).max(500).optional(),
  })
  .strict();

/** The parameters of a request: its query string, with a JSON body's fields over it (today's JSON form stays). */
function paramsOf(request: FastifyRequest): Record<string, unknown> {
  const body = request.body && typeof request.body === 'object' ? request.body : {};
  return { ...(request.query as Record<string, unknown>), ...body };
}

function parse<T extends z.ZodType>(
  schema: T,
  request: FastifyRequest,
  reply: FastifyReply,
): z.output<T> | undefined {
  const parsed = schema.safeParse(paramsOf(request));
  if (parsed.success) return parsed.data;
  void reply.code(400).send({ success: false, error: `invalid request: ${formatIssues(parsed.error)}` });
  return undefined;
}

/**
 * The NordIQ inference daemon's training API, field for field as its documentation gives it
 * (`POST /admin/trigger-training?epochs=&incremental=&blocking=`, `GET /admin/training-status[?job_id=]`,
 * `GET /admin/training-stats`, `POST /admin/cancel-training`), so its cron scripts and pollers keep
 * working after the move. Every answer comes from Temporal, the registry and the buffer, never from
 * state in this process, so any replica answers the same. Register with prefix `/admin`.
 */
export const trainingAdminRoutes: FastifyPluginAsync<TrainingAdminOptions> = async (app, options) => {
  app.addHook('onRequest', apiKeyCheck(options.apiKey, 'admin API disabled: set RETRAIN_API_KEY'));
  app.setErrorHandler((err: FastifyError, request, reply) => {
    // `ready_to_train`/`ready_reason` too, so the daemon's cron script says why instead of "null".
    if (err instanceof ModelChoiceError)
      return reply
        .code(err.status)
        .send({ success: false, error: err.message, ready_to_train: false, ready_reason: err.message });
    if (!isTemporalUnavailable(err)) throw err;
    request.log.warn({ reason: err.message }, 'Temporal unavailable');
    return reply
      .code(503)
      .send({ success: false, error: 'training API unavailable: Temporal is not reachable' });
  });
  const handlers = options.temporal ? trainingHandlers(options, options.temporal) : undefined;
  for (const [method, url] of ROUTES) app.route({ method, url, handler: handlers?.[url] ?? unavailable });
};

/** Stands in for every training route while the server has no Temporal client. */
const unavailable: RouteHandlerMethod = async (_request, reply) =>
  reply.code(503).send({
    success: false,
    error:
      'training API unavailable: this server has no Temporal connection (Temporal was not reachable at start-up; restart the server once it is)',
  });

function trainingHandlers(
  { registry, defaultModel }: TrainingAdminOptions,
  { client, taskQueue, buffer }: TrainingBackend,
): Record<Route, RouteHandlerMethod> {
  const specOf = (named: unknown) => resolveModel(registry, named, defaultModel);

  const jobOf = async (workflowId: string, spec: ModelSpec | undefined) => {
    const run = await readRun(client, workflowId);
    return trainingJob(run, spec?.name === run.model ? spec.epochs : null);
  };

  const trigger: RouteHandlerMethod = async (request, reply) => {
    const params = parse(TriggerSchema, request, reply);
    if (!params) return reply;
    const { model: named, blocking, ...options } = params;
    const spec = await specOf(named);
    const input = RetrainInputSchema.safeParse({ model: spec.name, ...options });
    if (!input.success)
      return reply.code(400).send({ success: false, error: `invalid request: ${formatIssues(input.error)}` });
    const { readiness } = await bufferReport(buffer, spec, input.data);
    if (!readiness.ready)
      return reply.code(422).send({ success: false, error: readiness.reason, status: 'rejected' });
    let started;
    try {
      started = await startRun(client, input.data, { taskQueue, origin: ORIGIN });
    } catch (err) {
      if (!(err instanceof ModelBusyError)) throw err;
      return reply
        .code(409)
        .send({ success: false, error: err.message, status: 'running', job_id: err.runningWorkflowId });
    }
    request.log.info({ model: spec.name, workflowId: started.workflowId }, 'training triggered');
    const answer = {
      job_id: started.workflowId,
      run_id: started.runId,
      model: spec.name,
      epochs: input.data.epochs ?? spec.epochs,
      incremental: input.data.incremental,
    };
    if (!blocking) {
      return reply.code(202).send({
        success: true,
        ...answer,
        status: started.admission === 'admitted' ? 'running' : 'queued',
        message: 'Training started in background',
      });
    }
    // The daemon's blocking mode: answer once the run has ended, with its final status.
    await client.workflow
      .getHandle(started.workflowId, started.runId)
      .result()
      .catch(() => undefined);
    const job = await jobOf(started.workflowId, spec);
    return { success: job.status === 'completed', ...answer, ...job, message: `Training ${job.status}` };
  };

  const status: RouteHandlerMethod = async (request, reply) => {
    const params = parse(StatusSchema, request, reply);
    if (!params) return reply;
    if (params.job_id !== undefined) {
      try {
        return await jobOf(params.job_id, undefined);
      } catch (err) {
        if (err instanceof RunNotFoundError)
          return reply
            .code(404)
            .send({ success: false, error: err.message, job_id: params.job_id, status: null });
        throw err;
      }
    }
    // The current job: the run holding the model, else its latest.
    const spec = await specOf(params.model);
    const workflowId =
      (await runningRunOf(client, spec.name)) ?? (await latestRun(client, spec.name))?.workflowId;
    if (workflowId === undefined)
      return reply
        .code(404)
        .send({ success: false, error: `no training job of ${spec.name} yet`, status: null });
    return jobOf(workflowId, spec);
  };

  const stats: RouteHandlerMethod = async (request, reply) => {
    const params = parse(StatsSchema, request, reply);
    if (!params) return reply;
    const spec = await specOf(params.model);
    const [report, history, running, production] = await Promise.all([
      bufferReport(buffer, spec),
      runHistory(client, spec.name),
      runningRunOf(client, spec.name),
      registry.getAlias(spec.name),
    ]);
    const current = running === undefined ? null : await jobOf(running, spec);
    return {
      model: spec.name,
      current_job: current && {
        job_id: current.job_id,
        status: current.status,
        progress_pct: current.progress_pct,
        stage: current.stage,
      },
      history: {
        // Refused starts (another run held the model) never trained: they are counted apart.
        total_trainings: history.total,
        successful: history.completed,
        // As the daemon counts: every run that ended without a new model; rejections and failures beside.
        failed: history.rejected + history.failed,
        rejected: history.rejected,
        errors: history.failed,
        cancelled: history.cancelled,
        running: history.running,
        refused: history.refused,
        last_training: history.lastStartedAt,
      },
      data_buffer: {
        total_records: report.stats.records,
        file_count: report.stats.files,
        days: report.stats.days,
        date_range: { start: report.stats.firstDay, end: report.stats.lastDay },
        disk_usage_mb: Math.round((report.stats.bytes / BYTES_PER_MB) * 10) / 10,
      },
      ready_to_train: report.readiness.ready,
      ready_reason: report.readiness.reason,
      config: {
        training_days: spec.windowDays,
        min_records_threshold: spec.minRecords,
        min_days: spec.minDays,
        epochs: spec.epochs,
      },
      production: production?.value ?? null,
    };
  };

  const cancel: RouteHandlerMethod = async (request, reply) => {
    const params = parse(CancelSchema, request, reply);
    if (!params) return reply;
    const { reason = DEFAULT_CANCEL_REASON } = params;
    let workflowId = params.job_id;
    if (workflowId === undefined) {
      const spec = await specOf(params.model);
      workflowId = await runningRunOf(client, spec.name);
      if (workflowId === undefined)
        return reply.code(404).send({ success: false, error: `no training job of ${spec.name} is running` });
    }
    try {
      await cancelRun(client, workflowId, reason);
    } catch (err) {
      if (err instanceof RunNotFoundError || err instanceof RunNotRunningError)
        return reply.code(404).send({ success: false, error: err.message, job_id: workflowId });
      throw err;
    }
    request.log.info({ workflowId, reason }, 'training cancel requested');
    return reply
      .code(202)
      .send({ success: true, message: 'Training job marked as cancelled', job_id: workflowId, reason });
  };

  return {
    '/trigger-training': trigger,
    '/training-status': status,
    '/training-stats': stats,
    '/cancel-training': cancel,
  };
}

function isTemporalUnavailable(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (isGrpcServiceError(e) && UNAVAILABLE_CODES.has(e.code)) return true;
  }
  return false;
}
