import { parseArgs } from 'node:util';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
} from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { retrainWorkflow } from '../../workflows';
import type { Config } from '../../workers/config';
import { openBlobStore } from '../../storage/open-store';
import { ModelRegistry } from '../../storage/registry';
import { connectClient } from '../connect';
import { renderTable, parseModelName, UsageError, type CommandOutput } from '../output';
import {
  parseRetrainFlags,
  RETRAIN_FLAGS,
  RETRAIN_FLAGS_USAGE,
  retrainStartOptions,
} from '../retrain-options';

/** Monday 03:00: the default weekly slot, quiet for most fleets. */
export const DEFAULT_CRON = '0 3 * * 1';

export function scheduleIdFor(model: string): string {
  return `retrain-weekly-${model}`;
}

const OVERLAP = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
} as const;

export const SCHEDULE_USAGE = `usage: retrain schedule <action> ...
  schedule create ${RETRAIN_FLAGS_USAGE} [--cron "${DEFAULT_CRON}"] [--timezone UTC] [--jitter 10m] [--overlap ${Object.keys(OVERLAP).join('|')}] [--paused] [--note text] [--json]
  schedule list [--json]
  schedule describe|trigger|delete --model <m> [--json]
  schedule pause|unpause --model <m> [--note text]
  schedule backfill --model <m> --from <ISO time> --to <ISO time>`;

type Action = (argv: string[], client: Client, config: Config, out: CommandOutput) => Promise<number>;

const ACTIONS: Record<string, Action> = {
  create,
  list,
  describe,
  pause,
  unpause,
  trigger,
  backfill,
  delete: remove,
};

/** `retrain schedule ...`: weekly (or any cron) Temporal Schedules that start retrainWorkflow. */
export async function scheduleCommand(argv: string[], config: Config, out: CommandOutput): Promise<number> {
  const [name, ...rest] = argv;
  const action = name ? ACTIONS[name] : undefined;
  if (!action)
    throw new UsageError(name ? `unknown schedule action "${name}"\n${SCHEDULE_USAGE}` : SCHEDULE_USAGE);
  const { client, close } = await connectClient(config);
  try {
    return await action(rest, client, config, out);
  } catch (err) {
    if (err instanceof ScheduleNotFoundError)
      throw new Error(`no schedule ${err.scheduleId}; create it with: retrain schedule create --model <m>`);
    throw err;
  } finally {
    await close();
  }
}

async function create(argv: string[], client: Client, config: Config, out: CommandOutput): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...RETRAIN_FLAGS,
      cron: { type: 'string', default: DEFAULT_CRON },
      timezone: { type: 'string', default: 'UTC' },
      jitter: { type: 'string' },
      overlap: { type: 'string', default: 'skip' },
      paused: { type: 'boolean', default: false },
      note: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const input = parseRetrainFlags(values);
  const overlap = OVERLAP[values.overlap as keyof typeof OVERLAP];
  if (!overlap) throw new UsageError(`--overlap must be one of ${Object.keys(OVERLAP).join(', ')}`);
  // A schedule for a model nobody declared would fail every week; refuse it now.
  await new ModelRegistry(openBlobStore(config.store, config.s3)).loadSpec(input.model);
  const scheduleId = scheduleIdFor(input.model);
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
        workflowType: retrainWorkflow,
        // The server appends the scheduled time: retrain-<model>-<UTC timestamp>.
        workflowId: `retrain-${input.model}`,
        ...retrainStartOptions(input, `schedule ${scheduleId}`, config.taskQueue),
      },
      policies: { overlap, catchupWindow: '1 hour' },
      state: { paused: values.paused, note: values.note ?? `created by retrain schedule create` },
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
}

async function list(argv: string[], client: Client, _config: Config, out: CommandOutput): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean', default: false } } });
  const rows = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith('retrain-weekly-')) continue;
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
}

async function describe(
  argv: string[],
  client: Client,
  _config: Config,
  out: CommandOutput,
): Promise<number> {
  const { model, json } = modelFlag(argv);
  const summary = summarise(await client.schedule.getHandle(scheduleIdFor(model)).describe());
  out.result(json, summary, JSON.stringify(summary, null, 2));
  return 0;
}

async function pause(argv: string[], client: Client, _config: Config, out: CommandOutput): Promise<number> {
  const { model, note } = modelFlag(argv);
  await client.schedule.getHandle(scheduleIdFor(model)).pause(note ?? 'paused by retrain schedule pause');
  out.result(false, null, `paused ${scheduleIdFor(model)}`);
  return 0;
}

async function unpause(argv: string[], client: Client, _config: Config, out: CommandOutput): Promise<number> {
  const { model, note } = modelFlag(argv);
  await client.schedule
    .getHandle(scheduleIdFor(model))
    .unpause(note ?? 'unpaused by retrain schedule unpause');
  out.result(false, null, `unpaused ${scheduleIdFor(model)}`);
  return 0;
}

/** Runs the schedule's action now, with the schedule's own overlap policy. */
async function trigger(argv: string[], client: Client, _config: Config, out: CommandOutput): Promise<number> {
  const { model, json } = modelFlag(argv);
  await client.schedule.getHandle(scheduleIdFor(model)).trigger();
  out.result(
    json,
    { scheduleId: scheduleIdFor(model), triggered: true },
    `triggered ${scheduleIdFor(model)}`,
  );
  return 0;
}

async function backfill(
  argv: string[],
  client: Client,
  _config: Config,
  out: CommandOutput,
): Promise<number> {
  const { model, from, to } = modelFlag(argv);
  const start = new Date(from ?? '');
  const end = new Date(to ?? '');
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || start >= end)
    throw new UsageError('backfill needs --from and --to as ISO times with --from before --to');
  await client.schedule
    .getHandle(scheduleIdFor(model))
    .backfill({ start, end, overlap: ScheduleOverlapPolicy.BUFFER_ALL });
  out.result(
    false,
    null,
    `backfilling ${scheduleIdFor(model)} from ${start.toISOString()} to ${end.toISOString()}`,
  );
  return 0;
}

async function remove(argv: string[], client: Client, _config: Config, out: CommandOutput): Promise<number> {
  const { model } = modelFlag(argv);
  await client.schedule.getHandle(scheduleIdFor(model)).delete();
  out.result(false, null, `deleted ${scheduleIdFor(model)}`);
  return 0;
}

function modelFlag(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      note: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  return { ...values, model: parseModelName(values.model) };
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
