import { workflowInfo } from '@temporalio/workflow';
import type { RunTimings } from '../common/retrain';
import type { Timed } from '../common/stages';

/** Adds up what a run's activities say they spent; call from workflow code. */
export interface RunClock {
  /** Records `out`'s own timing under `activity` and hands `out` back. */
  add<T>(activity: string, out: Timed<T>): Timed<T>;
  /** From now on: a reader of the activity time recorded since, undefined if a result was untimed. */
  mark(): () => number | undefined;
  /** The run's timings as of now; undefined when a result carried no timing (an older history). */
  timings(): RunTimings | undefined;
}

export function runClock(): RunClock {
  const byActivity: Record<string, number> = {};
  let total = 0;
  let untimed = 0;
  const round = (ms: number): number => Math.round(ms * 10) / 10;
  return {
    add(activity, out) {
      if (out.timing) {
        byActivity[activity] = round((byActivity[activity] ?? 0) + out.timing.ms);
        total += out.timing.ms;
      } else untimed++;
      return out;
    },
    mark() {
      const [totalThen, untimedThen] = [total, untimed];
      return () => (untimed > untimedThen ? undefined : round(total - totalThen));
    },
    timings() {
      if (untimed > 0) return undefined;
      // Workflow time: when the current workflow task started, so replay computes the same figure.
      const wallMs = Date.now() - workflowInfo().runStartTime.getTime();
      return { wallMs, activityMs: round(total), overheadMs: round(wallMs - total), byActivity };
    },
  };
}
