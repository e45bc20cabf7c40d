import { describe, expect, it } from 'vitest';
import { jobToInput } from '../../bridge/redis-job';

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
