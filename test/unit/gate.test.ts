import { describe, expect, it } from 'vitest';
import { decide } from '../../activities/validate-model';
import { GateSchema } from '../../common/model-spec';

const gate = GateSchema.parse({ tolerance: 0.05 });
const baselines = { lastValue: { mae: 10 }, constant: { mae: 12 } };

describe('validation gate', () => {
  it('passes a candidate that beats the baselines when there is no production model', () => {
    expect(decide({ mae: 8 }, baselines, undefined, 'forecast', gate).passed).toBe(true);
  });
  it('rejects a candidate that does not beat the last-value baseline, naming it', () => {
    const d = decide({ mae: 10.5 }, baselines, undefined, 'forecast', gate);
    expect(d.passed).toBe(false);
    expect(d.reason).toContain('lastValue baseline');
  });
  it('passes a candidate within the tolerance of production and rejects one beyond it', () => {
    const production = { version: 'v3', metrics: { mae: 8 } };
    expect(decide({ mae: 8.3 }, baselines, production, 'forecast', gate).passed).toBe(true);
    const worse = decide({ mae: 8.5 }, baselines, production, 'forecast', gate);
    expect(worse.passed).toBe(false);
    expect(worse.reason).toContain('production v3');
  });
  it('treats higher F1 as better for classifiers', () => {
    const cls = { lastValue: { f1: 0.5 } };
    expect(decide({ f1: 0.6 }, cls, { version: 'v1', metrics: { f1: 0.62 } }, 'classify', gate).passed).toBe(
      true,
    );
    expect(decide({ f1: 0.4 }, cls, undefined, 'classify', gate).passed).toBe(false);
  });
});
