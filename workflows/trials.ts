import { ApplicationFailure, isCancellation } from '@temporalio/workflow';
import type { TrialRecord } from '../common/artefacts';
import type { EpochProgress } from '../common/messages';
import { lowerIsBetter, type Hyperparams } from '../common/model-spec';
import type { TrialProgress } from '../common/retrain';
import type { TrainResult } from '../common/stages';
import { failureType, rethrowUnlessFailure, rootFailure } from './failures';

/**
 * Entries whose holdout score is one where higher is better (spearman, r2, f1, ...), as their
 * trainer named its metric: {@link bestSoFar} ranks those by the highest.
 */
const higherScores = new WeakSet<TrialProgress>();

/**
 * A trial's score as a loss, lower better, for a search to minimise: its holdout score (negated
 * where higher is better), else its validation or training loss; null when it has none.
 */
export function lossOf(entry: TrialProgress): number | null {
  if (entry.score !== undefined) return higherScores.has(entry) ? -entry.score : entry.score;
  return entry.valLoss ?? entry.loss;
}

/** Starts one trial's training, or refuses to (a stop after the current trial: see ./trial-stop). */
export type TrialStarter = <T>(entry: TrialProgress, train: () => Promise<T>) => Promise<T>;

const startAtOnce: TrialStarter = (_entry, train) => train();

/** One entry per planned hyperparameter set, updated in place as the trials run. */
export function trialBoard(plan: Hyperparams[]): TrialProgress[] {
  return plan.map((hyperparams, i) => ({
    trial: i + 1,
    hyperparams,
    status: 'queued',
    epoch: 0,
    loss: null,
    valLoss: null,
  }));
}

/** Applies one epoch report; a report that arrives after its trial finished changes nothing. */
export function applyEpoch(board: TrialProgress[], update: EpochProgress): void {
  const entry = board[(update.trial ?? 1) - 1];
  if (!entry || (entry.status !== 'queued' && entry.status !== 'running')) return;
  Object.assign(entry, {
    status: 'running',
    epoch: update.epoch,
    loss: update.loss,
    valLoss: update.valLoss,
  });
}

/**
 * The best score among trials that have not failed; ties go to the lower trial number. Once a
 * trial has a holdout score (finished forecasts; a trainer that scores its metric), only those
 * compete: validation losses of other normalisations or targets are on other scales. The lowest
 * wins, or the highest for a metric where higher is better (spearman). Else validation loss, or
 * training loss when the dataset has no holdout.
 */
export function bestSoFar(board: TrialProgress[]): { trial: number; score: number } | undefined {
  const scored = board.some((e) => e.score !== undefined && e.status === 'completed');
  let best: { trial: number; score: number; rank: number } | undefined;
  for (const entry of board) {
    const score = scored ? (entry.score ?? null) : (entry.valLoss ?? entry.loss);
    if (entry.status === 'failed' || entry.status === 'cancelled') continue;
    if (score === null || !Number.isFinite(score)) continue;
    const rank = scored && higherScores.has(entry) ? -score : score;
    if (!best || rank < best.rank) best = { trial: entry.trial, score, rank };
  }
  return best && { trial: best.trial, score: best.score };
}

/**
 * Share of the training stage done: finished trials count whole (a failed trial's share is done
 * with while the run goes on); once the run stopped (`stopped`), only completed trials count whole
 * and the others the epochs they reached, so a run failed at epoch 3 of 10 did not get past it.
 */
export function trainedFraction(board: TrialProgress[], totalEpochs: number, stopped = false): number {
  if (board.length === 0) return 0;
  const done = board.map((t) => {
    const whole = stopped ? t.status === 'completed' : t.status !== 'queued' && t.status !== 'running';
    return whole ? 1 : t.epoch / Math.max(1, totalEpochs);
  });
  return done.reduce((a, b) => a + b, 0) / board.length;
}

/** The trial log for the model's metadata; call once every trial has finished. */
export function trialLog(board: TrialProgress[]): TrialRecord[] {
  return board.map(({ trial, hyperparams, status, loss, valLoss, score, error }) => ({
    trial,
    hyperparams,
    status: status === 'queued' || status === 'running' ? 'cancelled' : status,
    loss,
    valLoss,
    ...(score === undefined ? {} : { score }),
    ...(error === undefined ? {} : { error }),
  }));
}

/** How one trial ended: its result, or the failure or cancellation it ended with. */
interface TrialOutcome {
  entry: TrialProgress;
  result?: TrainResult;
  err?: unknown;
}

/**
 * Trains every trial at once (the gpu workers' slots bound how many run at a time) and returns the
 * best completed one. A failed trial is logged and the others go on; a cancellation of the run
 * cancels every trial and is rethrown; a bug is rethrown at once, failing the workflow task. A lone trial's failure is rethrown as it is; when all of
 * several trials fail, the run fails with a non-retryable error naming each one. Each trial starts
 * through `start` (./trial-stop: a stop cancels the trials still queued).
 */
export async function runTrials(
  board: TrialProgress[],
  train: (entry: TrialProgress) => Promise<TrainResult>,
  onChange: () => void,
  start: TrialStarter = startAtOnce,
): Promise<{ best: TrialProgress; result: TrainResult }> {
  return bestOutcome(
    board,
    await Promise.all(
      board.map((entry) => settle(entry, (started) => start(started, () => train(started)), onChange)),
    ),
  );
}

/**
 * Trains the trials one after another, each once `prepare` has set its hyperparameters (from the
 * trials before it: search strategy tpe), and returns the best completed one. Failures and bugs as in
 * {@link runTrials}; a cancellation (or `start` refusing: a stop after the current trial) stops at
 * the trial it reached, the later ones never starting.
 */
export async function runTrialsInTurn(
  board: TrialProgress[],
  prepare: (entry: TrialProgress) => Promise<void>,
  train: (entry: TrialProgress) => Promise<TrainResult>,
  onChange: () => void,
  start: TrialStarter = startAtOnce,
): Promise<{ best: TrialProgress; result: TrainResult }> {
  const outcomes: TrialOutcome[] = [];
  for (const entry of board) {
    const outcome = await settle(
      entry,
      (prepared) =>
        start(prepared, async () => {
          await prepare(prepared);
          onChange();
          return train(prepared);
        }),
      onChange,
    );
    outcomes.push(outcome);
    if (outcome.err !== undefined && isCancellation(outcome.err)) break;
  }
  return bestOutcome(board, outcomes);
}

/** Trains one trial and records how it ended on its entry; only a bug is thrown. */
async function settle(
  entry: TrialProgress,
  train: (entry: TrialProgress) => Promise<TrainResult>,
  onChange: () => void,
): Promise<TrialOutcome> {
  try {
    const result = await train(entry);
    if (result.holdoutScore && !lowerIsBetter(result.holdoutScore.metric)) higherScores.add(entry);
    Object.assign(entry, {
      status: 'completed',
      epoch: result.epochs,
      loss: result.loss,
      valLoss: result.valLoss,
      ...(result.holdoutScore ? { score: result.holdoutScore.value } : {}),
    });
    return { entry, result };
  } catch (err) {
    rethrowUnlessFailure(err);
    entry.status = isCancellation(err) ? 'cancelled' : 'failed';
    entry.error = rootFailure(err).message;
    return { entry, err };
  } finally {
    onChange();
  }
}

/** The best completed trial of `outcomes`, or the cancellation or failure the trials ended with. */
function bestOutcome(
  board: TrialProgress[],
  outcomes: TrialOutcome[],
): { best: TrialProgress; result: TrainResult } {
  const cancelled = outcomes.find((o) => o.err !== undefined && isCancellation(o.err));
  if (cancelled) throw cancelled.err;
  const best = bestSoFar(board);
  const winner = outcomes.find((o) => o.entry.trial === best?.trial && o.result !== undefined);
  if (winner?.result) return { best: winner.entry, result: winner.result };
  // Completed trials without a finite score: take the first rather than fail the run.
  const completed = outcomes.find((o) => o.result !== undefined);
  if (completed?.result) return { best: completed.entry, result: completed.result };
  const [only] = outcomes;
  if (outcomes.length === 1 && only) throw only.err;
  throw ApplicationFailure.nonRetryable(
    `All ${board.length} trials failed: ${board.map((t) => `#${t.trial} ${t.error ?? 'failed'}`).join('; ')}`,
    failureType(outcomes[0]?.err),
  );
}
