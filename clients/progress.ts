import { defaultPayloadConverter, type Client, type WorkflowHandle } from '@temporalio/client';
import { TrainHeartbeatSchema, type TrainHeartbeat } from '../common/heartbeat';
import { progressQuery } from '../common/messages';
import type { RetrainProgress, TrialProgress } from '../common/retrain';

export interface LiveStatus {
  workflowId: string;
  runId: string;
  status: string;
  progress: RetrainProgress | null;
  /** Latest heartbeat of a running training: batch-level progress between epoch signals. */
  training: TrainHeartbeat | null;
  /** Latest heartbeat of every running training (one per trial of a multi-trial run). */
  trainings: TrainHeartbeat[];
  result?: unknown;
  failure?: string;
}

/** Reads a run's state: Temporal status, the workflow's progress query, the training heartbeat. */
export async function readStatus(client: Client, workflowId: string): Promise<LiveStatus> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe();
  const trainings = trainingHeartbeats(description.raw.pendingActivities ?? []);
  const status: LiveStatus = {
    workflowId,
    runId: description.runId,
    status: description.status.name,
    progress: await handle.query(progressQuery).catch(() => null),
    training: trainings[0] ?? null,
    trainings,
  };
  if (description.status.name === 'COMPLETED') status.result = await handle.result();
  if (description.status.name === 'FAILED') status.failure = await failureOf(handle);
  return status;
}

function trainingHeartbeats(
  pending: {
    activityType?: { name?: string | null } | null;
    heartbeatDetails?: { payloads?: unknown[] | null } | null;
  }[],
): TrainHeartbeat[] {
  const beats: TrainHeartbeat[] = [];
  for (const activity of pending) {
    if (activity.activityType?.name !== 'trainModel') continue;
    const payload = activity.heartbeatDetails?.payloads?.[0];
    if (!payload) continue;
    const parsed = TrainHeartbeatSchema.safeParse(defaultPayloadConverter.fromPayload(payload as never));
    if (parsed.success) beats.push(parsed.data);
  }
  return beats;
}

async function failureOf(handle: WorkflowHandle): Promise<string> {
  try {
    await handle.result();
    return 'unknown failure';
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
    return cause ?? (err instanceof Error ? err.message : String(err));
  }
}

/** One line for a terminal: stage, bar, percent, epoch, batch, losses, throughput. */
export function renderLine(s: LiveStatus): string {
  const p = s.progress;
  const t = s.training;
  const pct = Math.round(p?.overallPct ?? 0);
  const bar = '#'.repeat(Math.round(pct / 5)).padEnd(20, '.');
  const parts = [`[${bar}] ${String(pct).padStart(3)}%`, p?.stage ?? s.status.toLowerCase()];
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
