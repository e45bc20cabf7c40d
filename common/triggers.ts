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

/** What a check measured, for the production version (or the whole buffer before there is one). */
export const TriggerFiguresSchema = z.object({
  /** The production version; absent before the first registration. */
  production: z.string().optional(),
  /** Buffer records after the production version's training window (every record without one). */
  newRecords: z.number(),
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

/** One trigger's verdict, with the figure it looked at and its sentence. */
export const TriggerCheckSchema = z.object({
  kind: z.enum(TRIGGER_KINDS),
  fired: z.boolean(),
  value: z.number().nullable(),
  threshold: z.number(),
  text: z.string(),
});
export type TriggerCheck = z.infer<typeof TriggerCheckSchema>;

export const TRIGGER_DECISIONS = ['started', 'notTriggered', 'coolingDown', 'busy', 'noTriggers'] as const;
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

/**
 * Decides whether `figures` call for a run: every declared trigger is checked and says why, then a
 * running run (`running`, one run per model) or the cool-down since `lastRun` holds a fired one back.
 */
export function evaluateTriggers(
  model: string,
  triggers: Triggers | undefined,
  figures: TriggerFigures,
  state: { now: Date; running?: string | undefined; lastRun?: LastRun | undefined },
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
  const checks = [
    newRecordsCheck(triggers, figures),
    liveErrorCheck(triggers, figures),
    driftCheck(triggers, figures),
  ].filter((c): c is TriggerCheck => c !== undefined);
  const fired = checks.filter((c) => c.fired);
  const base = { model, at, checks, figures };
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

function newRecordsCheck(t: Triggers, f: TriggerFigures): TriggerCheck | undefined {
  if (t.newRecords === undefined) return undefined;
  const fired = f.newRecords >= t.newRecords;
  const where = f.production
    ? `since ${f.production}'s training window`
    : 'in the buffer, no version trained yet';
  return {
    kind: 'newRecords',
    fired,
    value: f.newRecords,
    threshold: t.newRecords,
    text: `${count(f.newRecords)} new records ${where} (${fired ? '>=' : '<'} ${count(t.newRecords)})`,
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
