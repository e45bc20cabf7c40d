import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { WorkerMetric } from '../common/metric-names';
import type { RunEvent } from '../common/run-events';
import { deadLetterId, EventDeadLetters, type DeadLetter } from '../storage/event-dead-letters';
import type { ActivityDeps } from './deps';

/** How old an event may get before a sink that still fails it is given up on (`RETRAIN_EVENTS_MAX_AGE`). */
export const DEFAULT_EVENTS_MAX_AGE_MS = 24 * 3600 * 1000;

/** The sinks this worker delivers to, by name: what a relay fans each event out to. */
export function createEventSinks(deps: Pick<ActivityDeps, 'eventSinks'>) {
  return async (): Promise<string[]> => (deps.eventSinks ?? []).map((s) => s.name);
}

/** What became of one event at one sink: `deadLetter` names its dead letter when it was given up on. */
export interface Delivery {
  deadLetter?: string;
}

/**
 * Delivers one event to one sink. A failure the sink says a retry can mend is thrown, so Temporal
 * retries it with the relay's backoff, until the event is older than `eventsMaxAgeMs`; a refusal
 * (a non-retryable failure: a webhook's 4xx, a redirect) or a failure past that age ends in a dead
 * letter (`events/dead-letter/<id>.json` in the store, and `retrain_event_dead_letters_total`) that
 * `retrain events dead-letter replay` delivers again. Either way the relay goes on with its next event.
 */
export function createDeliverEvent(deps: Pick<ActivityDeps, 'eventSinks' | 'store' | 'eventsMaxAgeMs'>) {
  const letters = new EventDeadLetters(deps.store);
  const maxAgeMs = deps.eventsMaxAgeMs ?? DEFAULT_EVENTS_MAX_AGE_MS;
  return async ({ sink, event }: { sink: string; event: RunEvent }): Promise<Delivery> => {
    const target = (deps.eventSinks ?? []).find((s) => s.name === sink);
    if (!target) {
      // Configured where the relay began, not on this worker: workers should share their config.
      log.warn('event sink not configured on this worker; event not delivered to it', {
        sink,
        eventId: event.id,
      });
      return {};
    }
    try {
      await target.deliver(event);
      return {};
    } catch (err) {
      const refused = err instanceof ApplicationFailure && err.nonRetryable;
      if (!refused && Date.now() - Date.parse(event.time) < maxAgeMs) throw err;
      const letter = deadLetterOf(sink, event, refused ? 'refused' : 'expired', err);
      await letters.put(letter);
      Context.current()
        .metricMeter.createCounter(
          WorkerMetric.eventDeadLetters,
          undefined,
          'Run events given up on, by sink.',
        )
        .add(1, { sink, reason: letter.reason });
      log.warn('event dead-lettered: the sink did not take it', {
        sink,
        eventId: event.id,
        deadLetter: letter.id,
        reason: letter.reason,
        attempts: letter.attempts,
        error: letter.lastError,
      });
      return { deadLetter: letter.id };
    }
  };
}

/** The dead letter of `event` at `sink`, given up on this attempt for `reason` with `err`. */
function deadLetterOf(sink: string, event: RunEvent, reason: DeadLetter['reason'], err: unknown): DeadLetter {
  const { info } = Context.current();
  return {
    id: deadLetterId(sink, event),
    sink,
    reason,
    lastError: err instanceof Error ? err.message : String(err),
    attempts: info.attempt,
    firstAttemptAt: new Date(info.scheduledTimestampMs).toISOString(),
    deadLetteredAt: new Date().toISOString(),
    event,
  };
}
