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

/**
 * Counters the retraining worker kept, INCRed with the event's XADD (in one MULTI): runs started and
 * runs completed. Its keys by default; an empty key turns a counter off.
 */
export const DEFAULT_COUNTERS = {
  started: 'quantum:evolution:retrain_count',
  completed: 'quantum:evolution:retrain_completed_count',
};

/** The counter key each event type INCRs, given the configured keys. */
function counterOf(type: RunEventType, counters: { started: string; completed: string }): string {
  if (type === 'retrain.run.started') return counters.started;
  if (type === 'retrain.run.completed') return counters.completed;
  return '';
}

/** Streams are capped near this many entries (XADD MAXLEN ~). */
const MAX_STREAM_LENGTH = 100_000;

/**
 * The flat string fields of an event's stream entry; `data` is the whole payload as JSON. The run's
 * `labels` (a job's own fields) are echoed under their names: a producer's `job_id` and `timestamp`
 * come back as it sent them (`event_time` is the event's), the event's other fields are kept.
 */
export function streamFields(event: RunEvent): Record<string, string> {
  const data = event.data as { status?: unknown; decision?: unknown; version?: unknown; reason?: unknown };
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    job_id: event.workflowId,
    timestamp: event.time,
    ...event.labels,
    event_time: event.time,
    event_id: event.id,
    specversion: event.specversion,
    type: event.type,
    model: event.model,
    workflow_id: event.workflowId,
    run_id: event.runId,
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
 * XADDs each event to its stream (see {@link DEFAULT_STREAMS}) and INCRs its counter (see
 * {@link DEFAULT_COUNTERS}) in the same MULTI. A Redis that is down fails the command at once (no
 * offline queue), so the delivering activity retries with its backoff; a reply lost after Redis took
 * it repeats both, as a redelivery does (consumers dedupe on `event_id`).
 */
export function redisSink(options: {
  url: string;
  prefix: string;
  streams: Partial<Record<RunEventType, string>>;
  counters?: Partial<typeof DEFAULT_COUNTERS>;
}): EventSink {
  const streams = { ...DEFAULT_STREAMS, ...options.streams };
  const counters = { ...DEFAULT_COUNTERS, ...options.counters };
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
        const counter = counterOf(event.type, counters);
        const multi = client.multi().xadd(stream, 'MAXLEN', '~', MAX_STREAM_LENGTH, '*', ...fields);
        if (counter) multi.incr(counter);
        const replies = (await multi.exec()) ?? [];
        const failed = replies.find(([err]) => err);
        if (failed) throw failed[0] as Error;
      } catch (err) {
        throw new Error(`redis ${shown} did not take ${event.id} on ${stream}: ${(err as Error).message}`);
      }
    },
    async close() {
      client.disconnect();
    },
  };
}
