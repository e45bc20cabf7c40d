import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';

import type { ModelRegistry } from '../../storage/registry';
import { apiKeyCheck } from '../api-key';
import { NoTemporalError } from '../dashboard-runs';
import type { TrainingBackend } from '../training-params';
import { modelVersions } from './model-versions';
import { trainingHistory, validationResults } from './training-events';
import { autoTriggerReady, triggerTraining } from './trigger-training';
import { trainingJob, trainingStatus } from './training-status';

/** Options of {@link coachingRoutes}. */
export interface CoachingOptions {
  registry: ModelRegistry;
  /** Without a key (and without `open`) the routes answer 503, like the other admin routes. */
  apiKey?: string;
  /**
   * `RETRAIN_COACHING_ROUTES_OPEN=true`: the routes answer without `X-API-Key`, for networks where
   * the FinCoach application cannot send one; logged as a warning when the server starts. @default false
   */
  open?: boolean;
  /** Without it (Temporal unreachable at start-up) the routes over runs answer 503. */
  temporal?: TrainingBackend;
  /** `RETRAIN_COACHING_MODELS`: the models the overviews (status, history) list. @default every model */
  models?: readonly string[];
}

/** A model name or one of its aliases; never a path. */
const ModelType = z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, {
  message: 'model_type must be a model name or alias: 1 to 100 of A-Z a-z 0-9 . _ -',
});
const ModelTypeParams = z.object({ model_type: ModelType });
const TriggerBodySchema = z.object({ priority: z.number().int().min(-1000).max(1000).optional() }).optional();
const JobParams = z.object({ job_id: z.string().min(1).max(1000) });
const ModelTypeQuery = z.object({ model_type: ModelType.optional() });
const HistoryQuery = ModelTypeQuery.extend({ limit: z.coerce.number().int().min(1).max(1000).default(20) });
const EventParams = z.object({ training_event_id: z.string().min(1).max(1000) });

/**
 * FinCoach's continuous-learning training API (its Phase 3 routes), over run control: jobs are runs,
 * training events are the runs that trained, versions come from the registry. Every answer comes from
 * Temporal and the store, so any replica answers the same. Register with prefix
 * `/coaching/continuous-learning`. Errors carry FastAPI's `detail` beside `error`, as its clients read.
 */
export const coachingRoutes: FastifyPluginAsync<CoachingOptions> = async (app, opts) => {
  const { registry } = opts;
  if (opts.open)
    app.log.warn(
      'FinCoach routes (/coaching/continuous-learning) answer without X-API-Key: RETRAIN_COACHING_ROUTES_OPEN=true',
    );
  else
    app.addHook('onRequest', apiKeyCheck(opts.apiKey, 'FinCoach training API disabled: set RETRAIN_API_KEY'));
  app.addHook('onSend', withDetail);
  const backend = () => {
    if (!opts.temporal) throw new NoTemporalError();
    return opts.temporal;
  };
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.post(
    '/trigger-training/:model_type',
    { schema: { params: ModelTypeParams, body: TriggerBodySchema } },
    (request) =>
      triggerTraining(
        { registry, temporal: backend(), log: request.log },
        request.params.model_type,
        request.body?.priority,
      ),
  );
  routes.get('/training-status', () => trainingStatus(backend().client, opts.models));
  routes.get('/training-job/:job_id', { schema: { params: JobParams } }, (request) =>
    trainingJob(backend().client, request.params.job_id),
  );
  routes.post('/auto-trigger-ready', (request) =>
    autoTriggerReady({ registry, temporal: backend(), log: request.log }),
  );
  routes.get('/model-versions', { schema: { querystring: ModelTypeQuery } }, (request) =>
    modelVersions(registry, request.query.model_type),
  );
  routes.get('/training-history', { schema: { querystring: HistoryQuery } }, (request) =>
    trainingHistory(backend().client, registry, request.query, opts.models),
  );
  routes.get('/validation-results/:training_event_id', { schema: { params: EventParams } }, (request) =>
    validationResults(backend().client, registry, request.params.training_event_id),
  );
};

/** Adds `detail` (FastAPI's error field) beside `error` in every JSON error answer of these routes. */
async function withDetail(_request: FastifyRequest, reply: FastifyReply, payload: unknown) {
  if (reply.statusCode < 400 || typeof payload !== 'string') return payload;
  try {
    const body: unknown = JSON.parse(payload);
    if (body && typeof body === 'object' && 'error' in body && !('detail' in body))
      return JSON.stringify({ detail: body.error, ...body });
  } catch {
    // Not JSON: sent as it is.
  }
  return payload;
}
