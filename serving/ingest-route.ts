import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

import { apiKeyCheck } from '../control/api-key';
import { ConflictPolicySchema, ExtraColumnsPolicySchema, type Ingestor } from '../storage/ingest';
import { DEFAULT_INGEST_BODY_LIMIT_BYTES } from './body-limit';
import { ModelRowsBodySchema } from './features';

/** Body of `POST /ingest`: the rows, and what to do with rows of it that repeat a (time, entity) with other values. */
export const IngestBodySchema = ModelRowsBodySchema.extend({
  onConflict: ConflictPolicySchema.default('reject'),
  extraColumns: ExtraColumnsPolicySchema.default('reject'),
});

/** Options of {@link ingestRoutes}. */
export interface IngestRouteOptions {
  ingestor: Ingestor;
  /** Without a key the route answers 503: anyone could otherwise feed the training data. */
  apiKey?: string;
  /** Told how many new rows each request wrote (the ingest metric). */
  onIngested?: (model: string, rows: number) => void;
  /** Larger bodies are answered 413 naming the limit. @default 16 MiB */
  bodyLimitBytes?: number;
}

/**
 * `POST /ingest` `{ model, rows, onConflict?, extraColumns? }` behind the `X-API-Key` check. Answers 200
 * `{ model, received, inserted, duplicates, conflictsResolved }` only once the rows are durable in the buffer; 400 names
 * the first bad row and writes nothing; 404 for a model without a spec; 413 above `bodyLimitBytes` (16 MiB).
 */
export const ingestRoutes: FastifyPluginAsync<IngestRouteOptions> = async (
  app,
  { ingestor, apiKey, onIngested, bodyLimitBytes = DEFAULT_INGEST_BODY_LIMIT_BYTES },
) => {
  app.addHook('onRequest', apiKeyCheck(apiKey, 'ingest API disabled: set RETRAIN_API_KEY'));
  const config = { bodyLimitAdvice: 'send the rows in smaller batches' };
  app
    .withTypeProvider<ZodTypeProvider>()
    .post(
      '/ingest',
      { bodyLimit: bodyLimitBytes, config, schema: { body: IngestBodySchema } },
      async (request) => {
        const { model, rows, onConflict, extraColumns } = request.body;
        const { received, inserted, duplicates, conflictsResolved, expiredDays } = await ingestor.ingestRows(
          model,
          rows,
          { onConflict, extraColumns },
        );
        onIngested?.(model, inserted);
        request.log.info(
          { model, received, inserted, duplicates, conflictsResolved, onConflict, expiredDays },
          'rows ingested',
        );
        return { model, received, inserted, duplicates, conflictsResolved };
      },
    );
};
