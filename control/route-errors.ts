import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';

import { formatIssues } from '../common/format-issues';

/**
 * How one route's error answers differ from the server's error table (serving/error-table.ts): the
 * NordIQ daemon's routes add `success: false` and the job they were asked about, and document 404 where
 * the table says 409.
 */
export interface ErrorStyle {
  /** Fields put before `error` in every error answer of the route. */
  fields(request: FastifyRequest): Record<string, unknown>;
  /** The route's own status for an error, where it is not the table's. */
  statusOf?(err: Error): number | undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    errorStyle?: ErrorStyle;
    /** What a 413 answer of the route tells the client to do. @default 'send less per request' */
    bodyLimitAdvice?: string;
  }
}

/** Thrown for request parameters that turn out wrong only once combined with stored state (a model's spec); answered 400. */
export class BadRequestError extends Error {
  override readonly name = 'BadRequestError';
}

/** `schema.parse(data)` for request data: a failure is a {@link BadRequestError} naming every wrong field. */
export function parseRequest<T extends z.ZodType>(schema: T, data: unknown): z.output<T> {
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw new BadRequestError(`invalid request: ${formatIssues(parsed.error)}`);
  return parsed.data;
}
