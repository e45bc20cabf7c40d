import { defaultPayloadConverter, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

/** A pending activity of a run as the server describes it. */
export interface PendingActivity {
  attempt: number;
  /** A worker has it (STARTED), as opposed to waiting in the queue or for its retry. */
  started: boolean;
  /** The decoded details of its last heartbeat that reached the server, if any. */
  heartbeat: unknown;
  lastFailure: { message: string; timeoutType?: temporal.api.enums.v1.TimeoutType | null } | null;
}

/** The run's pending `activityType` activity, or undefined when none is pending. */
export async function pendingActivity(
  handle: WorkflowHandle,
  activityType: string,
): Promise<PendingActivity | undefined> {
  const pending = (await handle.describe()).raw.pendingActivities ?? [];
  const activity = pending.find((a) => a.activityType?.name === activityType);
  if (!activity) return undefined;
  const payload = activity.heartbeatDetails?.payloads?.[0];
  const failure = activity.lastFailure;
  return {
    attempt: activity.attempt ?? 0,
    started: activity.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
    heartbeat: payload ? defaultPayloadConverter.fromPayload(payload) : undefined,
    lastFailure: failure
      ? { message: failure.message ?? '', timeoutType: failure.timeoutFailureInfo?.timeoutType }
      : null,
  };
}
