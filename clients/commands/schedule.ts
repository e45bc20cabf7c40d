import { WEEKLY_SCHEDULE_PREFIX, weeklyScheduleId } from '../../common/workflow-ids';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
} from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { Config } from '../../config/config';
import { openBlobStore } from '../../storage/open-store';
import { ModelRegistry } from '../../storage/registry';
import { connectClient } from '../../config/connect';
import { renderTable, parseModelName, UsageError, type CommandOutput } from '../output';
import { retrainStartOptions } from '../../runs/start-options';
import { parseRetrainFlags, type RetrainOptionValues } from '../retrain-options';


/** The overlap policies `--overlap` names; `skip` is the default, so one model never trains twice at once. */
export const OVERLAP_POLICIES = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
} as const;
export type OverlapName = keyof typeof OVERLAP_POLICIES;

/** The options of `retrain schedule create`, as commander parses them (defaults applied). */
export interface ScheduleCreateOptions extends RetrainOptionValues {
  cron: string;
  timezone: string;
  jitter?: string;
  overlap: OverlapName;
  paused?: boolean;
  note?: string;
  json?: boolean;
}

/** The options of the schedule actions on one model's schedule. */
export interface ScheduleModelOptions {
  model: string;
  note?: string;
  json?: boolean;
}

export interface ScheduleBackfillOptions {
  model: string;
  from: string;
  to: string;
}

/** Runs one schedule action with a Temporal client; a missing schedule fails saying how to create it. */
async function withClient(config: Config, action: (client: Client) => Promise<number>): Promise<number> {
  const { client, close } = await connectClient(config);
  try {
    return await action(client);
  } catch (err) {
    if (err instanceof ScheduleNotFoundError)
      throw new Error(`no schedule ${err.scheduleId}; create it with: retrain schedule create --model <m>`);
    throw err;
  } finally {
    await close();
  }
}

/** `retrain schedule create`: a Temporal Schedule that starts retrainWorkflow with the run options as input. */
export async function createSchedule(
  values: ScheduleCreateOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const input = parseRetrainFlags(values);
  const overlap = OVERLAP_POLICIES[values.overlap];
  // A schedule for a model nobody declared would fail every week; refuse it now.
  await new ModelRegistry(openBlobStore(config.store, config.s3)).loadSpec(input.model);
  const scheduleId = weeklyScheduleId(input.model);
  return withClient(config, async (client) => {
    try {
      await client.schedule.create({
        scheduleId,
        spec: {
          cronExpressions: [values.cron],
          timezone: values.timezone,
          jitter: values.jitter as Duration | undefined,
        },
        action: {
          type: 'startWorkflow',
          workflowType: 'retrainWorkflow',
          // The server appends the scheduled time: retrain-<model>-<UTC timestamp>.
          workflowId: `retrain-${input.model}`,
          ...retrainStartOptions(input, `schedule ${scheduleId}`, config.taskQueue),
        },
        policies: { overlap, catchupWindow: '1 hour' },
        state: { paused: values.paused ?? false, note: values.note ?? `created by retrain schedule create` },
      });
    } catch (err) {
      if (err instanceof ScheduleAlreadyRunning)
        throw new Error(
          `schedule ${scheduleId} exists; delete it first: retrain schedule delete --model ${input.model}`,
        );
      throw err;
    }
    const summary = summarise(await client.schedule.getHandle(scheduleId).describe());
    out.result(
      values.json,
      summary,
      `created ${scheduleId}; next run ${summary.nextRuns[0] ?? 'none (paused)'}`,
    );
    return 0;
  });
}

export async function listSchedules(
  values: { json?: boolean },
  config: Config,
  out: CommandOutput,
): Promise<number> {
  return withClient(config, async (client) => {
    const rows = [];
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
    const text = rows.length
      ? renderTable(
          ['SCHEDULE ID', 'STATE', 'NEXT RUN', 'LAST RUN'],
          rows.map((r) => [r.scheduleId, r.paused ? 'paused' : 'active', r.nextRun ?? '-', r.lastRun ?? '-']),
        )
      : 'no retrain schedules';
    out.result(values.json, rows, text);
    return 0;
  });
}

export async function describeSchedule(
  values: ScheduleModelOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const scheduleId = weeklyScheduleId(parseModelName(values.model));
  return withClient(config, async (client) => {
    const summary = summarise(await client.schedule.getHandle(scheduleId).describe());
    out.result(values.json, summary, JSON.stringify(summary, null, 2));
    return 0;
  });
}

export async function pauseSchedule(
  values: ScheduleModelOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const scheduleId = weeklyScheduleId(parseModelName(values.model));
  return withClient(config, async (client) => {
    await client.schedule.getHandle(scheduleId).pause(values.note ?? 'paused by retrain schedule pause');
    out.result(false, null, `paused ${scheduleId}`);
    return 0;
  });
}

export async function unpauseSchedule(
  values: ScheduleModelOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const scheduleId = weeklyScheduleId(parseModelName(values.model));
  return withClient(config, async (client) => {
    await client.schedule
      .getHandle(scheduleId)
      .unpause(values.note ?? 'unpaused by retrain schedule unpause');
    out.result(false, null, `unpaused ${scheduleId}`);
    return 0;
  });
}

/** Runs the schedule's action now, with the schedule's own overlap policy. */
export async function triggerSchedule(
  values: ScheduleModelOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const scheduleId = weeklyScheduleId(parseModelName(values.model));
  return withClient(config, async (client) => {
    await client.schedule.getHandle(scheduleId).trigger();
    out.result(values.json, { scheduleId, triggered: true }, `triggered ${scheduleId}`);
    return 0;
  });
}

export async function backfillSchedule(
  values: ScheduleBackfillOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const scheduleId = weeklyScheduleId(parseModelName(values.model));
  const start = new Date(values.from);
  const end = new Date(values.to);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || start >= end)
    throw new UsageError('backfill needs --from and --to as ISO times with --from before --to');
  return withClient(config, async (client) => {
    await client.schedule
      .getHandle(scheduleId)
      .backfill({ start, end, overlap: ScheduleOverlapPolicy.BUFFER_ALL });
    out.result(false, null, `backfilling ${scheduleId} from ${start.toISOString()} to ${end.toISOString()}`);
    return 0;
  });
}

export async function deleteSchedule(
  values: ScheduleModelOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const scheduleId = weeklyScheduleId(parseModelName(values.model));
  return withClient(config, async (client) => {
    await client.schedule.getHandle(scheduleId).delete();
    out.result(values.json, { scheduleId, deleted: true }, `deleted ${scheduleId}`);
    return 0;
  });
}

/** What `describe` and `create --json` print: plain JSON, times as ISO strings. */
function summarise(d: ScheduleDescription) {
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
