import type { RetrainProgress, StageRecord, TrialProgress } from '../common/retrain';

/**
 * Markdown for the Web UI's "current details" panel: paragraphs apart (the UI joins adjacent lines
 * into one), and "epoch 3 of 10" rather than "3/10", which it typesets as a fraction.
 */
export function renderProgress(model: string, progress: RetrainProgress, stages: StageRecord[]): string {
  const blocks = [`**${model}** · stage \`${progress.stage}\` · ${progress.overallPct}%`];
  if (progress.trials) {
    blocks.push(renderTrials(progress.trials, progress.totalEpochs).join('\n'));
    if (progress.best)
      blocks.push(`best so far: trial ${progress.best.trial} (${fixed(progress.best.score)})`);
  } else if (progress.totalEpochs > 0 && progress.epoch > 0) {
    blocks.push(
      `epoch ${progress.epoch} of ${progress.totalEpochs} · loss ${fixed(progress.loss)} · val loss ${fixed(progress.valLoss)}`,
    );
  }
  if (stages.length > 0)
    blocks.push(
      stages
        .map((s) => `- ${s.name}: ${s.status} (${(s.durationMs / 1000).toFixed(1)} s) ${s.summary ?? ''}`)
        .join('\n'),
    );
  if (progress.version) blocks.push(`version **${progress.version}**`);
  if (progress.status === 'queued' && progress.queue) {
    const { position, waiting, priority, holder } = progress.queue;
    blocks.push(`**queued**: ${position} of ${waiting} (priority ${priority}) behind \`${holder}\``);
  } else if (progress.status !== 'running') {
    const cause = progress.failure ? `${progress.failure.type}: ${progress.reason}` : progress.reason;
    blocks.push(`**${progress.status}**${cause ? `: ${cause}` : ''}`);
  }
  return blocks.join('\n\n');
}

function renderTrials(trials: TrialProgress[], totalEpochs: number): string[] {
  const rows = trials.map((t) => {
    const hp = t.hyperparams;
    const setting = `${hp.architecture} ${hp.optimizer} lr ${hp.learningRate} units ${hp.hiddenUnits} batch ${hp.batchSize} dropout ${hp.dropout}`;
    return `| ${t.trial} | ${t.status} | ${t.epoch} of ${totalEpochs} | ${fixed(t.loss)} | ${fixed(t.valLoss)} | ${setting} |`;
  });
  return ['| trial | status | epoch | loss | val loss | hyperparams |', '|---|---|---|---|---|---|', ...rows];
}

function fixed(value: number | null): string {
  return value === null ? 'n/a' : value.toFixed(4);
}
