import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelSpecSchema } from '../../common/model-spec';
import { formatIssues } from '../../common/format-issues';

const example = (name: string) =>
  JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'examples', name), 'utf8'));

describe('ModelSpecSchema', () => {
  it('accepts the shipped example specs and fills defaults', () => {
    const spec = ModelSpecSchema.parse(example('late-share.json'));
    expect(spec.threshold).toBe(0.4);
    expect(spec.hyperparams.optimizer).toBe('adam');
    expect(ModelSpecSchema.parse(example('flight-delay.json')).gate.tolerance).toBe(0.05);
  });

  it.each([
    [{ name: '../etc' }, 'name'],
    [{ name: 'Upper' }, 'name'],
    [{ features: ['ok', 'bad-col'] }, 'features.1'],
    [{ task: 'classify', threshold: undefined }, 'threshold'],
    [{ features: ['origin'] }, 'features'],
    [{ extra: 1 }, '(root)'],
    [{ minDays: 29 }, 'minDays'],
  ])('rejects %j and names %s', (patch, field) => {
    const result = ModelSpecSchema.safeParse({ ...example('flight-delay.json'), ...patch });
    expect(result.success).toBe(false);
    if (!result.success) expect(formatIssues(result.error)).toContain(`${field}:`);
  });
});
