import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

import { BODY_TOO_LARGE, bodyTooLargeMessage } from './body-limit';
import type { ErrorRow } from './error-table';

/**
 * The server's one error handler: a body over the route's limit is a 413 naming the limit, a request
 * its schemas refuse a 400 naming each wrong field (`invalid request: rows.0: ...`), any other error
 * is answered as the first row of `table` that matches says. A route's `errorStyle` adds its fields
 * and statuses.
 */
export function errorHandler(table: readonly ErrorRow[], defaultBodyLimit: number) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const { config, bodyLimit } = request.routeOptions;
    const style = config.errorStyle;
    const answer = (status: number, body: { error: string } & Record<string, unknown>) =>
      reply.code(style?.statusOf?.(err) ?? status).send({ ...style?.fields(request), ...body });

    if (err.code === BODY_TOO_LARGE)
      return answer(413, {
        error: bodyTooLargeMessage(bodyLimit ?? defaultBodyLimit, config.bodyLimitAdvice),
      });
    if (hasZodFastifySchemaValidationErrors(err)) {
      const issues = err.validation.map(
        (v) => `${v.instancePath.slice(1).replaceAll('/', '.') || '(root)'}: ${v.message}`,
      );
      return answer(400, { error: `invalid request: ${issues.join('; ')}` });
    }
    const row = table.find((r) => r.matches(err));
    const status = row?.status(err) ?? (err.statusCode && err.statusCode >= 400 ? err.statusCode : 500);
    if (row?.warn) request.log.warn({ reason: err.message }, row.warn);
    else if (status >= 500) request.log.error(err);
    if (row) return answer(status, { error: row.message?.(err) ?? err.message, ...row.fields?.(err) });
    return answer(status, { error: status >= 500 ? 'internal error' : err.message });
  };
}
