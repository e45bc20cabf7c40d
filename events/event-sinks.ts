import { redisSink } from './redis-sink';
import type { EventSink } from './sink';
import { webhookSink } from './webhook-sink';

/**
 * The sinks a configuration names (RETRAIN_EVENTS_WEBHOOK_URL, RETRAIN_EVENTS_REDIS_URL): what the
 * workers deliver run events to, and what `retrain events dead-letter replay` delivers again to.
 */
export function eventSinksFor(events: {
  webhook?: Parameters<typeof webhookSink>[0];
  redis?: Parameters<typeof redisSink>[0];
}): EventSink[] {
  const { webhook, redis } = events;
  return [...(webhook ? [webhookSink(webhook)] : []), ...(redis ? [redisSink(redis)] : [])];
}
