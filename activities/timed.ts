import { performance } from 'node:perf_hooks';
import type { Timed } from '../common/stages';

/**
 * Wraps an activity so its result carries when it ran and for how long, measured inside the activity
 * itself: what the workflow subtracts from its wall time to know the cost of orchestration. Typed
 * optional ({@link Timed}) so stub activities in tests may leave it out.
 */
export function timed<A extends unknown[], R extends object>(
  activity: (...args: A) => Promise<R>,
): (...args: A) => Promise<Timed<R>> {
  return async (...args) => {
    const startedAt = new Date().toISOString();
    const start = performance.now();
    const out = await activity(...args);
    const ms = Math.round((performance.now() - start) * 10) / 10;
    return { ...out, timing: { startedAt, endedAt: new Date().toISOString(), ms } };
  };
}
