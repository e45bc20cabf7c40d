import type { ActivityOptions } from '@temporalio/workflow';
import { DEFAULT_PRIORITY } from './admission';

/** Temporal's task priority (`@temporalio/common`'s Priority, as the workflow package names it). */
export type TaskPriority = NonNullable<ActivityOptions['priority']>;

/** Whose tasks a run schedules, and at which of its priorities (1 highest to 5). */
export interface RunTasks {
  model: string;
  /** The run's priority, else its spec's; absent: {@link DEFAULT_PRIORITY}. */
  priority?: number;
}

/** A run's priority: its input's, else its spec's, else {@link DEFAULT_PRIORITY}. */
export function runPriority(input: { priority?: number }, spec?: { priority?: number }): number {
  return input.priority ?? spec?.priority ?? DEFAULT_PRIORITY;
}

/**
 * The Temporal task priority of a run's workflow and activity tasks: `priorityKey` the run's priority
 * (a backlog hands out 1 before 2), `fairnessKey` its model, so that within one priority the workers'
 * slots are shared between models in turn (weight 1 each) rather than in arrival order: one model's
 * trials do not starve the others' training. The dev server dispatches by them with
 * `matching.enableFairness` (scripts/lib/temporal-server.ts); a server without it ignores them.
 */
export function taskPriority({ model, priority }: RunTasks): TaskPriority {
  return { priorityKey: priority ?? DEFAULT_PRIORITY, fairnessKey: model };
}
