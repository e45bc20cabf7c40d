import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
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

  it('takes the forecast options, a frequency and a gate metric', () => {
    const spec = ModelSpecSchema.parse({
      ...example('flight-delay.json'),
      frequency: '1h',
      hyperparams: {
        architecture: 'linear',
        normalisation: 'global',
        targetTransform: 'level',
        calendar: ['dayOfWeek'],
      },
      gate: { metric: 'rmse' },
      search: { calendar: [[], ['hourOfDay']], normalisation: ['entity'] },
    });
    expect(spec.frequency).toBe('1h');
    expect(spec.hyperparams).toMatchObject({
      architecture: 'linear',
      normalisation: 'global',
      calendar: ['dayOfWeek'],
    });
    expect(spec.gate.metric).toBe('rmse');
    expect(ModelSpecSchema.parse(example('flight-delay.json')).gate.metric).toBe('auto');
  });

  it.each([
    [{ name: '../etc' }, 'name'],
    [{ name: 'Upper' }, 'name'],
    [{ features: ['ok', 'bad-col'] }, 'features.1'],
    [{ task: 'classify', threshold: undefined }, 'threshold'],
    [{ features: ['origin'] }, 'features'],
    [{ extra: 1 }, '(root)'],
    [{ minDays: 29 }, 'minDays'],
    [{ frequency: '5 minutes' }, 'frequency'],
    [{ frequency: '0h' }, 'frequency'],
    [{ gate: { metric: 'f1' } }, 'gate.metric'],
    [{ gate: { metric: 'median' } }, 'gate.metric'],
    [{ target: 'arr_delay', hyperparams: { targetTransform: 'change' } }, 'hyperparams.targetTransform'],
    [{ hyperparams: { calendar: ['hourOfDay', 'hourOfDay'] } }, 'hyperparams.calendar'],
    [{ hyperparams: { calendar: ['minuteOfHour'] } }, 'hyperparams.calendar.0'],
    [{ hyperparams: { normalisation: 'per-host' } }, 'hyperparams.normalisation'],
    [
      { task: 'classify', threshold: 30, hyperparams: { targetTransform: 'change' } },
      'hyperparams.targetTransform',
    ],
    [{ task: 'classify', threshold: 30, search: { targetTransform: ['level'] } }, 'search.targetTransform'],
    [{ target: 'arr_delay', search: { targetTransform: ['change', 'level'] } }, 'search.targetTransform'],
    [{ hyperparams: { architecture: 'logistic' } }, 'hyperparams.architecture'],
  ])('rejects %j and names %s', (patch, field) => {
    const result = ModelSpecSchema.safeParse({ ...example('flight-delay.json'), ...patch });
    expect(result.success).toBe(false);
    if (!result.success) expect(formatIssues(result.error)).toContain(`${field}:`);
  });
});

/** Seeded for reproducible failures; parsing is cheap, so more runs than the I/O properties. */
const RUNS = { seed: 20240101, numRuns: 200 } as const;

const identifier = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/);
const int = (min: number, max: number) => fc.integer({ min, max });

/** Specs that obey every rule of ModelSpecSchema, optional parts present or not. */
const validSpec = fc
  .record({
    name: fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?$/),
    task: fc.constantFrom('forecast', 'classify'),
    columns: fc.uniqueArray(identifier, { minLength: 3, maxLength: 8 }),
    targetIsFeature: fc.boolean(),
    threshold: fc.double({ noNaN: true, noDefaultInfinity: true }),
    horizon: int(1, 1000),
    lookback: int(1, 1000),
    windowDays: int(1, 3650),
    minDaysShare: fc.double({ min: 0, max: 1, noNaN: true }),
    epochs: int(1, 10000),
    minRecords: int(1, 1e9),
    learningRate: fc.double({ min: 1e-6, max: 1, noNaN: true }),
    optimizer: fc.constantFrom('adam', 'sgd', 'rmsprop'),
    batchSize: int(1, 65536),
    dropout: fc.double({ min: 0, max: 0.9, noNaN: true }),
    seed: int(0, 2 ** 31 - 1),
    tolerance: fc.double({ min: 0, max: 10, noNaN: true }),
    withSearch: fc.boolean(),
  })
  .map((r) => {
    const [timeColumn, entityColumn, ...features] = r.columns as [string, string, ...string[]];
    const architectures = r.task === 'forecast' ? ['mlp', 'lstm'] : ['logistic', 'mlp'];
    return {
      name: r.name,
      task: r.task,
      timeColumn,
      entityColumn,
      features: r.targetIsFeature || features.length === 1 ? features : features.slice(1),
      target: features[0] as string,
      ...(r.task === 'classify' ? { threshold: r.threshold } : {}),
      horizon: r.horizon,
      lookback: r.lookback,
      windowDays: r.windowDays,
      minDays: Math.max(1, Math.floor(r.windowDays * r.minDaysShare)),
      minRecords: r.minRecords,
      epochs: r.epochs,
      hyperparams: {
        architecture: architectures[r.seed % 2],
        learningRate: r.learningRate,
        optimizer: r.optimizer,
        batchSize: r.batchSize,
        dropout: r.dropout,
        seed: r.seed,
      },
      ...(r.withSearch
        ? {
            search: {
              dropout: { min: 0, max: r.dropout },
              batchSize: [r.batchSize],
              architecture: architectures,
            },
          }
        : {}),
      gate: { tolerance: r.tolerance, mustBeatBaseline: r.seed % 3 === 0 },
    };
  });

type Spec = Record<string, unknown>;
/** Makes one field of a spec invalid and returns the path its issue must name. */
type Mutation = (spec: Spec) => string;
const set =
  (field: string, bad: unknown, within?: string): Mutation =>
  (spec) => {
    (within ? (spec[within] as Spec) : spec)[field] = bad;
    return within ? `${within}.${field}` : field;
  };
const mutations: fc.Arbitrary<Mutation>[] = [
  ...['name', 'task', 'timeColumn', 'entityColumn', 'target'].map((field) =>
    fc
      .constantFrom<unknown>('', 'has space', 'trailing-', '-leading', 42, null, true, 'x'.repeat(70))
      .map((bad) => set(field, bad)),
  ),
  // A horizon of 0 is a tabular spec, valid with lookback 1 and a target outside the features.
  ...['horizon', 'lookback', 'windowDays', 'epochs', 'minRecords'].map((field) =>
    fc
      .constantFrom<unknown>(...(field === 'horizon' ? [] : [0]), -1, 1.5, Number.NaN, '6', null)
      .map((bad) => set(field, bad)),
  ),
  fc.constantFrom<unknown>([], 'cpu', null).map((bad) => set('features', bad)),
  fc.nat().map((i): Mutation => (spec) => {
    const features = spec.features as string[];
    const at = i % features.length;
    features[at] = 'bad-col';
    return `features.${at}`;
  }),
  fc
    .constantFrom<[string, unknown]>(
      ['learningRate', 0],
      ['learningRate', 2],
      ['batchSize', 0],
      ['batchSize', 65537],
      ['hiddenUnits', 1.5],
      ['dropout', 0.95],
      ['seed', -1],
      ['seed', 2 ** 31],
      ['optimizer', 'adagrad'],
      ['loss', 'hinge'],
    )
    .map(([field, bad]) => set(field, bad, 'hyperparams')),
  fc.constantFrom<unknown>(-0.1, 11, 'high').map((bad) => set('tolerance', bad, 'gate')),
  fc.constant(set('description', 'x'.repeat(501))),
];

describe('ModelSpecSchema properties', () => {
  it('accepts every spec that obeys its rules', () => {
    fc.assert(
      fc.property(validSpec, (spec) => {
        const result = ModelSpecSchema.safeParse(spec);
        expect(result.success ? '' : formatIssues(result.error)).toBe('');
      }),
      RUNS,
    );
  });

  it('rejects any one field made invalid, naming that field path', () => {
    fc.assert(
      fc.property(validSpec, fc.oneof(...mutations), (spec, mutate) => {
        const broken = structuredClone(spec) as Spec;
        const path = mutate(broken);
        const result = ModelSpecSchema.safeParse(broken);
        expect(result.success).toBe(false);
        if (result.success) return;
        // A cross-field rule may fire too (windowDays 0 is below minDays), but the field itself is named.
        expect(result.error.issues.map((issue) => issue.path.join('.'))).toContain(path);
        expect(formatIssues(result.error)).toContain(`${path}:`);
      }),
      RUNS,
    );
  });
});
