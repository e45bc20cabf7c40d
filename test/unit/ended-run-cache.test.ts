import { describe, expect, it } from 'vitest';
import { EndedRunCache } from '../../control/ended-run-cache';

/** A read that counts its calls and answers `answer`. */
function counted<T>(answer: () => Promise<T>) {
  const read = Object.assign(
    async () => {
      read.calls += 1;
      return answer();
    },
    { calls: 0 },
  );
  return read;
}

describe('EndedRunCache', () => {
  it('reads a run once: concurrent and later asks share the first read', async () => {
    const cache = new EndedRunCache<string>();
    const read = counted(async () => 'detail');
    const answers = await Promise.all([cache.get('wf/r1', read), cache.get('wf/r1', read)]);
    expect(await cache.get('wf/r1', read)).toBe('detail');
    expect(answers).toEqual(['detail', 'detail']);
    expect(read.calls).toBe(1);
  });

  it('keeps apart two runs of one workflow id', async () => {
    const cache = new EndedRunCache<string>();
    expect(await cache.get('wf/r1', async () => 'first')).toBe('first');
    expect(await cache.get('wf/r2', async () => 'second')).toBe('second');
  });

  it('reads again after a failed read, or an answer `keep` refused (a query no worker answered)', async () => {
    const cache = new EndedRunCache<{ answered: boolean }>();
    await expect(cache.get('wf/r1', async () => Promise.reject(new Error('Temporal down')))).rejects.toThrow(
      'Temporal down',
    );
    const partial = counted(async () => ({ answered: false }));
    await cache.get('wf/r1', partial, (a) => a.answered);
    await cache.get('wf/r1', partial, (a) => a.answered);
    expect(partial.calls).toBe(2);
  });

  it('drops the least recently read run beyond its capacity', async () => {
    const cache = new EndedRunCache<string>(2);
    const a = counted(async () => 'a');
    await cache.get('a', a);
    await cache.get('b', async () => 'b');
    await cache.get('a', a);
    await cache.get('c', async () => 'c');
    // `a` was read after `b`: `b` went, `a` stays.
    expect(await cache.get('a', a)).toBe('a');
    expect(a.calls).toBe(1);
    expect(await cache.get('b', async () => 'b again')).toBe('b again');
  });
});
