import type { FastifyBaseLogger, FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

import type { Preprocessing } from '../common/artefacts';
import { SINGLE_ENTITY } from '../common/model-inputs';
import { argmax } from '../ml/metrics';
import type { PredictionLog } from '../storage/prediction-log';
import { PredictionLogWriteError } from '../storage/prediction-log-faults';
import { buildFeatures, ModelRowsBodySchema, type FeatureBatch } from './features';
import { NO_VERSION_LABEL, type ServingMetrics } from './metrics';
import { PredictFeed, type PredictFeedOptions } from './predict-feed';
import type { ModelPool } from './model-pool';
import type { ModelSlot } from './model-slot';

/** Metrics label for requests that name no model this server knows, so label cardinality stays bounded. */
const UNKNOWN_MODEL_LABEL = '_unknown';

/** Thrown when a loaded model fails to compute an answer; answered 500 `prediction failed`. */
export class PredictionFailedError extends Error {
  override readonly name = 'PredictionFailedError';
  constructor(cause: unknown) {
    super('prediction failed', { cause });
  }
}

/** Options of {@link predictRoutes}. */
export interface PredictOptions {
  pool: ModelPool;
  metrics: ServingMetrics;
  /** Records every answer (sampled; see storage/prediction-log.ts); the caller closes it. */
  predictionLog?: PredictionLog;
  /**
   * Appends the rows of answered requests to the data buffer, off the request path, for models whose
   * spec sets `predictFeedsBuffer` (or, when it says nothing, with `serverDefault`); closed with the server.
   */
  feed?: Pick<PredictFeedOptions, 'ingestor' | 'registry' | 'serverDefault'>;
}

/**
 * One answer: `value` in the target's units (a binary classifier's probability, a multi-class
 * classifier's probability of its `label`, a clusterer's cluster id); classifiers add the `label`
 * (0/1, or the class name with every class's `probabilities`).
 */
type Prediction = Omit<FeatureBatch['keys'][number], 'value'> & {
  value: number;
  label?: number | string;
  probabilities?: Record<string, number>;
};

/**
 * `POST /predict` `{ model, rows }`: one prediction per entity from the version serving the model now;
 * a model not loaded yet is loaded first; 404 for a model the registry does not know, 503 for one
 * without a loadable production version (no alias, or its load failed). Every answer,
 * refusals too, is counted and timed under the model and the version that answered.
 */
export const predictRoutes: FastifyPluginAsync<PredictOptions> = async (
  app,
  { pool, metrics, predictionLog, feed: feedOptions },
) => {
  const feed = feedOptions && new PredictFeed({ ...feedOptions, metrics: metrics.registry, log: app.log });
  if (feed) app.addHook('onClose', () => feed.close());
  // The version that took the request, once its slot is taken; before, the one serving at the answer.
  const answeredBy = new WeakMap<object, string>();
  app.addHook('onResponse', async (request, reply) => {
    const named = (request.body as { model?: unknown } | undefined)?.model;
    const model = typeof named === 'string' && pool.isKnown(named) ? named : UNKNOWN_MODEL_LABEL;
    const version = answeredBy.get(request) ?? pool.get(model)?.version ?? NO_VERSION_LABEL;
    metrics.predicted(model, version, reply.statusCode, reply.elapsedTime / 1000);
  });

  app
    .withTypeProvider<ZodTypeProvider>()
    .post('/predict', { schema: { body: ModelRowsBodySchema } }, async (request, reply) => {
      const { model, rows } = request.body;
      // A model not served yet (start-up has not reached it, or it was added since) is loaded now.
      const slot = pool.get(model) ?? (await pool.whenLoaded(model));
      if (!slot) {
        if (!pool.isKnown(model)) return reply.code(404).send({ error: `unknown model ${model}` });
        return reply.code(503).send({ error: `model ${model} has no loaded version on this server` });
      }
      answeredBy.set(request, slot.version);
      const features = buildFeatures(rows, slot.preprocessing);
      const outputs = await slot.predict(features.x, features.width).catch((err: unknown) => {
        throw new PredictionFailedError(err);
      });
      const predictions = answers(slot.preprocessing, features, outputs);
      if (predictionLog) logPredictions(predictionLog, slot, predictions, metrics, request.log);
      feed?.offer(model, rows);
      return { model: slot.model, version: slot.version, predictions };
    });
};

/**
 * The answers for a batch from the model's outputs: one value per input row, or k class
 * probabilities per row (a multi-class classifier, whatever its format).
 */
export function answers(
  pre: Preprocessing,
  features: FeatureBatch,
  outputs: ArrayLike<number>,
): Prediction[] {
  const n = features.keys.length;
  const k = n > 0 ? Math.max(1, Math.round(outputs.length / n)) : 1;
  return features.keys.map(({ value, ...key }, i): Prediction => {
    if (pre.task === 'classify' && k > 1) {
      const probabilities = Array.from({ length: k }, (_, c) => outputs[i * k + c] ?? Number.NaN);
      const top = argmax(probabilities, 0, k);
      const names = pre.classes ?? probabilities.map((_, c) => String(c));
      return {
        ...key,
        value: probabilities[top] as number,
        label: names[top] ?? String(top),
        probabilities: Object.fromEntries(names.map((name, c) => [name, probabilities[c] as number])),
      };
    }
    const raw = outputs[i] ?? Number.NaN;
    if (pre.task === 'classify') return { ...key, value: raw, label: raw >= 0.5 ? 1 : 0 };
    return { ...key, value: value(raw) };
  });
}

/**
 * Hands the answer to the prediction log without waiting: waiting for the journal write cost 10 % of
 * throughput and 7 ms at p50 (bench/serve); a SIGKILL can lose the last milliseconds of answers, a
 * graceful close none. An answer stays right when the log cannot take it: that is logged and counted.
 */
function logPredictions(
  log: PredictionLog,
  slot: ModelSlot,
  predictions: Prediction[],
  metrics: ServingMetrics,
  logger: FastifyBaseLogger,
): void {
  const predictedAt = Date.now();
  const records = predictions.map((p) => ({
    model: slot.model,
    version: slot.version,
    entity: p.entity === undefined ? SINGLE_ENTITY : String(p.entity),
    time: Date.parse(p.time),
    for: p.for === undefined ? null : Date.parse(p.for),
    value: p.value,
    // The log keeps a class as its index.
    label:
      typeof p.label === 'string'
        ? (slot.preprocessing.classes?.indexOf(p.label) ?? null)
        : (p.label ?? null),
    predictedAt,
  }));
  void log.record(records).catch((err: unknown) => {
    metrics.predictionLogFailed(slot.model);
    // A journal write that failed is logged by the log itself, once per burst.
    if (!(err instanceof PredictionLogWriteError)) logger.error({ err }, 'prediction log write failed');
  });
}
