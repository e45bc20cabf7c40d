import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import type { z } from 'zod';

import type { ModelSpec } from '../common/model-spec';
import { RetrainInputSchema } from '../common/retrain';
import { cancelRun, latestRun, readRun, runningRunOf, startRun } from '../runs';
import { bufferReport } from '../storage/buffer-report';
import { resolveModel } from './resolve-model';
import { parseRequest } from './route-errors';
import { trainingJob } from './training-job';
import type { CancelSchema, StatusSchema, TrainingContext, TriggerSchema } from './training-params';

const ORIGIN = 'triggered through POST /admin/trigger-training';
const DEFAULT_CANCEL_REASON = 'cancelled through POST /admin/cancel-training';

/** The spec of the model a daemon request means (see {@link resolveModel}). */
export const specOf = (ctx: TrainingContext, named: unknown) =>
  resolveModel(ctx.registry, named, ctx.defaultModel);

/** One run as the daemon's job document; `spec` fills in the epochs of a run that took the spec's. */
export async function jobOf(ctx: TrainingContext, workflowId: string, spec: ModelSpec | undefined) {
  const run = await readRun(ctx.temporal.client, workflowId);
  return trainingJob(run, spec?.name === run.model ? spec.epochs : null);
}

/**
 * `POST /admin/trigger-training`: 422 when the buffer cannot fill the window (nothing starts), 409
 * naming the run that holds the model, else 202 at once, or with `blocking` the ended job.
 */
export async function triggerTraining(
  ctx: TrainingContext,
  request: { query: z.output<typeof TriggerSchema>; log: FastifyBaseLogger },
  reply: FastifyReply,
) {
  const { model: named, blocking, ...options } = request.query;
  // The daemon's blocking mode answers once the run has ended: the socket is silent from here (the
  // readiness check and the start too, which can outlast a short idle limit under load) until then,
  // past the server's idle limit. (A request injected in-process, as tests do, has no real socket.)
  if (blocking) (reply.raw.socket as Partial<Pick<Socket, 'setTimeout'>> | null)?.setTimeout?.(0);
  const { client, taskQueue, buffer } = ctx.temporal;
  const spec = await specOf(ctx, named);
  const input = parseRequest(RetrainInputSchema, { model: spec.name, ...options });
  const { readiness } = await bufferReport(buffer, spec, input);
  if (!readiness.ready)
    return reply.code(422).send({ success: false, error: readiness.reason, status: 'rejected' });
  const started = await startRun(client, input, { taskQueue, origin: ORIGIN });
  request.log.info({ model: spec.name, workflowId: started.workflowId }, 'training triggered');
  const answer = {
    job_id: started.workflowId,
    run_id: started.runId,
    model: spec.name,
    epochs: input.epochs ?? spec.epochs,
    incremental: input.incremental,
  };
  if (!blocking) {
    return reply.code(202).send({
      success: true,
      ...answer,
      status: started.admission === 'admitted' ? 'running' : 'queued',
      message: 'Training started in background',
    });
  }
  await client.workflow
    .getHandle(started.workflowId, started.runId)
    .result()
    .catch(() => undefined);
  const job = await jobOf(ctx, started.workflowId, spec);
  return { success: job.status === 'completed', ...answer, ...job, message: `Training ${job.status}` };
}

/** `GET /admin/training-status[?job_id=]`: the job named, else the run holding the model, else its latest. */
export async function trainingStatus(
  ctx: TrainingContext,
  params: z.output<typeof StatusSchema>,
  reply: FastifyReply,
) {
  if (params.job_id !== undefined) return jobOf(ctx, params.job_id, undefined);
  const { client } = ctx.temporal;
  const spec = await specOf(ctx, params.model);
  const workflowId =
    (await runningRunOf(client, spec.name)) ?? (await latestRun(client, spec.name))?.workflowId;
  if (workflowId === undefined)
    return reply
      .code(404)
      .send({ success: false, error: `no training job of ${spec.name} yet`, status: null });
  return jobOf(ctx, workflowId, spec);
}

/** `POST /admin/cancel-training`: asks the named job, else the model's running one, to stop (202). */
export async function cancelTraining(
  ctx: TrainingContext,
  request: { query: z.output<typeof CancelSchema>; log: FastifyBaseLogger },
  reply: FastifyReply,
) {
  const { reason = DEFAULT_CANCEL_REASON, job_id: named, model } = request.query;
  let workflowId = named;
  if (workflowId === undefined) {
    const spec = await specOf(ctx, model);
    workflowId = await runningRunOf(ctx.temporal.client, spec.name);
    if (workflowId === undefined)
      return reply.code(404).send({ success: false, error: `no training job of ${spec.name} is running` });
  }
  await cancelRun(ctx.temporal.client, workflowId, reason);
  request.log.info({ workflowId, reason }, 'training cancel requested');
  return reply
    .code(202)
    .send({ success: true, message: 'Training job marked as cancelled', job_id: workflowId, reason });
}
