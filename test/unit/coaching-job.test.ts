import { describe, expect, it } from 'vitest';
import {
  coachingJob,
  coachingPriorityOf,
  runPriorityOf,
  type CoachingRun,
} from '../../control/coaching/coaching-job';
import { timedelta } from '../../control/coaching/training-events';

const run = (over: Partial<CoachingRun>): CoachingRun =>
  ({
    workflowId: 'retrain-goal-20260101T000000Z',
    runId: 'r1',
    status: 'running',
    temporalStatus: 'RUNNING',
    model: 'goal',
    stage: 'trainModel',
    startTime: '2026-01-01T00:00:00.000Z',
    closeTime: null,
    input: null,
    outcome: null,
    progress: null,
    ...over,
  }) as CoachingRun;

describe("FinCoach's job view of a run", () => {
  it('maps FinCoach priorities (higher first, default 1) onto retrain 1..5 (1 first, default 3) and back', () => {
    expect([5, 3, 2, 1, 0, -1, -7].map(runPriorityOf)).toEqual([1, 1, 2, 3, 4, 5, 5]);
    expect([1, 2, 3, 4, 5].map(coachingPriorityOf)).toEqual([3, 2, 1, 0, -1]);
  });

  it('says queued, in_progress, completed or failed, with the reason of a run that did not complete', () => {
    expect(coachingJob(run({ stage: null })).status).toBe('queued');
    const queued = run({ progress: { status: 'queued' } as CoachingRun['progress'] });
    expect(coachingJob(queued)).toMatchObject({
      status: 'queued',
      started_at: null,
      training_event_id: null,
    });
    expect(coachingJob(run({}))).toMatchObject({ status: 'in_progress', priority: 1, model_type: 'goal' });
    const ended = { temporalStatus: 'COMPLETED', closeTime: '2026-01-01T00:05:00.000Z' };
    expect(coachingJob(run({ ...ended, status: 'completed' }))).toMatchObject({
      status: 'completed',
      error_message: null,
      training_event_id: 'retrain-goal-20260101T000000Z',
    });
    const rejected = run({
      ...ended,
      status: 'rejected',
      outcome: {
        status: 'rejected',
        reason: 'candidate mae 2 does not beat lastValue (1.5)',
      } as CoachingRun['outcome'],
      input: {
        model: 'goal',
        incremental: true,
        trials: 1,
        labels: { model_type: 'goal-type', priority: '2' },
      },
    });
    expect(coachingJob(rejected)).toMatchObject({
      status: 'failed',
      outcome: 'rejected',
      error_message: 'candidate mae 2 does not beat lastValue (1.5)',
      model_type: 'goal-type',
      priority: 2,
    });
    expect(coachingJob(run({ temporalStatus: 'TERMINATED', status: 'terminated' })).error_message).toBe(
      'terminated',
    );
  });

  it("writes durations as Python's str(timedelta)", () => {
    expect(timedelta(323_000)).toBe('0:05:23');
    expect(timedelta(323_250)).toBe('0:05:23.250000');
    expect(timedelta(26 * 3_600_000)).toBe('1 day, 2:00:00');
    expect(timedelta(2 * 86_400_000 + 1)).toBe('2 days, 0:00:00.001000');
  });
});
