import { runHistory, runningRunOf } from '../runs';
import { bufferReport } from '../storage/buffer-report';
import { jobOf, specOf } from './training-jobs';
import type { TrainingContext } from './training-params';

const BYTES_PER_MB = 1024 * 1024;

/**
 * `GET /admin/training-stats`: the daemon's document of a model (its current job, training history,
 * data buffer, readiness and config), plus the production alias.
 */
export async function trainingStats(ctx: TrainingContext, named: unknown) {
  const { client, buffer } = ctx.temporal;
  const spec = await specOf(ctx, named);
  const [report, history, running, production] = await Promise.all([
    bufferReport(buffer, spec),
    runHistory(client, spec.name),
    runningRunOf(client, spec.name),
    ctx.registry.getAlias(spec.name),
  ]);
  const current = running === undefined ? null : await jobOf(ctx, running, spec);
  return {
    model: spec.name,
    current_job: current && {
      job_id: current.job_id,
      status: current.status,
      progress_pct: current.progress_pct,
      stage: current.stage,
    },
    history: {
      // Refused starts (another run held the model) never trained: they are counted apart.
      total_trainings: history.total,
      successful: history.completed,
      // As the daemon counts: every run that ended without a new model; rejections and failures beside.
      failed: history.rejected + history.failed,
      rejected: history.rejected,
      errors: history.failed,
      cancelled: history.cancelled,
      running: history.running,
      refused: history.refused,
      last_training: history.lastStartedAt,
    },
    data_buffer: {
      total_records: report.stats.records,
      file_count: report.stats.files,
      days: report.stats.days,
      date_range: { start: report.stats.firstDay, end: report.stats.lastDay },
      disk_usage_mb: Math.round((report.stats.bytes / BYTES_PER_MB) * 10) / 10,
    },
    ready_to_train: report.readiness.ready,
    ready_reason: report.readiness.reason,
    config: {
      training_days: spec.windowDays,
      min_records_threshold: spec.minRecords,
      min_days: spec.minDays,
      epochs: spec.epochs,
    },
    production: production?.value ?? null,
  };
}
