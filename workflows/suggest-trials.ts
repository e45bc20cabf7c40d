import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Hyperparams, ModelSpec } from '../common/model-spec';
import type { TrialProgress } from '../common/retrain';
import { pythonTaskQueueFor } from '../common/task-queues';
import {
  searchSpace,
  spaceValues,
  withSuggestion,
  type SearchSpace,
  type SuggestLogEntry,
  type SuggestTrialInput,
  type SuggestTrialResult,
} from '../common/trials';
import type { RunTasks } from '../common/task-priority';
import { cpuRetryPolicy, priorityOf } from './cpu-activities';
import { lossOf } from './trials';

/** The search activities of the python trainer's worker (trainers/python/retrain_trainer/suggest.py). */
export interface SearchActivities {
  suggestTrial(input: SuggestTrialInput): Promise<SuggestTrialResult>;
}

/**
 * `suggestTrial` on the python trainer's cpu queue of this run's task queue (`retrain-py`), whoever
 * trains: a suggestion is milliseconds of Optuna, retried as the cpu activities are.
 */
export function searchActivities(run?: RunTasks) {
  return proxyActivities<SearchActivities>({
    ...priorityOf(run),
    taskQueue: pythonTaskQueueFor(workflowInfo().taskQueue, 'cpu'),
    startToCloseTimeout: '1 minute',
    // No Python worker polling the queue would leave the search waiting forever: after this the
    // run fails saying which queue nobody served (a scheduleToStart timeout is not retried).
    scheduleToStartTimeout: '10 minutes',
    retry: cpuRetryPolicy,
  });
}

/**
 * The `prepare` of search strategy tpe (see `runTrialsInTurn`): trial 1 keeps `base`, the spec's own
 * hyperparameters with the run's over them; each later trial asks `suggestTrial` for its values from
 * the log of the trials before it and trains with them over `base` (its seed `base.seed + k - 1`,
 * as random search gives it). `check` validates the suggested hyperparameters as the spec's own are,
 * so a bad suggestion fails its trial with InvalidInput naming the field.
 */
export function suggestingTrials(
  spec: ModelSpec,
  base: Hyperparams,
  board: TrialProgress[],
  check: (raw: unknown, what: string) => Hyperparams,
  tasks?: RunTasks,
): (entry: TrialProgress) => Promise<void> {
  const space = searchSpace(spec.search);
  const { workflowId } = workflowInfo();
  const python = searchActivities(tasks);
  // Trials that trained what their entry says: a trial whose suggestion failed never trained its values.
  const trained = new Set<number>([1]);
  return async (entry) => {
    if (entry.trial === 1) return;
    const trials = board
      .filter((earlier) => earlier.trial < entry.trial && trained.has(earlier.trial))
      .flatMap((earlier) => logged(earlier, space));
    const suggestion = await python.suggestTrial({
      model: spec.name,
      workflowId,
      space,
      trials,
      // Every logged score is a loss, lower better (a higher-is-better metric negated: see lossOf).
      direction: 'minimize',
      seed: base.seed,
      trial: entry.trial,
      ...(spec.search?.startupTrials === undefined ? {} : { startupTrials: spec.search.startupTrials }),
    });
    const raw = withSuggestion(base, entry.trial, space, suggestion.params);
    entry.hyperparams = check(raw, `hyperparams suggested for trial ${entry.trial}`);
    trained.add(entry.trial);
  };
}

/** A finished trial as the suggestion reads it: its values, and the score the board ranks it by. */
function logged(entry: TrialProgress, space: SearchSpace): SuggestLogEntry[] {
  if (entry.status !== 'completed' && entry.status !== 'failed') return [];
  const score = lossOf(entry);
  return [
    {
      trial: entry.trial,
      params: spaceValues(entry.hyperparams, space),
      score: score !== null && Number.isFinite(score) ? score : null,
      status: entry.status,
    },
  ];
}
