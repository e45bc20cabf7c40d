import type { Hyperparams } from '../common/model-spec';
import type { RetrainProgress } from '../common/retrain';
import type { JobProgressColumns } from './sqlite-job-table';
import { SIDES, type Side } from './sqlite-job';

/** One entry of the row's `trial_log`, as the daemon wrote them. */
export interface TrialLogEntry {
  trial: number;
  model: Side;
  /** The trial's holdout score: Spearman's rank correlation for specs that score trials on it. */
  spearman: number | null;
  params: Hyperparams | Record<string, never>;
}

/**
 * A job's progress across its two runs, as the row shows it: each run's trials finished so far
 * (`current_trial` counts the long model's `n_trials` before the short model's), the log of the
 * finished ones, and each model's best score. Fed with each run's progress query while it runs and
 * once more after it ended (a query answers for a closed run too, with its last trials).
 */
export class JobProgress {
  private readonly pct: Record<Side, number> = { LONG: 0, SHORT: 0 };
  private readonly finished: Record<Side, number> = { LONG: 0, SHORT: 0 };
  private readonly best: Record<Side, number | null> = { LONG: null, SHORT: null };
  private readonly log: Record<Side, TrialLogEntry[]> = { LONG: [], SHORT: [] };

  constructor(private readonly nTrials: number) {}

  /** A run's progress query answered. */
  update(side: Side, progress: RetrainProgress): void {
    this.pct[side] = Math.max(this.pct[side], progress.overallPct);
    if (!progress.trials) return;
    const done = progress.trials.filter((t) => t.status === 'completed' || t.status === 'failed');
    this.finished[side] = done.length;
    this.log[side] = done
      .filter((t) => t.status === 'completed')
      .map((t) => ({ trial: t.trial, model: side, spearman: t.score ?? null, params: t.hyperparams }));
    if (progress.best) this.best[side] = progress.best.score;
  }

  /**
   * A run ended with `metrics` (its validated candidate's, when it got that far): a completed run
   * counts whole, and a lone trial (no trial board) is logged from them.
   */
  ended(side: Side, completed: boolean, metrics: Record<string, number> | undefined): void {
    const spearman = metrics?.['spearman'];
    if (completed) {
      this.pct[side] = 100;
      this.finished[side] = Math.max(this.finished[side], Math.min(this.nTrials, 1));
      if (this.log[side].length === 0)
        this.log[side] = [{ trial: 1, model: side, spearman: spearman ?? null, params: {} }];
    }
    // The validated candidate's own Spearman, when the gate scored it, is the model's best.
    if (spearman !== undefined && Number.isFinite(spearman)) this.best[side] = spearman;
  }

  /** The row's progress columns while `side` trains (or last trained). */
  columns(side: Side): JobProgressColumns {
    const before = SIDES.indexOf(side) * this.nTrials;
    return {
      progress_pct: Math.round(((this.pct.LONG + this.pct.SHORT) / SIDES.length) * 10) / 10,
      current_trial: before + this.finished[side],
      current_model: side,
      best_score_long: this.best.LONG,
      best_score_short: this.best.SHORT,
      trial_log: JSON.stringify([...this.log.LONG, ...this.log.SHORT]),
    };
  }
}
