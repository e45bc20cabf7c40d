import * as tf from '@tensorflow/tfjs';
import type { Hyperparams } from '../common/model-spec';

export type Task = 'forecast' | 'classify';

export interface ModelShape {
  task: Task;
  lookback: number;
  features: number;
}

/** Builds an untrained, compiled model; pure apart from the seeded initialisers. */
export function createModel(shape: ModelShape, hp: Hyperparams): tf.LayersModel {
  const seed = hp.seed;
  const width = shape.lookback * shape.features;
  const model = tf.sequential();
  const init = (offset: number) => tf.initializers.glorotUniform({ seed: seed + offset });
  if (hp.architecture === 'lstm') {
    model.add(tf.layers.reshape({ targetShape: [shape.lookback, shape.features], inputShape: [width] }));
    model.add(
      tf.layers.lstm({
        units: hp.hiddenUnits,
        kernelInitializer: init(1),
        recurrentInitializer: tf.initializers.orthogonal({ seed: seed + 2, gain: 1 }),
      }),
    );
  } else if (hp.architecture === 'mlp') {
    model.add(
      tf.layers.dense({
        units: hp.hiddenUnits,
        activation: 'relu',
        inputShape: [width],
        kernelInitializer: init(1),
      }),
    );
    if (hp.dropout > 0) model.add(tf.layers.dropout({ rate: hp.dropout, seed: seed + 3 }));
    model.add(tf.layers.dense({ units: hp.hiddenUnits, activation: 'relu', kernelInitializer: init(2) }));
  }
  const first = model.layers.length === 0;
  model.add(
    tf.layers.dense({
      units: 1,
      activation: shape.task === 'classify' ? 'sigmoid' : 'linear',
      kernelInitializer: init(4),
      ...(first ? { inputShape: [width] } : {}),
    }),
  );
  compileModel(model, shape.task, hp);
  return model;
}

/** (Re)compiles with the optimiser and loss of the task; needed again after loading weights. */
export function compileModel(model: tf.LayersModel, task: Task, hp: Hyperparams): void {
  model.compile({
    optimizer: createOptimizer(hp),
    loss: task === 'classify' ? 'binaryCrossentropy' : 'meanSquaredError',
  });
}

function createOptimizer(hp: Hyperparams): tf.Optimizer {
  switch (hp.optimizer) {
    case 'adam':
      return tf.train.adam(hp.learningRate);
    case 'sgd':
      return tf.train.sgd(hp.learningRate);
    case 'rmsprop':
      return tf.train.rmsprop(hp.learningRate);
  }
}
