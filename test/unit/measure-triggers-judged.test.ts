import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../../activities';
import type { JudgedRunRecord } from '../../activities/judged-runs';
import { createMeasureTriggers } from '../../activities/measure-triggers';
import { ModelSpecSchema, type ModelSpec } from '../../common/model-spec';
import type { DatasetManifest } from '../../common/artefacts';
import type { TriggerFigures } from '../../common/triggers';
import { manifestKey } from '../../datasets/dataset-io';
import { putJson } from '../../storage/open-store';
import { hourlySpec, seedHourlyActuals } from '../helpers/live-buffer';
import { localDeps } from '../helpers/local-pipeline';
import { metadataFor, preprocessingFor } from '../helpers/models';

const hourIso = (h: number) => new Date(Date.UTC(2024, 0, 1, h)).toISOString().replace('.000Z', 'Z');

let dir: string;
let deps: ActivityDeps;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-judged-'));
  deps = localDeps(dir);
});
afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** A model with hours 0-9 in its buffer and a newRecords trigger. */
async function model(name: string): Promise<ModelSpec> {
  const spec = ModelSpecSchema.parse({ ...hourlySpec(name), triggers: { newRecords: 5 } });
  await deps.registry.saveSpec(spec);
  await seedHourlyActuals(
    deps.buffer,
    name,
    Array.from({ length: 10 }, (_, h) => h),
  );
  return spec;
}

/** The manifest a run's export leaves, its window ending at hour `to`. */
async function exported(spec: ModelSpec, workflowId: string, to: number): Promise<void> {
  const manifest: DatasetManifest = {
    model: spec.name,
    workflowId,
    createdAt: hourIso(to),
    window: { from: hourIso(0), to: hourIso(to), days: 28 },
    rows: { train: 4, holdout: 1 },
    columns: ['host', 'ts', 'y'],
    timeRange: {
      trainFrom: hourIso(0),
      trainTo: hourIso(to - 1),
      holdoutFrom: hourIso(to),
      holdoutTo: hourIso(to),
    },
    preprocessing: preprocessingFor(spec),
    files: { rows: { key: `datasets/${spec.name}/${workflowId}/rows.parquet`, sha256: 'x', bytes: 1 } },
  };
  await putJson(deps.store, manifestKey(`datasets/${spec.name}/${workflowId}`), manifest);
}

const on: TriggerFigures = { newRecords: 10, drift: {} };
const run = (workflowId: string, over: Partial<JudgedRunRecord> = {}): JudgedRunRecord => ({
  workflowId,
  status: 'rejected',
  closedAt: '2024-01-02T00:00:00.000Z',
  rejection: 'gate',
  triggeredOn: { figures: on },
  ...over,
});

describe('what a trigger check takes from the runs that judged the data', () => {
  it('counts new records from the latest exported window, and lists the triggered runs rejected in a row', async () => {
    const spec = await model('judged-a');
    await exported(spec, 'wf-gate', 5);
    const runs = [
      // Rejected for too little data: no window, so the run before it says where counting starts.
      run('wf-little', { rejection: 'insufficientData', closedAt: '2024-01-03T00:00:00.000Z' }),
      run('wf-gate'),
      run('wf-done', { status: 'completed', triggeredOn: { figures: on } }),
      run('wf-older'),
    ];
    const measured = await createMeasureTriggers(deps, async () => runs)({ model: spec.name });
    expect(measured.figures.newRecords).toBe(4);
    expect(measured.figures.judgedBy).toEqual({
      workflowId: 'wf-gate',
      status: 'rejected',
      to: hourIso(5),
      records: 6,
    });
    expect(measured.rejected).toEqual([
      { workflowId: 'wf-little', at: '2024-01-03T00:00:00.000Z', figures: on },
      { workflowId: 'wf-gate', at: '2024-01-02T00:00:00.000Z', figures: on },
    ]);
  });

  it("counts from the production version's window when no run judged records after it, and still backs off", async () => {
    const spec = await model('judged-b');
    await exported(spec, 'wf-before', 5);
    const prefix = deps.registry.versionPrefix(spec.name, 'v1');
    await putJson(
      deps.store,
      `${prefix}/metadata.json`,
      metadataFor(spec, 'v1', {
        dataset: {
          key: 'datasets/x',
          rows: { train: 6, holdout: 1 },
          window: { from: hourIso(0), to: hourIso(7) },
        },
      }),
    );
    await deps.registry.setAlias(spec.name, 'v1', null);
    // Its window ended before v1's: v1's counts; its rejection still backs its trigger off.
    const runs = [run('wf-before')];
    const measured = await createMeasureTriggers(deps, async () => runs)({ model: spec.name });
    expect(measured.figures).toMatchObject({ production: 'v1', newRecords: 2 });
    expect(measured.figures).not.toHaveProperty('judgedBy');
    expect(measured.rejected?.map((r) => r.workflowId)).toEqual(['wf-before']);
  });
});
