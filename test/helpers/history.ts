import { defaultPayloadConverter, type WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Payloads = temporal.api.common.v1.IPayloads | null | undefined;

function first<T>(payloads: Payloads): T | undefined {
  const payload = payloads?.payloads?.[0];
  return payload ? (defaultPayloadConverter.fromPayload(payload) as T) : undefined;
}

/** A run's history events, read back from the server. */
export async function historyEvents(handle: WorkflowHandle): Promise<HistoryEvent[]> {
  return (await handle.fetchHistory()).events ?? [];
}

/** Each scheduling of `activityType`, with its event id, task queue and decoded input. */
export function scheduled<T>(
  events: HistoryEvent[],
  activityType: string,
): { eventId: number; taskQueue: string; input: T }[] {
  return events.flatMap((e) => {
    const a = e.activityTaskScheduledEventAttributes;
    if (a?.activityType?.name !== activityType) return [];
    return [
      { eventId: Number(e.eventId), taskQueue: a.taskQueue?.name ?? '', input: first<T>(a.input) as T },
    ];
  });
}

/**
 * The started event of the activity scheduled at `scheduledEventId`: the server records only the
 * attempt that ended it (`attempt`) and the failure of the attempt before (`lastFailure`).
 */
export function startedEvent(
  events: HistoryEvent[],
  scheduledEventId: number,
): temporal.api.history.v1.IActivityTaskStartedEventAttributes | undefined {
  return (
    events.find((e) => Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === scheduledEventId)
      ?.activityTaskStartedEventAttributes ?? undefined
  );
}

/** How each scheduled activity ended: completed (with its decoded result), failed, timed out, cancelled. */
export function outcomes<T>(
  events: HistoryEvent[],
  scheduledEventId: number,
): { kind: 'completed' | 'failed' | 'timedOut' | 'cancelled'; result?: T; attempt?: number }[] {
  const found: { kind: 'completed' | 'failed' | 'timedOut' | 'cancelled'; result?: T; attempt?: number }[] =
    [];
  const attempt = startedEvent(events, scheduledEventId)?.attempt ?? undefined;
  for (const e of events) {
    const completed = e.activityTaskCompletedEventAttributes;
    if (Number(completed?.scheduledEventId) === scheduledEventId)
      found.push({ kind: 'completed', result: first<T>(completed?.result), attempt });
    if (Number(e.activityTaskFailedEventAttributes?.scheduledEventId) === scheduledEventId)
      found.push({ kind: 'failed', attempt });
    if (Number(e.activityTaskTimedOutEventAttributes?.scheduledEventId) === scheduledEventId)
      found.push({ kind: 'timedOut', attempt });
    if (Number(e.activityTaskCanceledEventAttributes?.scheduledEventId) === scheduledEventId)
      found.push({ kind: 'cancelled', attempt });
  }
  return found;
}

/** Decoded arguments of every signal named `name`, in arrival order. */
export function signals<T>(events: HistoryEvent[], name: string): T[] {
  return events.flatMap((e) => {
    const s = e.workflowExecutionSignaledEventAttributes;
    return s?.signalName === name ? [first<T>(s.input) as T] : [];
  });
}
