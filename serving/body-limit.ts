/** Bodies of `POST /predict` and the admin routes carry recent rows or a few fields; this bounds the work one asks for. */
export const DEFAULT_BODY_LIMIT_BYTES = 8 * 1024 * 1024;
/** Larger than the predict limit: ingestion batches are bigger than the recent rows a prediction needs. */
export const DEFAULT_INGEST_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

/** Fastify's error code for a body over the route's limit. */
export const BODY_TOO_LARGE = 'FST_ERR_CTP_BODY_TOO_LARGE';

/** The 413 answer's message, giving the limit (`8 MiB`, `1500 bytes`) and what to do. */
export function bodyTooLargeMessage(limitBytes: number, advice = 'send less per request'): string {
  const mib = limitBytes / 1024 / 1024;
  const limit = Number.isInteger(mib) ? `${mib} MiB` : `${limitBytes} bytes`;
  return `request body over ${limit}: ${advice}`;
}
