import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { liveMetrics, type LiveReport } from '../monitoring/live-metrics';
import { formatIssues } from '../common/format-issues';
import { ModelNameSchema } from '../common/model-spec';
import type { DataBuffer } from '../storage/buffer';
import type { PredictionLog } from '../storage/prediction-log';
import { ModelNotFoundError, type ModelRegistry } from '../storage/registry';
import { apiKeyCheck } from './api-key';

const MonitorQuerySchema = z.object({
  model: ModelNameSchema,
  days: z.coerce.number().int().min(1).max(3650).default(7),
});

/** Options of {@link monitorRoutes}. */
export interface MonitorOptions {
  registry: ModelRegistry;
  buffer: DataBuffer;
  predictionLog: Pick<PredictionLog, 'source'>;
  apiKey?: string;
  /** Called with every report computed, so the live-error gauges follow it. */
  onReport: (report: LiveReport) => void;
}

/** The live report of one model, as `retrain monitor` computes it. */
export function monitorReport(options: Omit<MonitorOptions, 'apiKey' | 'onReport'>, model: string, days = 7) {
  return options.registry.loadSpec(model).then((spec) => liveMetrics({ ...options, spec, windowDays: days }));
}

/** `GET /admin/monitor?model=&days=`: per version, its holdout figure and live figures; register with prefix `/admin`. */
export const monitorRoutes: FastifyPluginAsync<MonitorOptions> = async (app, options) => {
  app.addHook('onRequest', apiKeyCheck(options.apiKey, 'admin API disabled: set RETRAIN_API_KEY'));
  app.get('/monitor', async (request, reply) => {
    const query = MonitorQuerySchema.safeParse(request.query);
    if (!query.success) return reply.code(400).send({ error: formatIssues(query.error) });
    try {
      const report = await monitorReport(options, query.data.model, query.data.days);
      options.onReport(report);
      return report;
    } catch (err) {
      if (err instanceof ModelNotFoundError)
        return reply.code(404).send({ error: `unknown model ${query.data.model}` });
      throw err;
    }
  });
};
