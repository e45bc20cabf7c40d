import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { ModelNameSchema } from '../common/model-spec';
import { apiKeyCheck } from './api-key';
import type { LiveReports } from './live-reports';

const MonitorQuerySchema = z.object({
  model: ModelNameSchema,
  days: z.coerce.number().int().min(1).max(3650).default(7),
});

/** Options of {@link monitorRoutes}. */
export interface MonitorOptions {
  reports: LiveReports;
  apiKey?: string;
}

/** `GET /admin/monitor?model=&days=`: per version, its holdout figure and live figures; register with prefix `/admin`. */
export const monitorRoutes: FastifyPluginAsync<MonitorOptions> = async (app, { reports, apiKey }) => {
  app.addHook('onRequest', apiKeyCheck(apiKey, 'admin API disabled: set RETRAIN_API_KEY'));
  app
    .withTypeProvider<ZodTypeProvider>()
    .get('/monitor', { schema: { querystring: MonitorQuerySchema } }, (request) =>
      reports.measure(request.query.model, request.query.days),
    );
};
