import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client } from '@temporalio/client';
import { weeklyScheduleId } from '../../common/workflow-ids';
import type { Config } from '../../config/config';
import { connectClient } from '../../config/connect';
import {
  backfillWeeklySchedule,
  createWeeklySchedule,
  deleteWeeklySchedule,
  describeWeeklySchedule,
  listWeeklySchedules,
  pauseWeeklySchedule,
  triggerWeeklySchedule,
  type OverlapName,
} from '../../runs';
import { openBlobStore } from '../../storage/open-store';
import { ModelRegistry } from '../../storage/registry';
import { renderTable, parseModelName, UsageError, type CommandOutput } from '../output';
import { parseRetrainFlags, type RetrainOptionValues } from '../retrain-options';

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

/** The options of `retrain schedule backfill`. */
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
  // A schedule for a model nobody declared would fail every week; refuse it now.
  await new ModelRegistry(openBlobStore(config.store, config.s3)).loadSpec(input.model);
  return withClient(config, async (client) => {
    const summary = await createWeeklySchedule(client, {
      input,
      cron: values.cron,
      timezone: values.timezone,
      jitter: values.jitter,
      overlap: values.overlap,
      paused: values.paused ?? false,
      note: values.note ?? 'created by retrain schedule create',
      taskQueue: config.taskQueue,
    }).catch((err: unknown) => {
      if (err instanceof ScheduleAlreadyRunning)
        throw new Error(
          `schedule ${weeklyScheduleId(input.model)} exists; delete it first: retrain schedule delete --model ${input.model}`,
        );
      throw err;
    });
    const next = summary.nextRuns[0] ?? 'none (paused)';
    out.result(values.json, summary, `created ${summary.scheduleId}; next run ${next}`);
    return 0;
  });
}

/** `retrain schedule list`: every weekly schedule with its state, next and last run. */
export async function listSchedules(
  values: { json?: boolean },
  config: Config,
  out: CommandOutput,
): Promise<number> {
  return withClient(config, async (client) => {
    const rows = await listWeeklySchedules(client);
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

/** `retrain schedule describe`: the schedule as JSON, with or without --json. */
export async function describeSchedule(
  values: ScheduleModelOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const model = parseModelName(values.model);
  return withClient(config, async (client) => {
    const summary = await describeWeeklySchedule(client, model);
    out.result(values.json, summary, JSON.stringify(summary, null, 2));
    return 0;
  });
}

/** `retrain schedule pause`. */
export async function pauseSchedule(
  values: ScheduleModelOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const model = parseModelName(values.model);
  return withClient(config, async (client) => {
    await pauseWeeklySchedule(client, model, true, values.note ?? 'paused by retrain schedule pause');
    out.result(false, null, `paused ${weeklyScheduleId(model)}`);
    return 0;
  });
}

/** `retrain schedule unpause`. */
export async function unpauseSchedule(
  values: ScheduleModelOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const model = parseModelName(values.model);
  return withClient(config, async (client) => {
    await pauseWeeklySchedule(client, model, false, values.note ?? 'unpaused by retrain schedule unpause');
    out.result(false, null, `unpaused ${weeklyScheduleId(model)}`);
    return 0;
  });
}

/** `retrain schedule trigger`: one run now, with the schedule's own overlap policy. */
export async function triggerSchedule(
  values: ScheduleModelOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const model = parseModelName(values.model);
  const scheduleId = weeklyScheduleId(model);
  return withClient(config, async (client) => {
    await triggerWeeklySchedule(client, model);
    out.result(values.json, { scheduleId, triggered: true }, `triggered ${scheduleId}`);
    return 0;
  });
}

/** `retrain schedule backfill`: every slot between --from and --to. */
export async function backfillSchedule(
  values: ScheduleBackfillOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const model = parseModelName(values.model);
  const start = new Date(values.from);
  const end = new Date(values.to);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || start >= end)
    throw new UsageError('backfill needs --from and --to as ISO times with --from before --to');
  return withClient(config, async (client) => {
    await backfillWeeklySchedule(client, model, start, end);
    out.result(
      false,
      null,
      `backfilling ${weeklyScheduleId(model)} from ${start.toISOString()} to ${end.toISOString()}`,
    );
    return 0;
  });
}

/** `retrain schedule delete`. */
export async function deleteSchedule(
  values: ScheduleModelOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const model = parseModelName(values.model);
  const scheduleId = weeklyScheduleId(model);
  return withClient(config, async (client) => {
    await deleteWeeklySchedule(client, model);
    out.result(values.json, { scheduleId, deleted: true }, `deleted ${scheduleId}`);
    return 0;
  });
}
