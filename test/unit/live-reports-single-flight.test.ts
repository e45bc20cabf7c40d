import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveReports } from '../../control/live-reports';
import { DataBuffer } from '../../storage/buffer';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { cpuLoadSpec } from '../helpers/models';

let dir: string;
let registry: ModelRegistry;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-live-flight-'));
  registry = new ModelRegistry(new FileBlobStore(path.join(dir, 'store')));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Live reports over a prediction log that counts its scans and holds each until `release()`. */
function countingReports() {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  const counted = { scans: 0, reported: 0 };
  const reports = new LiveReports(
    {
      registry,
      buffer: new DataBuffer(path.join(dir, 'buffer')),
      predictionLog: {
        source: async () => {
          counted.scans += 1;
          await held;
          return undefined;
        },
      },
    },
    60_000,
    () => (counted.reported += 1),
  );
  return { reports, counted, release };
}

describe('live reports asked for at once', () => {
  it('run one measurement for concurrent misses of a model, and every caller gets its report', async () => {
    const spec = cpuLoadSpec(`flight-${randomUUID().slice(0, 8)}`);
    await registry.saveSpec(spec);
    const { reports, counted, release } = countingReports();

    const asked = [reports.get(spec.name), reports.get(spec.name), reports.measure(spec.name)];
    await new Promise((resolve) => setImmediate(resolve));
    release();
    const answers = await Promise.all(asked);

    expect(counted.scans).toBe(1);
    expect(counted.reported).toBe(1);
    expect(answers.map((a) => a.model)).toEqual([spec.name, spec.name, spec.name]);
    expect(answers[1]).toBe(answers[0]);
  });

  it('measure again once the shared measurement has settled, and keep other windows apart', async () => {
    const spec = cpuLoadSpec(`flight-${randomUUID().slice(0, 8)}`);
    await registry.saveSpec(spec);
    const { reports, counted, release } = countingReports();
    release();

    await Promise.all([reports.measure(spec.name), reports.measure(spec.name, 3)]);
    await reports.measure(spec.name);

    expect(counted.scans).toBe(3);
  });
});
