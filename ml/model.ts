import * as tf from '@tensorflow/tfjs';
import type { Hyperparams, Task } from '../common/model-spec';
import type { ModelShape } from './architectures';
import { FusedAdam, FusedRmsProp } from './fused-optimizers';
import { trainerFor } from './trainers';

export type { Task } from '../common/model-spec';
export type { ModelShape } from './architectures';

/** Loss of a task, as tfjs names it in `compile` and in saved training configs. */
export const LOSS_NAME = {
  forecast: 'meanSquaredError',
  regress: 'meanSquaredError',
  classify: 'binaryCrossentropy',
  // Clusterers are trained by the python trainer only; the name is never compiled.
  cluster: 'meanSquaredError',
} as const;

/** Huber's quadratic-to-linear switch, in target standard deviations (targets are standardised). */
const HUBER_DELTA = 0.5;

/**
 * Per-sample loss of a task, the function ml/train.ts steps with. The compiled loss (LOSS_NAME) is
 * only what checkpoints record for tfjs; tfjs has no Huber, so the real loss is `hp.loss`.
 * Classifiers use binary cross-entropy with positives weighted by `positiveWeight`.
 */
export function lossFunction(
  task: Task,
  loss: Hyperparams['loss'] = 'huber',
  positiveWeight = 1,
): (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor {
  if (task === 'classify') {
    if (positiveWeight === 1) return tf.metrics.binaryCrossentropy;
    return (yTrue, yPred) =>
      tf.tidy(() => {
        const weight = tf.add(1, tf.mul(tf.mean(yTrue, -1), positiveWeight - 1));
        return tf.mul(tf.metrics.binaryCrossentropy(yTrue, yPred), weight);
      });
  }
  if (loss === 'mse') return tf.metrics.meanSquaredError;
  if (loss === 'mae') return tf.metrics.meanAbsoluteError;
  return (yTrue, yPred) =>
    tf.tidy(() => {
      const error = tf.abs(tf.sub(yPred, yTrue));
      const quadratic = tf.minimum(error, HUBER_DELTA);
      const linear = tf.sub(error, quadratic);
      return tf.mean(tf.add(tf.mul(0.5, tf.square(quadratic)), tf.mul(HUBER_DELTA, linear)), -1);
    });
}

/**
 * Weight of a positive row under `classWeight`: negatives/positives of the 0/1 `labels` for
 * `balanced` (bounded to 1/100..100 so a near-empty class cannot blow up the loss), else 1.
 */
export function positiveWeight(labels: ArrayLike<number>, classWeight: Hyperparams['classWeight']): number {
  if (classWeight === 'none') return 1;
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i] === 1 ? 1 : 0;
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) return 1;
  return Math.min(100, Math.max(0.01, negatives / positives));
}

/**
 * Builds an untrained, compiled model with the trainer registered for the task and architecture;
 * pure apart from the seeded initialisers. Throws UnsupportedArchitectureError for a bad pair.
 */
export function createModel(shape: ModelShape, hp: Hyperparams): tf.LayersModel {
  const model = trainerFor(shape.task, hp.architecture).build(shape, hp);
  compileModel(model, shape.task, hp);
  return model;
}

/** Compiles with the optimiser of `hp` and the nominal tfjs loss of the task (see lossFunction). */
function compileModel(model: tf.LayersModel, task: Task, hp: Hyperparams): void {
  model.compile({ optimizer: createOptimizer(hp), loss: LOSS_NAME[task] });
}

/** Disposes the model and its optimiser's slots, which `model.dispose()` leaves behind. */
export function disposeModel(model: tf.LayersModel): void {
  const optimizer = model.optimizer as tf.Optimizer | undefined;
  model.dispose();
  optimizer?.dispose();
}

/** Adam and RMSProp are tfjs's, fused into one update over all variables (ml/fused-optimizers.ts). */
function createOptimizer(hp: Hyperparams): tf.Optimizer {
  switch (hp.optimizer) {
    case 'adam':
      return new FusedAdam(hp.learningRate);
    case 'sgd':
      return tf.train.sgd(hp.learningRate);
    case 'rmsprop':
      return new FusedRmsProp(hp.learningRate);
  }
}
