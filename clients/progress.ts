import type { TrainHeartbeat } from '../common/heartbeat';
import type { TrialProgress } from '../common/retrain';
import type { RunStatus } from '../runs';
import { queuePlaceText } from './run-report';

/** What {@link renderLine} reads of a run. */
export type LiveStatus = Pick<RunStatus, 'status' | 'progress' | 'training' | 'trainings'>;

/** One line for a terminal: stage, bar, percent, epoch, batch, losses, throughput. */
export function renderLine(s: LiveStatus): string {
  const p = s.progress;
  const t = s.training;
  const pct = Math.round(p?.overallPct ?? 0);
  const bar = '#'.repeat(Math.round(pct / 5)).padEnd(20, '.');
  if (s.status === 'queued' && p?.queue) return `queued  ${queuePlaceText(p.queue)}`;
  const parts = [`[${bar}] ${String(pct).padStart(3)}%`, p?.stage ?? s.status];
  if (p?.trials) {
    parts.push(renderTrials(p.trials, p.totalEpochs, s.trainings));
    if (p.best) parts.push(`best #${p.best.trial} ${p.best.score.toFixed(4)}`);
  } else if (t && p?.stage === 'trainModel') {
    parts.push(
      `epoch ${Math.min(t.epoch + 1, t.totalEpochs)}/${t.totalEpochs} batch ${t.batch}/${t.batches}`,
    );
    if (t.loss !== null) parts.push(`loss ${t.loss.toFixed(4)}`);
    if (t.valLoss !== null) parts.push(`val ${t.valLoss.toFixed(4)}`);
    if (t.samplesPerSec !== null) parts.push(`${Math.round(t.samplesPerSec)} samples/s`);
    parts.push(t.backend);
  }
  return parts.join('  ');
}

/** Every trial in a few characters: `#2 4/10 b12/40 val 0.6123`, `#3 failed`, `#4 queued`. */
function renderTrials(trials: TrialProgress[], totalEpochs: number, beats: TrainHeartbeat[]): string {
  const finished = trials.filter((t) => t.status !== 'queued' && t.status !== 'running').length;
  const each = trials.map((t) => {
    const val = t.valLoss === null ? '' : ` val ${t.valLoss.toFixed(4)}`;
    if (t.status === 'completed') return `#${t.trial} done${val}`;
    if (t.status !== 'running' && t.status !== 'queued') return `#${t.trial} ${t.status}`;
    const beat = beats.find((b) => b.trial === t.trial);
    if (!beat) return `#${t.trial} ${t.status === 'queued' ? 'queued' : `${t.epoch}/${totalEpochs}${val}`}`;
    return `#${t.trial} ${Math.min(beat.epoch + 1, totalEpochs)}/${totalEpochs} b${beat.batch}/${beat.batches}${val}`;
  });
  return `trials ${finished}/${trials.length} done: ${each.join(', ')}`;
}
