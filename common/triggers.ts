import { z } from 'zod';
import { durationMs, durationSchema } from './durations';

/**
 * When a model retrains by itself (spec `triggers`): each condition is optional, and any one met
 * starts a run unless the model is busy or cooling down. Checked every `checkEvery` by the model's
 * `retrain-monitor-<model>` schedule.
 */
export const TriggersSchema = z
  .object({
    /** At least this many buffer records after the production version's training window. */
    newRecords: z.number().int().min(1).optional(),
    /** The production version's live gate metric is worse than its holdout figure by more than this, in percent. */
    liveErrorIncreasePct: z.number().positive().max(10_000).optional(),
    /** Live predictions (with their actuals) in the live window that `liveErrorIncreasePct` needs. */
    minLivePredictions: z.number().int().min(1).default(100),
    /** The live window: predictions whose target lies in the last this many days. */
    liveWindowDays: z.number().int().min(1).max(90).default(7),
    /** A feature's population stability index, records after the training window against those in it, exceeds this. */
    driftPsi: z.number().positive().max(100).optional(),
    checkEvery: durationSchema('checkEvery', '15m, 1h').default('15m'),
    /** No triggered run within this long of the last one (or of the production version's registration). */
    coolDown: durationSchema('coolDown', '6h, 1d').default('6h'),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (t.newRecords === undefined && t.liveErrorIncreasePct === undefined && t.driftPsi === undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'triggers need at least one of newRecords, liveErrorIncreasePct, driftPsi',
      });
    if (durationMs(t.checkEvery) < 60_000)
      ctx.addIssue({ code: 'custom', path: ['checkEvery'], message: 'checkEvery must be at least 1m' });
  });
export type Triggers = z.infer<typeof TriggersSchema>;
export type TriggersInput = z.input<typeof TriggersSchema>;

export const TRIGGER_KINDS = ['newRecords', 'liveError', 'drift'] as const;
export type TriggerKind = (typeof TRIGGER_KINDS)[number];

/**
 * The latest run that judged the model's data (completed, or rejected by the gate) when its window
 * ended after the production version's training window: new records count from its window instead.
 */
export const JudgedRunSchema = z.object({
  workflowId: z.string(),
  status: z.enum(['completed', 'rejected']),
  /** The newest record time of its dataset's window. */
  to: z.string(),
  /** Records after the production version's training window (every record without one) that it judged. */
  records: z.number(),
});
export type JudgedRun = z.infer<typeof JudgedRunSchema>;

/** What a check measured, for the production version (or the whole buffer before there is one). */
export const TriggerFiguresSchema = z.object({
  /** The production version; absent before the first registration. */
  production: z.string().optional(),
  /**
   * Buffer records after the production version's training window (every record without one), or
   * after {@link judgedBy}'s window when a later run judged them.
   */
  newRecords: z.number(),
  judgedBy: JudgedRunSchema.optional(),
  /** The production version's live gate metric over the live window; absent without production. */
  live: z
    .object({
      metric: z.enum(['mae', 'f1']),
      /** Null without predictions in the window. */
      value: z.number().nullable(),
      holdout: z.number().nullable(),
      predictions: z.number(),
      windowDays: z.number(),
    })
    .optional(),
  /** Per feature, PSI after against within the training window (null: no records on a side). */
  drift: z.record(z.string(), z.number().nullable()),
});
export type TriggerFigures = z.infer<typeof TriggerFiguresSchema>;

/** The run cool-down counts from: the last triggered run, or the production version's registration. */
export const LastRunSchema = z.object({
  workflowId: z.string(),
  at: z.string(),
  /** `triggered` or `registered v3`. */
  what: z.string(),
});
export type LastRun = z.infer<typeof LastRunSchema>;

/**
 * A triggered run that ended rejected, with the figures its check started it on: while a trigger's
 * figure is still the one such runs judged, the trigger backs off.
 */
export const RejectedRunSchema = z.object({
  workflowId: z.string(),
  /** When it ended. */
  at: z.string(),
  /** Absent when its check did not record them (then it holds no trigger back). */
  figures: TriggerFiguresSchema.optional(),
});
export type RejectedRun = z.infer<typeof RejectedRunSchema>;

/** One trigger's verdict, with the figure it looked at and its sentence. */
export const TriggerCheckSchema = z.object({
  kind: z.enum(TRIGGER_KINDS),
  /** Over its threshold and not backing off. */
  fired: z.boolean(),
  value: z.number().nullable(),
  threshold: z.number(),
  text: z.string(),
  /** Why the trigger is quiet although evidence is there: it was judged, or it is backing off. */
  quiet: z.string().optional(),
  /** Until when it backs off (ISO time), when it does. */
  backOffUntil: z.string().optional(),
});
export type TriggerCheck = z.infer<typeof TriggerCheckSchema>;

export const TRIGGER_DECISIONS = [
  'started',
  'notTriggered',
  'coolingDown',
  'backingOff',
  'busy',
  'noTriggers',
] as const;
export type TriggerDecision = (typeof TRIGGER_DECISIONS)[number];

/** One evaluation of a model's triggers, as the check records it. */
export const TriggerEvaluationSchema = z.object({
  model: z.string(),
  at: z.string(),
  decision: z.enum(TRIGGER_DECISIONS),
  /** `triggered: ...`, `not triggered: ...`, `not started: ...`: the whole verdict in a sentence. */
  reason: z.string(),
  checks: z.array(TriggerCheckSchema),
  figures: TriggerFiguresSchema.optional(),
  /** The check workflow that made it. */
  checkWorkflowId: z.string().optional(),
  /** The run it started (decision `started`). */
  workflowId: z.string().optional(),
});
export type TriggerEvaluation = z.infer<typeof TriggerEvaluationSchema>;

/** What a triggered run carries in its input: why it started. */
export const TriggerCauseSchema = z
  .object({
    kinds: z.array(z.enum(TRIGGER_KINDS)).min(1),
    reason: z.string().max(2000),
    checkWorkflowId: z.string().max(400),
    /** What the check measured. */
    figures: TriggerFiguresSchema.optional(),
  })
  .strict();
export type TriggerCause = z.infer<typeof TriggerCauseSchema>;

/** A back-off is at most this many cool-downs long ... */
export const BACK_OFF_MAX_FACTOR = 64;
/** ... and at most a day, unless the cool-down itself is longer. */
export const BACK_OFF_MAX_MS = 86_400_000;

/**
 * Decides whether `figures` call for a run: every declared trigger is checked and says why; a trigger
 * whose figure is still the one the latest rejected triggered runs (`rejected`, newest first) were
 * started on backs off; then a running run (`running`, one run per model) or the cool-down since
 * `lastRun` holds a fired one back.
 */
export function evaluateTriggers(
  model: string,
  triggers: Triggers | undefined,
  figures: TriggerFigures,
  state: {
    now: Date;
    running?: string | undefined;
    lastRun?: LastRun | undefined;
    rejected?: RejectedRun[] | undefined;
  },
): Omit<TriggerEvaluation, 'checkWorkflowId' | 'workflowId'> {
  const at = state.now.toISOString();
  if (!triggers)
    return {
      model,
      at,
      decision: 'noTriggers',
      reason: 'not triggered: the spec declares no triggers',
      checks: [],
    };
  const checks = measureChecks(triggers, figures).map((c) =>
    backOff(c, triggers, state.rejected ?? [], state.now),
  );
  const fired = checks.filter((c) => c.fired);
  const base = { model, at, checks, figures };
  const backingOff = checks.filter((c) => c.backOffUntil !== undefined);
  if (fired.length === 0 && backingOff.length > 0)
    return {
      ...base,
      decision: 'backingOff',
      reason: `not started: ${backingOff.map((c) => `${c.text}; but ${c.quiet ?? ''}`).join('; ')}`,
    };
  if (fired.length === 0)
    return { ...base, decision: 'notTriggered', reason: `not triggered: ${sentences(checks)}` };
  const because = sentences(fired);
  if (state.running)
    return {
      ...base,
      decision: 'busy',
      reason: `not started: ${because}; but ${state.running} is retraining ${model} (one run per model)`,
    };
  const coolDownMs = durationMs(triggers.coolDown);
  const sinceMs = state.lastRun ? state.now.getTime() - Date.parse(state.lastRun.at) : Infinity;
  if (state.lastRun && sinceMs < coolDownMs)
    return {
      ...base,
      decision: 'coolingDown',
      reason: `not started: ${because}; but ${state.lastRun.workflowId} (${state.lastRun.what}) was ${hours(sinceMs)} ago, within the cool-down of ${triggers.coolDown}`,
    };
  return { ...base, decision: 'started', reason: `triggered: ${because}` };
}

/** Every declared trigger's check on `f`, before any back-off. */
function measureChecks(t: Triggers, f: TriggerFigures): TriggerCheck[] {
  return [newRecordsCheck(t, f), liveErrorCheck(t, f), driftCheck(t, f)].filter(
    (c): c is TriggerCheck => c !== undefined,
  );
}

/**
 * Holds a fired check back while its figure is the one the latest rejected triggered runs were started
 * on: `n` such runs in a row back it off for `n` doublings of the cool-down after the last of them
 * (capped), and a figure that changed ends the back-off at once.
 */
function backOff(check: TriggerCheck, t: Triggers, rejected: RejectedRun[], now: Date): TriggerCheck {
  if (!check.fired) return check;
  let streak = 0;
  for (const run of rejected) {
    const then = run.figures && measureChecks(t, run.figures).find((c) => c.kind === check.kind);
    if (!then || then.value !== check.value) break;
    streak++;
  }
  const last = rejected[0];
  if (streak === 0 || !last) return check;
  const coolDownMs = durationMs(t.coolDown);
  const factor = Math.min(2 ** streak, BACK_OFF_MAX_FACTOR);
  const waitMs = Math.min(coolDownMs * factor, Math.max(coolDownMs, BACK_OFF_MAX_MS));
  const until = Date.parse(last.at) + waitMs;
  if (now.getTime() >= until) return check;
  const untilText = new Date(until).toISOString();
  return {
    ...check,
    fired: false,
    backOffUntil: untilText,
    quiet: `backing off after rejected run ${last.workflowId} until ${untilText.slice(0, 16).replace('T', ' ')} UTC (cool-down x${round(waitMs / coolDownMs, 1)}) or until ${FIGURE_NAMES[check.kind]} changes`,
  };
}

const FIGURE_NAMES: Record<TriggerKind, string> = {
  newRecords: 'the count of new records',
  liveError: 'the live error',
  drift: 'the drift',
};

function newRecordsCheck(t: Triggers, f: TriggerFigures): TriggerCheck | undefined {
  if (t.newRecords === undefined) return undefined;
  const fired = f.newRecords >= t.newRecords;
  const judged = f.judgedBy;
  const where = judged
    ? `since ${judged.workflowId}'s window (${judged.status})`
    : f.production
      ? `since ${f.production}'s training window`
      : 'in the buffer, no version trained yet';
  return {
    kind: 'newRecords',
    fired,
    value: f.newRecords,
    threshold: t.newRecords,
    text: `${count(f.newRecords)} new records ${where} (${fired ? '>=' : '<'} ${count(t.newRecords)})`,
    ...(judged && !fired
      ? {
          quiet: `${count(judged.records)} new records were judged by run ${judged.workflowId} (${judged.status}); counting from there`,
        }
      : {}),
  };
}

function liveErrorCheck(t: Triggers, f: TriggerFigures): TriggerCheck | undefined {
  const threshold = t.liveErrorIncreasePct;
  if (threshold === undefined) return undefined;
  const no = (text: string): TriggerCheck => ({
    kind: 'liveError',
    fired: false,
    value: null,
    threshold,
    text,
  });
  const live = f.live;
  if (!f.production || !live) return no('no production version to measure live error of');
  const name = live.metric.toUpperCase();
  if (live.predictions < t.minLivePredictions || live.value === null)
    return no(
      `${count(live.predictions)} live predictions of ${f.production} in the last ${live.windowDays} days (< minLivePredictions ${count(t.minLivePredictions)})`,
    );
  if (live.holdout === null || live.holdout <= 0)
    return no(`${f.production} has no holdout ${name} to compare its live ${name} with`);
  // MAE grows as a model decays, F1 falls: "worse" is the relative change in the bad direction.
  const worsePct = (((live.metric === 'mae' ? 1 : -1) * (live.value - live.holdout)) / live.holdout) * 100;
  // Compared at a millionth of a percent: 0.64 against 0.8 is 20 %, not 20.000000000000004 %.
  const fired = round(worsePct, 6) > threshold;
  const direction = live.value >= live.holdout === (live.metric === 'mae') ? 'worse than' : 'better than';
  return {
    kind: 'liveError',
    fired,
    value: round(worsePct, 2),
    threshold,
    text: `live ${name} ${fixed(live.value)} of ${f.production} is ${fixed(Math.abs(worsePct), 2)} % ${direction} holdout ${fixed(live.holdout)} over ${count(live.predictions)} predictions (${fired ? '>' : '<='} ${threshold} %)`,
  };
}

function driftCheck(t: Triggers, f: TriggerFigures): TriggerCheck | undefined {
  const threshold = t.driftPsi;
  if (threshold === undefined) return undefined;
  const measured = Object.entries(f.drift).filter((e): e is [string, number] => e[1] !== null);
  if (!f.production || measured.length === 0)
    return {
      kind: 'drift',
      fired: false,
      value: null,
      threshold,
      text: f.production
        ? `no drift figure: no records after ${f.production}'s training window`
        : 'no production version to measure drift against',
    };
  const [feature, psi] = measured.reduce((a, b) => (b[1] > a[1] ? b : a));
  const fired = psi > threshold;
  return {
    kind: 'drift',
    fired,
    value: round(psi, 4),
    threshold,
    text: `${fired ? '' : 'largest '}PSI of ${feature} ${fixed(psi, 4)} ${fired ? '>' : '<='} ${threshold}`,
  };
}

function sentences(checks: TriggerCheck[]): string {
  return checks.map((c) => c.text).join('; ');
}

function count(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** `digits` decimals, or by size: 13.72, 0.613, 142.5. */
function fixed(n: number, digits?: number): string {
  const size = Math.abs(n);
  return n.toFixed(digits ?? (size >= 100 ? 1 : size >= 1 ? 2 : 3));
}

function round(n: number, digits: number): number {
  return Number(n.toFixed(digits));
}

function hours(ms: number): string {
  return ms < 3_600_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`;
}
