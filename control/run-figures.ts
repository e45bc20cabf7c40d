import { isDeepStrictEqual } from 'node:util';

import type { ModelMetadata } from '../common/artefacts';
import type { RetrainProgress } from '../common/retrain';
import type { RunSummary } from '../runs';

/** One run as a row of the dashboard's runs table: where it is, or where it ended. */
export interface RunFigures {
  /**
   * The stage it is in; for a run that stopped early (cancelled, failed, terminated, timed out) the
   * stage it stopped in; `done` once it completed or was rejected.
   */
  stage: string;
  /** How far it got, in percent: 100 only once it completed or was rejected; null when unknown. */
  overallPct: number | null;
  /** It ended before its last stage: the bar shows where, not a whole run. */
  stopped: boolean;
  /** The epoch it reached (of the last trial reported), and of how many. */
  epoch: number | null;
  totalEpochs: number | null;
  /** Training loss at the last epoch. */
  loss: number | null;
  /** A multi-trial run's best trial (a completed run's: the one it registered). */
  best: { trial: number; score: number } | null;
}

/** A running (or queued) run's figures, from its progress query; null when no worker answered. */
export function runningFigures(progress: RetrainProgress | null): RunFigures | null {
  if (!progress) return null;
  return {
    stage: progress.stage,
    overallPct: progress.overallPct,
    stopped: false,
    epoch: progress.epoch,
    totalEpochs: progress.totalEpochs,
    loss: progress.loss,
    best: progress.best ?? null,
  };
}

/**
 * An ended run's figures without asking the run (a query on an ended run replays its history on a
 * worker): from its outcome memo and, for a completed run, the metadata of the version it registered
 * (`meta`). `specEpochs`: the spec's epochs, the total of a run whose input named none.
 */
export function endedFigures(
  run: RunSummary,
  meta: ModelMetadata | undefined,
  specEpochs?: number,
): RunFigures {
  const { outcome } = run;
  const totalEpochs = run.input?.epochs ?? meta?.epochs ?? specEpochs ?? null;
  if (run.status === 'completed' || run.status === 'rejected') {
    return {
      stage: 'done',
      overallPct: 100,
      stopped: false,
      epoch: meta?.epochs ?? null,
      totalEpochs,
      loss: meta?.training.loss ?? null,
      best: meta ? registeredTrial(meta) : null,
    };
  }
  // A stage record that did not complete is where the run stopped; none: it stopped before its first.
  const unfinished = outcome?.stages.find((s) => s.status !== 'completed')?.name;
  const stage = outcome?.failure?.stage ?? unfinished ?? (outcome ? 'starting' : run.stage) ?? 'starting';
  return {
    stage,
    overallPct: stoppedPct(run),
    stopped: true,
    epoch: outcome?.kept?.epochsDone ?? null,
    totalEpochs,
    loss: null,
    best: null,
  };
}

/**
 * How far a stopped run got, from its memo. A cancelled run recorded before cancelled runs kept their
 * percentage says 100, which no cancelled run reaches (a cancel after registration began completes
 * the run): unknown. A run terminated or timed out wrote no memo: unknown.
 */
function stoppedPct({ status, outcome }: RunSummary): number | null {
  if (!outcome) return null;
  if (status === 'cancelled' && outcome.overallPct >= 100) return null;
  return outcome.overallPct;
}

/** The trial a multi-trial version was trained by (the best, by the run's ranking) and its score. */
function registeredTrial(meta: ModelMetadata): RunFigures['best'] {
  const trial = meta.trials?.find(
    (t) => t.status === 'completed' && isDeepStrictEqual(t.hyperparams, meta.hyperparams),
  );
  const score = trial && (trial.score ?? trial.valLoss ?? trial.loss);
  return trial && score !== null && score !== undefined ? { trial: trial.trial, score } : null;
}
