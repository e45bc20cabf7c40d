import type { FastifyError, FastifyPluginAsync } from 'fastify';

import { formatIssues } from '../common/format-issues';
import {
  ConflictPolicySchema,
  ExtraColumnsPolicySchema,
  RowCheckError,
  type Ingestor,
} from '../storage/ingest';
import { ModelNotFoundError } from '../storage/registry';
import { apiKeyCheck } from './api-key';
import { BODY_TOO_LARGE, bodyTooLargeMessage, DEFAULT_INGEST_BODY_LIMIT_BYTES } from './body-limit';
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

  app.setErrorHandler((err: FastifyError, _request, reply) => {
    if (err.code === BODY_TOO_LARGE) {
      return reply
        .code(413)
        .send({ error: bodyTooLargeMessage(bodyLimitBytes, 'send the rows in smaller batches') });
    }
    throw err;
  });

  app.post('/ingest', { bodyLimit: bodyLimitBytes }, async (request, reply) => {
    const body = IngestBodySchema.safeParse(request.body);
    if (!body.success) return reply.code(400).send({ error: `invalid request: ${formatIssues(body.error)}` });
    const { model, rows, onConflict, extraColumns } = body.data;
    try {
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
    } catch (err) {
      if (err instanceof RowCheckError) return reply.code(400).send({ error: err.message });
      if (err instanceof ModelNotFoundError) return reply.code(404).send({ error: `unknown model ${model}` });
      throw err;
    }
  });
};
