import * as tf from '@tensorflow/tfjs';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';

import { formatIssues } from '../common/format-issues';
import { ModelNameSchema } from '../common/model-spec';
import { apiKeyCheck } from './api-key';
import { UnknownModelError, type ModelPool } from './model-pool';
import { ModelLoadError, type ModelSlot } from './model-slot';

const ReloadBodySchema = z.object({
  model: ModelNameSchema,
  version: z
    .string()
    .regex(/^v\d+$/)
    .optional(),
});
const InfoQuerySchema = z.object({ model: ModelNameSchema.optional() });

/** Options of {@link adminRoutes}. */
export interface AdminOptions {
  pool: ModelPool;
  /** Without a key the admin routes answer 503: an open admin API would let anyone swap models. */
  apiKey?: string;
}

/** `GET /admin/model-info` and `POST /admin/reload`, behind the `X-API-Key` check; register with prefix `/admin`. */
export const adminRoutes: FastifyPluginAsync<AdminOptions> = async (app, { pool, apiKey }) => {
  app.addHook('onRequest', apiKeyCheck(apiKey, 'admin API disabled: set RETRAIN_API_KEY'));

  app.get('/model-info', async (request, reply) => {
    const query = InfoQuerySchema.safeParse(request.query);
    if (!query.success) return reply.code(400).send({ error: formatIssues(query.error) });
    if (query.data.model === undefined) return { models: pool.list().map(describeSlot) };
    const slot = pool.get(query.data.model);
    if (!slot)
      return reply.code(404).send({ error: `model ${query.data.model} is not loaded on this server` });
    return describeSlot(slot);
  });

  app.post('/reload', async (request, reply) => {
    const body = ReloadBodySchema.safeParse(request.body);
    if (!body.success) return reply.code(400).send({ error: formatIssues(body.error) });
    try {
      const outcome = await pool.reload(body.data.model, body.data.version);
      request.log.info(outcome, 'model reloaded');
      return outcome;
    } catch (err) {
      if (err instanceof UnknownModelError) return reply.code(404).send({ error: err.message });
      if (err instanceof ModelLoadError) {
        request.log.warn(
          { model: body.data.model, reason: err.message },
          'reload refused; the previous version keeps serving',
        );
        return reply
          .code(422)
          .send({ error: err.message, serving: pool.get(body.data.model)?.version ?? null });
      }
      throw err;
    }
  });
};

/** What `GET /admin/model-info` says about one loaded model. */
export function describeSlot(slot: ModelSlot) {
  const { task, timeColumn, entityColumn, features, target, threshold, lookback, horizon } =
    slot.preprocessing;
  return {
    model: slot.model,
    version: slot.version,
    loadedAt: slot.loadedAt,
    backend: tf.getBackend(),
    trainedOn: slot.metadata.backend,
    createdAt: slot.metadata.createdAt,
    workflowId: slot.metadata.workflowId,
    inFlight: slot.pending,
    preprocessing: { task, timeColumn, entityColumn, features, target, threshold, lookback, horizon },
  };
}
