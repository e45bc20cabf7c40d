import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { RowCheckError } from '../../storage/ingest';
import {
  createBufferFixture,
  csv,
  hashTree,
  readBuffer,
  type BufferFixture,
} from '../helpers/buffer-fixture';

/** Seeded, and few runs: every run goes through DuckDB; a writing run also flushes a fresh buffer. */
const RUNS = { seed: 20010301, numRuns: 25 } as const;
const WRITING_RUNS = { seed: 20010301, numRuns: 15 } as const;
const FIELDS = ['ts', 'host', 'cpu', 'mem'] as const;
type Field = (typeof FIELDS)[number];

const SECOND = 1000;
/** Inside the fixture's 60 retention days, so retention deletes nothing. */
const FROM = Date.UTC(2001, 2, 1) / SECOND;
const TO = Date.UTC(2001, 3, 1) / SECOND;

/** Finite doubles as JSON and CSV carry them (no -0: it is stored and read back as 0). */
const finite = fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => (Object.is(v, -0) ? 0 : v));
const goodRow = fc.record({
  seconds: fc.integer({ min: FROM, max: TO }),
  zoned: fc.boolean(),
  host: fc.oneof(fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/), fc.nat({ max: 10_000 })),
  cpu: finite,
  mem: finite,
});
type GoodRow = typeof goodRow extends fc.Arbitrary<infer T> ? T : never;
/** Rows of distinct (time, entity): rows that share one must agree, which the writer's dedup covers. */
const goodRows = fc.uniqueArray(goodRow, {
  minLength: 1,
  maxLength: 12,
  selector: (r) => `${r.seconds}|${String(r.host)}`,
});

const iso = (r: GoodRow) => new Date(r.seconds * SECOND).toISOString().replace('.000Z', 'Z');
const timeText = (r: GoodRow) => (r.zoned ? iso(r) : iso(r).replace('T', ' ').replace('Z', ''));
const asJson = (r: GoodRow): Record<string, unknown> => ({
  ts: timeText(r),
  host: r.host,
  cpu: r.cpu,
  mem: r.mem,
});
const asCsvLine = (r: GoodRow) => `${timeText(r)},${r.host},${r.cpu},${r.mem}`;
const stored = (r: GoodRow) => ({ ts: iso(r), host: String(r.host), cpu: r.cpu, mem: r.mem });
const byKey = (a: { ts: string; host: string }, b: { ts: string; host: string }) =>
  a.ts.localeCompare(b.ts) || (a.host < b.host ? -1 : a.host > b.host ? 1 : 0);

/** A value that field cannot hold, per source kind; `undefined` leaves the field out (JSON) or empty (CSV). */
const badJson: Record<Field, fc.Arbitrary<unknown>> = {
  ts: fc.constantFrom(
    undefined,
    null,
    'soon',
    '2001-13-01T00:00:00Z',
    '2999-01-01T00:00:00Z',
    981_000_000,
    true,
  ),
  host: fc.constantFrom(undefined, null, '', '   ', 1.5, true, { name: 'web' }, ['web']),
  cpu: fc.constantFrom(undefined, null, '12', 'abc', true, [], {}),
  mem: fc.constantFrom(undefined, null, '12', false, [1]),
};
const badCsv: Record<Field, fc.Arbitrary<string>> = {
  ts: fc.constantFrom('', 'soon', '2001-02-30T00:00:00Z', '2999-01-01T00:00:00Z', '12'),
  host: fc.constantFrom('', '   '),
  cpu: fc.constantFrom('', 'abc', 'NaN', 'nan', 'inf', '-Infinity', '1e999', 'true'),
  mem: fc.constantFrom('', 'x1', 'NaN', 'Infinity'),
};

async function withFixture<T>(run: (fx: BufferFixture) => Promise<T>): Promise<T> {
  const fx = await createBufferFixture({ maxDelayMs: 1 });
  try {
    return await run(fx);
  } finally {
    await fx.cleanup();
  }
}

describe('ingestion properties', () => {
  it('any batch of well-formed rows is stored exactly, exact repeats counted as duplicates (JSON and CSV)', async () => {
    await fc.assert(
      fc.asyncProperty(
        goodRows,
        fc.array(fc.nat(), { maxLength: 4 }),
        fc.constantFrom('rows', 'csv'),
        fc.boolean(),
        async (rows, repeatAt, kind, extraColumn) =>
          withFixture(async (fx) => {
            const batch = [...rows, ...repeatAt.map((i) => rows[i % rows.length] as GoodRow)];
            const result =
              kind === 'rows'
                ? await fx.ingestor.ingestRows(
                    fx.spec.name,
                    batch.map((r) => ({ ...asJson(r), ...(extraColumn ? { note: [1, 'x'] } : {}) })),
                    { extraColumns: 'drop' },
                  )
                : await fx.ingestor.ingestFiles(
                    fx.spec.name,
                    [
                      await fx.file(
                        'batch.csv',
                        csv(
                          extraColumn ? 'ts,host,cpu,mem,note' : 'ts,host,cpu,mem',
                          batch.map((r) => `${asCsvLine(r)}${extraColumn ? ',"a, b"' : ''}`),
                        ),
                      ),
                    ],
                    { extraColumns: 'drop' },
                  );
            expect(result).toMatchObject({
              received: batch.length,
              inserted: rows.length,
              duplicates: repeatAt.length,
              conflictsResolved: 0,
            });
            expect(await readBuffer(fx.buffer, fx.spec.name)).toEqual(rows.map(stored).sort(byKey));
          }),
      ),
      WRITING_RUNS,
    );
  });

  it('one broken field in any row rejects the whole batch naming that row and field, writing nothing (JSON)', async () => {
    await withFixture(async (fx) => {
      await fx.ingestor.ingestRows(fx.spec.name, [
        { ts: '2001-01-01T00:00:00Z', host: 'seed', cpu: 1, mem: 1 },
      ]);
      const before = await hashTree(fx.bufferDir);
      await fc.assert(
        fc.asyncProperty(
          goodRows,
          fc.nat(),
          fc.constantFrom(...FIELDS).chain((field) => fc.tuple(fc.constant(field), badJson[field])),
          async (rows, at, [field, bad]) => {
            const index = at % rows.length;
            const batch = rows.map(asJson);
            const broken = { ...batch[index] };
            if (bad === undefined) delete broken[field];
            else broken[field] = bad;
            batch[index] = broken;
            const error = await fx.ingestor.ingestRows(fx.spec.name, batch).catch((err: unknown) => err);
            expect(error).toBeInstanceOf(RowCheckError);
            expect((error as Error).message).toMatch(
              new RegExp(`^row ${index + 1}: ${field} (is missing|is .+, expected)`),
            );
            expect(await hashTree(fx.bufferDir)).toEqual(before);
          },
        ),
        RUNS,
      );
    });
  });

  it('one broken field in any line rejects the whole file naming that row and field, writing nothing (CSV)', async () => {
    await withFixture(async (fx) => {
      const before = await hashTree(fx.bufferDir);
      await fc.assert(
        fc.asyncProperty(
          goodRows,
          fc.nat(),
          fc.constantFrom(...FIELDS).chain((field) => fc.tuple(fc.constant(field), badCsv[field])),
          async (rows, at, [field, bad]) => {
            const index = at % rows.length;
            const lines = rows.map((r) => {
              const values: Record<Field, string> = {
                ts: timeText(r),
                host: String(r.host),
                cpu: `${r.cpu}`,
                mem: `${r.mem}`,
              };
              return values;
            });
            (lines[index] as Record<Field, string>)[field] = bad;
            const file = await fx.file(
              'broken.csv',
              csv(
                'ts,host,cpu,mem',
                lines.map((v) => FIELDS.map((f) => v[f]).join(',')),
              ),
            );
            const error = await fx.ingestor.ingestFiles(fx.spec.name, [file]).catch((err: unknown) => err);
            expect(error).toBeInstanceOf(RowCheckError);
            expect((error as Error).message).toMatch(
              new RegExp(`^${file} row ${index + 1}: ${field} (is missing|is .+, expected)`),
            );
            expect(await hashTree(fx.bufferDir)).toEqual(before);
          },
        ),
        RUNS,
      );
    });
  });

  it('a file without any one spec column is rejected naming that column, writing nothing (CSV)', async () => {
    await withFixture(async (fx) => {
      await fc.assert(
        fc.asyncProperty(goodRows, fc.constantFrom(...FIELDS), async (rows, missing) => {
          const kept = FIELDS.filter((f) => f !== missing);
          const values = (r: GoodRow): Record<Field, string> => ({
            ts: timeText(r),
            host: String(r.host),
            cpu: `${r.cpu}`,
            mem: `${r.mem}`,
          });
          const file = await fx.file(
            'short.csv',
            csv(
              kept.join(','),
              rows.map((r) => kept.map((f) => values(r)[f]).join(',')),
            ),
          );
          await expect(fx.ingestor.ingestFiles(fx.spec.name, [file])).rejects.toThrow(
            `${file}: no column ${missing} (it has ${kept.join(', ')})`,
          );
          expect(await fx.buffer.hasData(fx.spec.name)).toBe(false);
        }),
        RUNS,
      );
    });
  });
});
