import type { RetrainProgress, StageRecord, TrialProgress } from '../common/retrain';

/** Markdown for the Web UI's "current details" panel. */
export function renderProgress(model: string, progress: RetrainProgress, stages: StageRecord[]): string {
  const lines = [`**${model}** · stage \`${progress.stage}\` · ${progress.overallPct}%`];
  if (progress.trials) {
    lines.push(...renderTrials(progress.trials, progress.totalEpochs));
    if (progress.best)
      lines.push(`best so far: trial ${progress.best.trial} (${fixed(progress.best.score)})`);
  } else if (progress.totalEpochs > 0 && progress.epoch > 0) {
    lines.push(
      `epoch ${progress.epoch}/${progress.totalEpochs} · loss ${fixed(progress.loss)} · val loss ${fixed(progress.valLoss)}`,
    );
  }
  for (const s of stages)
    lines.push(`- ${s.name}: ${s.status} (${(s.durationMs / 1000).toFixed(1)} s) ${s.summary ?? ''}`);
  if (progress.version) lines.push(`version **${progress.version}**`);
  if (progress.status !== 'running') {
    const cause = progress.failure ? `${progress.failure.type}: ${progress.reason}` : progress.reason;
    lines.push(`**${progress.status}**${cause ? `: ${cause}` : ''}`);
  }
  return lines.join('\n');
}

function renderTrials(trials: TrialProgress[], totalEpochs: number): string[] {
  const rows = trials.map((t) => {
    const hp = t.hyperparams;
    const setting = `${hp.architecture} ${hp.optimizer} lr ${hp.learningRate} units ${hp.hiddenUnits} batch ${hp.batchSize} dropout ${hp.dropout}`;
    return `| ${t.trial} | ${t.status} | ${t.epoch}/${totalEpochs} | ${fixed(t.loss)} | ${fixed(t.valLoss)} | ${setting} |`;
  });
  return [
    '',
    '| trial | status | epoch | loss | val loss | hyperparams |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ];
}

function fixed(value: number | null): string {
  return value === null ? 'n/a' : value.toFixed(4);
}
