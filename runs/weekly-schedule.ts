import {
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleSpec,
} from '@temporalio/client';
import type { RetrainRequest } from '../common/retrain';
import { WEEKLY_SCHEDULE_PREFIX, weeklyScheduleId } from '../common/workflow-ids';
import { retrainStartOptions } from './start-options';
import type { OverlapName } from './weekly-schedule-settings';

// A model's weekly schedule, retrain-weekly-<model>: a Temporal Schedule that starts retrainWorkflow.
// Temporal's own errors travel up as they are (ScheduleNotFoundError, ScheduleAlreadyRunning): each
// adapter words them for its users.

const OVERLAP_POLICIES: Record<OverlapName, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

/** How a weekly schedule is made: when it fires and what its runs get. */
export interface WeeklyScheduleSpec {
  /** The scheduled runs' input. */
  input: RetrainRequest;
  cron: string;
  /** IANA time zone of `cron`. */
  timezone: string;
  /** Start each run up to this much later, e.g. `10m`. */
  jitter?: string;
  overlap: OverlapName;
  paused: boolean;
  note: string;
  taskQueue: string;
}

/** A weekly schedule as plain JSON, times as ISO strings. */
export interface WeeklyScheduleSummary {
  scheduleId: string;
  cron: ScheduleDescription['spec']['calendars'];
  timezone: string;
  overlap: ScheduleOverlapPolicy;
  paused: boolean;
  note: string | null;
  input: unknown;
  nextRuns: string[];
  recentRuns: { scheduledAt: string; workflowId: string }[];
  runsTaken: number;
  skippedOverlap: number;
}

/** One line of {@link listWeeklySchedules}. */
export interface WeeklyScheduleRow {
  scheduleId: string;
  paused: boolean;
  note: string | null;
  nextRun: string | null;
  /** The workflow id of the run it started last. */
  lastRun: string | null;
}

/**
 * Creates the model's schedule; throws ScheduleAlreadyRunning when it exists. Missed slots are caught
 * up within an hour (a Temporal outage), not longer: a run days late would train on a stale window.
 */
export async function createWeeklySchedule(
  client: Client,
  spec: WeeklyScheduleSpec,
): Promise<WeeklyScheduleSummary> {
  const scheduleId = weeklyScheduleId(spec.input.model);
  const handle = await client.schedule.create({
    scheduleId,
    spec: {
      cronExpressions: [spec.cron],
      timezone: spec.timezone,
      jitter: spec.jitter as ScheduleSpec['jitter'],
    },
    action: {
      type: 'startWorkflow',
      workflowType: 'retrainWorkflow',
      // The server appends the scheduled time: retrain-<model>-<UTC timestamp>.
      workflowId: `retrain-${spec.input.model}`,
      ...retrainStartOptions(spec.input, `schedule ${scheduleId}`, spec.taskQueue),
    },
    policies: { overlap: OVERLAP_POLICIES[spec.overlap], catchupWindow: '1 hour' },
    state: { paused: spec.paused, note: spec.note },
  });
  return summarise(await handle.describe());
}

/** Every weekly schedule (not the monitor schedules), in Temporal's order. */
export async function listWeeklySchedules(client: Client): Promise<WeeklyScheduleRow[]> {
  const rows: WeeklyScheduleRow[] = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith(WEEKLY_SCHEDULE_PREFIX)) continue;
    rows.push({
      scheduleId: s.scheduleId,
      paused: s.state.paused,
      note: s.state.note ?? null,
      nextRun: s.info.nextActionTimes[0]?.toISOString() ?? null,
      lastRun: s.info.recentActions.at(-1)?.action.workflow.workflowId ?? null,
    });
  }
  return rows;
}

/** The model's weekly schedule: cron, state, next and recent runs, input. */
export async function describeWeeklySchedule(client: Client, model: string): Promise<WeeklyScheduleSummary> {
  return summarise(await weekly(client, model).describe());
}

/** Stops (`paused` true) or restarts the model's schedule, with a note saying why. */
export async function pauseWeeklySchedule(
  client: Client,
  model: string,
  paused: boolean,
  note: string,
): Promise<void> {
  const handle = weekly(client, model);
  await (paused ? handle.pause(note) : handle.unpause(note));
}

/** Takes the schedule's action now, under its own overlap policy. */
export async function triggerWeeklySchedule(client: Client, model: string): Promise<void> {
  await weekly(client, model).trigger();
}

/** Takes every slot between `start` and `end`, one after another. */
export async function backfillWeeklySchedule(
  client: Client,
  model: string,
  start: Date,
  end: Date,
): Promise<void> {
  await weekly(client, model).backfill({ start, end, overlap: ScheduleOverlapPolicy.BUFFER_ALL });
}

/** Deletes the model's schedule; the runs it started go on. */
export async function deleteWeeklySchedule(client: Client, model: string): Promise<void> {
  await weekly(client, model).delete();
}

function weekly(client: Client, model: string): ScheduleHandle {
  return client.schedule.getHandle(weeklyScheduleId(model));
}

function summarise(d: ScheduleDescription): WeeklyScheduleSummary {
  return {
    scheduleId: d.scheduleId,
    cron: d.spec.calendars ?? [],
    timezone: d.spec.timezone ?? 'UTC',
    overlap: d.policies.overlap,
    paused: d.state.paused,
    note: d.state.note ?? null,
    input: d.action.args?.[0] ?? null,
    nextRuns: d.info.nextActionTimes.map((t) => t.toISOString()),
    recentRuns: d.info.recentActions.map((a) => ({
      scheduledAt: a.scheduledAt.toISOString(),
      workflowId: a.action.workflow.workflowId,
    })),
    runsTaken: d.info.numActionsTaken,
    skippedOverlap: d.info.numActionsSkippedOverlap,
  };
}
