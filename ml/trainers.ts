import type * as tf from '@tensorflow/tfjs';
import { ARCHITECTURES, architectureIssue, type Hyperparams, type Task } from '../common/model-spec';
import { buildLinear, buildLstm, buildMlp, type ModelShape } from './architectures';

/** How one architecture is built for one task; the model comes back uncompiled. */
export interface Trainer {
  /** One line for logs and the README table. */
  summary: string;
  build: (shape: ModelShape, hp: Hyperparams) => tf.Sequential;
}

type TrainerRegistry = { [T in Task]: Record<(typeof ARCHITECTURES)[T][number], Trainer> };

/**
 * The trainers per task. Typed against `ARCHITECTURES` in common/, so the table the spec is
 * validated with and the builders that exist cannot drift apart.
 */
export const TRAINERS: TrainerRegistry = {
  forecast: {
    mlp: { summary: '2 x Dense(hiddenUnits, relu) [+ dropout] -> Dense(1)', build: buildMlp },
    lstm: { summary: 'LSTM(hiddenUnits) over lookback steps [+ dropout] -> Dense(1)', build: buildLstm },
    linear: { summary: 'Dense(1) on the flattened window: a linear autoregression', build: buildLinear },
  },
  classify: {
    logistic: { summary: 'Dense(1, sigmoid) on the flattened window', build: buildLinear },
    mlp: { summary: '2 x Dense(hiddenUnits, relu) [+ dropout] -> Dense(1, sigmoid)', build: buildMlp },
  },
  regress: {
    mlp: {
      summary: "2 x Dense(hiddenUnits, relu) [+ dropout] -> Dense(1) on the row's features",
      build: buildMlp,
    },
    linear: { summary: "Dense(1) on the row's features: a linear regression", build: buildLinear },
  },
  cluster: {},
};

/** Thrown when hyperparameters name an architecture the task has no trainer for. */
export class UnsupportedArchitectureError extends Error {
  override readonly name = 'UnsupportedArchitectureError';
}

/** The trainer for `task` and `architecture`; throws {@link UnsupportedArchitectureError} otherwise. */
export function trainerFor(task: Task, architecture: string): Trainer {
  const issue = architectureIssue(task, architecture);
  const trainer = (TRAINERS[task] as Record<string, Trainer>)[architecture];
  if (issue || !trainer) throw new UnsupportedArchitectureError(issue ?? `no trainer for ${architecture}`);
  return trainer;
}

/** Every (task, architecture) pair with a trainer, for tests and docs. */
export function trainerPairs(): { task: Task; architecture: string; trainer: Trainer }[] {
  return (Object.keys(ARCHITECTURES) as Task[]).flatMap((task) =>
    Object.entries(TRAINERS[task] as Record<string, Trainer>).map(([architecture, trainer]) => ({
      task,
      architecture,
      trainer,
    })),
  );
}
