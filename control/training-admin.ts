import type { FastifyPluginAsync, RouteHandlerMethod } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

import type { ModelRegistry } from '../storage/registry';
import { apiKeyCheck } from './api-key';
import { cancelErrors, daemonErrors, paramsFromQueryAndBody, statusErrors } from './daemon-style';
import { trainingStats } from './training-stats';
import { cancelTraining, trainingStatus, triggerTraining } from './training-jobs';
import {
  CancelSchema,
  StatsSchema,
  StatusSchema,
  TriggerSchema,
  type TrainingBackend,
  type TrainingContext,
} from './training-params';

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

/**
 * The NordIQ inference daemon's training API, field for field as its documentation gives it
 * (`POST /admin/trigger-training?epochs=&incremental=&blocking=`, `GET /admin/training-status[?job_id=]`,
 * `GET /admin/training-stats`, `POST /admin/cancel-training`), so its cron scripts and pollers keep
 * working after the move. Every answer comes from Temporal, the registry and the buffer, never from
 * state in this process, so any replica answers the same. Register with prefix `/admin`.
 */
export const trainingAdminRoutes: FastifyPluginAsync<TrainingAdminOptions> = async (app, options) => {
  app.addHook('onRequest', apiKeyCheck(options.apiKey, 'admin API disabled: set RETRAIN_API_KEY'));
  const { temporal } = options;
  if (!temporal) {
    for (const [method, url] of ROUTES) app.route({ method, url, handler: unavailable });
    return;
  }
  const ctx: TrainingContext = { ...options, temporal };
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const daemon = { preValidation: paramsFromQueryAndBody };
  routes.post(
    '/trigger-training',
    { ...daemon, schema: { querystring: TriggerSchema }, config: { errorStyle: daemonErrors } },
    (request, reply) => triggerTraining(ctx, request, reply),
  );
  routes.get(
    '/training-status',
    { ...daemon, schema: { querystring: StatusSchema }, config: { errorStyle: statusErrors } },
    (request, reply) => trainingStatus(ctx, request.query, reply),
  );
  routes.get(
    '/training-stats',
    { ...daemon, schema: { querystring: StatsSchema }, config: { errorStyle: daemonErrors } },
    (request) => trainingStats(ctx, request.query.model),
  );
  routes.post(
    '/cancel-training',
    { ...daemon, schema: { querystring: CancelSchema }, config: { errorStyle: cancelErrors } },
    (request, reply) => cancelTraining(ctx, request, reply),
  );
};

const ROUTES = [
  ['POST', '/trigger-training'],
  ['GET', '/training-status'],
  ['GET', '/training-stats'],
  ['POST', '/cancel-training'],
] as const;

/** Stands in for every training route while the server has no Temporal client. */
const unavailable: RouteHandlerMethod = async (_request, reply) =>
  reply.code(503).send({
    success: false,
    error:
      'training API unavailable: this server has no Temporal connection (Temporal was not reachable at start-up; restart the server once it is)',
  });
