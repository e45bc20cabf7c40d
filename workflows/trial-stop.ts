import { CancellationScope, CancelledFailure, setHandler, workflowInfo } from '@temporalio/workflow';
import { cancelAfterTrialSignal } from '../common/messages';
import type { TrialProgress } from '../common/retrain';
import { cpuActivities } from './cpu-activities';

const cpu = cpuActivities();

/**
 * {@link cancelAfterTrialSignal} for one training stage (a job table's "cancelled" row): from the
 * signal on no trial starts, trials that have not reported an epoch yet are cancelled before they
 * train, the trials in flight finish, and then the run asks Temporal to cancel it, so it ends
 * Canceled with nothing registered. A signal after the training stage cancels the run at once.
 */
export class TrialStop {
  private reason: string | undefined;
  private trainingOver = false;
  private readonly waiting = new Map<TrialProgress, CancellationScope>();

  /** `onStop` hears the stop's reason, for the run's outcome. */
  constructor(onStop: (reason: string) => void = () => undefined) {
    setHandler(cancelAfterTrialSignal, async (args) => {
      if (this.reason !== undefined) return;
      this.reason = args.reason ?? 'cancelled after the current trial';
      onStop(this.reason);
      for (const [entry, scope] of this.waiting) if (entry.status === 'queued') scope.cancel();
      if (this.trainingOver) await requestRunCancellation();
    });
  }

  /** Whether the signal came. */
  get requested(): boolean {
    return this.reason !== undefined;
  }

  /**
   * Trains `entry` in a scope of its own that the signal cancels while the trial is still queued;
   * after the signal, fails at once with a CancelledFailure instead of starting it.
   */
  async start<T>(entry: TrialProgress, train: () => Promise<T>): Promise<T> {
    if (this.reason !== undefined) throw new CancelledFailure(this.reason);
    const scope = new CancellationScope();
    this.waiting.set(entry, scope);
    try {
      return await scope.run(train);
    } finally {
      this.waiting.delete(entry);
    }
  }

  /** The trials are over and none was stopped: a signal from now on cancels the run at once. */
  ended(): void {
    this.trainingOver = true;
  }

  /** Asks Temporal to cancel the run and waits for it: the run then ends Canceled. */
  async cancelRun(): Promise<never> {
    await requestRunCancellation();
    return CancellationScope.current().cancelRequested;
  }
}

/** A workflow may not cancel itself: an activity asks Temporal to, on its behalf. */
function requestRunCancellation(): Promise<void> {
  const { workflowId, runId } = workflowInfo();
  return CancellationScope.nonCancellable(() => cpu.requestCancellation({ workflowId, runId }));
}
