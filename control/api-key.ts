import { createHash, timingSafeEqual } from 'node:crypto';

import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * An `onRequest` hook that lets a request through only with the right `X-API-Key` header: 401
 * otherwise, 503 when no key is configured (an open admin or ingest API is worse than none). The
 * comparison is constant-time and the key never appears in a reply.
 */
export function apiKeyCheck(apiKey: string | undefined, disabledMessage: string) {
  const expected = apiKey === undefined ? undefined : digest(apiKey);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (!expected) return reply.code(503).send({ error: disabledMessage });
    const given = request.headers['x-api-key'];
    if (typeof given !== 'string' || !timingSafeEqual(digest(given), expected)) {
      return reply.code(401).send({ error: 'missing or wrong X-API-Key header' });
    }
  };
}

/** Equal-length digests, so timingSafeEqual neither throws nor leaks the key's length. */
function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
