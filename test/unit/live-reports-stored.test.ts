import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveReports } from '../../control/live-reports';
import { TriggersSchema } from '../../common/triggers';
import type { LiveReport } from '../../monitoring/live-metrics';
import { StoredLiveReports } from '../../monitoring/stored-live-reports';
import { DataBuffer } from '../../storage/buffer';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { cpuLoadSpec } from '../helpers/models';

let dir: string;
let registry: ModelRegistry;
let stored: StoredLiveReports;
/** How often the live figures were measured here (the prediction log asked for a model's answers). */
let measuredHere = 0;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-live-stored-'));
  registry = new ModelRegistry(new FileBlobStore(path.join(dir, 'store')));
  stored = new StoredLiveReports(registry.store);
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function reports(): LiveReports {
  return new LiveReports(
    {
      registry,
      buffer: new DataBuffer(path.join(dir, 'buffer')),
      predictionLog: {
        source: async () => {
          measuredHere += 1;
          return undefined;
        },
      },
      stored,
    },
    60_000,
    () => undefined,
  );
}

/** A model whose monitor checks every `checkEvery` (none: no triggers), and a report the monitor stored for it. */
async function modelWithStoredReport(checkEvery: string | undefined, measuredAt: Date): Promise<LiveReport> {
  const spec = {
    ...cpuLoadSpec(`m-${randomUUID().slice(0, 8)}`),
    ...(checkEvery ? { triggers: TriggersSchema.parse({ newRecords: 100, checkEvery }) } : {}),
  };
  await registry.saveSpec(spec);
  const report: LiveReport = { model: spec.name, metric: 'mae', windowDays: 3, versions: [] };
  await stored.put(report, measuredAt);
  return report;
}

describe('the live reports a server reads', () => {
  it("are the monitor's stored report while it is at most two check intervals old", async () => {
    const report = await modelWithStoredReport('15m', new Date(Date.now() - 20 * 60_000));
    const before = measuredHere;
    expect(await reports().get(report.model)).toEqual(report);
    expect(measuredHere).toBe(before);
  });

  it('are measured here once the stored one is older, or when the monitor does not check the model', async () => {
    const stale = await modelWithStoredReport('15m', new Date(Date.now() - 31 * 60_000));
    const unchecked = await modelWithStoredReport(undefined, new Date());
    const before = measuredHere;
    const live = reports();
    expect((await live.get(stale.model)).windowDays).toBe(7);
    expect((await live.get(unchecked.model)).windowDays).toBe(7);
    expect(measuredHere).toBe(before + 2);
  });

  it('are measured here for another window than the 7 days the monitor keeps', async () => {
    const report = await modelWithStoredReport('15m', new Date());
    const before = measuredHere;
    expect((await reports().measure(report.model, 2)).windowDays).toBe(2);
    expect(measuredHere).toBe(before + 1);
  });
});
