import type { FastifyBaseLogger, FastifyPluginAsync } from 'fastify';
import { z } from 'zod';

import { formatIssues } from '../common/format-issues';
import { ModelNameSchema } from '../common/model-spec';
import type { ModelRegistry } from '../storage/registry';
import { apiKeyCheck } from './api-key';
import { UnknownModelError, type ModelPool, type ReloadOutcome } from './model-pool';
import { ModelLoadError, type ModelSlot } from './model-slot';
import { ModelChoiceError, resolveModel } from './resolve-model';

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
 * with prefix `/admin`.
 */
export const adminRoutes: FastifyPluginAsync<AdminOptions> = async (
  app,
  { pool, apiKey, registry, defaultModel },
) => {
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
    const reloaded = await reload(pool, body.data.model, body.data.version, request.log);
    return reloaded.ok ? reloaded.outcome : reply.code(reloaded.status).send(reloaded.body);
  });

  app.post('/reload-model', async (request, reply) => {
    const params = ReloadModelSchema.parse({
      ...(request.query as object),
      ...(request.body as object | undefined),
    });
    let model: string;
    try {
      model = (await resolveModel(registry, params.model, defaultModel)).name;
    } catch (err) {
      if (err instanceof ModelChoiceError)
        return reply.code(err.status).send({ success: false, error: err.message });
      throw err;
    }
    const reloaded = await reload(pool, model, undefined, request.log);
    if (!reloaded.ok) return reply.code(reloaded.status).send(reloaded.body);
    return { success: true, message: `Reloaded ${model} ${reloaded.outcome.version}`, ...reloaded.outcome };
  });
};

type Reloaded = { ok: true; outcome: ReloadOutcome } | { ok: false; status: 404 | 422; body: object };

/** Reloads one model on this server: a refusal is a 422 (the old version keeps serving), an unknown model a 404. */
async function reload(
  pool: ModelPool,
  model: string,
  version: string | undefined,
  log: FastifyBaseLogger,
): Promise<Reloaded> {
  try {
    const outcome = await pool.reload(model, version);
    log.info(outcome, 'model reloaded');
    return { ok: true, outcome };
  } catch (err) {
    if (err instanceof UnknownModelError)
      return { ok: false, status: 404, body: { success: false, error: err.message } };
    if (err instanceof ModelLoadError) {
      log.warn({ model, reason: err.message }, 'reload refused; the previous version keeps serving');
      return {
        ok: false,
        status: 422,
        body: { success: false, error: err.message, serving: pool.get(model)?.version ?? null },
      };
    }
    throw err;
  }
}

/** What `GET /admin/model-info` says about one loaded model. */
export function describeSlot(slot: ModelSlot) {
  const pre = slot.preprocessing;
  const { task, timeColumn, entityColumn, features, target, threshold, lookback, horizon } = pre;
  return {
    model: slot.model,
    version: slot.version,
    loadedAt: slot.loadedAt,
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
