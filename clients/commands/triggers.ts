import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import { formatIssues } from '../../common/format-issues';
import { ModelSpecSchema } from '../../common/model-spec';
import type { TriggerEvaluation, Triggers, TriggersInput } from '../../common/triggers';
import {
  checkTriggersNow,
  describeMonitorSchedule,
  monitorScheduleId,
  pauseMonitorSchedule,
  syncMonitorSchedule,
  type MonitorScheduleState,
  type MonitorSync,
} from '../../runs';
import { PreconditionFailedError } from '../../storage/errors';
import { openBlobStore } from '../../storage/open-store';
import { ModelRegistry } from '../../storage/registry';
import { TriggerHistory } from '../../storage/trigger-history';
import type { Config } from '../../config/config';
import { connectClient } from '../../config/connect';
import { parseModelName, renderTable, UsageError, type CommandOutput } from '../output';

/** The options of `retrain triggers set`, as commander parses them (numbers still as typed). */
export interface TriggersSetOptions {
  model: string;
  newRecords?: string;
  liveErrorIncreasePct?: string;
  minLivePredictions?: string;
  liveWindowDays?: string;
  driftPsi?: string;
  checkEvery?: string;
  coolDown?: string;
  /** Fields to drop, by their spec name. */
  unset?: string[];
  /** Drop every trigger (and the monitor schedule). */
  none?: boolean;
  json?: boolean;
}

export interface TriggersModelOptions {
  model: string;
  limit?: string;
  json?: boolean;
}

const NUMERIC = [
  'newRecords',
  'liveErrorIncreasePct',
  'minLivePredictions',
  'liveWindowDays',
  'driftPsi',
] as const;
const FIELDS = [...NUMERIC, 'checkEvery', 'coolDown'] as const;

async function withClient<T>(config: Config, action: (client: Client) => Promise<T>): Promise<T> {
  const { client, close } = await connectClient(config);
  try {
    return await action(client);
  } finally {
    await close();
  }
}

function registryOf(config: Config): ModelRegistry {
  return new ModelRegistry(openBlobStore(config.store, config.s3));
}

/**
 * `retrain triggers set`: merges the given fields into the spec's triggers, validates the whole spec,
 * stores it by compare-and-swap and makes the monitor schedule match.
 */
export async function triggersSet(
  values: TriggersSetOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const model = parseModelName(values.model);
  const registry = registryOf(config);
  const found = await registry.getSpec(model);
  if (!found) throw new Error(`no model ${model}; create it with: retrain models create <spec.json>`);
  const unset = values.unset ?? [];
  const unknown = unset.filter((f) => !(FIELDS as readonly string[]).includes(f));
  if (unknown.length)
    throw new UsageError(
      `--unset names no trigger field: ${unknown.join(', ')} (fields: ${FIELDS.join(', ')})`,
    );
  let triggers: TriggersInput | undefined;
  if (!values.none) {
    const merged: Record<string, unknown> = { ...found.value.triggers };
    for (const field of NUMERIC) if (values[field] !== undefined) merged[field] = Number(values[field]);
    if (values.checkEvery !== undefined) merged.checkEvery = values.checkEvery;
    if (values.coolDown !== undefined) merged.coolDown = values.coolDown;
    for (const field of unset) delete merged[field];
    triggers = merged as TriggersInput;
  }
  const parsed = ModelSpecSchema.safeParse({ ...found.value, triggers });
  if (!parsed.success) throw new UsageError(`invalid triggers: ${formatIssues(parsed.error)}`);
  try {
    await registry.saveSpec(parsed.data, { ifMatch: found.etag });
  } catch (err) {
    if (err instanceof PreconditionFailedError)
      throw new Error(`the spec of ${model} changed while this command ran; nothing was saved, run it again`);
    throw err;
  }
  const schedule = await syncOrExplain(config, model, parsed.data.triggers);
  const result = { model, triggers: parsed.data.triggers ?? null, schedule };
  out.result(
    values.json,
    result,
    `${model}: ${parsed.data.triggers ? 'triggers saved' : 'triggers removed'}; schedule ${monitorScheduleId(model)} ${schedule}` +
      (parsed.data.triggers ? ` (checks every ${parsed.data.triggers.checkEvery})` : ''),
  );
  return 0;
}

/**
 * Makes the monitor schedule match a stored spec's triggers; when Temporal cannot be reached the
 * error says the spec is stored and how to finish.
 */
export async function syncOrExplain(
  config: Config,
  model: string,
  triggers: Triggers | undefined,
): Promise<MonitorSync> {
  try {
    return await withClient(config, (client) =>
      syncMonitorSchedule(client, model, triggers, config.taskQueue),
    );
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(
      `the spec of ${model} is stored, but its monitor schedule ${monitorScheduleId(model)} could not be updated (${why}); run retrain triggers set --model ${model} once Temporal is up`,
      { cause: err },
    );
  }
}

/**
 * `retrain triggers show`: the triggers, the monitor schedule's state, why each quiet trigger is quiet
 * (its evidence was judged by a run, or it backs off after rejected runs: the latest evaluation's
 * word) and the recent evaluations.
 */
export async function triggersShow(
  values: TriggersModelOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const model = parseModelName(values.model);
  const registry = registryOf(config);
  const spec = await registry.loadSpec(model);
  const limit = Number(values.limit ?? 10);
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`--limit must be a positive integer, not ${values.limit}`);
  const evaluations = await new TriggerHistory(registry.store).recent(model, limit);
  const schedule = spec.triggers
    ? await withClient(config, (client) => describeMonitorSchedule(client, model))
    : null;
  const quiet = (evaluations[0]?.checks ?? []).flatMap((c) =>
    c.quiet ? [{ kind: c.kind, why: c.quiet, ...(c.backOffUntil ? { until: c.backOffUntil } : {}) }] : [],
  );
  const result = { model, triggers: spec.triggers ?? null, schedule, quiet, evaluations };
  out.result(values.json, result, renderShow(result));
  return 0;
}

function renderShow(r: {
  model: string;
  triggers: Triggers | null;
  schedule: MonitorScheduleState | null;
  quiet: { kind: string; why: string }[];
  evaluations: TriggerEvaluation[];
}): string {
  if (!r.triggers)
    return `${r.model} declares no triggers; add some with: retrain triggers set --model ${r.model} --new-records 5000`;
  const t = r.triggers;
  const state = r.schedule
    ? `${r.schedule.scheduleId}: ${r.schedule.paused ? 'paused' : `active, next check ${r.schedule.nextCheck ?? '-'}`}`
    : `no schedule ${monitorScheduleId(r.model)}: run retrain triggers set --model ${r.model} to create it`;
  const lines = [
    `${r.model} triggers (${state})`,
    `  newRecords            ${t.newRecords ?? '-'}`,
    `  liveErrorIncreasePct  ${t.liveErrorIncreasePct === undefined ? '-' : `${t.liveErrorIncreasePct} % over >= ${t.minLivePredictions} predictions in ${t.liveWindowDays} days`}`,
    `  driftPsi              ${t.driftPsi ?? '-'}`,
    `  checkEvery            ${t.checkEvery}`,
    `  coolDown              ${t.coolDown}`,
    '',
  ];
  if (r.quiet.length > 0 && r.evaluations[0])
    lines.push(
      `why quiet, at the check of ${r.evaluations[0].at}:`,
      ...r.quiet.map((q) => `  ${q.kind.padEnd(12)}  quiet: ${q.why}`),
      '',
    );
  if (r.evaluations.length === 0) lines.push('no evaluations yet');
  else
    lines.push(
      renderTable(
        ['AT', 'DECISION', 'RUN', 'REASON'],
        r.evaluations.map((e) => [e.at, e.decision, e.workflowId ?? '-', e.reason]),
      ),
    );
  return lines.join('\n');
}

/** `retrain triggers pause|resume`: stops or restarts the monitor schedule's checks. */
export async function triggersPause(
  values: TriggersModelOptions & { resume?: boolean },
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const model = parseModelName(values.model);
  const scheduleId = monitorScheduleId(model);
  await withClient(config, async (client) => {
    try {
      await pauseMonitorSchedule(
        client,
        model,
        !values.resume,
        values.resume ? 'resumed by retrain triggers resume' : 'paused by retrain triggers pause',
      );
    } catch (err) {
      if (err instanceof ScheduleNotFoundError)
        throw new Error(
          `${model} has no monitor schedule ${scheduleId}; declare triggers with: retrain triggers set --model ${model} --new-records 5000`,
        );
      throw err;
    }
  });
  out.result(
    values.json,
    { scheduleId, paused: !values.resume },
    `${values.resume ? 'resumed' : 'paused'} ${scheduleId}`,
  );
  return 0;
}

/** `retrain triggers check`: one evaluation now, by the same workflow the schedule runs. */
export async function triggersCheck(
  values: TriggersModelOptions,
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const model = parseModelName(values.model);
  await registryOf(config).loadSpec(model);
  const evaluation = await withClient(config, (client) => checkTriggersNow(client, model, config.taskQueue));
  const checks = evaluation.checks.map((c) => `  ${c.fired ? 'fired' : 'held '} ${c.kind}: ${c.text}`);
  out.result(values.json, evaluation, [evaluation.reason, ...checks].join('\n'));
  return 0;
}
