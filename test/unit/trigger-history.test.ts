import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { TriggerEvaluation } from '../../common/triggers';
import type { BlobStore } from '../../storage/blob-store';
import { FileBlobStore } from '../../storage/file-store';
import { TriggerHistory } from '../../storage/trigger-history';
import { countingStore } from '../helpers/counting-store';

const NOW = new Date('2026-12-02T12:00:00.000Z');

function evaluation(
  at: string,
  decision: TriggerEvaluation['decision'] = 'notTriggered',
  workflowId?: string,
): TriggerEvaluation {
  return {
    model: 'm',
    at,
    decision,
    reason: `${decision} at ${at}`,
    checks: [],
    checkWorkflowId: `retrain-monitor-m-${at}`,
    ...(workflowId ? { workflowId } : {}),
  };
}

/** An evaluation as deployments before `evaluations/` wrote it: inside the model's folder. */
async function putLegacy(store: BlobStore, e: TriggerEvaluation): Promise<void> {
  const name = `${e.at.slice(11).replace(/[:.]/g, '')}-legacy.json`;
  await store.put(`models/${e.model}/evaluations/${e.at.slice(0, 10)}/${name}`, JSON.stringify(e));
}

let dir: string;
let store: FileBlobStore;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-trigger-history-'));
  store = new FileBlobStore(dir);
});
afterEach(() => fs.rm(dir, { recursive: true, force: true }));

describe('where the trigger history lives', () => {
  it('records under evaluations/<model>/, outside models/', async () => {
    await new TriggerHistory(store).record(evaluation('2026-12-02T00:00:00.000Z', 'started', 'retrain-m-1'));
    expect(await store.list('evaluations/m/')).toEqual([
      'evaluations/m/2026-12-02/000000000Z-retrain-monitor-m-2026-12-02T00_00_00_000Z.json',
      'evaluations/m/last-run.json',
    ]);
    expect(await store.list('models/')).toEqual([]);
  });

  it("keeps older deployments' evaluations under models/<model>/evaluations/ in the recent ones and the last run", async () => {
    await putLegacy(store, evaluation('2026-12-01T10:00:00.000Z'));
    await putLegacy(store, evaluation('2026-12-02T08:00:00.000Z'));
    await store.put(
      'models/m/evaluations/last-run.json',
      JSON.stringify({ workflowId: 'retrain-m-old', at: '2026-12-01T09:00:00.000Z', what: 'triggered' }),
    );
    const history = new TriggerHistory(store);
    expect((await history.lastTriggered('m'))?.workflowId).toBe('retrain-m-old');

    await history.record(evaluation('2026-12-01T11:00:00.000Z'));
    await history.record(evaluation('2026-12-02T07:00:00.000Z', 'started', 'retrain-m-new'));
    await history.record(evaluation('2026-12-02T09:00:00.000Z'));

    expect((await history.recent('m', 10, 7, NOW)).map((e) => e.at)).toEqual([
      '2026-12-02T09:00:00.000Z',
      '2026-12-02T08:00:00.000Z',
      '2026-12-02T07:00:00.000Z',
      '2026-12-01T11:00:00.000Z',
      '2026-12-01T10:00:00.000Z',
    ]);
    expect((await history.recent('m', 2, 7, NOW)).map((e) => e.at)).toEqual([
      '2026-12-02T09:00:00.000Z',
      '2026-12-02T08:00:00.000Z',
    ]);
    expect((await history.recent('m', 10, 1, NOW)).map((e) => e.at)).toEqual([
      '2026-12-02T09:00:00.000Z',
      '2026-12-02T08:00:00.000Z',
      '2026-12-02T07:00:00.000Z',
    ]);
    expect((await history.lastTriggered('m'))?.workflowId).toBe('retrain-m-new');
  });
});

describe('the retention of trigger evaluations', () => {
  const errors: unknown[] = [];
  beforeEach(() => {
    errors.length = 0;
  });
  const retained = (s: BlobStore, days = 30) =>
    new TriggerHistory(s, { days, onError: (err) => errors.push(err) });
  const days = async (prefix: string) =>
    (await store.listPrefixes(prefix)).map((folder) => folder.slice(prefix.length, -1));

  it('deletes the day folders more than the retention before the check, new and legacy, keeping the rest', async () => {
    const history = new TriggerHistory(store);
    for (const day of ['2026-10-31', '2026-11-01', '2026-11-02', '2026-12-01'])
      await history.record(evaluation(`${day}T06:00:00.000Z`));
    await putLegacy(store, evaluation('2026-10-15T06:00:00.000Z'));
    await putLegacy(store, evaluation('2026-11-20T06:00:00.000Z'));

    await retained(store).record(evaluation('2026-12-02T00:15:00.000Z'));

    expect(await days('evaluations/m/')).toEqual(['2026-11-02', '2026-12-01', '2026-12-02']);
    expect(await days('models/m/evaluations/')).toEqual(['2026-11-20']);
    expect(errors).toEqual([]);
  });

  it('prunes at most once per model and UTC day', async () => {
    const counted = countingStore(store);
    const history = retained(counted.store, 1);
    await history.record(evaluation('2026-12-02T00:00:00.000Z'));
    await new TriggerHistory(store).record(evaluation('2026-11-20T06:00:00.000Z'));

    counted.reset();
    await history.record(evaluation('2026-12-02T00:15:00.000Z'));
    expect(counted.counts.calls).toMatchObject({ list: 0, listPrefixes: 0, delete: 0 });
    expect(await days('evaluations/m/')).toEqual(['2026-11-20', '2026-12-02']);

    await history.record(evaluation('2026-12-03T00:00:00.000Z'));
    expect(await days('evaluations/m/')).toEqual(['2026-12-02', '2026-12-03']);
  });

  it('deletes a backlog of a few thousand keys over the next checks of the day, not in one', async () => {
    // Written past the store (no fsync each): 21 old days of 100 evaluations, over one pruning's share.
    for (let d = 1; d <= 21; d++) {
      const folder = path.join(dir, 'evaluations/m', `2026-10-${String(d).padStart(2, '0')}`);
      await fs.mkdir(folder, { recursive: true });
      for (let i = 0; i < 100; i++) await fs.writeFile(path.join(folder, `${i}.json`), '{}');
    }
    const history = retained(store);

    await history.record(evaluation('2026-12-02T00:00:00.000Z'));
    const left = (await store.list('evaluations/m/2026-10')).length;
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(2100);

    await history.record(evaluation('2026-12-02T00:15:00.000Z'));
    expect(await days('evaluations/m/')).toEqual(['2026-12-02']);
    expect(errors).toEqual([]);
  });

  it('records the evaluation and reports the error when pruning fails', async () => {
    await new TriggerHistory(store).record(evaluation('2026-10-01T06:00:00.000Z'));
    const failing: BlobStore = {
      ...countingStore(store).store,
      delete: (key) => Promise.reject(new Error(`disk gone while deleting ${key}`)),
    };
    const history = retained(failing);

    await expect(history.record(evaluation('2026-12-02T00:00:00.000Z'))).resolves.toBeUndefined();

    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toContain('disk gone while deleting evaluations/m/2026-10-01/');
    expect((await history.recent('m', 10, 1, NOW)).map((e) => e.at)).toEqual(['2026-12-02T00:00:00.000Z']);
    // Not marked as done: the next check tries again.
    await retained(store).record(evaluation('2026-12-02T00:15:00.000Z'));
    expect(await days('evaluations/m/')).toEqual(['2026-12-02']);
  });
});
