import * as tf from '@tensorflow/tfjs';
import type { Shape } from '@tensorflow/tfjs-layers/dist/keras_format/common';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import type { LayerVariable } from '@tensorflow/tfjs-layers/dist/variables';
import { initializerOf, inputMasks, shapeList, tensorList } from './keras_args';

export interface DenseAttentionArgs extends LayerArgs {
  /** Attention: a learned scalar multiplying the scores; AdditiveAttention: a learned vector. */
  useScale?: boolean;
  /** Keras ≤ 2.10's `causal` (later a call argument, `use_causal_mask`). */
  causal?: boolean;
  dropout?: number;
  seed?: number | null;
}

export interface AttentionArgs extends DenseAttentionArgs {
  /** 'dot' (default) or 'concat' (Keras ≥ 2.9). */
  scoreMode?: string;
}

/**
 * What Keras' Attention and AdditiveAttention share (BaseDenseAttention): called on
 * `[query, value]` or `[query, value, key]` (key defaults to value; `[x]` alone is `[x, x]`),
 *   weights = softmax(scores(query, key) − 1e9·(1 − mask)),   out = weights · value,
 * where the mask combines the value's (Keras) mask and, when causal, the lower triangle; in
 * training the weights go through dropout (rate `dropout`, kept weights scaled by 1/(1 − rate)).
 * The output keeps the query's mask. Like Keras, rank-2 inputs attend across the batch.
 */
abstract class DenseAttention extends tf.layers.Layer {
  readonly useScale: boolean;
  readonly causal: boolean;
  readonly dropout: number;
  readonly seed: number | null;

  constructor(args: DenseAttentionArgs, defaultUseScale: boolean) {
    super(args);
    this.useScale = args.useScale ?? defaultUseScale;
    this.causal = args.causal ?? false;
    this.dropout = args.dropout ?? 0;
    if (!(this.dropout >= 0 && this.dropout <= 1)) throw new Error(`${this.constructor.name} '${this.name}': dropout must be in [0, 1], got ${args.dropout}`);
    this.seed = args.seed ?? null;
    this.supportsMasking = true;
  }

  protected abstract scores(query: tf.Tensor, key: tf.Tensor): tf.Tensor;

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [query, value = query] = shapeList(inputShape);
    return [...query.slice(0, -1), value[value.length - 1]];
  }

  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const masks = mask == null ? [] : Array.isArray(mask) ? mask : [mask];
    return (masks[0] ?? null) as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const list = tensorList(inputs);
      if (list.length > 3) {
        throw new Error(`${this.getClassName()} '${this.name}' must be called on [query, value] or [query, value, key], got ${list.length} inputs`);
      }
      // A single input is [query, query]: the Keras translation passes a repeated tensor once,
      // since tfjs's predict() disposes a tensor fed twice to one layer before its other uses.
      const [query, value = query] = list;
      const key = list[2] ?? value;
      const masks = inputMasks(kwargs, list.length, `${this.getClassName()} '${this.name}'`);
      const queryMask = masks[0];
      const valueMask = list.length === 1 ? queryMask : masks[1];
      let scores = this.scores(query, key);
      // Positions attention may not look at: absent values and, when causal, later steps.
      let allowed: tf.Tensor | null = valueMask ? tf.expandDims(tf.cast(valueMask, 'bool'), -2) : null;
      if (this.causal || kwargs['useCausalMask'] === true || kwargs['use_causal_mask'] === true) {
        const [tq, tv] = scores.shape.slice(-2);
        const lower = tf.greaterEqual(tf.range(0, tq, 1, 'int32').expandDims(1), tf.range(0, tv, 1, 'int32').expandDims(0));
        allowed = allowed ? tf.logicalAnd(allowed, lower) : lower;
      }
      if (allowed) scores = tf.sub(scores, tf.mul(1e9, tf.cast(tf.logicalNot(allowed), 'float32')));
      let weights = tf.softmax(scores);
      if (kwargs['training'] === true && this.dropout > 0) {
        weights = tf.dropout(weights, this.dropout);
      }
      let result = tf.matMul(weights, value);
      if (queryMask) result = tf.mul(result, tf.expandDims(tf.cast(queryMask, 'float32'), -1));
      return result;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = { ...super.getConfig(), useScale: this.useScale, dropout: this.dropout };
    if (this.causal) config['causal'] = true;
    if (this.seed !== null) config['seed'] = this.seed;
    return config;
  }
}

/**
 * Keras' Attention (Luong-style): scores = scale · query · keyᵀ ('dot'), or
 * concat_score_weight · Σ tanh(scale · (query_i + key_j)) ('concat'). `scale` (if use_scale) and
 * `concat_score_weight` (if concat) are learned scalars, initialised to 1, created in that order.
 */
export class GraftAttention extends DenseAttention {
  static className = 'Attention';
  static readonly graftExtension = true;
  readonly scoreMode: 'dot' | 'concat';
  scale: LayerVariable | null = null;
  concatScoreWeight: LayerVariable | null = null;

  constructor(args: AttentionArgs = {}) {
    super(args, false);
    const mode = args.scoreMode ?? 'dot';
    if (mode !== 'dot' && mode !== 'concat') throw new Error(`Attention '${this.name}': score_mode must be 'dot' or 'concat', got ${JSON.stringify(args.scoreMode)}`);
    this.scoreMode = mode;
  }

  override build(): void {
    if (this.useScale) this.scale = this.addWeight('scale', [], 'float32', initializerOf('ones', 'ones'), undefined, true);
    if (this.scoreMode === 'concat') {
      this.concatScoreWeight = this.addWeight('concat_score_weight', [], 'float32', initializerOf('ones', 'ones'), undefined, true);
    }
    this.built = true;
  }

  protected scores(query: tf.Tensor, key: tf.Tensor): tf.Tensor {
    if (this.scoreMode === 'dot') {
      const s = tf.matMul(query, key, false, true);
      return this.scale ? tf.mul(s, this.scale.read()) : s;
    }
    let sum = tf.add(tf.expandDims(query, -2), tf.expandDims(key, -3));
    if (this.scale) sum = tf.mul(this.scale.read(), sum);
    return tf.mul(this.concatScoreWeight!.read(), tf.sum(tf.tanh(sum), -1));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), scoreMode: this.scoreMode };
  }
}

/**
 * Keras' AdditiveAttention (Bahdanau-style): scores = Σ_d scale_d · tanh(query_i,d + key_j,d),
 * with `scale` a learned vector of the last dimension (Glorot-uniform) when use_scale (default).
 */
export class GraftAdditiveAttention extends DenseAttention {
  static className = 'AdditiveAttention';
  static readonly graftExtension = true;
  scale: LayerVariable | null = null;

  constructor(args: DenseAttentionArgs = {}) {
    super(args, true);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shapes = shapeList(inputShape);
    // Keras 2 sizes the scale by the value, Keras 3 by the query; the scores need them equal.
    const dim = shapes[1]?.[shapes[1].length - 1] ?? shapes[0][shapes[0].length - 1];
    if (dim == null) throw new Error(`AdditiveAttention '${this.name}': the last input dimension must be known`);
    if (this.useScale) this.scale = this.addWeight('scale', [dim], 'float32', initializerOf('glorotUniform', 'glorotUniform'), undefined, true);
    this.built = true;
  }

  protected scores(query: tf.Tensor, key: tf.Tensor): tf.Tensor {
    const t = tf.tanh(tf.add(tf.expandDims(query, -2), tf.expandDims(key, -3)));
    return tf.sum(this.scale ? tf.mul(this.scale.read(), t) : t, -1);
  }
}
