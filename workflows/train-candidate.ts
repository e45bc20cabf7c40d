import { CancellationScope, isCancellation, workflowInfo } from '@temporalio/workflow';
import { checkpointPrefix } from '../common/artefacts';
import {
  HyperparamsSchema,
  hyperparamsIssues,
  inputOptionsIssue,
  type Hyperparams,
  type ModelSpec,
} from '../common/model-spec';
import type { RetrainRequest, TrialProgress } from '../common/retrain';
import { describeWarmStart, type KindHyperparams, type TrainInput, type TrainResult } from '../common/stages';
import { trainerOf } from '../common/trainer-kinds';
import { planTrials } from '../common/trials';
import { invalidInput } from './failures';
import { gpuActivities, pythonActivities } from './gpu-activities';
import type { RunRecorder, Timer } from './run-recorder';
import { suggestingTrials } from './suggest-trials';
import { TrialStop } from './trial-stop';
import { runTrials, runTrialsInTurn, trialBoard } from './trials';
import { runPriority } from '../common/task-priority';

/** What the training stage produced: the best trial and its result, beside every trial's entry. */
export interface Training {
  best: TrialProgress;
  result: TrainResult;
  board: TrialProgress[];
}

/** What the training stage trains on. */
export interface TrainingPlan {
  input: RetrainRequest;
  spec: ModelSpec;
  datasetKey: string;
}

/**
 * The training stage: the spec's hyperparameters with the input's over them, planned into trials
 * (one without a search) and trained on the trainer's queue (tfjs: gpu; python: `-py`, `-py-gpu`), the best completed trial winning.
 * Random search trains every trial at once; `search.strategy: "tpe"` one after another, each later
 * trial's hyperparameters suggested from the trials before it (./suggest-trials). A merge that
 * is not valid hyperparameters fails the run non-retryably with InvalidInput naming the field (see
 * {@link mergeHyperparams}). A `cancelAfterTrialSignal` lets the trials in flight finish, starts no
 * other, and ends the run Canceled (./trial-stop).
 */
export async function trainCandidate(
  run: RunRecorder,
  timed: Timer,
  { input, spec, datasetKey }: TrainingPlan,
): Promise<Training> {
  const epochs = input.epochs ?? spec.epochs;
  const base = mergeHyperparams(spec, input.hyperparams);
  const tpe = spec.search?.strategy === 'tpe' && input.trials > 1;
  // tpe: trials 2..n start as random restarts of the base until their suggestion arrives.
  const board = trialBoard(planTrials(base, tpe ? undefined : spec.search, input.trials));
  const searching = board.length > 1;
  run.training(board, epochs);
  const tasks = { model: input.model, priority: runPriority(input, spec) };
  const gpu = gpuActivities(tasks);
  const { workflowId } = workflowInfo();
  const python = trainerOf(spec) === 'python';
  const train = (entry: TrialProgress) => {
    const trainInput: TrainInput = {
      model: input.model,
      workflowId,
      datasetKey,
      epochs,
      hyperparams: entry.hyperparams,
      incremental: input.incremental,
      gateMetric: spec.gate.metric,
      ...(searching ? { trial: entry.trial } : {}),
    };
    return timed(
      python
        ? pythonActivities(entry.hyperparams.device, tasks).trainModel({
            ...trainInput,
            task: spec.task,
            hyperparams: kindHyperparams(entry.hyperparams),
            checkpointPrefix: checkpointPrefix(input.model, workflowId, trainInput.trial),
          })
        : gpu.trainModel(trainInput),
    );
  };
  const onChange = () => run.trialsChanged();
  const stop = new TrialStop((reason) => run.stopRequested(reason));
  const start = <T>(entry: TrialProgress, trainIt: () => Promise<T>) => stop.start(entry, trainIt);
  try {
    const { best, result } = tpe
      ? await runTrialsInTurn(
          board,
          suggestingTrials(spec, base, board, (raw, what) => checkedHyperparams(spec, raw, what), tasks),
          train,
          onChange,
          start,
        )
      : await runTrials(board, train, onChange, start);
    if (!stop.requested) {
      stop.ended();
      return { best, result, board };
    }
  } catch (err) {
    // Cancelled trials of a stop (not a cancel of the run itself) end the run as a cancel would.
    if (!stop.requested || !isCancellation(err) || CancellationScope.current().consideredCancelled) throw err;
  }
  return stop.cancelRun();
}

/** The hyperparameters a python kind reads: the kind, its parameters, the seed and the device. */
function kindHyperparams(hp: Hyperparams): KindHyperparams {
  return {
    architecture: hp.architecture,
    params: hp.params ?? {},
    seed: hp.seed,
    ...(hp.device === undefined ? {} : { device: hp.device }),
  };
}

/**
 * The spec's hyperparameters with `overrides` over them, checked as the spec's own are: each field in
 * range, and an architecture and input options that can train the spec's task and columns.
 */
export function mergeHyperparams(spec: ModelSpec, overrides: Partial<Hyperparams> | undefined): Hyperparams {
  return checkedHyperparams(
    spec,
    { ...spec.hyperparams, ...overrides },
    "hyperparams (the spec's with the input's over them)",
  );
}

/** `raw` as hyperparameters the spec's trainer can train, or InvalidInput for `what` naming each field. */
export function checkedHyperparams(spec: ModelSpec, raw: unknown, what: string): Hyperparams {
  const checked = HyperparamsSchema.superRefine((hp, ctx) => {
    for (const issue of hyperparamsIssues(spec, hp))
      ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    const options = inputOptionsIssue(spec, hp);
    if (options) ctx.addIssue({ code: 'custom', path: [options.field], message: options.message });
  }).safeParse(raw);
  if (!checked.success) throw invalidInput(what, checked.error);
  return checked.data;
}

/** The training stage's line: epochs, backend, loss, and with trials which won and how many failed. */
export function trainingSummary({ best, result, board }: Training): string {
  const failed = board.filter((t) => t.status === 'failed').length;
  return (
    `${result.epochs} epochs on ${result.backend}, loss ${result.loss.toFixed(4)}` +
    (result.resumedFrom ? ` (resumed from ${result.resumedFrom})` : '') +
    `, ${describeWarmStart(result.warmStart)}` +
    (board.length > 1
      ? `; best of ${board.length} trials: #${best.trial}${failed === 0 ? '' : `, ${failed} failed`}`
      : '')
  );
}
