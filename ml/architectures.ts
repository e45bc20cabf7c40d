import * as tf from '@tensorflow/tfjs';
import type { Hyperparams, Task } from '../common/model-spec';

/** What a builder needs to know about the input: `lookback` time steps of `features` values each. */
export interface ModelShape {
  task: Task;
  lookback: number;
  features: number;
}

// Seed offsets keep each layer's initialiser distinct yet fixed by `hp.seed`.
const glorot = (hp: Hyperparams, offset: number) => tf.initializers.glorotUniform({ seed: hp.seed + offset });

/**
 * One output unit: a probability for classifiers, the normalised target for forecasts and
 * regressions. Theirs starts at zero, so an untrained model predicts the mean (change targets: the
 * last value plus its mean change), a naive prediction, and training moves it from there.
 */
function outputLayer(shape: ModelShape, hp: Hyperparams, first: boolean): tf.layers.Layer {
  const forecast = shape.task !== 'classify';
  return tf.layers.dense({
    units: 1,
    activation: forecast ? 'linear' : 'sigmoid',
    kernelInitializer: forecast ? 'zeros' : glorot(hp, 4),
    ...(first ? { inputShape: [shape.lookback * shape.features] } : {}),
  });
}

/** Two ReLU layers of `hiddenUnits` over the flattened window, dropout after the first. */
export function buildMlp(shape: ModelShape, hp: Hyperparams): tf.Sequential {
  const model = tf.sequential();
  model.add(
    tf.layers.dense({
      units: hp.hiddenUnits,
      activation: 'relu',
      inputShape: [shape.lookback * shape.features],
      kernelInitializer: glorot(hp, 1),
    }),
  );
  // The seed is replaced before every batch (ml/train.ts) so masks vary but stay reproducible.
  if (hp.dropout > 0) model.add(tf.layers.dropout({ rate: hp.dropout, seed: hp.seed + 3 }));
  model.add(tf.layers.dense({ units: hp.hiddenUnits, activation: 'relu', kernelInitializer: glorot(hp, 2) }));
  model.add(outputLayer(shape, hp, false));
  return model;
}

/** An LSTM of `hiddenUnits` over the window as a sequence of `lookback` steps. */
export function buildLstm(shape: ModelShape, hp: Hyperparams): tf.Sequential {
  const model = tf.sequential();
  model.add(
    tf.layers.reshape({
      targetShape: [shape.lookback, shape.features],
      inputShape: [shape.lookback * shape.features],
    }),
  );
  model.add(
    tf.layers.lstm({
      units: hp.hiddenUnits,
      kernelInitializer: glorot(hp, 1),
      recurrentInitializer: tf.initializers.orthogonal({ seed: hp.seed + 2, gain: 1 }),
    }),
  );
  if (hp.dropout > 0) model.add(tf.layers.dropout({ rate: hp.dropout, seed: hp.seed + 3 }));
  model.add(outputLayer(shape, hp, false));
  return model;
}

/**
 * One dense unit on the flattened window (ignores `hiddenUnits`): logistic regression for
 * classifiers, a linear autoregression for forecasts.
 */
export function buildLinear(shape: ModelShape, hp: Hyperparams): tf.Sequential {
  const model = tf.sequential();
  model.add(outputLayer(shape, hp, true));
  return model;
}
