import * as tf from '@tensorflow/tfjs';
import type { Initializer } from '@tensorflow/tfjs-layers/dist/initializers';
import type { Regularizer } from '@tensorflow/tfjs-layers/dist/regularizers';
import type { Constraint } from '@tensorflow/tfjs-layers/dist/constraints';
import type { Shape } from '@tensorflow/tfjs-layers/dist/keras_format/common';

/**
 * What the new layers share: reading Keras-style constructor arguments (after tfjs has turned the
 * config's snake_case into camelCase) and writing them back in getConfig.
 */

/** Keras' kernel/bias initializer, regularizer and constraint arguments, as configs or objects. */
export interface KernelBiasArgs {
  kernelInitializer?: unknown;
  biasInitializer?: unknown;
  kernelRegularizer?: unknown;
  biasRegularizer?: unknown;
  activityRegularizer?: unknown;
  kernelConstraint?: unknown;
  biasConstraint?: unknown;
}

/** The objects built from KernelBiasArgs, as addWeight takes them. */
export interface KernelBias {
  kernelInitializer: Initializer;
  biasInitializer: Initializer;
  kernelRegularizer?: Regularizer;
  biasRegularizer?: Regularizer;
  kernelConstraint?: Constraint;
  biasConstraint?: Constraint;
}

type Serializable = { getClassName(): string; getConfig(): tf.serialization.ConfigDict };
type ClassEntry = [tf.serialization.SerializableConstructor<tf.serialization.Serializable>, (cls: unknown, config: tf.serialization.ConfigDict) => unknown];

/** tfjs's string identifiers ('glorotUniform', 'l1l2', 'maxNorm', …) → registered class names. */
const IDENTIFIERS: Record<string, string> = {
  constant: 'Constant', glorotNormal: 'GlorotNormal', glorotUniform: 'GlorotUniform', heNormal: 'HeNormal',
  heUniform: 'HeUniform', identity: 'Identity', leCunNormal: 'LeCunNormal', leCunUniform: 'LeCunUniform',
  lecunNormal: 'LeCunNormal', lecunUniform: 'LeCunUniform', ones: 'Ones', orthogonal: 'Orthogonal',
  randomNormal: 'RandomNormal', randomUniform: 'RandomUniform', truncatedNormal: 'TruncatedNormal',
  varianceScaling: 'VarianceScaling', zeros: 'Zeros', l1l2: 'L1L2', maxNorm: 'MaxNorm', minMaxNorm: 'MinMaxNorm',
  nonNeg: 'NonNeg', unitNorm: 'UnitNorm',
};

/**
 * An initializer, regularizer or constraint from a constructor argument: an instance, a tfjs
 * identifier string, or a serialized `{className, config}`. Resolved through tfjs's registry
 * (tfjs does not export its own `getInitializer`).
 */
function fromRegistry<T>(spec: unknown, what: string): T | undefined {
  if (spec === undefined || spec === null) return undefined;
  if (typeof spec === 'object' && typeof (spec as Serializable).getClassName === 'function') return spec as T;
  let className: string;
  let config: tf.serialization.ConfigDict = {};
  if (typeof spec === 'string') {
    className = IDENTIFIERS[spec] ?? spec;
  } else if (typeof spec === 'object' && typeof (spec as { className?: unknown }).className === 'string') {
    className = (spec as { className: string }).className;
    config = ((spec as { config?: tf.serialization.ConfigDict }).config ?? {}) as tf.serialization.ConfigDict;
  } else {
    throw new Error(`unrecognised ${what}: ${JSON.stringify(spec)}`);
  }
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className] as unknown as ClassEntry | undefined;
  if (entry === undefined) throw new Error(`unknown ${what} '${className}'`);
  return entry[1](entry[0], config) as T;
}

export function initializerOf(spec: unknown, fallback: string): Initializer {
  return fromRegistry<Initializer>(spec ?? fallback, 'initializer')!;
}

export function regularizerOf(spec: unknown): Regularizer | undefined {
  return fromRegistry<Regularizer>(spec, 'regularizer');
}

export function constraintOf(spec: unknown): Constraint | undefined {
  return fromRegistry<Constraint>(spec, 'constraint');
}

/** The serialized form tfjs writes for initializers, regularizers and constraints. */
export function serialized(obj: Serializable | undefined | null): tf.serialization.ConfigDict | null {
  return obj == null ? null : { className: obj.getClassName(), config: obj.getConfig() };
}

/** Keras' `data_format` (camelCased by tfjs), defaulting to channels_last as Keras' image_data_format does. */
export function dataFormatOf(value: unknown, layer: string): 'channelsFirst' | 'channelsLast' {
  if (value === undefined || value === null || value === 'channelsLast' || value === 'channels_last') return 'channelsLast';
  if (value === 'channelsFirst' || value === 'channels_first') return 'channelsFirst';
  throw new Error(`${layer}: unknown data_format ${JSON.stringify(value)}`);
}

/** A Keras int-or-tuple argument as `n` positive integers. */
export function intTuple(value: unknown, n: number, what: string, fallback?: number): number[] {
  if ((value === undefined || value === null) && fallback !== undefined) return new Array<number>(n).fill(fallback);
  const list = typeof value === 'number' ? new Array<number>(n).fill(value) : value;
  if (!Array.isArray(list) || list.length !== n || !list.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`${what} must be ${n} positive integer(s), got ${JSON.stringify(value)}`);
  }
  return list as number[];
}

export function singleShape(inputShape: Shape | Shape[]): Shape {
  return Array.isArray(inputShape[0]) ? (inputShape as Shape[])[0] : (inputShape as Shape);
}

export function shapeList(inputShape: Shape | Shape[]): Shape[] {
  return Array.isArray(inputShape[0]) ? (inputShape as Shape[]) : [inputShape as Shape];
}

export function tensorList(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
  return Array.isArray(inputs) ? inputs : [inputs];
}

/** Keras' conv_output_length. */
export function convOutputLength(length: number, kernel: number, padding: string, stride: number): number {
  const out = padding === 'same' ? length : length - kernel + 1;
  return Math.floor((out + stride - 1) / stride);
}

export interface Activation { apply(x: tf.Tensor): tf.Tensor; getClassName(): string }

/** An activation by tfjs identifier ('relu', 'tanh', …; absent = linear), from tfjs's registry. */
export function activationOf(identifier: unknown): Activation {
  const name = identifier === undefined || identifier === null ? 'linear' : identifier;
  if (typeof name !== 'string') throw new Error(`unrecognised activation ${JSON.stringify(identifier)}`);
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[name] as unknown as ClassEntry | undefined;
  if (entry === undefined) throw new Error(`unknown activation '${name}'`);
  return entry[1](entry[0], {}) as Activation;
}

/**
 * The masks of a call's inputs, from `kwargs.mask`. tfjs's model execution (predict and
 * model.apply alike) hands a multi-input layer only its first input's mask (`mask` then holds one
 * tensor, or null when only a later input is masked), so which inputs are masked is unknowable
 * and such a call is refused rather than computed without the value's mask. A layer called
 * directly with one mask per input, and a single-input (self-attention) call, are exact.
 */
export function inputMasks(kwargs: Record<string, unknown>, count: number, where: string): (tf.Tensor | null)[] {
  const mask = kwargs['mask'];
  if (Array.isArray(mask)) return Array.from({ length: count }, (_, i) => (mask[i] as tf.Tensor | undefined) ?? null);
  if (count === 1) return [(mask as tf.Tensor | undefined) ?? null];
  if (!('mask' in kwargs)) return new Array<null>(count).fill(null);
  throw new Error(`${where}: its inputs carry Keras masks, but tfjs passes a multi-input layer only its first input's mask, so the value's is unknown`);
}

/** Keras' defaults (glorot_uniform kernel, zeros bias); tfjs layers have no activity regularizer here. */
export function kernelBiasOf(args: KernelBiasArgs, where: string): KernelBias {
  if (args.activityRegularizer != null) throw new Error(`${where}: activity_regularizer is not supported in tfjs`);
  return {
    kernelInitializer: initializerOf(args.kernelInitializer, 'glorotUniform'),
    biasInitializer: initializerOf(args.biasInitializer, 'zeros'),
    kernelRegularizer: regularizerOf(args.kernelRegularizer),
    biasRegularizer: regularizerOf(args.biasRegularizer),
    kernelConstraint: constraintOf(args.kernelConstraint),
    biasConstraint: constraintOf(args.biasConstraint),
  };
}

/** KernelBias written back as getConfig does. */
export function kernelBiasConfig(w: KernelBias): tf.serialization.ConfigDict {
  return {
    kernelInitializer: serialized(w.kernelInitializer),
    biasInitializer: serialized(w.biasInitializer),
    kernelRegularizer: serialized(w.kernelRegularizer),
    biasRegularizer: serialized(w.biasRegularizer),
    activityRegularizer: null,
    kernelConstraint: serialized(w.kernelConstraint),
    biasConstraint: serialized(w.biasConstraint),
  };
}
