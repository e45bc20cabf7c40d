import { createHmac } from 'node:crypto';
import type { EventSink } from './sink';

/** The header with the body's HMAC-SHA256 under the shared secret, `sha256=<hex>`. */
export const SIGNATURE_HEADER = 'x-retrain-signature-256';

/** `sha256=<hex>` of `body` under `secret`: what {@link SIGNATURE_HEADER} carries. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * POSTs each event as JSON to `url`, signed; any answer but 2xx, a network error or no answer within
 * `timeoutMs` throws, so the delivering activity retries. Errors name the URL without its query or
 * credentials.
 */
export function webhookSink(options: { url: string; secret: string; timeoutMs: number }): EventSink {
  const shown = (() => {
    const u = new URL(options.url);
    return `${u.origin}${u.pathname}`;
  })();
  return {
    name: 'webhook',
    async deliver(event) {
      const body = JSON.stringify(event);
      let status: number;
      try {
        const res = await fetch(options.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-retrain-event-id': event.id,
            'x-retrain-event-type': event.type,
            [SIGNATURE_HEADER]: signature(options.secret, body),
          },
          body,
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        status = res.status;
        await res.body?.cancel();
      } catch (err) {
        const why =
          err instanceof Error && err.name === 'TimeoutError'
            ? `no answer within ${options.timeoutMs} ms`
            : String((err as Error).cause ?? err);
        throw new Error(`webhook ${shown} unreachable: ${why}`);
      }
      if (status < 200 || status > 299) throw new Error(`webhook ${shown} answered ${status}`);
    },
    async close() {},
  };
}
