import type { FastifyBaseLogger } from 'fastify';

import { DEFAULT_PRIORITY } from '../../common/admission';
import { RetrainInputSchema } from '../../common/retrain';
import { checkTriggersNow, startRun } from '../../runs';
import { resolveModelName } from '../../storage/model-aliases';
import type { ModelRegistry } from '../../storage/registry';
import { parseRequest } from '../route-errors';
import type { TrainingBackend } from '../training-params';
import {
  coachingJob,
  coachingPriorityOf,
  queuePosition,
  runPriorityOf,
  type CoachingRun,
} from './coaching-job';
import { coachingRun, queuedRunOf } from './coaching-runs';

const ORIGIN = 'triggered through POST /coaching/continuous-learning/trigger-training';

/** What the trigger routes work with. */
export interface CoachingContext {
  registry: ModelRegistry;
  temporal: TrainingBackend;
  log: FastifyBaseLogger;
}

/**
 * `POST /trigger-training/{model_type}`: starts a run of the model `model_type` names (a name or an
 * alias) that waits in the model's queue while another run holds it. A run of the model already
 * waiting there is the answer instead, as FinCoach answered with the job already queued.
 */
export async function triggerTraining(ctx: CoachingContext, modelType: string, priority: number | undefined) {
  const { client, taskQueue } = ctx.temporal;
  const spec = await resolveModelName(ctx.registry, modelType);
  const waiting = await queuedRunOf(client, spec.name);
  if (waiting) return triggerAnswer(modelType, waiting, `Training job already queued for ${modelType}`);
  const input = parseRequest(RetrainInputSchema, {
    model: spec.name,
    admission: 'queue',
    ...(priority === undefined ? {} : { priority: runPriorityOf(priority) }),
    labels: {
      model_type: modelType,
      priority: String(priority ?? coachingPriorityOf(spec.priority ?? DEFAULT_PRIORITY)),
    },
  });
  const started = await startRun(client, input, { taskQueue, origin: ORIGIN });
  ctx.log.info({ model: spec.name, workflowId: started.workflowId }, 'coaching training triggered');
  return triggerAnswer(
    modelType,
    await coachingRun(client, started.workflowId),
    `Training job queued for ${modelType}`,
  );
}

/** FinCoach's answer to a trigger (`message` ... `queue_position`), with the whole job beside it. */
function triggerAnswer(modelType: string, run: CoachingRun, message: string) {
  const job = coachingJob(run);
  return {
    message,
    job_id: job.id,
    status: job.status,
    priority: job.priority,
    dataset_id: job.dataset_id,
    queue_position: queuePosition(run),
    model_type: modelType,
    model: job.model,
    training_event_id: job.training_event_id,
  };
}

/**
 * `POST /auto-trigger-ready`: FinCoach queued every model type whose dataset had reached its
 * threshold. Here each model that declares triggers has them checked now, by the workflow its
 * monitor schedule runs (the `newRecords` trigger is FinCoach's threshold); a check that fires starts
 * the run. Models without triggers are not checked; `checked` says what each check decided.
 */
export async function autoTriggerReady(ctx: CoachingContext) {
  const { client, taskQueue } = ctx.temporal;
  const specs = await Promise.all((await ctx.registry.listModels()).map((m) => ctx.registry.loadSpec(m)));
  const evaluations = await Promise.all(
    specs.filter((spec) => spec.triggers).map((spec) => checkTriggersNow(client, spec.name, taskQueue)),
  );
  const triggered = await Promise.all(
    evaluations.flatMap((e) => (e.workflowId ? [coachingRun(client, e.workflowId)] : [])),
  );
  const jobs = triggered.map(coachingJob);
  if (jobs.length) ctx.log.info({ jobs: jobs.map((j) => j.id) }, 'coaching auto-trigger started runs');
  return {
    message: `Auto-triggered ${jobs.length} training jobs`,
    triggered_jobs: jobs.map((job) => ({
      job_id: job.id,
      model_type: job.model_type,
      status: job.status,
      priority: job.priority,
    })),
    triggered_at: new Date().toISOString(),
    checked: evaluations.map((e) => ({ model_type: e.model, decision: e.decision, reason: e.reason })),
  };
}
