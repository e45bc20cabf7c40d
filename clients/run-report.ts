import type { QueuePlace } from '../common/admission';
import type { RunStatus } from '../runs';

/** Exit codes of a run's outcome: 0 completed (or still running), 1 failed, 3 rejected, 4 cancelled. */
export function exitCodeFor(run: Pick<RunStatus, 'status'>): number {
  switch (run.status) {
    case 'queued':
    case 'running':
    case 'completed':
      return 0;
    case 'rejected':
      return 3;
    case 'cancelled':
      return 4;
    default:
      return 1;
  }
}

/** Exit code of a start refused because another run of the model is going. */
export const MODEL_BUSY_EXIT = 5;

/** A finished run in a few lines: the outcome with its figures or its root cause, then the stages. */
export function runReport(run: RunStatus): string {
  const outcome = run.outcome;
  const lines: string[] = [];
  switch (run.status) {
    case 'completed': {
      const version = run.result?.version ?? outcome?.version;
      const metrics = run.result?.metrics ?? outcome?.metrics;
      lines.push(`completed: ${run.model} ${version}${metrics ? ` ${formatMetrics(metrics)}` : ''}`);
      break;
    }
    case 'rejected': {
      lines.push(`rejected: ${outcome?.reason ?? run.result?.reason ?? ''}`);
      const rejection = outcome?.rejection ?? run.result?.rejection;
      if (rejection?.kind === 'gate') {
        lines.push(`  candidate ${formatMetrics(rejection.candidate)}`);
        for (const [name, m] of Object.entries(rejection.baselines))
          lines.push(`  ${name} ${formatMetrics(m)}`);
        if (rejection.production)
          lines.push(
            `  production ${rejection.production.version} ${formatMetrics(rejection.production.metrics)}`,
          );
        const d = rejection.decision;
        lines.push(`  decided by: ${d.by}${d.against ? ` (${d.against})` : ''}`);
      }
      break;
    }
    case 'cancelled': {
      const kept = outcome?.kept;
      const where = kept?.checkpointPrefix ? `; checkpoints kept under ${kept.checkpointPrefix}` : '';
      lines.push(`cancelled: ${outcome?.reason ?? 'cancelled'}${where}`);
      break;
    }
    case 'running':
      lines.push(`running: ${run.stage ?? 'starting'}`);
      break;
    case 'queued':
      lines.push(run.queue ? `queued: ${queuePlaceText(run.queue)}` : 'queued');
      break;
    default: {
      const f = run.failure;
      lines.push(
        `${run.status}${f?.stage ? ` in ${f.stage}` : ''}: ${f ? `${f.type}: ${f.message}` : run.status}`,
      );
      if (f?.details !== undefined) lines.push(`  details: ${JSON.stringify(f.details)}`);
    }
  }
  const stages = (outcome?.stages ?? run.result?.stages ?? []).map((s) => `${s.name}:${s.status}`).join(' ');
  if (stages) lines.push(stages);
  const timings = outcome?.timings ?? run.result?.timings;
  if (timings)
    lines.push(
      `time: ${seconds(timings.wallMs)} wall, ${seconds(timings.activityMs)} in activities, ` +
        `${seconds(timings.overheadMs)} orchestration`,
    );
  return lines.join('\n');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}

function formatMetrics(metrics: Record<string, number>): string {
  return Object.entries(metrics)
    .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(4)}`)
    .join(' ');
}

/** A queued run's place: `2 of 5 (priority 1) behind retrain-m-20261207T101500Z`. */
export function queuePlaceText(place: QueuePlace): string {
  return `${place.position} of ${place.waiting} (priority ${place.priority}) behind ${place.holder}`;
}
