import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/config';
import { fleetSlotsWorkflowId } from '../../common/workflow-ids';
import { FleetSlotBook } from '../../workflows/fleet-slot-book';

const entry = (workflowId: string, priority: number, queuedAt: string) => ({
  workflowId,
  priority,
  queuedAt: `2026-12-07T10:00:0${queuedAt}Z`,
});

describe('FleetSlotBook: the deployment cap bookkeeping', () => {
  it('grants free slots in priority order, then first asked, and tells the waiting runs their places behind the cap', () => {
    const book = new FleetSlotBook({ capacity: 2 });
    for (const [id, priority, at] of [
      ['a', 3, '1'],
      ['b', 3, '2'],
      ['c', 1, '3'],
      ['d', 2, '4'],
    ] as const)
      expect(book.request({ ...entry(id, priority, at), capacity: 2 })).toBe('waits');
    expect(book.grant().map((e) => e.workflowId)).toEqual(['c', 'd']);
    expect(book.grant()).toEqual([]);
    expect(book.changedPlaces()).toEqual([
      ['a', expect.objectContaining({ position: 1, waiting: 2, holder: "the deployment's 2-run cap" })],
      ['b', expect.objectContaining({ position: 2, waiting: 2 })],
    ]);
    expect(book.changedPlaces()).toEqual([]);
    expect(book.release('d')).toBe(true);
    expect(book.grant().map((e) => e.workflowId)).toEqual(['a']);
    expect(book.changedPlaces()).toEqual([['b', expect.objectContaining({ position: 1, waiting: 1 })]]);
  });

  it('answers a holder that asks again that it holds, and takes the latest request’s capacity', () => {
    const book = new FleetSlotBook({ capacity: 1, holders: ['a'] });
    expect(book.request({ ...entry('a', 3, '1'), capacity: 1 })).toBe('holds');
    expect(book.request({ ...entry('b', 3, '2'), capacity: 2 })).toBe('waits');
    expect(book.capacity).toBe(2);
    expect(book.grant().map((e) => e.workflowId)).toEqual(['b']);
    expect(book.snapshot()).toEqual({ capacity: 2, holders: ['a', 'b'], waiting: [] });
  });

  it('drops the checked runs that no longer run, holders and waiting alike, and is idle once none is left', () => {
    const book = new FleetSlotBook({
      capacity: 1,
      holders: ['a'],
      waiting: [entry('b', 3, '1'), entry('c', 3, '2')],
    });
    const checked = book.runs();
    expect(checked).toEqual(['a', 'b', 'c']);
    book.request({ ...entry('d', 3, '3'), capacity: 1 });
    expect(book.dropEnded(checked, ['c'])).toEqual(['a', 'b']);
    expect(book.snapshot()).toMatchObject({
      holders: [],
      waiting: [{ workflowId: 'c' }, { workflowId: 'd' }],
    });
    expect(book.release('c') && book.release('d')).toBe(true);
    expect(book.release('d')).toBe(false);
    expect(book.idle).toBe(true);
  });
});

describe('RETRAIN_MAX_CONCURRENT_RUNS', () => {
  it('is no cap when unset, a positive integer when set, and refused otherwise, naming the variable', () => {
    expect(loadConfig({}, '/nowhere').maxConcurrentRuns).toBeUndefined();
    expect(loadConfig({ RETRAIN_MAX_CONCURRENT_RUNS: '4' }, '/nowhere').maxConcurrentRuns).toBe(4);
    for (const bad of ['0', '-1', '2.5', 'many'])
      expect(() => loadConfig({ RETRAIN_MAX_CONCURRENT_RUNS: bad }, '/nowhere')).toThrow(
        /RETRAIN_MAX_CONCURRENT_RUNS/,
      );
  });

  it('gives the default deployment `retrain-fleet-slots`, and a deployment on another task queue its own', () => {
    expect(fleetSlotsWorkflowId('retrain')).toBe('retrain-fleet-slots');
    expect(fleetSlotsWorkflowId('staging')).toBe('retrain-fleet-slots-staging');
  });
});
