import { Redis } from 'ioredis';
import type { RunEvent, RunEventType } from '../common/run-events';
import type { EventSink } from './sink';

/**
 * Stream per event type, after the prefix: by default the three the retraining worker publishes
 * (`learning.retraining.started`, `.completed`, `.failed`), so its consumers keep working. A run that
 * ends without a model (rejected, cancelled) goes to `failed` too; its `status` field says which.
 */
export const DEFAULT_STREAMS: Record<RunEventType, string> = {
  'retrain.run.started': 'learning.retraining.started',
  'retrain.run.completed': 'learning.retraining.completed',
  'retrain.run.failed': 'learning.retraining.failed',
  'retrain.run.rejected': 'learning.retraining.failed',
  'retrain.run.cancelled': 'learning.retraining.failed',
  'retrain.stage.ended': 'learning.retraining.stage',
  'retrain.trigger.evaluated': 'learning.retraining.trigger',
};

/** Streams are capped near this many entries (XADD MAXLEN ~). */
const MAX_STREAM_LENGTH = 100_000;

/** The flat string fields of an event's stream entry; `data` is the whole payload as JSON. */
export function streamFields(event: RunEvent): Record<string, string> {
  const data = event.data as { status?: unknown; decision?: unknown; version?: unknown; reason?: unknown };
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    event_id: event.id,
    specversion: event.specversion,
    type: event.type,
    model: event.model,
    job_id: event.workflowId,
    workflow_id: event.workflowId,
    run_id: event.runId,
    timestamp: event.time,
    // A run's outcome; a trigger evaluation's decision (started, notTriggered, coolingDown, ...).
    status: text(data.status) || text(data.decision) || event.type.split('.').at(-1) || '',
    version: text(data.version),
    reason: text(data.reason),
    data: JSON.stringify(event.data),
  };
}

/** URL without the password, for errors and logs. */
export function redactedRedisUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/**
 * XADDs each event to its stream (see {@link DEFAULT_STREAMS}). A Redis that is down fails the
 * command at once (no offline queue), so the delivering activity retries with its backoff.
 */
export function redisSink(options: {
  url: string;
  prefix: string;
  streams: Partial<Record<RunEventType, string>>;
}): EventSink {
  const streams = { ...DEFAULT_STREAMS, ...options.streams };
  const client = new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
  });
  // Reconnection is ioredis's own business; a delivery that finds it down throws and is retried.
  client.on('error', () => undefined);
  const shown = redactedRedisUrl(options.url);
  return {
    name: 'redis',
    async deliver(event) {
      const stream = `${options.prefix}${streams[event.type]}`;
      const fields = Object.entries(streamFields(event)).flat();
      try {
        if (client.status === 'wait' || client.status === 'end') await client.connect();
        await client.xadd(stream, 'MAXLEN', '~', MAX_STREAM_LENGTH, '*', ...fields);
      } catch (err) {
        throw new Error(`redis ${shown} did not take ${event.id} on ${stream}: ${(err as Error).message}`);
      }
    },
    async close() {
      client.disconnect();
    },
  };
}
