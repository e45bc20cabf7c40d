import { describe, expect, it } from 'vitest';

import os from 'node:os';

import { loadConfig } from '../../config/config';
import { formatIssues } from '../../common/format-issues';
import { parseBoolean, QueryBooleanSchema } from '../../common/query-boolean';
import { TriggerSchema } from '../../control/training-params';

describe('booleans as clients send them', () => {
  it.each([
    [true, true],
    [false, false],
    [1, true],
    [0, false],
    ['true', true],
    ['True', true],
    ['TRUE', true],
    [' true ', true],
    ['1', true],
    ['false', false],
    ['False', false],
    ['fAlSe', false],
    ['0', false],
  ])('%j is %s', (value, expected) => {
    expect(parseBoolean(value)).toBe(expected);
    expect(QueryBooleanSchema.parse(value)).toBe(expected);
  });

  it.each([
    ['yes', 'not "yes"'],
    ['', 'not ""'],
    ['2', 'not "2"'],
    [2, 'not a number'],
    [null, 'not null'],
    [{}, 'not an object'],
    [['true', 'false'], 'not a list (give the parameter once)'],
  ])('refuses %j, naming it', (value, named) => {
    const result = QueryBooleanSchema.safeParse(value);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe(
      `must be true or false (also True, False, 1 or 0, in any case), ${named}`,
    );
  });

  it('cuts a long refused value short', () => {
    const message = QueryBooleanSchema.safeParse('x'.repeat(500)).error?.issues[0]?.message ?? '';
    expect(message).toContain(`"${'x'.repeat(40)}..."`);
    expect(message.length).toBeLessThan(150);
  });

  it("the daemon's trigger parameters take Python's True and False, and name the field of a bad one", () => {
    expect(TriggerSchema.parse({ epochs: '5', incremental: 'True', blocking: 'False' })).toEqual({
      epochs: 5,
      incremental: true,
      blocking: false,
    });
    expect(TriggerSchema.parse({ incremental: 'FALSE' })).toEqual({ incremental: false, blocking: false });
    const bad = TriggerSchema.safeParse({ incremental: 'maybe' });
    expect(bad.success).toBe(false);
    expect(bad.error && formatIssues(bad.error)).toBe(
      'incremental: must be true or false (also True, False, 1 or 0, in any case), not "maybe"',
    );
  });

  it('RETRAIN_PREDICT_FEEDS_BUFFER takes the same words, and a bad one stops start-up naming it', () => {
    const feeds = (value?: string) =>
      loadConfig(value === undefined ? {} : { RETRAIN_PREDICT_FEEDS_BUFFER: value }, os.tmpdir()).serving
        .predictFeedsBuffer;
    expect(feeds()).toBe(false);
    expect(feeds('True')).toBe(true);
    expect(feeds('0')).toBe(false);
    expect(() => feeds('on')).toThrow(
      'Invalid environment: RETRAIN_PREDICT_FEEDS_BUFFER: must be true or false (also True, False, 1 or 0, in any case), not "on"',
    );
  });
});
