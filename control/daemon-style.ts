import type { FastifyRequest } from 'fastify';

import { RunNotRunningError } from '../runs';
import type { ErrorStyle } from './route-errors';

/**
 * A `preValidation` hook for the NordIQ daemon's routes: their parameters come in the query string or
 * a JSON body (the fields of both, the body's winning), so the query schema sees them all.
 */
export async function paramsFromQueryAndBody(request: FastifyRequest): Promise<void> {
  const body = request.body && typeof request.body === 'object' ? request.body : {};
  request.query = { ...(request.query as Record<string, unknown>), ...body };
}

/** Error answers of the daemon's routes (and `POST /admin/reload`): `success: false` beside `error`, as the daemon answers. */
export const daemonErrors: ErrorStyle = { fields: () => ({ success: false }) };

/** The job a daemon request named (`?job_id=`), if any. */
const jobOf = (request: FastifyRequest) => (request.query as { job_id?: unknown } | undefined)?.job_id;

/** `GET /admin/training-status`: the job asked about and `status: null`, so pollers stop. */
export const statusErrors: ErrorStyle = {
  fields: (request) => ({ success: false, job_id: jobOf(request), status: null }),
};

/** `POST /admin/cancel-training`: the job asked about; a job that has ended is "no running job" (404). */
export const cancelErrors: ErrorStyle = {
  fields: (request) => ({ success: false, job_id: jobOf(request) }),
  statusOf: (err) => (err instanceof RunNotRunningError ? 404 : undefined),
};
