import * as tf from '@tensorflow/tfjs';

/** tfjs's NamedTensor, which the tfjs umbrella package does not re-export. */
interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/** Which variables a flat optimiser updates, in the order its flat vectors hold them. */
interface Layout {
  names: string[];
  variables: tf.Variable[];
  sizes: number[];
  total: number;
}

/**
 * An optimiser that keeps its state as flat vectors over all variables and updates them in one
 * pass: gradients are flattened and concatenated, the update rule runs once, and the result is
 * split back. On small models tfjs's cost is per kernel, not per element, and its own optimisers
 * run a dozen kernels per variable per step; this runs a dozen per step (plus reshapes and adds).
 */
abstract class FlatOptimizer extends tf.Optimizer {
  /** Names of the flat state vectors, as getWeights returns them (after the iteration counter). */
  protected abstract readonly slotNames: readonly string[];
  private layout: Layout | undefined;
  private slots: tf.Variable[] | undefined;

  /**
   * The update of one step on the flat gradient, given the flat state (which it assigns); `step`
   * is 1 for the first update.
   */
  protected abstract update(gradient: tf.Tensor1D, slots: tf.Variable[], step: number): tf.Tensor1D;

  /** The variable's new value from its share of `update`. */
  protected applyUpdate(value: tf.Tensor, update: tf.Tensor): tf.Tensor {
    return tf.add(update, value);
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const named = Array.isArray(variableGradients)
      ? variableGradients
      : Object.entries(variableGradients).map(([name, tensor]) => ({ name, tensor }));
    const layout = this.layoutFor(named);
    this.slots ??= this.slotNames.map(() => tf.zeros([layout.total]).variable(false));
    const slots = this.slots;
    tf.tidy(() => {
      const gradient = tf.concat(named.map(({ tensor }) => tf.reshape(tensor, [-1]))) as tf.Tensor1D;
      const pieces = tf.split(this.update(gradient, slots, this.iterations + 1), layout.sizes);
      layout.variables.forEach((variable, i) =>
        variable.assign(this.applyUpdate(variable, tf.reshape(pieces[i] as tf.Tensor, variable.shape))),
      );
    });
    this.incrementIterations();
  }

  /** The layout of the first step, checked on every later one: the flat state fits only it. */
  private layoutFor(named: NamedTensor[]): Layout {
    // minimize() passes undefined for a variable the loss does not reach.
    for (const { name, tensor } of named as { name: string; tensor?: tf.Tensor }[])
      if (!tensor) throw new Error(`${this.getClassName()}: no gradient for variable ${name}`);
    const names = named.map(({ name }) => name);
    if (this.layout) {
      if (names.length === this.layout.names.length && names.every((n, i) => n === this.layout?.names[i]))
        return this.layout;
      throw new Error(
        `${this.getClassName()} updates [${this.layout.names.join(', ')}] and cannot update [${names.join(', ')}]: ` +
          'use one optimizer per model',
      );
    }
    const variables = names.map((name) => {
      const variable = tf.engine().registeredVariables[name];
      if (!variable) throw new Error(`${this.getClassName()}: ${name} is not a variable`);
      return variable;
    });
    const sizes = variables.map((v) => v.size);
    const total = sizes.reduce((a, b) => a + b, 0);
    const stateSize = this.slots?.[0]?.size;
    if (stateSize !== undefined && stateSize !== total)
      throw new Error(
        `${this.getClassName()}: restored state holds ${stateSize} values but the variables have ${total}`,
      );
    this.layout = { names, variables, sizes, total };
    return this.layout;
  }

  override dispose(): void {
    tf.dispose(this.slots);
    this.slots = undefined;
    super.dispose();
  }

  /** The iteration counter, then the flat state vectors; the vectors are live: do not dispose them. */
  override async getWeights(): Promise<NamedTensor[]> {
    return [
      await this.saveIterations(),
      ...(this.slots ?? []).map((tensor, i) => ({
        name: `${this.getClassName()}/${this.slotNames[i] ?? i}`,
        tensor,
      })),
    ];
  }

  /** Restores what getWeights saved; the weights stay the caller's to dispose. */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const state = await this.extractIterations(weightValues);
    if (
      state.length !== 0 &&
      (state.length !== this.slotNames.length ||
        state.some(({ tensor }) => tensor.rank !== 1 || tensor.size !== state[0]?.tensor.size))
    )
      throw new Error(
        `${this.getClassName()}: expected ${this.slotNames.length} flat state vectors of one size ` +
          `(${this.slotNames.join(', ')}), got ${state.map(({ name, tensor }) => `${name} [${tensor.shape.join(', ')}]`).join(', ')}`,
      );
    tf.dispose(this.slots);
    this.slots = state.length ? state.map(({ tensor }) => tensor.variable(false)) : undefined;
    this.layout = undefined;
  }
}

/**
 * Adam with tfjs's update rule, epsilon and float32 bias correction (`tf.train.adam`), on one flat
 * vector. The bias-correction products are kept in JavaScript, rounded as tfjs rounds them, and
 * rebuilt from the iteration counter on restore, so a resumed run continues bit for bit.
 */
export class FusedAdam extends FlatOptimizer {
  static className = 'FusedAdam';
  protected readonly slotNames = ['m', 'v'] as const;
  readonly epsilon: number;
  /** beta1^steps and beta2^steps as tfjs's float32 accumulators hold them, and for which `steps`. */
  private powers = { steps: 0, beta1: 1, beta2: 1 };

  constructor(
    readonly learningRate: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    epsilon?: number | null,
  ) {
    super();
    this.epsilon = epsilon ?? tf.backend().epsilon();
  }

  protected update(gradient: tf.Tensor1D, [m, v]: tf.Variable[], step: number): tf.Tensor1D {
    const [accBeta1, accBeta2] = this.powersAt(step);
    const newM = tf.add(tf.mul(m as tf.Variable, this.beta1), tf.mul(gradient, 1 - this.beta1));
    const newV = tf.add(tf.mul(v as tf.Variable, this.beta2), tf.mul(tf.square(gradient), 1 - this.beta2));
    const mHat = tf.div(newM, Math.fround(1 - accBeta1));
    const vHat = tf.div(newV, Math.fround(1 - accBeta2));
    m?.assign(newM);
    v?.assign(newV);
    return tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), this.epsilon)), -this.learningRate);
  }

  /** beta^step as the product of float32 multiplies that tfjs's accumulators perform. */
  private powersAt(step: number): [number, number] {
    if (this.powers.steps > step) this.powers = { steps: 0, beta1: 1, beta2: 1 };
    const beta1 = Math.fround(this.beta1);
    const beta2 = Math.fround(this.beta2);
    while (this.powers.steps < step) {
      this.powers.beta1 = Math.fround(this.powers.beta1 * beta1);
      this.powers.beta2 = Math.fround(this.powers.beta2 * beta2);
      this.powers.steps++;
    }
    return [this.powers.beta1, this.powers.beta2];
  }

  getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }

  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(config.learningRate, config.beta1, config.beta2, config.epsilon);
  }
}

/**
 * RMSProp with tfjs's update rule and defaults (`tf.train.rmsprop`: decay 0.9, no momentum,
 * uncentred) on one flat vector. Not the centred variant: nothing builds it, and tfjs's centred rule
 * takes the square root of a difference that rounding can make negative.
 */
export class FusedRmsProp extends FlatOptimizer {
  static className = 'FusedRMSProp';
  protected readonly slotNames: readonly string[];
  readonly epsilon: number;

  constructor(
    readonly learningRate: number,
    readonly decay = 0.9,
    readonly momentum = 0,
    epsilon?: number | null,
  ) {
    super();
    this.epsilon = epsilon ?? tf.backend().epsilon();
    this.slotNames = ['rms', 'momentum'];
  }

  protected update(gradient: tf.Tensor1D, [ms, mom]: tf.Variable[]): tf.Tensor1D {
    const newMs = tf.add(tf.mul(ms as tf.Variable, this.decay), tf.mul(tf.square(gradient), 1 - this.decay));
    const denominator = tf.sqrt(tf.add(newMs, this.epsilon));
    const newMom = tf.add(
      tf.mul(mom as tf.Variable, this.momentum),
      tf.div(tf.mul(gradient, this.learningRate), denominator),
    );
    ms?.assign(newMs);
    mom?.assign(newMom);
    return newMom as tf.Tensor1D;
  }

  protected override applyUpdate(value: tf.Tensor, update: tf.Tensor): tf.Tensor {
    return tf.sub(value, update);
  }

  getConfig(): tf.serialization.ConfigDict {
    return {
      learningRate: this.learningRate,
      decay: this.decay,
      momentum: this.momentum,
      epsilon: this.epsilon,
    };
  }

  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(config.learningRate, config.decay, config.momentum, config.epsilon);
  }
}

// Checkpoints name these classes in their training config; tf.loadLayersModel finds them here.
tf.serialization.registerClass(FusedAdam);
tf.serialization.registerClass(FusedRmsProp);
