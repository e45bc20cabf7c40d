import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelSpecSchema } from '../../common/model-spec';
import { formatIssues } from '../../common/format-issues';
import {
  evaluateTriggers,
  TriggersSchema,
  type TriggerEvaluation,
  type TriggerFigures,
  type TriggersInput,
} from '../../common/triggers';
import { FileBlobStore } from '../../storage/file-store';
import { TriggerHistory } from '../../storage/trigger-history';

const NOW = new Date('2026-12-02T12:00:00Z');

const figures = (over: Partial<TriggerFigures> = {}): TriggerFigures => ({
  production: 'v3',
  newRecords: 0,
  live: { metric: 'mae', value: 10, holdout: 10, predictions: 500, windowDays: 7 },
  drift: { flights: 0.01, mean_delay: 0.02 },
  ...over,
});

const evaluate = (
  t: TriggersInput,
  f: TriggerFigures,
  state: Partial<Parameters<typeof evaluateTriggers>[3]> = {},
) => evaluateTriggers('m', TriggersSchema.parse(t), f, { now: NOW, ...state });

const live = (value: number, holdout: number, predictions = 500, metric: 'mae' | 'f1' = 'mae') => ({
  metric,
  value,
  holdout,
  predictions,
  windowDays: 7,
});

describe('each trigger fires just above its threshold and not just below', () => {
  it('newRecords: at least n records since the training window', () => {
    const below = evaluate({ newRecords: 1000 }, figures({ newRecords: 999 }));
    expect(below.decision).toBe('notTriggered');
    expect(below.reason).toBe("not triggered: 999 new records since v3's training window (< 1,000)");
    const at = evaluate({ newRecords: 1000 }, figures({ newRecords: 1000 }));
    expect(at.decision).toBe('started');
    expect(at.reason).toBe("triggered: 1,000 new records since v3's training window (>= 1,000)");
  });

  it('liveErrorIncreasePct: live MAE more than p % above holdout, over enough predictions', () => {
    const t = { liveErrorIncreasePct: 20, minLivePredictions: 100 };
    const exactly = evaluate(t, figures({ live: live(12, 10) }));
    expect(exactly.decision).toBe('notTriggered');
    expect(exactly.reason).toBe(
      'not triggered: live MAE 12.00 of v3 is 20.00 % worse than holdout 10.00 over 500 predictions (<= 20 %)',
    );
    const above = evaluate(t, figures({ live: live(12.01, 10) }));
    expect(above.decision).toBe('started');
    expect(above.checks[0]).toMatchObject({ kind: 'liveError', fired: true, value: 20.1, threshold: 20 });
    const better = evaluate(t, figures({ live: live(9, 10) }));
    expect(better.reason).toContain('is 10.00 % better than holdout 10.00');
    const few = evaluate(t, figures({ live: live(50, 10, 99) }));
    expect(few.decision).toBe('notTriggered');
    expect(few.reason).toBe(
      'not triggered: 99 live predictions of v3 in the last 7 days (< minLivePredictions 100)',
    );
    expect(evaluate(t, figures({ live: live(50, 10, 100) })).decision).toBe('started');
  });

  it('liveErrorIncreasePct on a classifier: F1 falling by more than p %', () => {
    const t = { liveErrorIncreasePct: 20 };
    expect(evaluate(t, figures({ live: live(0.64, 0.8, 500, 'f1') })).decision).toBe('notTriggered');
    const fired = evaluate(t, figures({ live: live(0.639, 0.8, 500, 'f1') }));
    expect(fired.decision).toBe('started');
    expect(fired.reason).toContain('live F1 0.639 of v3 is 20.13 % worse than holdout 0.800');
  });

  it('driftPsi: a feature whose PSI exceeds x', () => {
    const below = evaluate({ driftPsi: 0.2 }, figures({ drift: { flights: 0.2, mean_delay: 0.1 } }));
    expect(below.decision).toBe('notTriggered');
    expect(below.reason).toBe('not triggered: largest PSI of flights 0.2000 <= 0.2');
    const above = evaluate({ driftPsi: 0.2 }, figures({ drift: { flights: 0.05, mean_delay: 0.2001 } }));
    expect(above.decision).toBe('started');
    expect(above.reason).toBe('triggered: PSI of mean_delay 0.2001 > 0.2');
    const none = evaluate({ driftPsi: 0.2 }, figures({ drift: { flights: null } }));
    expect(none.reason).toBe("not triggered: no drift figure: no records after v3's training window");
  });

  it('before the first version: every record counts as new, live error and drift wait for one', () => {
    const first = evaluate(
      { newRecords: 100, liveErrorIncreasePct: 10, driftPsi: 0.1 },
      { newRecords: 150, drift: {} },
    );
    expect(first.decision).toBe('started');
    expect(first.checks.map((c) => [c.kind, c.fired, c.text])).toEqual([
      ['newRecords', true, '150 new records in the buffer, no version trained yet (>= 100)'],
      ['liveError', false, 'no production version to measure live error of'],
      ['drift', false, 'no production version to measure drift against'],
    ]);
  });
});

describe('cool-down and one run per model when two triggers fire at once', () => {
  const both = { newRecords: 10, driftPsi: 0.1, coolDown: '6h' };
  const firing = figures({ newRecords: 50, drift: { flights: 0.5 } });

  it('two fired triggers make one start, naming both', () => {
    const e = evaluate(both, firing);
    expect(e.decision).toBe('started');
    expect(e.checks.filter((c) => c.fired).map((c) => c.kind)).toEqual(['newRecords', 'drift']);
    expect(e.reason).toBe(
      "triggered: 50 new records since v3's training window (>= 10); PSI of flights 0.5000 > 0.1",
    );
  });

  it('holds them back while a run retrains the model', () => {
    const e = evaluate(both, firing, { running: 'retrain-m-20261202T110000Z' });
    expect(e.decision).toBe('busy');
    expect(e.reason).toMatch(/; but retrain-m-20261202T110000Z is retraining m \(one run per model\)$/);
  });

  it('holds them back within the cool-down of the last run, and lets them through after it', () => {
    const lastRun = (ago: number) => ({
      workflowId: 'retrain-m-x',
      at: new Date(NOW.getTime() - ago).toISOString(),
      what: 'triggered',
    });
    const within = evaluate(both, firing, { lastRun: lastRun(6 * 3_600_000 - 1000) });
    expect(within.decision).toBe('coolingDown');
    expect(within.reason).toContain('but retrain-m-x (triggered) was 6.0 h ago, within the cool-down of 6h');
    expect(evaluate(both, firing, { lastRun: lastRun(6 * 3_600_000) }).decision).toBe('started');
  });
});

describe('no retrain storms: evidence a run judged fires nothing again', () => {
  const HOUR = 3_600_000;
  const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
  /** A triggered run rejected `endedAgo` ms before NOW, started on `on`. */
  const rejectedRun = (n: number, endedAgo: number, on: TriggerFigures) => ({
    workflowId: `retrain-m-rejected-${n}`,
    at: ago(endedAgo),
    figures: on,
  });

  it('newRecords counts from the window of the latest run that judged them, and says so', () => {
    const judgedBy = {
      workflowId: 'retrain-m-r1',
      status: 'rejected' as const,
      to: '2026-12-02T11:00:00Z',
      records: 4837,
    };
    const quiet = evaluate({ newRecords: 1000 }, figures({ newRecords: 12, judgedBy }));
    expect(quiet.decision).toBe('notTriggered');
    expect(quiet.reason).toBe(
      "not triggered: 12 new records since retrain-m-r1's window (rejected) (< 1,000)",
    );
    expect(quiet.checks[0]?.quiet).toBe(
      '4,837 new records were judged by run retrain-m-r1 (rejected); counting from there',
    );
    const more = evaluate({ newRecords: 1000 }, figures({ newRecords: 1000, judgedBy }));
    expect(more.decision).toBe('started');
    expect(more.checks[0]).toMatchObject({ fired: true });
    expect(more.checks[0]).not.toHaveProperty('quiet');
  });

  it('a live-error trigger whose run was rejected backs off for twice the cool-down while its figure stays', () => {
    const t = { liveErrorIncreasePct: 20, coolDown: '1h' };
    const worse = figures({ live: live(15, 10) });
    const rejected = [rejectedRun(1, HOUR + 1000, worse)];
    const held = evaluate(t, worse, { rejected });
    expect(held.decision).toBe('backingOff');
    expect(held.checks[0]).toMatchObject({
      kind: 'liveError',
      fired: false,
      value: 50,
      backOffUntil: new Date(NOW.getTime() + HOUR - 1000).toISOString(),
    });
    expect(held.reason).toBe(
      'not started: live MAE 15.00 of v3 is 50.00 % worse than holdout 10.00 over 500 predictions (> 20 %); ' +
        'but backing off after rejected run retrain-m-rejected-1 until 2026-12-02 12:59 UTC (cool-down x2) or until the live error changes',
    );
    // Two cool-downs after the rejected run it tries again.
    expect(evaluate(t, worse, { rejected: [rejectedRun(1, 2 * HOUR, worse)] }).decision).toBe('started');
  });

  it('the back-off doubles with each rejected run in a row on the same figure, up to 64 cool-downs or a day', () => {
    const t = { driftPsi: 0.2, coolDown: '1m' };
    const drifted = figures({ drift: { flights: 0.5 } });
    const runs = (n: number, endedAgo: number) =>
      Array.from({ length: n }, (_, i) => rejectedRun(i, endedAgo + i * HOUR, drifted));
    const untilOf = (n: number) => evaluate(t, drifted, { rejected: runs(n, 0) }).checks[0]?.backOffUntil;
    expect([1, 2, 3, 6, 7, 9].map((n) => Date.parse(untilOf(n) ?? '') - NOW.getTime())).toEqual(
      [2, 4, 8, 64, 64, 64].map((f) => f * 60_000),
    );
    expect(evaluate(t, drifted, { rejected: runs(3, 8 * 60_000 - 1) }).decision).toBe('backingOff');
    expect(evaluate(t, drifted, { rejected: runs(3, 8 * 60_000) }).decision).toBe('started');
    // A cool-down of 6h: 12h, then capped at a day.
    const six = { driftPsi: 0.2, coolDown: '6h' };
    const capped = evaluate(six, drifted, { rejected: runs(3, 0) });
    expect(Date.parse(capped.checks[0]?.backOffUntil ?? '') - NOW.getTime()).toBe(24 * HOUR);
    expect(capped.checks[0]?.quiet).toContain('(cool-down x4)');
  });

  it('a figure that changed since the rejected run ends the back-off at once', () => {
    const t = { liveErrorIncreasePct: 20, coolDown: '1h' };
    const rejected = [rejectedRun(1, 0, figures({ live: live(15, 10) }))];
    expect(evaluate(t, figures({ live: live(15, 10) }), { rejected }).decision).toBe('backingOff');
    const changed = evaluate(t, figures({ live: live(15.5, 10) }), { rejected });
    expect(changed.decision).toBe('started');
    expect(changed.checks[0]).not.toHaveProperty('quiet');
    // Only the runs in a row on this very figure count: an older one on another figure does not.
    const mixed = [rejectedRun(1, 0, figures({ live: live(15.5, 10) })), ...rejected];
    const once = evaluate(t, figures({ live: live(15.5, 10) }), { rejected: mixed });
    expect(once.checks[0]?.quiet).toContain('(cool-down x2)');
    // A rejected run whose check recorded no figures judged nothing this check can compare.
    const unknown = [{ workflowId: 'retrain-m-old', at: ago(0) }];
    expect(evaluate(t, figures({ live: live(15, 10) }), { rejected: unknown }).decision).toBe('started');
  });

  it('backs off only the trigger whose figure was judged: another that fired starts the run alone', () => {
    const t = { liveErrorIncreasePct: 20, driftPsi: 0.2, coolDown: '1h' };
    const then = figures({ live: live(15, 10), drift: { flights: 0.05 } });
    const now = figures({ live: live(15, 10), drift: { flights: 0.5 } });
    const e = evaluate(t, now, { rejected: [rejectedRun(1, 0, then)] });
    expect(e.decision).toBe('started');
    expect(e.checks.map((c) => [c.kind, c.fired, c.backOffUntil !== undefined])).toEqual([
      ['liveError', false, true],
      ['drift', true, false],
    ]);
    expect(e.reason).toBe('triggered: PSI of flights 0.5000 > 0.2');
  });
});

describe('the triggers in a spec', () => {
  const base = {
    name: 'm',
    task: 'forecast',
    timeColumn: 'ts',
    entityColumn: 'host',
    features: ['y'],
    target: 'y',
  };

  it('a spec without triggers parses as before and evaluates to "no triggers"', () => {
    const spec = ModelSpecSchema.parse(base);
    expect(spec).not.toHaveProperty('triggers');
    expect(evaluateTriggers('m', spec.triggers, figures(), { now: NOW })).toEqual({
      model: 'm',
      at: NOW.toISOString(),
      decision: 'noTriggers',
      reason: 'not triggered: the spec declares no triggers',
      checks: [],
    });
  });

  it('fills the defaults and refuses bad triggers naming the field', () => {
    expect(ModelSpecSchema.parse({ ...base, triggers: { newRecords: 5 } }).triggers).toEqual({
      newRecords: 5,
      minLivePredictions: 100,
      liveWindowDays: 7,
      checkEvery: '15m',
      coolDown: '6h',
    });
    const issues = (triggers: unknown) => {
      const r = ModelSpecSchema.safeParse({ ...base, triggers });
      return r.success ? 'ok' : formatIssues(r.error);
    };
    expect(issues({})).toContain(
      'triggers: triggers need at least one of newRecords, liveErrorIncreasePct, driftPsi',
    );
    expect(issues({ newRecords: 5, checkEvery: '30s' })).toContain(
      'triggers.checkEvery: checkEvery must be at least 1m',
    );
    expect(issues({ newRecords: 5, coolDown: 'soon' })).toContain(
      'triggers.coolDown: coolDown must be a count and a unit',
    );
    expect(issues({ newRecords: -1 })).toContain('triggers.newRecords');
    expect(issues({ newRecords: 5, everyHour: true })).toContain('everyHour');
  });
});

describe('the trigger history', () => {
  it('keeps every evaluation, newest first, and the last triggered run', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-triggers-'));
    try {
      const history = new TriggerHistory(new FileBlobStore(dir));
      const e = (
        at: string,
        decision: TriggerEvaluation['decision'],
        workflowId?: string,
      ): TriggerEvaluation => ({
        model: 'm',
        at,
        decision,
        reason: decision,
        checks: [],
        checkWorkflowId: `retrain-monitor-m-${at}`,
        ...(workflowId ? { workflowId } : {}),
      });
      await history.record(e('2026-12-01T23:45:00.000Z', 'notTriggered'));
      await history.record(e('2026-12-02T00:00:00.000Z', 'started', 'retrain-m-1'));
      await history.record(e('2026-12-02T00:15:00.000Z', 'coolingDown'));
      expect(await history.lastTriggered('m')).toEqual({
        workflowId: 'retrain-m-1',
        at: '2026-12-02T00:00:00.000Z',
        what: 'triggered',
      });
      const recent = await history.recent('m', 10, 7, NOW);
      expect(recent.map((r) => r.decision)).toEqual(['coolingDown', 'started', 'notTriggered']);
      expect((await history.recent('m', 2, 7, NOW)).map((r) => r.decision)).toEqual([
        'coolingDown',
        'started',
      ]);
      expect(await new TriggerHistory(new FileBlobStore(dir)).lastTriggered('other')).toBeUndefined();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
