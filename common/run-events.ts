import { defineSignal } from '@temporalio/workflow';
import { z } from 'zod';

/** The version of the event schema below; a consumer that sees another one should not guess. */
export const EVENT_SPEC_VERSION = '1.0';

export const RUN_EVENT_TYPES = [
  'retrain.run.started',
  'retrain.stage.ended',
  'retrain.run.completed',
  'retrain.run.rejected',
  'retrain.run.failed',
  'retrain.run.cancelled',
  'retrain.trigger.evaluated',
] as const;
export type RunEventType = (typeof RUN_EVENT_TYPES)[number];

/**
 * One lifecycle event of a run (or a trigger check), as every sink receives it. `id` is
 * `<workflowId>/<runId>/<n>`, fixed by the workflow's history: a redelivery carries the same id, so
 * consumers dedupe on it.
 */
export const RunEventSchema = z.object({
  specversion: z.literal(EVENT_SPEC_VERSION),
  id: z.string(),
  type: z.enum(RUN_EVENT_TYPES),
  /** When the workflow emitted it (ISO 8601). */
  time: z.string(),
  model: z.string(),
  workflowId: z.string(),
  runId: z.string(),
  /** The starter's own fields (a Redis job's `job_id`, `source`, ...): the run input's `labels`, on every event of the run. */
  labels: z.record(z.string(), z.string()).optional(),
  data: z.record(z.string(), z.unknown()),
});
export type RunEvent = z.infer<typeof RunEventSchema>;

/** The types that end a run's stream of events: its relay stops after delivering one. */
export const FINAL_EVENT_TYPES: readonly RunEventType[] = [
  'retrain.run.completed',
  'retrain.run.rejected',
  'retrain.run.failed',
  'retrain.run.cancelled',
  'retrain.trigger.evaluated',
];

/** Sent by a run to its event relay (workflows/run-events): the next event, in order. */
export const runEventSignal = defineSignal<[RunEvent]>('runEvent');
