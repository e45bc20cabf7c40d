import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../config/config';
import { cliWith, type CliResult } from '../helpers/run-cli';
import { createBufferFixture, csv, type BufferFixture } from '../helpers/buffer-fixture';

let fx: BufferFixture;
let runCli: (...argv: string[]) => Promise<CliResult>;

beforeEach(async () => {
  fx = await createBufferFixture();
  runCli = cliWith(
    loadConfig(
      {
        RETRAIN_STORE: `file://${fx.storeDir}`,
        RETRAIN_BUFFER_DIR: fx.bufferDir,
        BUFFER_RETENTION_DAYS: '30',
      },
      fx.dir,
    ),
  );
});

afterEach(async () => {
  await fx.cleanup();
});

describe('retrain ingest and retrain stats', () => {
  it('ingest --json reports the counts; stats --json reports the buffer, readiness and spec defaults', async () => {
    const file = await fx.file(
      'metrics.csv',
      csv('ts,host,cpu,mem', [
        '2001-04-01T00:00:00Z,a,1,1',
        '2001-04-02T00:00:00Z,a,2,1',
        '2001-04-03T00:00:00Z,a,3,1',
        '2001-04-03T06:00:00Z,a,4,1',
      ]),
    );
    const ingested = await runCli('ingest', '--model', fx.spec.name, file, '--json');
    expect(ingested).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(ingested.stdout)).toEqual({
      model: fx.spec.name,
      received: 4,
      inserted: 4,
      duplicates: 0,
      conflictsResolved: 0,
      expiredDays: [],
      files: [file],
    });

    const stats = await runCli('stats', '--model', fx.spec.name, '--json');
    expect(stats.code).toBe(0);
    const value = JSON.parse(stats.stdout);
    const { records, files, days, firstDay, lastDay, bytes } = await fx.buffer.stats(fx.spec.name);
    expect(value).toEqual({
      model: fx.spec.name,
      records,
      files,
      days,
      firstDay,
      lastDay,
      bytes,
      retentionDays: 30,
      // The window is newer than 04-03 06:00 minus 2 days: the 04-01 row falls outside.
      readyToTrain: true,
      readyReason: 'Ready: 3 >= 3 records in the last 2 days',
      window: { records: 3, days: 2, from: '2001-04-02T00:00:00Z', to: '2001-04-03T06:00:00Z' },
      defaults: {
        windowDays: 2,
        minRecords: 3,
        minDays: 1,
        epochs: fx.spec.epochs,
        lookback: fx.spec.lookback,
        horizon: fx.spec.horizon,
        hyperparams: fx.spec.hyperparams,
        gate: fx.spec.gate,
      },
    });
    expect({ records, files, days, firstDay, lastDay }).toEqual({
      records: 4,
      files: 3,
      days: 3,
      firstDay: '2001-04-01',
      lastDay: '2001-04-03',
    });
    expect(bytes).toBeGreaterThan(0);
  });

  it('stats of an empty buffer is not ready, with the reason', async () => {
    const stats = await runCli('stats', '--model', fx.spec.name, '--json');
    expect(JSON.parse(stats.stdout)).toMatchObject({
      records: 0,
      readyToTrain: false,
      readyReason: `Insufficient data: the buffer of ${fx.spec.name} is empty`,
    });
  });

  it('fails with one line on stderr for an unknown model and for a bad row, writing nothing', async () => {
    const unknown = await runCli('stats', '--model', 'no-such-model');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^retrain: Model no-such-model has no spec at .*\n$/);
    const file = await fx.file('bad.csv', csv('ts,host,cpu,mem', ['2001-04-01T00:00:00Z,a,x,1']));
    const bad = await runCli('ingest', '--model', fx.spec.name, file);
    expect(bad).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `retrain: ${file} row 1: cpu is "x", expected a number\n`,
    });
    expect(await fx.buffer.hasData(fx.spec.name)).toBe(false);
    const usage = await runCli('ingest', '--model', fx.spec.name);
    expect(usage.code).toBe(2);
  });
});
