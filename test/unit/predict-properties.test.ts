import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelSpecSchema } from '../../common/model-spec';
import { selectBackend } from '../../ml/backend';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { createServer, type InferenceServer } from '../../serving/server';
import { preprocessingFor, publishVersion, smallModel } from '../helpers/models';

const SPEC = ModelSpecSchema.parse({
  name: 'disk-io',
  task: 'forecast',
  timeColumn: 'ts',
  entityColumn: 'host',
  features: ['reads', 'writes'],
  target: 'reads',
  lookback: 3,
});
/** Fixed seed and run counts: a failure reproduces, and the file stays a few seconds long. */
const PROPERTY = { seed: 20261201, numRuns: 60 };

/** Valid rows: for each host, at least `lookback` distinct minutes with finite readings. */
const validRows = fc
  .uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/), { minLength: 1, maxLength: 4 })
  .chain((hosts) =>
    fc.tuple(
      ...hosts.map((host) =>
        fc
          .uniqueArray(fc.integer({ min: 0, max: 10_000 }), { minLength: SPEC.lookback, maxLength: 6 })
          .chain((minutes) =>
            fc.tuple(
              ...minutes.map((minute) =>
                fc.record({
                  ts: fc.constant(new Date(Date.UTC(2025, 0, 1, 0, minute)).toISOString()),
                  host: fc.constant(host),
                  reads: fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }),
                  writes: fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }),
                }),
              ),
            ),
          ),
      ),
    ),
  )
  .map((perHost) => perHost.flat());

/** One way to break a valid body, and the word the 400 must name. */
const breakings: [string, (body: { model: string; rows: Record<string, unknown>[] }) => unknown, RegExp][] = [
  ['a model name that is not a slug', (b) => ({ ...b, model: '../etc/passwd' }), /model/],
  ['no rows', (b) => ({ ...b, rows: [] }), /rows/],
  ['rows that are not a list', (b) => ({ ...b, rows: 'all of them' }), /rows/],
  ['a reading that is a string', (b) => ({ ...b, rows: withFirst(b.rows, { reads: 'lots' }) }), /reads/],
  ['a reading that is null', (b) => ({ ...b, rows: withFirst(b.rows, { writes: null }) }), /writes/],
  ['a missing feature', (b) => ({ ...b, rows: withFirst(b.rows, { reads: undefined }) }), /reads/],
  ['a bad timestamp', (b) => ({ ...b, rows: withFirst(b.rows, { ts: 'yesterday-ish' }) }), /ts/],
  // Before: a RangeError building the answer's ISO time, answered 500.
  [
    'a time of 1e300 epoch milliseconds',
    (b) => ({ ...b, rows: withFirst(b.rows, { ts: 1e300 }) }),
    /ts: is 1e\+300/,
  ],
  ['a missing entity', (b) => ({ ...b, rows: withFirst(b.rows, { host: undefined }) }), /host/],
  ['a row that is not an object', (b) => ({ ...b, rows: [42, ...b.rows.slice(1)] }), /rows|row 1/],
];

function withFirst(
  rows: Record<string, unknown>[],
  change: Record<string, unknown>,
): Record<string, unknown>[] {
  const [first, ...rest] = rows;
  const changed: Record<string, unknown> = { ...first, ...change };
  for (const [key, value] of Object.entries(change)) if (value === undefined) delete changed[key];
  return [changed, ...rest];
}

describe('POST /predict bodies, property-based', () => {
  let dir: string;
  let server: InferenceServer;
  beforeAll(async () => {
    await selectBackend('cpu');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-predict-props-'));
    const registry = new ModelRegistry(new FileBlobStore(dir));
    await registry.saveSpec(SPEC);
    await publishVersion(registry, SPEC, 'v1', { net: smallModel(SPEC, 1) });
    await registry.setAlias(SPEC.name, 'v1', null);
    server = createServer({ registry });
    await server.loadProductionModels();
  });
  afterAll(async () => {
    await server?.app.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const predict = (body: unknown) =>
    server.app.inject({ method: 'POST', url: '/predict', payload: body as object });

  it('answers every well-formed body with one finite prediction per host', async () => {
    await fc.assert(
      fc.asyncProperty(validRows, async (rows) => {
        const res = await predict({ model: SPEC.name, rows });
        expect(res.statusCode, res.body).toBe(200);
        const { predictions } = res.json<{ predictions: { entity: string; value: number }[] }>();
        expect(predictions.map((p) => p.entity).sort()).toEqual([...new Set(rows.map((r) => r.host))].sort());
        for (const p of predictions) expect(Number.isFinite(p.value)).toBe(true);
      }),
      PROPERTY,
    );
  });

  it.each(breakings)('answers a body with %s 400 naming it, never 500', async (_what, breakIt, names) => {
    await fc.assert(
      fc.asyncProperty(validRows, async (rows) => {
        const res = await predict(breakIt({ model: SPEC.name, rows }));
        expect(res.statusCode, res.body).toBe(400);
        expect(res.json<{ error: string }>().error).toMatch(names);
      }),
      { ...PROPERTY, numRuns: 20 },
    );
  });

  it("answers hosts named like Object.prototype's keys on a per-host normalised model, with the fleet's scaling", async () => {
    // Before: statsOf read pre.entities['constructor'] (a function): NaN scaling, then a 500.
    const perHost = { ...SPEC, name: 'disk-io-per-host' };
    const registry = new ModelRegistry(new FileBlobStore(path.join(dir, 'per-host')));
    await registry.saveSpec(perHost);
    const stats = { mean: [50, 50], std: [10, 10], targetMean: 50, targetStd: 10 };
    await publishVersion(registry, perHost, 'v1', {
      net: smallModel(perHost, 1),
      metadata: {
        preprocessing: preprocessingFor(perHost, { normalisation: 'entity', entities: { web: stats } }),
      },
    });
    await registry.setAlias(perHost.name, 'v1', null);
    const perHostServer = createServer({ registry });
    try {
      await perHostServer.loadProductionModels();
      const hosts = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];
      const rows = hosts.flatMap((host) =>
        [0, 1, 2].map((minute) => ({
          ts: new Date(Date.UTC(2025, 0, 1, 0, minute)).toISOString(),
          host,
          reads: 40 + minute,
          writes: 60,
        })),
      );
      const res = await perHostServer.app.inject({
        method: 'POST',
        url: '/predict',
        payload: { model: perHost.name, rows },
      });
      expect(res.statusCode, res.body).toBe(200);
      const { predictions } = res.json<{ predictions: { entity: string; value: number }[] }>();
      expect(predictions.map((p) => p.entity).sort()).toEqual([...hosts].sort());
      for (const p of predictions) expect(Number.isFinite(p.value), p.entity).toBe(true);
    } finally {
      await perHostServer.app.close();
    }
  });

  it('never answers 500, whatever JSON arrives', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (body) => {
        const res = await predict(body);
        expect(res.statusCode, res.body).toBeGreaterThanOrEqual(200);
        expect(res.statusCode, res.body).toBeLessThan(500);
      }),
      PROPERTY,
    );
  });
});
