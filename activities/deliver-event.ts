import { log } from '@temporalio/activity';
import type { RunEvent } from '../common/run-events';
import type { ActivityDeps } from './deps';

/** The sinks this worker delivers to, by name: what a relay fans each event out to. */
export function createEventSinks(deps: Pick<ActivityDeps, 'eventSinks'>) {
  return async (): Promise<string[]> => (deps.eventSinks ?? []).map((s) => s.name);
}

/**
 * Delivers one event to one sink; throws when the sink did not take it, so Temporal retries it with
 * backoff until it does (the relay's retry policy never gives up).
 */
export function createDeliverEvent(deps: Pick<ActivityDeps, 'eventSinks'>) {
  return async ({ sink, event }: { sink: string; event: RunEvent }): Promise<void> => {
    const target = (deps.eventSinks ?? []).find((s) => s.name === sink);
    if (!target) {
      // Configured where the relay began, not on this worker: workers should share their config.
      log.warn('event sink not configured on this worker; event not delivered to it', {
        sink,
        eventId: event.id,
      });
      return;
    }
    await target.deliver(event);
  };
}
