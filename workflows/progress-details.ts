import type { RetrainProgress, StageRecord } from '../common/retrain';

/** Markdown for the Web UI's "current details" panel. */
export function renderProgress(model: string, progress: RetrainProgress, stages: StageRecord[]): string {
  const lines = [`**${model}** · stage \`${progress.stage}\` · ${progress.overallPct}%`];
  if (progress.totalEpochs > 0 && progress.epoch > 0) {
    const loss = progress.loss === null ? 'n/a' : progress.loss.toFixed(4);
    const valLoss = progress.valLoss === null ? 'n/a' : progress.valLoss.toFixed(4);
    lines.push(`epoch ${progress.epoch}/${progress.totalEpochs} · loss ${loss} · val loss ${valLoss}`);
  }
  for (const s of stages)
    lines.push(`- ${s.name}: ${s.status} (${(s.durationMs / 1000).toFixed(1)} s) ${s.summary ?? ''}`);
  if (progress.version) lines.push(`version **${progress.version}**`);
  return lines.join('\n');
}
