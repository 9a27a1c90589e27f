import type { Json } from '../io/json';
import type { TransformSpec } from '../transforms';
import {
  channelsFirst, convLength, deconvLength, elementwise, fail, int, known, padding, padPairs, Shape, single, tuple,
} from './shapes';
import type { TargetVariable } from './variables';
import { ONNX_LAYER_CLASSES } from './onnx/layer-classes';

/**
 * The catalogue of layer classes: everything graft knows about one Keras/tfjs layer class, in
 * one entry. Adding a layer class is adding an entry here:
 * - `weights`: its variables' names in `addWeight` order (Keras 3 stores `vars/<i>` in this order);
 * - `build`: each weight's shape and the output shapes for a config and input shapes, as tfjs's
 *   `build` and `computeOutputShape` give them (without it, only tfjs can size the class);
 * - `torch`: the PyTorch parameter(s) each weight comes from and the transform each needs;
 * - flags for the Keras 3 `cell/vars` layout, stacked PyTorch RNNs, and the layer extensions.
 *
 * Pure data and functions: topology/, mapping/ and formats/ all read it.
 */

/** Where a target variable's data comes from under the torch convention. */
export interface TorchRule {
  /** One entry per source tensor the transform consumes; each lists alternative relative paths. */
  params: string[][];
  transform: TransformSpec;
}

/** What a build rule is given, and how it records weight shapes. */
export interface BuildContext {
  cls: string;
  config: Json;
  inputs: Shape[];
  /** Records the shape of the weight `name` (one of the entry's `weights`); unknown dimensions are refused. */
  weight(name: string, shape: Shape): void;
  /** Builds a wrapped layer (Bidirectional, TimeDistributed) whose weights go under `scope`. */
  wrapped(cls: string, config: Json, inputs: Shape[], scope: string): Shape[];
}

/** Layer config facts a target variable carries (they change the torch layouts). */
export interface VariableFacts {
  resetAfter?: boolean;
  groups?: number;
  units?: number;
}

export interface LayerClass {
  /** The weights a layer of this class creates, in `addWeight` order, for its config. */
  weights?(config: Json): string[];
  /** Weights created with `trainable: false` (BatchNormalization's moving statistics). */
  nonTrainable?: readonly string[];
  /** Records every weight's shape (see `weights`) and returns the output shapes. */
  build?(b: BuildContext): Shape[];
  /** PyTorch parameters per weight; `rnnLayer` picks one layer of a stacked PyTorch RNN. */
  torch?(v: TargetVariable, rnnLayer: number): Record<string, TorchRule>;
  /** Keras 3 keeps this class's variables under `<layer>/cell/vars`. */
  kerasCell?: boolean;
  /** Weights Keras 2 spatially flipped (`convert_kernel`) when a Theano backend saved them. */
  theanoFlipped?: readonly string[];
  /** PyTorch stacks layers of this class in one module (`weight_ih_l1`, …). */
  torchStacked?: boolean;
  /** ONNX LSTM/GRU/RNN nodes: Keras gate block k comes from ONNX block `onnxGates[k]`. */
  onnxGates?: readonly number[];
  /** True when tfjs's own class would refuse or ignore this config: `tfjs-graft/layers` is needed. */
  needsGraftLayers?(config: Json): boolean;
  /** tfjs has no class of this name; `tfjs-graft/layers` adds one (so every config needs it). */
  addedByGraftLayers?: boolean;
  /** Keras 3 keeps this class's weights in sub-layer groups: `<layer>/<group>/vars` → `<scope>/<weight>`. */
  kerasSublayers?(config: Json): { group: string; scope: string; weights: string[] }[];
  /** Config facts tfjs's getConfig() reports for this class and the planner uses. */
  facts?(config: Json): VariableFacts;
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

const T = (kind: TransformSpec['kind']): TransformSpec => ({ kind } as TransformSpec);
const one = (alternatives: string[] | string, transform: TransformSpec): TorchRule => ({
  params: [Array.isArray(alternatives) ? alternatives : [alternatives]],
  transform,
});
const bias = (config: Json): string[] => (config.use_bias === false ? [] : ['bias']);
const scaleCenter = (config: Json): string[] => [...(config.scale === false ? [] : ['gamma']), ...(config.center === false ? [] : ['beta'])];
const units = (config: Json): VariableFacts => ({ units: typeof config.units === 'number' ? config.units : undefined });

/** Weightless layers whose output has their input's shape. */
const passThrough: LayerClass = { weights: () => [], build: ({ inputs, cls }) => [single(inputs, cls).slice()] };

function convolution(rank: 1 | 2 | 3): LayerClass {
  return {
    weights: (config) => ['kernel', ...bias(config)],
    build({ cls, config, inputs, weight }) {
      const x = single(inputs, cls);
      if (x.length !== rank + 2) fail(`${cls} input has rank ${x.length}`);
      const first = channelsFirst(config, cls);
      const kernel = tuple(config.kernel_size, rank, `${cls} kernel_size`);
      const strides = tuple(config.strides, rank, `${cls} strides`, 1);
      const dilation = tuple(config.dilation_rate, rank, `${cls} dilation_rate`, 1);
      const pad = padding(config, cls, rank === 1 ? ['valid', 'same', 'causal'] : ['valid', 'same']);
      const filters = int(config.filters, `${cls} filters`);
      const channels = known(first ? x[1] : x[x.length - 1], `${cls} input channels`);
      // tfjs-graft/layers gives Conv1D/Conv2D Keras' groups; tfjs's Conv3D ignores the key.
      const groups = rank === 3 ? 1 : (config.groups as number | null | undefined) ?? 1;
      if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0 || filters % groups !== 0) fail(`${cls} groups ${JSON.stringify(config.groups)} do not divide its channels`);
      if (groups > 1 && first) fail(`grouped ${cls} with channels_first`);
      weight('kernel', [...kernel, channels / groups, filters]);
      if (config.use_bias !== false) weight('bias', [filters]);
      const space = first ? x.slice(2) : x.slice(1, -1);
      const out = space.map((d, i) => convLength(d, kernel[i], pad, strides[i], dilation[i]));
      return [first ? [x[0], filters, ...out] : [x[0], ...out, filters]];
    },
    torch: () => ({ kernel: one('weight', T('conv')), bias: one('bias', T('identity')) }),
    theanoFlipped: ['kernel'],
    ...(rank === 3 ? {} : {
      needsGraftLayers: (config: Json) => typeof config.groups === 'number' && config.groups > 1,
      facts: (config: Json) => ({ groups: config.groups !== undefined ? ((config.groups as number | null) ?? 1) : undefined }),
    }),
  };
}

function transposedConvolution(rank: 1 | 2 | 3): LayerClass {
  return {
    weights: (config) => ['kernel', ...bias(config)],
    // tfjs has no Conv1DTranspose: only tfjs can say what it would do with one.
    build: rank === 1 ? undefined : ({ cls, config, inputs, weight }) => {
      const x = single(inputs, cls);
      if (x.length !== rank + 2) fail(`${cls} input has rank ${x.length}`);
      const first = channelsFirst(config, cls);
      const kernel = tuple(config.kernel_size, rank, `${cls} kernel_size`);
      const strides = tuple(config.strides, rank, `${cls} strides`, 1);
      const pad = padding(config, cls, ['valid', 'same']);
      const filters = int(config.filters, `${cls} filters`);
      const channels = known(first ? x[1] : x[x.length - 1], `${cls} input channels`);
      // tfjs-graft/layers gives Conv2DTranspose groups (kernel [kh, kw, filters/groups, in]).
      const groups = rank === 2 ? (config.groups as number | null | undefined) ?? 1 : 1;
      if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0 || filters % groups !== 0) fail(`${cls} groups ${JSON.stringify(config.groups)} do not divide its channels`);
      if (groups > 1 && first) fail(`grouped ${cls} with channels_first`);
      weight('kernel', [...kernel, filters / groups, channels]);
      if (config.use_bias !== false) weight('bias', [filters]);
      const space = first ? x.slice(2) : x.slice(1, -1);
      const out = space.map((d, i) => deconvLength(d, strides[i], kernel[i], pad));
      return [first ? [x[0], filters, ...out] : [x[0], ...out, filters]];
    },
    torch: () => ({ kernel: one('weight', T('conv-transpose')), bias: one('bias', T('identity')) }),
    // Keras 2 flipped only Conv2DTranspose among the transposed convolutions.
    theanoFlipped: rank === 2 ? ['kernel'] : undefined,
    ...(rank === 2 ? {
      needsGraftLayers: (config: Json) => typeof config.groups === 'number' && config.groups > 1,
      facts: (config: Json) => ({ groups: config.groups !== undefined ? ((config.groups as number | null) ?? 1) : undefined }),
    } : {}),
  };
}

/** What DepthwiseConv2D and SeparableConv2D read alike: a rank-4 input and the depthwise step. */
function depthwiseStep({ cls, config, inputs }: BuildContext) {
  const x = single(inputs, cls);
  if (x.length !== 4) fail(`${cls} input has rank ${x.length}`);
  const first = channelsFirst(config, cls);
  const kernel = tuple(config.kernel_size, 2, `${cls} kernel_size`);
  const strides = tuple(config.strides, 2, `${cls} strides`, 1);
  const dilation = tuple(config.dilation_rate, 2, `${cls} dilation_rate`, 1);
  const pad = padding(config, cls, ['valid', 'same']);
  const multiplier = config.depth_multiplier === undefined || config.depth_multiplier === null ? 1 : int(config.depth_multiplier, `${cls} depth_multiplier`);
  const channels = known(first ? x[1] : x[3], `${cls} input channels`);
  const space = first ? x.slice(2) : x.slice(1, -1);
  const outSpace = space.map((d, i) => convLength(d, kernel[i], pad, strides[i], dilation[i]));
  const output = (depth: number): Shape => (first ? [x[0], depth, ...outSpace] : [x[0], ...outSpace, depth]);
  return { kernel, multiplier, channels, output };
}

const depthwiseTorch = (): Record<string, TorchRule> => ({ depthwise_kernel: one('weight', T('depthwise')), bias: one('bias', T('identity')) });
const separableTorch = (): Record<string, TorchRule> => ({
  depthwise_kernel: one(['depthwise.weight', '0.weight', 'conv_dw.weight', 'dw.weight'], T('depthwise')),
  pointwise_kernel: one(['pointwise.weight', '1.weight', 'conv_pw.weight', 'pw.weight'], T('conv')),
  bias: one(['pointwise.bias', '1.bias', 'conv_pw.bias', 'pw.bias', 'bias'], T('identity')),
});

/** LSTM (4 gates), GRU (3), SimpleRNN (1): kernel, recurrent_kernel, bias. */
function recurrent(gates: number): LayerClass {
  return {
    weights: (config) => ['kernel', 'recurrent_kernel', ...bias(config)],
    build({ cls, config, inputs, weight }) {
      if (inputs.length !== 1) fail(`${cls} is called with initial states`);
      const x = inputs[0];
      if (x.length !== 3) fail(`${cls} input has rank ${x.length}`);
      const n = int(config.units, `${cls} units`);
      weight('kernel', [x[2], n * gates]);
      weight('recurrent_kernel', [n, n * gates]);
      if (config.use_bias !== false) weight('bias', cls === 'GRU' && config.reset_after === true ? [2, n * gates] : [n * gates]);
      const out: Shape = config.return_sequences === true ? [x[0], x[1], n] : [x[0], n];
      if (config.return_state !== true) return [out];
      const states = cls === 'LSTM' ? 2 : 1;
      return [out, ...Array.from({ length: states }, () => [x[0], n])];
    },
    kerasCell: true,
    torchStacked: true,
    facts: units,
  };
}

/** PyTorch's RNN parameter suffix: `_l<k>`, and `_reverse` for the backward direction. */
const rnnSuffix = (v: TargetVariable, rnnLayer: number): string => `_l${rnnLayer}${v.direction === 'backward' ? '_reverse' : ''}`;

const lstmLikeTorch = (v: TargetVariable, rnnLayer: number): Record<string, TorchRule> => {
  const sfx = rnnSuffix(v, rnnLayer);
  return {
    kernel: one(`weight_ih${sfx}`, T('transpose')),
    recurrent_kernel: one(`weight_hh${sfx}`, T('transpose')),
    bias: { params: [[`bias_ih${sfx}`], [`bias_hh${sfx}`]], transform: T('sum') },
  };
};

/** Keras 3 ConvLSTM layers: their variable order, for naming; tfjs has no such class. */
const convLstm: LayerClass = { weights: (config) => ['kernel', 'recurrent_kernel', ...bias(config)], kerasCell: true };

function pooling(rank: 1 | 2 | 3): LayerClass {
  return {
    weights: () => [],
    build({ cls, config, inputs }) {
      const x = single(inputs, cls);
      if (x.length !== rank + 2) fail(`${cls} input has rank ${x.length}`);
      const first = rank === 1 ? false : channelsFirst(config, cls);
      const pool = tuple(config.pool_size, rank, `${cls} pool_size`, 2);
      const strides = config.strides === null || config.strides === undefined ? pool : tuple(config.strides, rank, `${cls} strides`);
      const pad = padding(config, cls, ['valid', 'same']);
      const space = first ? x.slice(2) : x.slice(1, -1);
      const out = space.map((d, i) => convLength(d, pool[i], pad, strides[i]));
      return [first ? [x[0], x[1], ...out] : [x[0], ...out, x[x.length - 1]]];
    },
  };
}

function globalPooling(rank: 1 | 2): LayerClass {
  return {
    weights: () => [],
    build({ cls, config, inputs }) {
      const x = single(inputs, cls);
      if (x.length !== rank + 2 || config.keepdims === true) fail(`${cls} with rank ${x.length} input or keepdims`);
      if (rank === 1) return [[x[0], x[2]]];
      return [[x[0], channelsFirst(config, cls) ? x[1] : x[3]]];
    },
  };
}

/** ZeroPadding2D (grows) and Cropping2D (shrinks) the two spatial dimensions. */
function padOrCrop(key: 'padding' | 'cropping'): LayerClass {
  const sign = key === 'padding' ? 1 : -1;
  return {
    weights: () => [],
    build({ cls, config, inputs }) {
      const x = single(inputs, cls);
      if (x.length !== 4) fail(`${cls} input has rank ${x.length}`);
      const pairs = padPairs(config[key], key === 'padding' ? 1 : 0, `${cls} ${key}`);
      const first = channelsFirst(config, cls);
      const [h, w] = first ? [2, 3] : [1, 2];
      const out = x.slice();
      out[h] = x[h] === null ? null : x[h]! + sign * (pairs[0][0] + pairs[0][1]);
      out[w] = x[w] === null ? null : x[w]! + sign * (pairs[1][0] + pairs[1][1]);
      return [out];
    },
  };
}

const merge: LayerClass = { weights: () => [], build: ({ cls, inputs }) => [elementwise(inputs, cls)] };

/** A wrapper's inner layer: `{class_name, config}`. */
function innerLayer(config: Json, wrapper: string): { class_name: string; config: Json } {
  const inner = config.layer as { class_name?: unknown; config?: unknown } | undefined;
  if (typeof inner !== 'object' || inner === null || Array.isArray(inner) || typeof inner.config !== 'object' || inner.config === null || Array.isArray(inner.config) || typeof inner.class_name !== 'string') {
    fail(`${wrapper} has no inner layer`);
  }
  return inner as { class_name: string; config: Json };
}

// ---------------------------------------------------------------------------------------------
// Classes tfjs lacks, added by tfjs-graft/layers (src/layers): their build() in catalogue form.

const added = (entry: LayerClass): LayerClass => ({ ...entry, addedByGraftLayers: true, needsGraftLayers: () => true });

function locallyConnected(rank: 1 | 2): LayerClass {
  return added({
    weights: (config) => ['kernel', ...bias(config)],
    build({ cls, config, inputs, weight }) {
      const x = single(inputs, cls);
      if (x.length !== rank + 2) fail(`${cls} input has rank ${x.length}`);
      const first = channelsFirst(config, cls);
      const kernel = tuple(config.kernel_size, rank, `${cls} kernel_size`);
      const strides = tuple(config.strides, rank, `${cls} strides`, 1);
      const pad = padding(config, cls, ['valid', 'same']);
      const implementation = config.implementation ?? 1;
      if (implementation !== 1 && implementation !== 2) fail(`${cls} implementation ${JSON.stringify(implementation)}`);
      if (implementation === 1 && pad === 'same') fail(`${cls} with padding same and implementation 1`);
      const filters = int(config.filters, `${cls} filters`);
      const channels = known(first ? x[1] : x[x.length - 1], `${cls} input channels`);
      const space = (first ? x.slice(2) : x.slice(1, -1)).map((d, i) => known(d, `${cls} input dimension ${i + 1}`));
      const out = space.map((d, i) => convLength(d, kernel[i], pad, strides[i]) as number);
      // Implementation 1: one [k…·C, filters] matrix per output position; 2: a masked dense kernel.
      if (implementation === 1) weight('kernel', [out.reduce((a, b) => a * b, 1), kernel.reduce((a, b) => a * b, 1) * channels, filters]);
      else weight('kernel', first ? [channels, ...space, filters, ...out] : [...space, channels, ...out, filters]);
      if (config.use_bias !== false) weight('bias', [...out, filters]);
      return [first ? [x[0], filters, ...out] : [x[0], ...out, filters]];
    },
  });
}

/** Attention / AdditiveAttention / MultiHeadAttention inputs: `[query, value(, key)]`; `[x]` is `[x, x]`. */
function attentionInputs(cls: string, inputs: Shape[]): { q: Shape; v: Shape; k: Shape } {
  if (inputs.length < 1 || inputs.length > 3) fail(`${cls} is called on ${inputs.length} inputs`);
  const [q, v = q, k = v] = inputs;
  return { q, v, k };
}

const mhaProjections = (config: Json): { group: string; scope: string; weights: string[] }[] =>
  [['query_dense', 'query'], ['key_dense', 'key'], ['value_dense', 'value'], ['output_dense', 'attention_output']]
    .map(([group, scope]) => ({ group, scope, weights: ['kernel', ...bias(config)] }));

const GRAFT_ADDED: Record<string, LayerClass> = {
  SpatialDropout2D: added(passThrough),
  SpatialDropout3D: added(passThrough),
  UnitNormalization: added(passThrough),
  Cropping3D: added({
    weights: () => [],
    build({ cls, config, inputs }) {
      const x = single(inputs, cls);
      if (x.length !== 5) fail(`Cropping3D input has rank ${x.length}`);
      const raw = config.cropping ?? 1;
      const pairs = typeof raw === 'number' ? [[raw, raw], [raw, raw], [raw, raw]]
        : Array.isArray(raw) && raw.length === 3 ? raw.map((a) => (Array.isArray(a) ? a : [a, a])) : fail(`Cropping3D cropping ${JSON.stringify(raw)}`);
      const axes = channelsFirst(config, cls) ? [2, 3, 4] : [1, 2, 3];
      const out = x.slice();
      axes.forEach((a, i) => {
        const [before, after] = (pairs[i] as unknown[]).map((v) => int(v, 'Cropping3D cropping'));
        out[a] = x[a] === null ? null : x[a]! - before - after;
      });
      return [out];
    },
  }),
  LocallyConnected1D: locallyConnected(1),
  LocallyConnected2D: locallyConnected(2),
  Attention: added({
    weights: (config) => [...(config.use_scale === true ? ['scale'] : []), ...(config.score_mode === 'concat' ? ['concat_score_weight'] : [])],
    build({ cls, config, inputs, weight }) {
      const { q, v } = attentionInputs(cls, inputs);
      if (config.use_scale === true) weight('scale', []);
      if (config.score_mode === 'concat') weight('concat_score_weight', []);
      return [[...q.slice(0, -1), v[v.length - 1]]];
    },
  }),
  AdditiveAttention: added({
    weights: (config) => (config.use_scale === false ? [] : ['scale']),
    build({ cls, config, inputs, weight }) {
      const { q, v } = attentionInputs(cls, inputs);
      if (config.use_scale !== false) weight('scale', [v[v.length - 1]]);
      return [[...q.slice(0, -1), v[v.length - 1]]];
    },
  }),
  MultiHeadAttention: added({
    weights: (config) => mhaProjections(config).flatMap((p) => p.weights.map((w) => `${p.scope}/${w}`)),
    kerasSublayers: mhaProjections,
    build({ cls, config, inputs, weight }) {
      const { q, v, k } = attentionInputs(cls, inputs);
      if (config.attention_axes !== null && config.attention_axes !== undefined) {
        // graft's layer attends over every axis between batch and features (Keras' default) only.
        const axes = (Array.isArray(config.attention_axes) ? config.attention_axes : [config.attention_axes]).map((a) => int(a, `${cls} attention_axes`));
        const given = [...new Set(axes.map((a) => (a < 0 ? a + q.length : a)))].sort((a, b) => a - b);
        const wanted = q.map((_, i) => i).slice(1, -1);
        if (given.join() !== wanted.join()) fail(`${cls} attention_axes ${JSON.stringify(config.attention_axes)}`);
      }
      const heads = int(config.num_heads, `${cls} num_heads`);
      const keyDim = int(config.key_dim, `${cls} key_dim`);
      const valueDim = config.value_dim === null || config.value_dim === undefined ? keyDim : int(config.value_dim, `${cls} value_dim`);
      const rawOut = config.output_shape;
      const outDims = rawOut === null || rawOut === undefined ? [q[q.length - 1]]
        : (Array.isArray(rawOut) ? rawOut : [rawOut]).map((d) => int(d, `${cls} output_shape`));
      const withBias = config.use_bias !== false;
      const project = (scope: string, input: Shape, dim: number) => {
        weight(`${scope}/kernel`, [input[input.length - 1], heads, dim]);
        if (withBias) weight(`${scope}/bias`, [heads, dim]);
      };
      project('query', q, keyDim);
      project('key', k, keyDim);
      project('value', v, valueDim);
      weight('attention_output/kernel', [heads, valueDim, ...outDims]);
      if (withBias) weight('attention_output/bias', outDims);
      return [[...q.slice(0, -1), ...outDims]];
    },
  }),
  GroupNormalization: added({
    weights: scaleCenter,
    build({ cls, config, inputs, weight }) {
      const x = single(inputs, cls);
      const axis = int(config.axis ?? -1, `${cls} axis`);
      const a = axis < 0 ? axis + x.length : axis;
      if (a < 1 || a >= x.length) fail(`${cls} axis ${axis}`);
      const channels = known(x[a], `${cls} channels`);
      const groups = int(config.groups ?? 32, `${cls} groups`);
      if (groups < 1 || channels % groups !== 0) fail(`${cls} groups ${groups} for ${channels} channels`);
      if (config.scale !== false) weight('gamma', [channels]);
      if (config.center !== false) weight('beta', [channels]);
      return [x.slice()];
    },
    // tfjs's getConfig() (graft's class) reports groups, default 32.
    facts: (config) => ({ groups: typeof config.groups === 'number' ? config.groups : 32 }),
  }),
};

// ---------------------------------------------------------------------------------------------
// The catalogue

export const LAYER_CLASSES: Readonly<Record<string, LayerClass>> = {
  Dense: {
    weights: (config) => ['kernel', ...bias(config)],
    build({ cls, config, inputs, weight }) {
      const x = single(inputs, cls);
      const n = int(config.units, 'Dense units');
      weight('kernel', [x[x.length - 1], n]);
      if (config.use_bias !== false) weight('bias', [n]);
      return [[...x.slice(0, -1), n]];
    },
    torch(v) {
      const fi = v.flattenInput;
      const spatial = fi && fi.length >= 2 ? fi.slice(0, -1) : undefined;
      // Only a feature map that PyTorch holds channels-first flattens in another order than tfjs's.
      const kernel: TransformSpec = spatial && spatial.some((d) => d > 1) && v.flattenFrom?.layout === 'feature-map'
        ? { kind: 'dense-after-flatten', channels: fi![fi!.length - 1], spatial }
        : T('transpose');
      return { kernel: one('weight', kernel), bias: one('bias', T('identity')) };
    },
    facts: units,
  },
  Conv1D: convolution(1),
  Conv2D: convolution(2),
  Conv3D: convolution(3),
  Conv1DTranspose: transposedConvolution(1),
  Conv2DTranspose: transposedConvolution(2),
  Conv3DTranspose: transposedConvolution(3),
  DepthwiseConv1D: { weights: (config) => ['depthwise_kernel', ...bias(config)], torch: depthwiseTorch },
  DepthwiseConv2D: {
    weights: (config) => ['depthwise_kernel', ...bias(config)],
    build(b) {
      const { kernel, multiplier, channels, output } = depthwiseStep(b);
      b.weight('depthwise_kernel', [kernel[0], kernel[1], channels, multiplier]);
      if (b.config.use_bias !== false) b.weight('bias', [channels * multiplier]);
      return [output(channels * multiplier)];
    },
    torch: depthwiseTorch,
  },
  SeparableConv1D: { weights: (config) => ['depthwise_kernel', 'pointwise_kernel', ...bias(config)], torch: separableTorch },
  SeparableConv2D: {
    weights: (config) => ['depthwise_kernel', 'pointwise_kernel', ...bias(config)],
    build(b) {
      const { kernel, multiplier, channels, output } = depthwiseStep(b);
      const filters = int(b.config.filters, `${b.cls} filters`);
      b.weight('depthwise_kernel', [kernel[0], kernel[1], channels, multiplier]);
      b.weight('pointwise_kernel', [1, 1, channels * multiplier, filters]);
      if (b.config.use_bias !== false) b.weight('bias', [filters]);
      return [output(filters)];
    },
    torch: separableTorch,
  },
  BatchNormalization: {
    weights: (config) => [...scaleCenter(config), 'moving_mean', 'moving_variance'],
    nonTrainable: ['moving_mean', 'moving_variance'],
    build({ cls, config, inputs, weight }) {
      const x = single(inputs, cls);
      let axis = config.axis ?? -1;
      // tfjs takes a number; Keras sometimes writes [axis], which tfjs only survives when non-negative.
      if (Array.isArray(axis) && axis.length === 1 && typeof axis[0] === 'number' && axis[0] >= 0) axis = axis[0];
      if (typeof axis !== 'number' || !Number.isInteger(axis) || axis >= x.length || axis < -x.length) fail(`BatchNormalization axis ${JSON.stringify(config.axis)}`);
      const dim = x[axis < 0 ? axis + x.length : axis];
      if (config.scale !== false) weight('gamma', [dim]);
      if (config.center !== false) weight('beta', [dim]);
      weight('moving_mean', [dim]);
      weight('moving_variance', [dim]);
      return [x.slice()];
    },
    torch: () => ({
      gamma: one('weight', T('identity')),
      beta: one('bias', T('identity')),
      moving_mean: one('running_mean', T('identity')),
      moving_variance: one('running_var', T('identity')),
    }),
  },
  LayerNormalization: {
    weights: scaleCenter,
    build({ config, inputs, cls, weight }) {
      const x = single(inputs, cls);
      const raw = config.axis ?? -1;
      const axes = (Array.isArray(raw) ? raw : [raw]).map((a) => {
        const n = int(a, 'LayerNormalization axis');
        const r = n < 0 ? n + x.length : n;
        if (r < 0 || r >= x.length) fail(`LayerNormalization axis ${n} for rank ${x.length}`);
        return r;
      });
      if (new Set(axes).size !== axes.length) fail('LayerNormalization repeats an axis');
      const shape = axes.map((a) => x[a]);
      if (config.scale !== false) weight('gamma', shape);
      if (config.center !== false) weight('beta', shape);
      return [x.slice()];
    },
    torch: () => ({ gamma: one('weight', T('identity')), beta: one('bias', T('identity')) }),
  },
  Embedding: {
    weights: () => ['embeddings'],
    build({ config, inputs, cls, weight }) {
      const x = single(inputs, cls);
      const dtype = config.dtype ?? 'float32';
      // tfjs creates the table in the layer's dtype; only float32 tables are graftable here.
      if (dtype !== 'float32') fail(`Embedding with dtype ${JSON.stringify(dtype)}`);
      const outDim = int(config.output_dim, 'Embedding output_dim');
      weight('embeddings', [int(config.input_dim, 'Embedding input_dim'), outDim]);
      const inputLength = config.input_length;
      if (inputLength === undefined || inputLength === null) return [[...x, outDim]];
      const lens = (Array.isArray(inputLength) ? inputLength : [inputLength]) as (number | null)[];
      if (lens.length !== x.length - 1) fail('Embedding input_length does not match its input');
      return [[x[0], ...lens.map((l, k) => (l === null ? x[k + 1] : l)), outDim]];
    },
    torch: () => ({ embeddings: one('weight', T('identity')) }),
  },
  PReLU: {
    weights: () => ['alpha'],
    build({ config, inputs, cls, weight }) {
      const x = single(inputs, cls);
      const param = x.slice(1);
      const shared = config.shared_axes;
      if (shared !== undefined && shared !== null) {
        for (const a of Array.isArray(shared) ? shared : [shared]) {
          const i = int(a, 'PReLU shared_axes');
          if (i < 1 || i > param.length) fail(`PReLU shared axis ${i}`);
          param[i - 1] = 1;
        }
      }
      weight('alpha', param);
      return [x.slice()];
    },
    torch: () => ({ alpha: one('weight', T('broadcast')) }),
  },
  // ONNX orders LSTM gates i,o,f,c; Keras i,f,c,o. GRU's z,r,h agree.
  LSTM: { ...recurrent(4), torch: lstmLikeTorch, onnxGates: [0, 2, 3, 1] },
  SimpleRNN: { ...recurrent(1), torch: lstmLikeTorch, onnxGates: [0] },
  GRU: {
    ...recurrent(3),
    onnxGates: [0, 1, 2],
    torch(v, rnnLayer) {
      const sfx = rnnSuffix(v, rnnLayer);
      return {
        kernel: one(`weight_ih${sfx}`, T('gru-kernel')),
        recurrent_kernel: one(`weight_hh${sfx}`, T('gru-kernel')),
        bias: { params: [[`bias_ih${sfx}`], [`bias_hh${sfx}`]], transform: T('gru-bias') },
      };
    },
    needsGraftLayers: (config) => config.reset_after === true || config.resetAfter === true,
    facts: (config) => ({ ...units(config), resetAfter: config.reset_after === true ? true : undefined }),
  },
  ConvLSTM1D: convLstm,
  ConvLSTM2D: { ...convLstm, theanoFlipped: ['kernel', 'recurrent_kernel'] },
  ConvLSTM3D: convLstm,
  Bidirectional: {
    build({ config, inputs, wrapped }) {
      const inner = innerLayer(config, 'Bidirectional');
      const cls = inner.class_name;
      if (cls !== 'LSTM' && cls !== 'GRU' && cls !== 'SimpleRNN') fail(`Bidirectional(${cls})`);
      if (config.backward_layer !== undefined && config.backward_layer !== null) fail('Bidirectional with its own backward_layer');
      if (config.trainable === false || inner.config.trainable === false) fail('a frozen Bidirectional layer');
      if (inner.config.return_state === true) fail('Bidirectional with return_state');
      const name = inner.config.name;
      if (typeof name !== 'string' || name.length === 0) fail('the layer inside a Bidirectional has no name');
      const mergeMode = config.merge_mode === undefined ? 'concat' : config.merge_mode;
      if (mergeMode !== null && !['concat', 'sum', 'mul', 'ave'].includes(mergeMode as string)) fail(`Bidirectional merge_mode ${JSON.stringify(mergeMode)}`);
      // tfjs builds each direction under a scope named after it: `bi/forward_lstm/kernel`.
      const [out] = wrapped(cls, inner.config, inputs, `forward_${name}/`);
      wrapped(cls, inner.config, inputs, `backward_${name}/`);
      if (mergeMode === 'concat') {
        const last = out[out.length - 1];
        return [[...out.slice(0, -1), last === null ? null : last * 2]];
      }
      return mergeMode === null ? [out, out.slice()] : [out];
    },
  },
  TimeDistributed: {
    build({ cls, config, inputs, wrapped }) {
      const x = single(inputs, cls);
      const inner = innerLayer(config, 'TimeDistributed');
      if (config.trainable === false || inner.config.trainable === false) fail('a frozen TimeDistributed layer');
      if (x.length < 3) fail(`TimeDistributed input has rank ${x.length}`);
      if (['Sequential', 'Model', 'Functional', 'TimeDistributed', 'Bidirectional'].includes(inner.class_name)) fail(`TimeDistributed(${inner.class_name})`);
      // tfjs builds the wrapped layer without a name scope of its own: `td/kernel`.
      const outs = wrapped(inner.class_name, inner.config, [[x[0], ...x.slice(2)]], '');
      if (outs.length !== 1) fail('TimeDistributed of a multi-output layer');
      return [[outs[0][0], x[1], ...outs[0].slice(1)]];
    },
  },
  Flatten: {
    weights: () => [],
    build({ cls, inputs }) {
      const x = single(inputs, cls);
      const rest = x.slice(1).map((d, i) => known(d, `Flatten input dimension ${i + 1}`));
      return [[x[0], rest.reduce((a, b) => a * b, 1)]];
    },
  },
  Reshape: {
    weights: () => [],
    build({ cls, config, inputs }) {
      const x = single(inputs, cls);
      const target = config.target_shape;
      if (!Array.isArray(target)) fail('Reshape has no target_shape');
      const wanted = target.map((d) => int(d, 'Reshape target_shape'));
      const unknownIndex = wanted.indexOf(-1);
      if (wanted.filter((d) => d === -1).length > 1 || wanted.some((d) => d < -1)) fail('Reshape target_shape');
      const rest = x.slice(1);
      // tfjs resolves -1 only when every input dimension is known, the batch dimension included.
      if (x.some((d) => d === null)) return [[x[0], ...wanted.map((d) => (d === -1 ? null : d))]];
      const total = (rest as number[]).reduce((a, b) => a * b, 1);
      const knownProduct = wanted.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      if (unknownIndex >= 0) {
        if (knownProduct === 0 || total % knownProduct !== 0) fail('Reshape cannot infer its -1 dimension');
        wanted[unknownIndex] = total / knownProduct;
      } else if (knownProduct !== total) fail('Reshape changes the number of elements');
      return [[x[0], ...wanted]];
    },
  },
  Permute: {
    weights: () => [],
    build({ cls, config, inputs }) {
      const x = single(inputs, cls);
      const order = config.dims;
      if (!Array.isArray(order) || order.length !== x.length - 1) fail('Permute dims do not match its input');
      const out = x.slice();
      order.forEach((d, i) => {
        const k = int(d, 'Permute dims');
        if (k < 1 || k >= x.length) fail(`Permute dim ${k}`);
        out[i + 1] = x[k];
      });
      return [out];
    },
  },
  RepeatVector: {
    weights: () => [],
    build({ cls, config, inputs }) {
      const x = single(inputs, cls);
      if (x.length !== 2) fail(`RepeatVector input has rank ${x.length}`);
      return [[x[0], int(config.n, 'RepeatVector n'), x[1]]];
    },
  },
  MaxPooling1D: pooling(1),
  AveragePooling1D: pooling(1),
  MaxPooling2D: pooling(2),
  AveragePooling2D: pooling(2),
  MaxPooling3D: pooling(3),
  AveragePooling3D: pooling(3),
  GlobalAveragePooling1D: globalPooling(1),
  GlobalMaxPooling1D: globalPooling(1),
  GlobalAveragePooling2D: globalPooling(2),
  GlobalMaxPooling2D: globalPooling(2),
  ZeroPadding2D: padOrCrop('padding'),
  Cropping2D: padOrCrop('cropping'),
  UpSampling2D: {
    weights: () => [],
    build({ cls, config, inputs }) {
      const x = single(inputs, cls);
      if (x.length !== 4) fail(`${cls} input has rank ${x.length}`);
      const size = tuple(config.size, 2, 'UpSampling2D size', 2);
      const first = channelsFirst(config, cls);
      const [h, w] = first ? [2, 3] : [1, 2];
      const out = x.slice();
      out[h] = x[h] === null ? null : x[h]! * size[0];
      out[w] = x[w] === null ? null : x[w]! * size[1];
      return [out];
    },
  },
  Concatenate: {
    weights: () => [],
    build({ config, inputs }) {
      if (inputs.length < 2) fail('Concatenate is called on fewer than two inputs');
      const out = inputs[0].slice();
      const axisRaw = config.axis ?? -1;
      const axis = int(axisRaw, 'Concatenate axis');
      const a = axis < 0 ? out.length + axis : axis;
      if (a < 0 || a >= out.length || inputs.some((s) => s.length !== out.length)) fail('Concatenate inputs of different rank');
      for (const s of inputs.slice(1)) {
        if (out[a] === null || s[a] === null) {
          out[a] = null;
          break;
        }
        out[a] = out[a]! + s[a]!;
      }
      return [out];
    },
  },
  Add: merge,
  Multiply: merge,
  Average: merge,
  Maximum: merge,
  Minimum: merge,
  Activation: passThrough,
  Dropout: passThrough,
  SpatialDropout1D: passThrough,
  GaussianNoise: passThrough,
  GaussianDropout: passThrough,
  AlphaDropout: passThrough,
  ReLU: passThrough,
  LeakyReLU: passThrough,
  ELU: passThrough,
  ThresholdedReLU: passThrough,
  Softmax: passThrough,
  Masking: passThrough,
  Rescaling: passThrough,
  ...GRAFT_ADDED,
  // Layers of models built from ONNX graphs (tfjs-graft/layers).
  ...ONNX_LAYER_CLASSES,
};

/** The catalogue entry of a class, if graft knows it. */
export function layerClass(className: string): LayerClass | undefined {
  return Object.prototype.hasOwnProperty.call(LAYER_CLASSES, className) ? LAYER_CLASSES[className] : undefined;
}

/** Keras class names whose configs may need graft's layer extensions of tfjs's own classes. */
export const GRAFT_LAYER_CLASSES: string[] = Object.keys(LAYER_CLASSES).filter((c) => LAYER_CLASSES[c].needsGraftLayers && !LAYER_CLASSES[c].addedByGraftLayers);

/** Keras classes tfjs has no implementation of, which `tfjs-graft/layers` adds. */
export const GRAFT_ADDED_CLASSES: string[] = Object.keys(LAYER_CLASSES).filter((c) => LAYER_CLASSES[c].addedByGraftLayers);
