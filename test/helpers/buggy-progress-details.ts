import type { RetrainProgress, TrialProgress } from '../../common/retrain';

/**
 * Stands in for workflows/progress-details.ts in test/workflows/bug-then-fix.test.ts: a renderer with
 * a bug a deploy could ship. It reads the trial board of every run once training starts, but only a
 * run with several trials has one, so a single-trial run throws a TypeError there.
 */
export function renderProgress(model: string, progress: RetrainProgress): string {
  if (progress.stage !== 'trainModel') return `**${model}** · stage \`${progress.stage}\``;
  const trials = progress.trials as TrialProgress[];
  return `**${model}** · ${trials.length} trials`;
}
