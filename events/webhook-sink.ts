import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../common/errors';
import type { EventSink } from './sink';
import { WEBHOOK_HEADERS, webhookKey, webhookSignature } from './webhook-signature';

/** Answers a later attempt may not get: the receiver is busy or timed out (408, 429), or failed (5xx). */
function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * POSTs each event as JSON to `url`, signed the Standard Webhooks way (see webhook-signature.ts): the
 * event's id as `webhook-id`, this attempt's time as `webhook-timestamp`. A network error, no answer
 * within `timeoutMs`, 408, 429 or 5xx throws a plain error, so the delivering activity retries. Any
 * other 4xx, and a redirect (3xx: never followed, since that would post the body and its signature to
 * another URL), throw a non-retryable {@link ErrorType.EventRefused}: asking again gets the same answer.
 * Errors name the URL without its query or credentials, never the secret.
 */
export function webhookSink(options: { url: string; secret: string; timeoutMs: number }): EventSink {
  const key = webhookKey(options.secret);
  const shown = (() => {
    const u = new URL(options.url);
    return `${u.origin}${u.pathname}`;
  })();
  return {
    name: 'webhook',
    async deliver(event) {
      const body = JSON.stringify(event);
      const timestamp = Math.floor(Date.now() / 1000);
      let status: number;
      try {
        const res = await fetch(options.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-retrain-event-type': event.type,
            [WEBHOOK_HEADERS.id]: event.id,
            [WEBHOOK_HEADERS.timestamp]: String(timestamp),
            [WEBHOOK_HEADERS.signature]: webhookSignature(key, event.id, timestamp, body),
          },
          body,
          redirect: 'manual',
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
      if (status >= 200 && status <= 299) return;
      if (retryable(status)) throw new Error(`webhook ${shown} answered ${status}`);
      const why =
        status >= 300 && status <= 399
          ? 'a redirect, which is not followed: set RETRAIN_EVENTS_WEBHOOK_URL to the URL it points to'
          : 'the receiver refused the event; asking again gets the same answer';
      throw ApplicationFailure.nonRetryable(
        `webhook ${shown} answered ${status} (${why})`,
        ErrorType.EventRefused,
        { status },
      );
    },
    async close() {},
  };
}
