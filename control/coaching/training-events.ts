import type { Client } from '@temporalio/client';

import type { ModelMetadata } from '../../common/artefacts';
import { resolveModelName } from '../../storage/model-aliases';
import type { ModelRegistry } from '../../storage/registry';
import { coachingJob, coachingStatus, errorOf, type CoachingRun } from './coaching-job';
import { coachingRun, coachingRuns, type CoachingScope } from './coaching-runs';
import { modelPath, versionMetadata } from './model-versions';

/** A run's figures as a FinCoach training event carries them, and the gate's structured ones. */
async function eventFigures(registry: ModelRegistry, run: CoachingRun) {
  const version = run.outcome?.version;
  const metadata: ModelMetadata | undefined =
    version && run.model ? await registry.getMetadata(run.model, version) : undefined;
  const rejection = run.outcome?.rejection?.kind === 'gate' ? run.outcome.rejection : undefined;
  const metric = metadata?.gate.metric ?? rejection?.metric;
  const metrics = run.outcome?.metrics ?? metadata?.metrics;
  const error = errorOf(run, coachingStatus(run));
  const validation = rejection
    ? {
        passed: false,
        reason: run.outcome?.reason ?? null,
        metric: rejection.metric,
        decision: rejection.decision,
        gate: rejection.gate,
        candidate: rejection.candidate,
        baselines: rejection.baselines,
        production: rejection.production ?? null,
      }
    : metadata
      ? {
          passed: metadata.gate.passed,
          reason: metadata.gate.reason,
          metric: metadata.gate.metric,
          candidate: metadata.metrics,
          baselines: metadata.baselines,
          production: metadata.production ?? null,
        }
      : null;
  return {
    metadata,
    validation,
    validation_score: (metric && metrics?.[metric]) ?? null,
    training_data_size: metadata ? metadata.dataset.rows.train + metadata.dataset.rows.holdout : null,
    model_path: version && run.model ? modelPath(run.model, version) : null,
    performance_metrics: metrics ?? (error ? { error } : {}),
  };
}

/**
 * `GET /training-history?limit=&model_type=`: the training events, newest first: every run that
 * took its model (queued runs have not trained yet), with its figures.
 */
export async function trainingHistory(
  client: Client,
  registry: ModelRegistry,
  { limit, model_type: modelType }: { limit: number; model_type?: string | undefined },
  scope?: CoachingScope,
) {
  const model = modelType ? (await resolveModelName(registry, modelType)).name : undefined;
  const runs = await coachingRuns(client, {
    model,
    scope,
    limit,
    keep: (run) => coachingStatus(run) !== 'queued',
  });
  const history = await Promise.all(
    runs.map(async (run) => {
      const job = coachingJob(run);
      const { metadata: _metadata, validation: _validation, ...figures } = await eventFigures(registry, run);
      return {
        id: job.id,
        model_type: job.model_type,
        status: job.status,
        start_time: run.startTime,
        end_time: run.closeTime,
        ...figures,
        outcome: run.status,
        version: job.version,
      };
    }),
  );
  return {
    training_history: history,
    total_events: history.length,
    filter_applied: modelType ? { model_type: modelType } : null,
  };
}

/**
 * `GET /validation-results/{training_event_id}`: how the event's candidate was validated. FinCoach's
 * fields, and `validation`: the gate's figures (metric, the candidate's, each naive baseline's and
 * production's; the `decision` for a candidate the gate rejected).
 */
export async function validationResults(client: Client, registry: ModelRegistry, eventId: string) {
  const run = await coachingRun(client, eventId);
  const { metadata, validation, validation_score, performance_metrics } = await eventFigures(registry, run);
  const production = metadata && run.model ? await registry.getAlias(run.model) : undefined;
  return {
    training_event_id: eventId,
    model_type: coachingJob(run).model_type,
    status: coachingStatus(run),
    validation_score,
    performance_metrics,
    training_duration: run.closeTime
      ? timedelta(Date.parse(run.closeTime) - Date.parse(run.startTime))
      : null,
    model_version: metadata
      ? {
          version: metadata.version,
          is_active: production?.value.version === metadata.version,
          model_path: modelPath(metadata.model, metadata.version),
          metadata: versionMetadata(metadata),
        }
      : null,
    validation,
    outcome: run.status,
  };
}

/** A duration as Python's `str(timedelta)` writes it (`0:05:23.250000`, `1 day, 2:00:00`), as FinCoach answered. */
export function timedelta(ms: number): string {
  const micros = Math.max(0, Math.round(ms * 1000));
  const days = Math.floor(micros / 86_400_000_000);
  const rest = micros % 86_400_000_000;
  const h = Math.floor(rest / 3_600_000_000);
  const m = Math.floor((rest % 3_600_000_000) / 60_000_000);
  const s = Math.floor((rest % 60_000_000) / 1_000_000);
  const us = rest % 1_000_000;
  const clock = `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}${us ? `.${String(us).padStart(6, '0')}` : ''}`;
  return days ? `${days} day${days === 1 ? '' : 's'}, ${clock}` : clock;
}
