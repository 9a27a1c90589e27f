import * as tf from '@tensorflow/tfjs';
import type { Shape } from '@tensorflow/tfjs-layers/dist/keras_format/common';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import type { LayerVariable } from '@tensorflow/tfjs-layers/dist/variables';
import { inputMasks, shapeList, tensorList, kernelBiasConfig, kernelBiasOf, type KernelBias, type KernelBiasArgs } from './keras_args';

export interface MultiHeadAttentionArgs extends LayerArgs, KernelBiasArgs {
  numHeads: number;
  keyDim: number;
  valueDim?: number | null;
  dropout?: number;
  useBias?: boolean;
  /** Keras' `output_shape`: the trailing output dimensions (default: the query's last one). */
  outputShape?: number | number[] | null;
  attentionAxes?: number | number[] | null;
  seed?: number | null;
  /**
   * Keras' `use_causal_mask` call argument, kept in the config: tfjs's predict() does not replay
   * a node's call arguments, so the Keras translation moves it here.
   */
  useCausalMask?: boolean;
  /** Keras 2.6+ records the shapes the layer was built on; informative only here. */
  queryShape?: unknown;
  keyShape?: unknown;
  valueShape?: unknown;
}

interface Projection { kernel: LayerVariable; bias: LayerVariable | null }

/**
 * Keras' MultiHeadAttention, called on `[query, value]` or `[query, value, key]` (the Keras
 * config translation turns Keras' `value=`/`key=` call arguments into these positions; `[x]`
 * alone is self-attention):
 *   q = (query·Wq + bq)/√key_dim,  k = key·Wk + bk,  v = value·Wv + bv      (per head)
 *   w = softmax(q·kᵀ) over the key positions (masked: −1e9 where not allowed), dropout in training
 *   out = Σ_heads (w·v)·Wo + bo.
 * Weights, in Keras 2 and Keras 3 order and shapes: query/kernel `[dq, heads, key_dim]`,
 * query/bias `[heads, key_dim]`, key/…, value/… (`value_dim`), attention_output/kernel
 * `[heads, value_dim, out…]`, attention_output/bias `[out…]`. Attention runs over every axis
 * between batch and features (Keras' default `attention_axes`).
 */
export class GraftMultiHeadAttention extends tf.layers.Layer {
  static className = 'MultiHeadAttention';
  static readonly graftExtension = true;

  readonly numHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly dropout: number;
  readonly useBias: boolean;
  readonly outputDims: number[] | null;
  readonly attentionAxes: number[] | null;
  readonly seed: number | null;
  readonly useCausalMask: boolean;
  private readonly weightArgs: KernelBias;
  private readonly valueDimInConfig: boolean;

  private projections: { query: Projection; key: Projection; value: Projection; output: Projection } | null = null;

  constructor(args: MultiHeadAttentionArgs) {
    super(args);
    const where = `MultiHeadAttention '${this.name}'`;
    const positive = (v: unknown, what: string): number => {
      if (!Number.isInteger(v) || (v as number) <= 0) throw new Error(`${where}: ${what} must be a positive integer, got ${JSON.stringify(v)}`);
      return v as number;
    };
    this.numHeads = positive(args.numHeads, 'num_heads');
    this.keyDim = positive(args.keyDim, 'key_dim');
    this.valueDimInConfig = args.valueDim != null;
    this.valueDim = args.valueDim == null ? this.keyDim : positive(args.valueDim, 'value_dim');
    this.dropout = args.dropout ?? 0;
    if (!(this.dropout >= 0 && this.dropout <= 1)) throw new Error(`${where}: dropout must be in [0, 1], got ${args.dropout}`);
    this.useBias = args.useBias ?? true;
    const out = args.outputShape;
    this.outputDims = out == null ? null : (Array.isArray(out) ? out : [out]).map((d) => positive(d, 'output_shape'));
    const axes = args.attentionAxes;
    this.attentionAxes = axes == null ? null : (Array.isArray(axes) ? axes : [axes]).map((a) => {
      if (!Number.isInteger(a)) throw new Error(`${where}: attention_axes must be integers, got ${JSON.stringify(axes)}`);
      return a;
    });
    this.seed = args.seed ?? null;
    this.useCausalMask = args.useCausalMask === true;
    this.weightArgs = kernelBiasOf(args, where);
    this.supportsMasking = true;
  }

  private shapes(inputShape: Shape | Shape[]): { query: Shape; value: Shape; key: Shape } {
    const list = shapeList(inputShape);
    if (list.length > 3) {
      throw new Error(`MultiHeadAttention '${this.name}' must be called on [query, value] or [query, value, key], got ${list.length} inputs`);
    }
    const value = list[1] ?? list[0];
    return { query: list[0], value, key: list[2] ?? value };
  }

  /** Checks that attention runs over all axes between batch and features, the case implemented. */
  private checkAxes(rank: number): void {
    if (this.attentionAxes === null) return;
    const wanted = Array.from({ length: rank - 2 }, (_, i) => i + 1);
    const given = [...new Set(this.attentionAxes.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
    if (given.length !== wanted.length || given.some((a, i) => a !== wanted[i])) {
      throw new Error(`MultiHeadAttention '${this.name}': attention_axes ${JSON.stringify(this.attentionAxes)} for rank-${rank} inputs is not supported (only attention over every axis between batch and features)`);
    }
  }

  /**
   * Refuses Keras' `value=`/`key=` call arguments left in a model JSON (tfjs would pass them on as
   * raw references and the layer would attend to the query alone); graft's Keras translation
   * turns them into inputs.
   */
  override apply(inputs: tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[], kwargs?: Kwargs): tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[] {
    for (const key of ['value', 'key', 'query', 'attentionMask', 'attention_mask']) {
      if (kwargs?.[key] != null) {
        throw new Error(`MultiHeadAttention '${this.name}' is called with '${key}' as a keyword argument, which tfjs cannot pass as a tensor; give the Keras file to graft, whose translation makes it an input`);
      }
    }
    return super.apply(inputs, kwargs);
  }

  override build(inputShape: Shape | Shape[]): void {
    const { query, value, key } = this.shapes(inputShape);
    const where = `MultiHeadAttention '${this.name}'`;
    const last = (s: Shape, what: string): number => {
      const d = s[s.length - 1];
      if (d == null) throw new Error(`${where}: the last dimension of the ${what} must be known`);
      return d;
    };
    this.checkAxes(query.length);
    const heads = this.numHeads;
    const outDims = this.outputDims ?? [last(query, 'query')];
    const projection = (name: string, kernelShape: number[], biasShape: number[]): Projection => ({
      kernel: this.addWeight(`${name}/kernel`, kernelShape, 'float32', this.weightArgs.kernelInitializer, this.weightArgs.kernelRegularizer, true, this.weightArgs.kernelConstraint),
      bias: this.useBias ? this.addWeight(`${name}/bias`, biasShape, 'float32', this.weightArgs.biasInitializer, this.weightArgs.biasRegularizer, true, this.weightArgs.biasConstraint) : null,
    });
    // Keras' creation order: query, key, value, then the output projection.
    const q = projection('query', [last(query, 'query'), heads, this.keyDim], [heads, this.keyDim]);
    const k = projection('key', [last(key, 'key'), heads, this.keyDim], [heads, this.keyDim]);
    const v = projection('value', [last(value, 'value'), heads, this.valueDim], [heads, this.valueDim]);
    const o = projection('attention_output', [heads, this.valueDim, ...outDims], outDims);
    this.projections = { query: q, key: k, value: v, output: o };
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const { query } = this.shapes(inputShape);
    return [...query.slice(0, -1), ...(this.outputDims ?? [query[query.length - 1]])];
  }

  override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const masks = mask == null ? [] : Array.isArray(mask) ? mask : [mask];
    return (masks[0] ?? null) as tf.Tensor;
  }

  /** [B, T…, D] → per-head projection [B, heads, T, dim], T the flattened attention positions. */
  private project(x: tf.Tensor, p: Projection, dim: number): tf.Tensor {
    const [batch] = x.shape;
    const positions = x.shape.slice(1, -1).reduce((a, b) => a * b, 1);
    const features = x.shape[x.rank - 1];
    let y = tf.matMul(tf.reshape(x, [batch * positions, features]) as tf.Tensor2D, tf.reshape(p.kernel.read(), [features, this.numHeads * dim]) as tf.Tensor2D) as tf.Tensor;
    if (p.bias) y = tf.add(y, tf.reshape(p.bias.read(), [this.numHeads * dim]));
    return tf.transpose(tf.reshape(y, [batch, positions, this.numHeads, dim]), [0, 2, 1, 3]);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const list = tensorList(inputs);
      const where = `MultiHeadAttention '${this.name}'`;
      if (list.length > 3) throw new Error(`${where} must be called on [query, value] or [query, value, key], got ${list.length} inputs`);
      if (kwargs['returnAttentionScores'] === true || kwargs['return_attention_scores'] === true) {
        throw new Error(`${where}: return_attention_scores is not supported`);
      }
      if (kwargs['attentionMask'] != null || kwargs['attention_mask'] != null) {
        throw new Error(`${where}: an explicit attention_mask is not supported`);
      }
      // A single input is self-attention ([x, x]); see DenseAttention.call for why.
      const [query, value = query] = list;
      const key = list[2] ?? value;
      this.checkAxes(query.rank);
      const { query: pq, key: pk, value: pv, output: po } = this.projections!;
      const q = tf.mul(this.project(query, pq, this.keyDim), 1 / Math.sqrt(this.keyDim));
      const k = this.project(key, pk, this.keyDim);
      const v = this.project(value, pv, this.valueDim);
      let scores = tf.matMul(q, k, false, true); // [B, heads, T, S]
      const [tq, ts] = scores.shape.slice(-2);
      const batch = query.shape[0];

      // Keras' automatic mask: query_mask[:, :, None] & value_mask[:, None, :] (& key_mask), & causal.
      const masks = inputMasks(kwargs, list.length, where);
      const flat = (m: tf.Tensor) => tf.reshape(tf.cast(m, 'bool'), [batch, -1]);
      let allowed: tf.Tensor | null = null;
      const and = (m: tf.Tensor) => { allowed = allowed ? tf.logicalAnd(allowed, m) : m; };
      if (masks[0]) and(tf.expandDims(flat(masks[0]), 2));
      const valueMask = list.length === 1 ? masks[0] : masks[1];
      if (valueMask) and(tf.expandDims(flat(valueMask), 1));
      if (masks[2]) and(tf.expandDims(flat(masks[2]), 1));
      if (this.useCausalMask || kwargs['useCausalMask'] === true || kwargs['use_causal_mask'] === true) {
        and(tf.expandDims(tf.greaterEqual(tf.range(0, tq, 1, 'int32').expandDims(1), tf.range(0, ts, 1, 'int32').expandDims(0)), 0));
      }
      if (allowed) {
        const blocked = tf.cast(tf.logicalNot(tf.expandDims(allowed as tf.Tensor, 1)), 'float32');
        scores = tf.add(scores, tf.mul(blocked, -1e9));
      }
      let weights = tf.softmax(scores);
      if (kwargs['training'] === true && this.dropout > 0) weights = tf.dropout(weights, this.dropout);
      const attended = tf.transpose(tf.matMul(weights, v), [0, 2, 1, 3]); // [B, T, heads, valueDim]
      const outDims = po.kernel.shape.slice(2) as number[];
      const outSize = outDims.reduce((a, b) => a * b, 1);
      let y = tf.matMul(tf.reshape(attended, [batch * tq, this.numHeads * this.valueDim]) as tf.Tensor2D,
        tf.reshape(po.kernel.read(), [this.numHeads * this.valueDim, outSize]) as tf.Tensor2D) as tf.Tensor;
      if (po.bias) y = tf.add(y, tf.reshape(po.bias.read(), [outSize]));
      return tf.reshape(y, [...query.shape.slice(0, -1), ...outDims]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = {
      ...super.getConfig(),
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      valueDim: this.valueDimInConfig ? this.valueDim : null,
      dropout: this.dropout,
      useBias: this.useBias,
      outputShape: this.outputDims === null ? null : this.outputDims.length === 1 ? this.outputDims[0] : this.outputDims,
      attentionAxes: this.attentionAxes,
      ...kernelBiasConfig(this.weightArgs),
    };
    if (this.seed !== null) config['seed'] = this.seed;
    if (this.useCausalMask) config['useCausalMask'] = true;
    return config;
  }
}
