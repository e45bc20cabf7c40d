import { BadRequestError } from '../control/route-errors';
import { NoTemporalError } from '../control/dashboard-runs';
import { ModelChoiceError } from '../control/resolve-model';
import { isTemporalUnavailable } from '../control/temporal-unavailable';
import { ServersRefusedError } from '../rollout/rollback';
import { ModelBusyError, ModelHeldError, RunNotFoundError, RunNotRunningError } from '../runs';
import { RowCheckError } from '../storage/ingest';
import { ModelNotFoundError, RollbackRefusedError } from '../storage/registry';
import { FeatureError } from './features';
import { ReloadRefusedError, UnknownModelError } from './model-pool';
import { PredictionFailedError } from './predict-route';

/** One row of the error table: the errors it matches and how they are answered. */
export interface ErrorRow {
  matches(err: Error): boolean;
  status(err: Error): number;
  /** The answer's `error`. @default the error's message */
  message?(err: Error): string;
  /** Fields the answer carries beside `error`. */
  fields?(err: Error): Record<string, unknown>;
  /** Logged at warn level with the error's message, for errors that say something is wrong nearby. */
  warn?: string;
}

/** A row for the errors of one class. */
function row<E extends Error>(
  type: abstract new (...args: never[]) => E,
  status: number | ((err: E) => number),
  more: { message?: (err: E) => string; fields?: (err: E) => Record<string, unknown>; warn?: string } = {},
): ErrorRow {
  return {
    matches: (err) => err instanceof type,
    status: (err) => (typeof status === 'number' ? status : status(err as E)),
    ...(more.message ? { message: (err: Error) => more.message!(err as E) } : {}),
    ...(more.fields ? { fields: (err: Error) => more.fields!(err as E) } : {}),
    ...(more.warn ? { warn: more.warn } : {}),
  };
}

/**
 * How the inference server answers an error a route throws, first matching row first; an error no row
 * matches is a 500 `internal error` (logged), or its own 4xx for Fastify's (unparsable JSON ...).
 * Validation failures (400) and bodies over the limit (413) are answered before the table.
 */
export const ERROR_TABLE: readonly ErrorRow[] = [
  row(FeatureError, 400),
  row(RowCheckError, 400),
  row(BadRequestError, 400),
  // `ready_to_train`/`ready_reason` too, so the daemon's cron script says why instead of "null".
  row(ModelChoiceError, (err) => err.status, {
    fields: (err) => ({ ready_to_train: false, ready_reason: err.message }),
  }),
  // Not the registry's message: it gives the store's URI.
  row(ModelNotFoundError, 404, { message: (err) => `unknown model ${err.model}` }),
  row(UnknownModelError, 404),
  row(RunNotFoundError, 404),
  row(ModelBusyError, 409, { fields: (err) => ({ status: 'running', job_id: err.runningWorkflowId }) }),
  row(ModelHeldError, 409, { fields: (err) => ({ holder: err.holder }) }),
  row(RunNotRunningError, 409),
  row(RollbackRefusedError, 409),
  row(ReloadRefusedError, 422, {
    fields: (err) => ({ serving: err.serving }),
    warn: 'reload refused; the previous version keeps serving',
  }),
  row(PredictionFailedError, 500),
  row(ServersRefusedError, 502),
  row(NoTemporalError, 503),
  {
    matches: isTemporalUnavailable,
    status: () => 503,
    message: () => 'training API unavailable: Temporal is not reachable',
    warn: 'Temporal unavailable',
  },
];
