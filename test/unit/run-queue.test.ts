import { describe, expect, it } from 'vitest';
import { RunQueue } from '../../workflows/run-queue';

const entry = (workflowId: string, priority: number, queuedAt: string) => ({
  workflowId,
  priority,
  queuedAt,
});

describe('RunQueue: a model’s waiting runs', () => {
  it('orders by priority, then by who queued first, then by id', () => {
    const queue = new RunQueue([
      entry('c', 3, '2026-12-07T10:00:02Z'),
      entry('a', 3, '2026-12-07T10:00:01Z'),
      entry('z', 1, '2026-12-07T10:00:09Z'),
      entry('b', 3, '2026-12-07T10:00:01Z'),
    ]);
    expect(queue.list().map((e) => e.workflowId)).toEqual(['z', 'a', 'b', 'c']);
    expect(queue.shift()?.workflowId).toBe('z');
    expect(queue.size).toBe(3);
  });

  it('keeps one place per run: adding it again updates it', () => {
    const queue = new RunQueue([entry('a', 3, 't1'), entry('b', 3, 't2')]);
    queue.add(entry('b', 1, 't2'));
    expect(queue.list()).toEqual([entry('b', 1, 't2'), entry('a', 3, 't1')]);
  });

  it('tells each run its place once, and again only when it moved', () => {
    const queue = new RunQueue([entry('a', 2, 't1'), entry('b', 3, 't2')]);
    expect(queue.changedPlaces('h')).toEqual([
      ['a', { position: 1, waiting: 2, priority: 2, queuedAt: 't1', holder: 'h' }],
      ['b', { position: 2, waiting: 2, priority: 3, queuedAt: 't2', holder: 'h' }],
    ]);
    expect(queue.changedPlaces('h')).toEqual([]);
    queue.add(entry('c', 1, 't3'));
    expect(queue.changedPlaces('h').map(([id, p]) => [id, p.position, p.waiting])).toEqual([
      ['c', 1, 3],
      ['a', 2, 3],
      ['b', 3, 3],
    ]);
    expect(queue.remove('c')).toBe(true);
    expect(queue.remove('c')).toBe(false);
    expect(queue.changedPlaces('h').map(([id, p]) => [id, p.position])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(queue.changedPlaces('h2').map(([id, p]) => [id, p.holder])).toEqual([
      ['a', 'h2'],
      ['b', 'h2'],
    ]);
  });
});
