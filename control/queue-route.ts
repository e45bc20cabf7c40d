import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { ModelNameSchema } from '../common/model-spec';
import { modelQueue } from '../runs';
import { apiKeyCheck } from './api-key';
import type { TrainingBackend } from './training-params';

const QueueQuerySchema = z.object({ model: ModelNameSchema });

/** Options of {@link queueRoutes}. */
export interface QueueRouteOptions {
  apiKey?: string;
  /** Without it (Temporal unreachable at start-up) the route answers 503. */
  temporal?: TrainingBackend;
}

/**
 * `GET /admin/queue?model=`: the run holding the model and the runs queued for it, next first, with
 * their positions and priorities (see runs/model-queue); register with prefix `/admin`.
 */
export const queueRoutes: FastifyPluginAsync<QueueRouteOptions> = async (app, { apiKey, temporal }) => {
  app.addHook('onRequest', apiKeyCheck(apiKey, 'admin API disabled: set RETRAIN_API_KEY'));
  app
    .withTypeProvider<ZodTypeProvider>()
    .get('/queue', { schema: { querystring: QueueQuerySchema } }, async (request, reply) => {
      if (!temporal)
        return reply.code(503).send({ error: 'queue unavailable: this server has no Temporal connection' });
      return modelQueue(temporal.client, request.query.model);
    });
};
