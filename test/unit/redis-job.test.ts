import { describe, expect, it } from 'vitest';
import { fieldsOf, jobToInput } from '../../bridge/redis-job';

describe('a Redis job as a run input', () => {
  it('queues behind a run that holds its model, with the priority the job gives', () => {
    expect(jobToInput({ model: 'xgboost', learning_rate: '0.002', optimizer: 'adam' })).toEqual({
      input: expect.objectContaining({
        model: 'xgboost',
        hyperparams: { learningRate: 0.002, optimizer: 'adam' },
        admission: 'queue',
      }),
    });
    expect(jobToInput({ model: 'xgboost', priority: '1' })).toMatchObject({
      input: { admission: 'queue', priority: 1 },
    });
    // No priority given: none set, so the spec's (else 3) applies.
    const plain = jobToInput({ model: 'xgboost' });
    expect('input' in plain && plain.input.priority).toBeUndefined();
  });

  it("carries the producer's own fields as labels, not as parameters", () => {
    const fields = { job_id: 'j-1', timestamp: '2026-01-05T02:00:00Z', source: 'evo', requested_by: 'ops' };
    expect(jobToInput({ model: 'xgboost', ...fields })).toMatchObject({
      input: { model: 'xgboost', labels: fields },
    });
  });

  it('names a priority out of 1..5', () => {
    expect(jobToInput({ model: 'xgboost', priority: '9' })).toEqual({
      invalid: expect.stringMatching(/^invalid job: priority: .*5/),
    });
  });
});

describe('hostile Redis job fields', () => {
  it('refuses a number field of a million digits by its length, before any pattern runs', () => {
    // Before: the number pattern backtracked quadratically (40,000 digits 3.6 s, 1 MB about 35 minutes).
    for (const epochs of ['9'.repeat(1_000_000), `${'9'.repeat(40_000)}x`, `${'1'.repeat(100_000)}.`])
      expect(jobToInput({ model: 'xgboost', epochs })).toEqual({
        invalid: 'invalid job: epochs: must be a number of at most 32 characters',
      });
  });

  it('still reads every spelling of a number the pattern took before', () => {
    for (const [text, value] of [
      ['12', 12],
      ['+12', 12],
      ['12.', 12],
      ['12.0', 12],
      ['1.2e1', 12],
      ['.5e2', 50],
    ] as const)
      expect(jobToInput({ model: 'xgboost', epochs: text }), text).toMatchObject({
        input: { epochs: value },
      });
    expect(jobToInput({ model: 'xgboost', epochs: '1.2.3' })).toEqual({
      invalid: 'invalid job: epochs: must be a number',
    });
  });

  it('takes a field named __proto__ as a field the job may not have, not as a prototype', () => {
    const fields = fieldsOf(['model', 'xgboost', '__proto__', 'x']);
    expect(Object.getPrototypeOf(fields)).toBe(Object.prototype);
    expect(jobToInput(fields)).toEqual({ invalid: expect.stringContaining('__proto__') });
  });
});
