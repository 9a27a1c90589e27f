import * as tf from '@tensorflow/tfjs';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import type { Regularizer } from '@tensorflow/tfjs-layers/dist/regularizers';
import type { Constraint } from '@tensorflow/tfjs-layers/dist/constraints';
import type { Shape } from '@tensorflow/tfjs-layers/dist/keras_format/common';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import type { LayerVariable } from '@tensorflow/tfjs-layers/dist/variables';
import { constraintOf, initializerOf, regularizerOf, serialized, singleShape } from './keras_args';

function normalizedAxes(axis: unknown, rank: number, where: string): number[] {
  const list = Array.isArray(axis) ? axis : [axis ?? -1];
  const axes = list.map((a) => {
    if (!Number.isInteger(a)) throw new Error(`${where}: axis must be integer(s), got ${JSON.stringify(axis)}`);
    const r = (a as number) < 0 ? (a as number) + rank : (a as number);
    if (r < 1 || r >= rank) throw new Error(`${where}: axis ${a} is out of range for a rank-${rank} input (the batch axis cannot be normalized)`);
    return r;
  });
  if (new Set(axes).size !== axes.length) throw new Error(`${where}: axis repeats a dimension`);
  return axes;
}

export interface UnitNormalizationArgs extends LayerArgs {
  axis?: number | number[];
}

/**
 * Keras' UnitNormalization: x / sqrt(max(Σ x², 1e-12)) over `axis` (default −1), as
 * tf.math.l2_normalize computes it for Keras 2. (Keras 3 clamps the inverse norm at 1e12
 * instead, which differs only for vectors of norm below 1e-6.) No weights.
 */
export class GraftUnitNormalization extends tf.layers.Layer {
  static className = 'UnitNormalization';
  static readonly graftExtension = true;
  readonly axis: number | number[];

  constructor(args: UnitNormalizationArgs = {}) {
    super(args);
    this.axis = args.axis ?? -1;
    this.supportsMasking = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const axes = normalizedAxes(this.axis, x.rank, `UnitNormalization '${this.name}'`);
      const squareSum = tf.sum(tf.square(x), axes, true);
      return tf.mul(x, tf.rsqrt(tf.maximum(squareSum, 1e-12)));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), axis: this.axis };
  }
}

export interface GroupNormalizationArgs extends LayerArgs {
  groups?: number;
  axis?: number;
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  betaInitializer?: unknown;
  gammaInitializer?: unknown;
  betaRegularizer?: unknown;
  gammaRegularizer?: unknown;
  betaConstraint?: unknown;
  gammaConstraint?: unknown;
}

/**
 * Keras' GroupNormalization: the `axis` channels (default −1) are split into `groups` contiguous
 * groups; each sample is normalized per group over that group's channels and every other
 * non-batch axis, (x − mean)/sqrt(var + ε) (biased variance), then scaled by gamma and shifted by
 * beta per channel. Weights: gamma (if scale), beta (if center), both `[channels]`.
 */
export class GraftGroupNormalization extends tf.layers.Layer {
  static className = 'GroupNormalization';
  static readonly graftExtension = true;
  readonly groups: number;
  readonly axis: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  private readonly betaInitializer: Initializer;
  private readonly gammaInitializer: Initializer;
  private readonly betaRegularizer?: Regularizer;
  private readonly gammaRegularizer?: Regularizer;
  private readonly betaConstraint?: Constraint;
  private readonly gammaConstraint?: Constraint;
  gamma: LayerVariable | null = null;
  beta: LayerVariable | null = null;

  constructor(args: GroupNormalizationArgs = {}) {
    super(args);
    this.groups = args.groups ?? 32;
    if (!Number.isInteger(this.groups) || this.groups < 1) throw new Error(`GroupNormalization '${this.name}': groups must be a positive integer, got ${JSON.stringify(args.groups)}`);
    this.axis = args.axis ?? -1;
    if (!Number.isInteger(this.axis)) throw new Error(`GroupNormalization '${this.name}': axis must be an integer, got ${JSON.stringify(args.axis)}`);
    this.epsilon = args.epsilon ?? 1e-3;
    this.center = args.center ?? true;
    this.scale = args.scale ?? true;
    this.betaInitializer = initializerOf(args.betaInitializer, 'zeros');
    this.gammaInitializer = initializerOf(args.gammaInitializer, 'ones');
    this.betaRegularizer = regularizerOf(args.betaRegularizer);
    this.gammaRegularizer = regularizerOf(args.gammaRegularizer);
    this.betaConstraint = constraintOf(args.betaConstraint);
    this.gammaConstraint = constraintOf(args.gammaConstraint);
    this.supportsMasking = true;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    const where = `GroupNormalization '${this.name}'`;
    const [axis] = normalizedAxes(this.axis, shape.length, where);
    const channels = shape[axis];
    if (channels == null) throw new Error(`${where}: the channel dimension (axis ${this.axis}) must be known`);
    if (channels < this.groups) throw new Error(`${where}: groups (${this.groups}) cannot exceed the channels (${channels})`);
    if (channels % this.groups !== 0) throw new Error(`${where}: channels (${channels}) must be a multiple of groups (${this.groups})`);
    if (this.scale) this.gamma = this.addWeight('gamma', [channels], 'float32', this.gammaInitializer, this.gammaRegularizer, true, this.gammaConstraint);
    if (this.center) this.beta = this.addWeight('beta', [channels], 'float32', this.betaInitializer, this.betaRegularizer, true, this.betaConstraint);
    this.inputSpec = [{ ndim: shape.length, axes: { [axis]: channels } }] as unknown as typeof this.inputSpec;
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const [axis] = normalizedAxes(this.axis, x.rank, `GroupNormalization '${this.name}'`);
      const channels = x.shape[axis];
      // [N, …, C, …] → [N, …, G, C/G, …]; statistics over every axis but batch and group.
      const grouped = [...x.shape.slice(0, axis), this.groups, channels / this.groups, ...x.shape.slice(axis + 1)];
      const reshaped = tf.reshape(x, grouped);
      const reduce = grouped.map((_, i) => i).filter((i) => i !== 0 && i !== axis);
      const { mean, variance } = tf.moments(reshaped, reduce, true);
      const broadcast = grouped.map((_, i) => (i === axis ? this.groups : i === axis + 1 ? channels / this.groups : 1));
      let inv = tf.rsqrt(tf.add(variance, this.epsilon));
      if (this.gamma) inv = tf.mul(inv, tf.reshape(this.gamma.read(), broadcast));
      let offset = tf.neg(tf.mul(mean, inv));
      if (this.beta) offset = tf.add(offset, tf.reshape(this.beta.read(), broadcast));
      return tf.reshape(tf.add(tf.mul(reshaped, inv), offset), x.shape);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      groups: this.groups,
      axis: this.axis,
      epsilon: this.epsilon,
      center: this.center,
      scale: this.scale,
      betaInitializer: serialized(this.betaInitializer),
      gammaInitializer: serialized(this.gammaInitializer),
      betaRegularizer: serialized(this.betaRegularizer),
      gammaRegularizer: serialized(this.gammaRegularizer),
      betaConstraint: serialized(this.betaConstraint),
      gammaConstraint: serialized(this.gammaConstraint),
    };
  }
}
