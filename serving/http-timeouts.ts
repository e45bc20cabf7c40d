/**
 * How long the inference server waits on a client. Fastify's own defaults are 0 (no limit): a client
 * that opens connections and trickles its headers, or never finishes a body, holds each socket for
 * ever (slowloris). Long answers are not affected: the request limits end once the request has
 * arrived, and the blocking training route lifts the idle limit for its own socket.
 */
export interface HttpTimeouts {
  /** The request line and headers must arrive within this (`SERVING_HEADERS_TIMEOUT`). @default 20000 */
  headersMs: number;
  /**
   * The whole request, body included (an `/ingest` upload), must arrive within this
   * (`SERVING_REQUEST_TIMEOUT`); at least `headersMs`. @default 300000
   */
  requestMs: number;
  /**
   * A connection with no bytes either way for this long is closed (`SERVING_CONNECTION_TIMEOUT`),
   * also while a handler works on its answer: above the longest answer but the blocking route's.
   * @default 600000
   */
  connectionMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = {
  headersMs: 20_000,
  requestMs: 300_000,
  connectionMs: 600_000,
};

/**
 * Fastify's options for `timeouts`. Node checks the header and request limits of open connections
 * every `connectionsCheckingInterval` (30 s by default), so it is made a fraction of the headers
 * limit: a slow client is cut off within about 1.25 times the limit.
 */
export function fastifyTimeouts(timeouts: HttpTimeouts) {
  if (timeouts.headersMs > timeouts.requestMs)
    throw new Error(
      `the headers timeout (${timeouts.headersMs} ms) must not exceed the request timeout (${timeouts.requestMs} ms)`,
    );
  return {
    requestTimeout: timeouts.requestMs,
    connectionTimeout: timeouts.connectionMs,
    http: {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(timeouts.headersMs / 4))),
    },
  };
}
