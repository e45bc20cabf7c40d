import { z } from 'zod';

/**
 * What a start does while another run of its model holds the model: `refuse` (answer "busy", naming
 * that run) or `queue` (wait in the model's queue and start when its turn comes).
 */
export const AdmissionModeSchema = z.enum(['refuse', 'queue']);
export type AdmissionMode = z.infer<typeof AdmissionModeSchema>;

/** A run's priority: 1 is the highest, 5 the lowest; Temporal's task priorities use the same scale. */
export const RunPrioritySchema = z.number().int().min(1).max(5);

/** The priority of a run that names none, and of a spec that names none. */
export const DEFAULT_PRIORITY = 3;

/** Share of a window's time steps that training takes; the newest rest is the holdout. */
export const TrainShareSchema = z.number().min(0.5).max(0.95);

/** The train share of a spec that names none. */
export const DEFAULT_TRAIN_SHARE = 0.8;

/** Where a queued run stands: 1 is next. */
export interface QueuePlace {
  position: number;
  /** Runs waiting in the model's queue, this one included. */
  waiting: number;
  priority: number;
  /** When it joined the queue (ISO), the tie-break within a priority. */
  queuedAt: string;
  /** The run that holds the model now. */
  holder: string;
}

/** A run waiting in its model's queue, as the lease keeps it: the order is priority, then `queuedAt`, then id. */
export interface QueueEntry {
  workflowId: string;
  priority: number;
  queuedAt: string;
}
