import type { FastifyBaseLogger, FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { ModelNameSchema } from '../common/model-spec';
import { apiKeyCheck } from '../control/api-key';
import { daemonErrors, paramsFromQueryAndBody } from '../control/daemon-style';
import { resolveModel } from '../control/resolve-model';
import type { ModelRegistry } from '../storage/registry';
import type { ModelPool } from './model-pool';
import type { ModelSlot } from './model-slot';

const ReloadBodySchema = z.object({
  model: ModelNameSchema,
  version: z
    .string()
    .regex(/^v\d+$/)
    .optional(),
});
const InfoQuerySchema = z.object({ model: ModelNameSchema.optional() });
const ReloadModelSchema = z.object({ model: z.unknown().optional() });

/** Options of {@link adminRoutes}. */
export interface AdminOptions {
  pool: ModelPool;
  /** To find the model `POST /admin/reload-model` means when it names none. */
  registry: ModelRegistry;
  /** `RETRAIN_DEFAULT_MODEL`. */
  defaultModel?: string;
  /** Without a key the admin routes answer 503: an open admin API would let anyone swap models. */
  apiKey?: string;
}

/**
 * `GET /admin/model-info`, `POST /admin/reload` and the NordIQ daemon's `POST /admin/reload-model`
 * (this server loads the model's production version again), behind the `X-API-Key` check; register
 * with prefix `/admin`. A refused reload is a 422 and the version served before keeps serving.
 */
export const adminRoutes: FastifyPluginAsync<AdminOptions> = async (
  app,
  { pool, apiKey, registry, defaultModel },
) => {
  app.addHook('onRequest', apiKeyCheck(apiKey, 'admin API disabled: set RETRAIN_API_KEY'));
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const reload = async (model: string, version: string | undefined, log: FastifyBaseLogger) => {
    const outcome = await pool.reload(model, version);
    log.info(outcome, 'model reloaded');
    return outcome;
  };

  routes.get('/model-info', { schema: { querystring: InfoQuerySchema } }, async (request, reply) => {
    const { model } = request.query;
    if (model === undefined) return { models: pool.list().map(describeSlot) };
    const slot = pool.get(model);
    if (!slot) return reply.code(404).send({ error: `model ${model} is not loaded on this server` });
    return describeSlot(slot);
  });

  routes.post(
    '/reload',
    { schema: { body: ReloadBodySchema }, config: { errorStyle: daemonErrors } },
    async (request) => reload(request.body.model, request.body.version, request.log),
  );

  routes.post(
    '/reload-model',
    {
      preValidation: paramsFromQueryAndBody,
      schema: { querystring: ReloadModelSchema },
      config: { errorStyle: daemonErrors },
    },
    async (request) => {
      const { name: model } = await resolveModel(registry, request.query.model, defaultModel);
      const outcome = await reload(model, undefined, request.log);
      return { success: true, message: `Reloaded ${model} ${outcome.version}`, ...outcome };
    },
  );
};

/** What `GET /admin/model-info` says about one loaded model. */
export function describeSlot(slot: ModelSlot) {
  const pre = slot.preprocessing;
  const { task, timeColumn, entityColumn, features, target, threshold, lookback, horizon } = pre;
  return {
    model: slot.model,
    version: slot.version,
    loadedAt: slot.loadedAt,
    /** `tfjs` or `onnx`, and what runs it (`tensorflow.js cpu`, `onnxruntime-node 1.31.1 cpu`). */
    format: slot.format,
    runtime: slot.runtime,
    backend: slot.backend,
    trainedOn: slot.metadata.backend,
    createdAt: slot.metadata.createdAt,
    workflowId: slot.metadata.workflowId,
    inFlight: slot.pending,
    preprocessing: {
      ...{ task, timeColumn, entityColumn, features, target, threshold, lookback, horizon },
      ...(pre.frequency === undefined ? {} : { frequency: pre.frequency }),
      normalisation: pre.normalisation ?? 'global',
      targetTransform: pre.targetTransform ?? 'level',
      calendar: pre.calendar ?? [],
      entities: Object.keys(pre.entities ?? {}).length,
    },
  };
}
