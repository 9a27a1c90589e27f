import { GraftError } from '../errors';
import type { OnnxGraph, OnnxNode, OnnxTensor } from './onnx/ir';
import { modulePathOfNode } from './onnx/names';
import type { TransformSpec } from '../transforms';
import type { TargetVariable } from './variables';
import {
  attributes, Attrs, ConstValue, decodeTensor, int64, isFloatType, MAX_DECODED, product, transposeConst, valuesOf,
} from './onnx/constants';
import { foldNode } from './onnx/fold';

/**
 * A topology source: an ONNX graph becomes a trainable tfjs layers model (a Functional model in
 * Keras JSON), channels-last like every tfjs model, plus the pairs that fill its variables from
 * the graph's initializers with the layout transforms they need.
 *
 * Every ONNX value is tracked with its ONNX shape and where its axes sit in the tfjs tensor
 * (`perm`: tfjs axis i holds ONNX axis perm[i]; tfjs axis 0 is always the batch). Layout-bound
 * ops (convolutions, pooling) bring their input to channels-last, shape ops (Reshape) to the
 * ONNX order with the batch first, and a Permute layer is inserted only where the held order
 * differs; Transpose costs nothing (it only relabels axes). Shape subgraphs fold to constants
 * with the batch symbolic (NaN).
 */

export interface OnnxBuildOptions {
  /** The model file, for error messages. */
  file: string;
  /** Fixed shapes for graph inputs whose dimensions the file leaves open (`--input-shape`). */
  inputShapes?: Record<string, number[]>;
  /** Names of the tensors the weight reader serves (initializers, weight Constant nodes). */
  weights: ReadonlySet<string>;
  /** The default-domain opset the model imports (some ops changed meaning between versions). */
  opset?: number;
}

/** One variable of the built model and the source tensors (with transform) that fill it. */
export interface WeightPair {
  layer: string;
  weight: string;
  direction?: 'forward' | 'backward';
  sources: string[];
  transform: TransformSpec;
}

/** How a graph input or output maps to the tfjs model's tensor. */
export interface TensorLayout {
  name: string;
  /** ONNX shape (null: the batch). */
  onnxShape: (number | null)[];
  tfjsShape: (number | null)[];
  /** tfjs axis i holds ONNX axis perm[i]; null when the order is the same. */
  perm: number[] | null;
  /** `NCHW → NHWC` and the like, or `same`. */
  layout: string;
  dtype: 'float32' | 'int32';
}

export interface OnnxModelBuild {
  topology: Record<string, unknown>;
  pairs: WeightPair[];
  inputs: TensorLayout[];
  outputs: TensorLayout[];
  /** Each weighted ONNX node and the tfjs layer it became. */
  layers: { node: string; op: string; layer: string }[];
}

/** Op types the builder handles (some only in the forms their notes in README give). */
export const BUILDABLE_OPS = new Set([
  'Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'BatchNormalization', 'LayerNormalization', 'InstanceNormalization',
  'Relu', 'LeakyRelu', 'PRelu', 'Elu', 'Selu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Softmax', 'Clip',
  'Softplus', 'Sqrt', 'Exp', 'Log', 'Neg', 'Abs', 'Reciprocal', 'Erf',
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Concat', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool',
  'ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Pad', 'Slice', 'Split',
  'Resize', 'Upsample', 'Dropout', 'Identity', 'Gather', 'LSTM', 'GRU', 'RNN',
  'Constant', 'ConstantOfShape', 'Shape', 'Cast', 'Expand', 'Range', 'Equal', 'Where', 'Floor', 'Ceil',
]);

/** The graph's op types with counts, the first node of each, and whether graft can build it. */
export function onnxOpSummary(graph: OnnxGraph): { op: string; count: number; firstNode: string; buildable: boolean }[] {
  const ops = new Map<string, { op: string; count: number; firstNode: string; buildable: boolean }>();
  graph.node.forEach((n, i) => {
    const op = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType;
    const entry = ops.get(op) ?? { op, count: 0, firstNode: n.name || `#${i}`, buildable: !n.domain && BUILDABLE_OPS.has(n.opType) };
    entry.count++;
    ops.set(op, entry);
  });
  return [...ops.values()];
}

/** Target variable names for the pairs, found among the built model's variables. */
export function resolvePairs(pairs: readonly WeightPair[], targets: readonly TargetVariable[]): { sources: string[]; target: string; transform: TransformSpec }[] {
  const byKey = new Map<string, TargetVariable>();
  for (const v of targets) byKey.set(`${v.layer}|${v.weight}|${v.direction ?? ''}`, v);
  return pairs.map((p) => {
    const v = byKey.get(`${p.layer}|${p.weight}|${p.direction ?? ''}`);
    if (!v) throw new Error(`the built model has no variable '${p.weight}' in layer '${p.layer}'${p.direction ? ` (${p.direction})` : ''}`);
    return { sources: p.sources, target: v.name, transform: p.transform };
  });
}

// ---------------------------------------------------------------------------------------------

type Ref = [string, number, number];

interface SymValue {
  kind: 'tensor';
  ref: Ref;
  /** ONNX shape; the batch dimension is -1. */
  shape: number[];
  /** tfjs axis i holds ONNX axis perm[i]; perm[0] is the batch axis. */
  perm: number[];
  dtype: 'float32' | 'int32';
  /** A Flatten of a channels-last feature map: tfjs features in (H, W, C) order, ONNX (C, H, W). */
  flat?: { channels: number; spatial: number[] };
  /**
   * The batch axis holds the batch folded with k other values (multi-head attention's N·heads,
   * T·N): the tfjs tensor keeps them apart, the k part on the axis `perm` marks FOLD. `outer`:
   * the batch index is the major one (n·k + j), else the minor one (j·N + n).
   */
  fold?: { k: number; outer: boolean };
}

/** In `perm`: the tfjs axis holding the k part of a folded batch axis. */
const FOLD = -2;

type Value = SymValue | ConstValue;

const BATCH = -1;

function identity(rank: number): number[] {
  return [...Array(rank).keys()];
}

/** Channels-last order of an ONNX [N, C, spatial…] tensor: [0, 2, …, 1]. */
function channelsLast(rank: number): number[] {
  return rank < 3 ? identity(rank) : [0, ...identity(rank).slice(2), 1];
}

/** The batch first, the other ONNX axes in order. */
function canonical(rank: number, batch: number): number[] {
  return [batch, ...identity(rank).filter((a) => a !== batch)];
}

/** Per-sample order: the batch first, then the ONNX axes in order, a folded k part where the batch axis was. */
function canonicalOf(v: SymValue): number[] {
  const rank = v.shape.length;
  const b = v.perm[0];
  if (!v.fold) return canonical(rank, b);
  return [b, ...identity(rank).slice(0, b), FOLD, ...identity(rank).slice(b + 1)];
}

function samePerm(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function layoutName(perm: readonly number[] | null, rank: number): string {
  if (!perm) return 'same';
  const letters = rank === 4 ? 'NCHW' : rank === 3 ? 'NCL' : rank === 5 ? 'NCDHW' : 'ABCDEFGH'.slice(0, rank);
  return `${letters} → ${perm.map((p) => letters[p]).join('')}`;
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

class Builder {
  readonly layers: Record<string, unknown>[] = [];
  readonly pairs: WeightPair[] = [];
  readonly weighted: { node: string; op: string; layer: string }[] = [];
  private readonly names = new Set<string>();
  private readonly counters = new Map<string, number>();
  readonly values = new Map<string, Value>();
  readonly consumers = new Map<string, OnnxNode[]>();
  readonly graphOutputs: Set<string>;
  /** Nodes already computed by an earlier node's layer (MatMul + Add bias). */
  readonly fused = new Set<OnnxNode>();

  constructor(readonly graph: OnnxGraph, readonly options: OnnxBuildOptions) {
    for (const n of graph.node) {
      for (const i of n.input) {
        if (!i) continue;
        const list = this.consumers.get(i);
        if (list) list.push(n);
        else this.consumers.set(i, [n]);
      }
    }
    this.graphOutputs = new Set(graph.output.map((o) => o.name));
  }

  /** Whether a node output is read by another node or is a graph output. */
  used(name: string | undefined): boolean {
    return !!name && ((this.consumers.get(name) ?? []).length > 0 || this.graphOutputs.has(name));
  }

  fail(node: OnnxNode | undefined, message: string): never {
    throw new GraftError('UNSUPPORTED', `${node ? `node '${node.name || node.opType}' (${node.opType}): ` : ''}${message}`, { file: this.options.file });
  }

  unique(base: string): string {
    // '/' separates a layer from its weights in variable names: never part of a layer name.
    let name = base.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[^A-Za-z0-9]+/, '') || 'layer';
    if (this.names.has(name)) {
      let k = 1;
      while (this.names.has(`${name}_${k}`)) k++;
      name = `${name}_${k}`;
    }
    this.names.add(name);
    return name;
  }

  /** A layer name for a node: its PyTorch module path, or `<op>_<n>`. */
  nodeName(node: OnnxNode): string {
    const module = node.name ? modulePathOfNode(node.name) : undefined;
    if (module) return this.unique(module);
    const op = node.opType.toLowerCase();
    const n = this.counters.get(op) ?? 0;
    this.counters.set(op, n + 1);
    return this.unique(`${op}_${n}`);
  }

  /** Adds a layer called on `inputs`; returns its name. */
  layer(className: string, name: string, config: Record<string, unknown>, inputs: SymValue[]): string {
    this.layers.push({
      class_name: className,
      name,
      config: { name, trainable: true, ...config },
      inbound_nodes: inputs.length ? [inputs.map((v) => [v.ref[0], v.ref[1], v.ref[2], {}])] : [],
    });
    return name;
  }

  sym(ref: Ref, shape: number[], perm: number[], dtype: SymValue['dtype'] = 'float32'): SymValue {
    return { kind: 'tensor', ref, shape, perm, dtype };
  }

  /** The tensor with its axes held in `perm` order (a Permute layer when they are not). */
  toPerm(v: SymValue, perm: number[], base: string): SymValue {
    if (samePerm(v.perm, perm)) return v;
    if (perm[0] !== v.perm[0]) throw new Error('a permutation may not move the batch');
    if (v.flat) throw new Error('a flattened feature map cannot be permuted');
    const dims = perm.slice(1).map((a) => v.perm.indexOf(a));
    const name = this.layer('Permute', this.unique(`${base}_permute`), { dims }, [v]);
    return { ...v, ref: [name, 0, 0], perm };
  }

  /** A Flatten whose feature order is PyTorch's (C, H, W), not tfjs's (H, W, C). */
  unflat(v: SymValue, base: string): SymValue {
    if (!v.flat) return v;
    const { channels, spatial } = v.flat;
    const held = this.layer('Reshape', this.unique(`${base}_unflatten`), { target_shape: [...spatial, channels] }, [v]);
    const r = spatial.length + 2;
    const image = this.sym([held, 0, 0], [BATCH, channels, ...spatial], channelsLast(r), v.dtype);
    const chw = this.toPerm(image, identity(r), base);
    const name = this.layer('Flatten', this.unique(`${base}_flatten`), {}, [chw]);
    return this.sym([name, 0, 0], v.shape, [0, 1], v.dtype);
  }

  tensor(node: OnnxNode, i: number): SymValue {
    const v = this.value(node, i);
    if (!v || v.kind !== 'tensor') this.fail(node, `input ${i} must be computed from the model's inputs, not a constant`);
    return v;
  }

  value(node: OnnxNode, i: number): Value | undefined {
    const name = node.input[i];
    if (!name) return undefined;
    const v = this.values.get(name);
    if (!v) this.fail(node, `input '${name}' is produced by no node before it`);
    return v;
  }

  constant(node: OnnxNode, i: number, what: string): ConstValue {
    const v = this.value(node, i);
    if (!v || v.kind !== 'const') this.fail(node, `${what} must be a constant`);
    return v;
  }

  ints(node: OnnxNode, i: number, what: string): number[] {
    const c = this.constant(node, i, what);
    const v = valuesOf(c);
    if (!v) this.fail(node, `${what} is not a known constant`);
    return v;
  }

  /** A weight the reader serves: name, shape, and whether a Transpose sits between. */
  weight(node: OnnxNode, i: number, what: string): ConstValue & { weight: string } {
    const c = this.constant(node, i, what);
    if (!c.weight) this.fail(node, `${what} is computed inside the graph, not an initializer (an export with do_constant_folding=False?); re-export with constant folding`);
    return c as ConstValue & { weight: string };
  }

  pair(layer: string, weight: string, source: string, transform: TransformSpec, direction?: 'forward' | 'backward'): void {
    this.pairs.push({ layer, weight, sources: [source], transform, ...(direction ? { direction } : {}) });
  }
}

// ---------------------------------------------------------------------------------------------

/** Builds the tfjs model for an ONNX graph, or throws UNSUPPORTED naming the ops it cannot build. */
export function buildOnnxModel(graph: OnnxGraph, options: OnnxBuildOptions): OnnxModelBuild {
  const unsupported = onnxOpSummary(graph).filter((o) => !o.buildable);
  if (unsupported.length) {
    throw new GraftError('UNSUPPORTED', `graft cannot build ops ${unsupported.map((o) => `${o.op}×${o.count} (first: '${o.firstNode}')`).join(', ')}; give a --target model.json to use only the weights`, { file: options.file });
  }
  const b = new Builder(graph, options);
  const initializers = new Set(graph.initializer.map((t) => t.name));
  for (const t of graph.initializer) b.values.set(t.name, constOf(t, options.weights.has(t.name) ? t.name : undefined));

  const inputs: TensorLayout[] = [];
  const inputNames: Ref[] = [];
  for (const vi of graph.input) {
    if (initializers.has(vi.name)) continue;
    const tt = vi.type?.tensorType;
    const declared = tt?.shape?.dim ?? [];
    const dims = declared.map((d) => (d.dimParam ? 0 : int64(d.dimValue ?? 0)));
    const given = options.inputShapes?.[vi.name];
    const shape = given ? [...given] : dims;
    // The batch: the one open dimension (a sequence-first RNN input has it second), else the first.
    const open = declared.map((d, i) => (d.dimParam || !(int64(d.dimValue ?? 0) > 0) ? i : -1)).filter((i) => i >= 0);
    const batchAxis = !given && open.length === 1 ? open[0] : 0;
    if (!given && shape.some((d, i) => i !== batchAxis && !(d > 0))) {
      throw new GraftError('USAGE', `graph input '${vi.name}' has open dimensions [${declared.map((d) => d.dimParam || int64(d.dimValue ?? 0)).join(', ')}]; fix them with --input-shape ${vi.name}=${declared.map((d, i) => (i === 0 ? 1 : d.dimParam ? `<${d.dimParam}>` : int64(d.dimValue ?? 0) || '<n>')).join(',')}`, { file: options.file });
    }
    if (shape.length === 0) throw new GraftError('UNSUPPORTED', `graph input '${vi.name}' is a scalar; graft builds models whose inputs have a batch axis`, { file: options.file });
    const elem = tt?.elemType ?? 1;
    const dtype = isFloatType(elem) ? 'float32' : 'int32';
    const rank = shape.length;
    // Images go channels-last; sequences, token ids and feature rows keep their order, batch first.
    const perm = batchAxis !== 0 ? canonical(rank, batchAxis) : rank >= 4 || (rank === 3 && feedsChannelOp(b, vi.name)) ? channelsLast(rank) : identity(rank);
    const onnxShape = shape.map((d, i) => (i === batchAxis ? BATCH : d));
    const tfjsShape = perm.map((p) => onnxShape[p]);
    const name = b.unique(vi.name);
    b.layers.push({
      class_name: 'InputLayer',
      name,
      config: { batch_input_shape: [null, ...tfjsShape.slice(1)], dtype, sparse: false, name },
      inbound_nodes: [],
    });
    inputNames.push([name, 0, 0]);
    b.values.set(vi.name, b.sym([name, 0, 0], onnxShape, perm, dtype));
    inputs.push(describe(vi.name, onnxShape, perm, dtype));
  }

  // Constants first: patterns that look ahead (layer normalization) read them before their turn.
  const isConstant = (n: OnnxNode) => n.opType === 'Constant' && !n.domain;
  for (const node of [...graph.node.filter(isConstant), ...graph.node.filter((n) => !isConstant(n))]) {
    if (b.fused.has(node)) continue;
    try {
      buildNode(b, node);
    } catch (e) {
      if (e instanceof GraftError) throw e;
      // Attributes of the wrong type or count in a damaged or hand-made file.
      throw new GraftError('CORRUPT', `node '${node.name || node.opType}' (${node.opType}) cannot be built: ${(e as Error).message}`, { file: options.file });
    }
  }

  const outputs: TensorLayout[] = [];
  const outputRefs: Ref[] = [];
  for (const vo of graph.output) {
    let v = b.values.get(vo.name);
    if (!v) throw new GraftError('CORRUPT', `graph output '${vo.name}' is produced by no node`, { file: options.file });
    if (v.kind !== 'tensor') throw new GraftError('UNSUPPORTED', `graph output '${vo.name}' is a constant; graft builds models whose outputs depend on their inputs`, { file: options.file });
    if (v.fold) throw new GraftError('UNSUPPORTED', `graph output '${vo.name}' folds the batch with another axis; tfjs outputs keep the batch axis whole`, { file: options.file });
    v = b.unflat(v, vo.name);
    outputRefs.push(v.ref);
    outputs.push(describe(vo.name, v.shape, v.perm, v.dtype));
  }

  const topology = {
    class_name: 'Model',
    config: { name: graph.name || 'onnx_model', layers: b.layers, input_layers: inputNames, output_layers: outputRefs },
    keras_version: 'tfjs-graft',
    backend: 'tensor_flow.js',
  };
  return { topology, pairs: b.pairs, inputs, outputs, layers: b.weighted };
}

function describe(name: string, onnxShape: number[], perm: number[], dtype: 'float32' | 'int32'): TensorLayout {
  const same = samePerm(perm, identity(perm.length));
  const shown = onnxShape.map((d) => (d === BATCH ? null : d));
  return { name, onnxShape: shown, tfjsShape: perm.map((p) => shown[p]), perm: same ? null : perm, layout: layoutName(same ? null : perm, perm.length), dtype };
}

/** Whether a rank-3 input is a 1-D feature map (feeds Conv/pooling) rather than a sequence. */
function feedsChannelOp(b: Builder, name: string): boolean {
  return (b.consumers.get(name) ?? []).some((n) => ['Conv', 'MaxPool', 'AveragePool', 'BatchNormalization', 'InstanceNormalization', 'GlobalAveragePool', 'GlobalMaxPool'].includes(n.opType));
}

function constOf(t: OnnxTensor, weight: string | undefined): ConstValue {
  const shape = t.dims.map(int64);
  const isFloat = isFloatType(t.dataType);
  const data = product(shape) <= MAX_DECODED ? decodeTensor(t) : undefined;
  return { kind: 'const', shape, data, isFloat, weight: isFloat ? weight : undefined };
}

// ---------------------------------------------------------------------------------------------

function buildNode(b: Builder, node: OnnxNode): void {
  const a = attributes(node);
  const out = (v: Value, i = 0) => {
    if (node.output[i]) b.values.set(node.output[i], v);
  };
  const inputs = node.input.map((_, i) => b.value(node, i));
  const allConst = inputs.every((v) => !v || v.kind === 'const');
  if (allConst && node.opType !== 'Constant') {
    const folded = foldNode(node, a, inputs as (ConstValue | undefined)[], (why) => b.fail(node, why));
    folded.forEach((v, i) => out(v, i));
    return;
  }
  const folded = inputs.find((v) => v?.kind === 'tensor' && v.fold);
  if (folded && !FOLD_OPS.has(node.opType)) b.fail(node, 'reads a tensor whose batch axis is folded with another axis (as attention does); graft builds only reshapes, transposes, products, softmax and elementwise ops on it');
  switch (node.opType) {
    case 'Constant': {
      const t = a.value as OnnxTensor | undefined;
      if (t && typeof t === 'object') out(constOf(t, b.options.weights.has(node.output[0]) ? node.output[0] : undefined));
      else if (typeof a.value_float === 'number') out({ kind: 'const', shape: [], data: [a.value_float], isFloat: true });
      else if (typeof a.value_int === 'number') out({ kind: 'const', shape: [], data: [a.value_int], isFloat: false });
      else if (Array.isArray(a.value_ints)) out({ kind: 'const', shape: [a.value_ints.length], data: a.value_ints as number[], isFloat: false });
      else if (Array.isArray(a.value_floats)) out({ kind: 'const', shape: [a.value_floats.length], data: a.value_floats as number[], isFloat: true });
      else b.fail(node, 'a Constant without a value graft can read');
      return;
    }
    case 'Identity': case 'Dropout': {
      out(inputs[0]!);
      return;
    }
    case 'Shape': {
      const x = b.tensor(node, 0);
      out({ kind: 'const', shape: [x.shape.length], data: x.shape.map((d) => (d === BATCH ? NaN : d)), isFloat: false });
      return;
    }
    case 'Cast': {
      const x = b.tensor(node, 0);
      const to = Number(a.to);
      if (isFloatType(to) !== (x.dtype === 'float32')) b.fail(node, 'casts between integer and float tensors inside the model are not built');
      out(x);
      return;
    }
    case 'Conv': return out(conv(b, node, a));
    case 'ConvTranspose': return out(convTranspose(b, node, a));
    case 'Gemm': return out(gemm(b, node, a));
    case 'MatMul': return out(matmul(b, node));
    case 'BatchNormalization': return out(batchNorm(b, node, a));
    case 'InstanceNormalization': return out(instanceNorm(b, node, a));
    case 'LayerNormalization': return out(layerNorm(b, node, a));
    case 'Relu': case 'Sigmoid': case 'Tanh': case 'Selu': case 'Softplus': {
      const x = b.tensor(node, 0);
      if (node.opType === 'Selu' && ((a.alpha !== undefined && Math.abs(Number(a.alpha) - 1.6732632) > 1e-6) || (a.gamma !== undefined && Math.abs(Number(a.gamma) - 1.0507010) > 1e-6))) {
        return out(unary(b, node, x, { op: 'selu' }));
      }
      const activation = { Relu: 'relu', Sigmoid: 'sigmoid', Tanh: 'tanh', Selu: 'selu', Softplus: 'softplus' }[node.opType];
      const name = b.layer('Activation', b.nodeName(node), { activation }, [x]);
      return out({ ...x, ref: [name, 0, 0] });
    }
    case 'LeakyRelu': {
      const x = b.tensor(node, 0);
      const name = b.layer('LeakyReLU', b.nodeName(node), { alpha: a.alpha ?? 0.01 }, [x]);
      return out({ ...x, ref: [name, 0, 0] });
    }
    case 'Elu': return out(unary(b, node, b.tensor(node, 0), { op: 'elu', alpha: a.alpha ?? 1 }));
    case 'HardSigmoid': return out(unary(b, node, b.tensor(node, 0), { op: 'hardSigmoid', alpha: a.alpha ?? 0.2, beta: a.beta ?? 0.5 }));
    case 'HardSwish': return out(unary(b, node, b.tensor(node, 0), { op: 'hardSwish' }));
    case 'Sqrt': case 'Exp': case 'Log': case 'Neg': case 'Abs': case 'Reciprocal': case 'Erf':
      return out(unary(b, node, b.tensor(node, 0), { op: node.opType.toLowerCase() }));
    case 'Clip': {
      const x = b.tensor(node, 0);
      const min = node.input[1] ? b.ints(node, 1, 'Clip min')[0] : (typeof a.min === 'number' ? a.min : undefined);
      const max = node.input[2] ? b.ints(node, 2, 'Clip max')[0] : (typeof a.max === 'number' ? a.max : undefined);
      if (min === 0 && max !== undefined) {
        const name = b.layer('ReLU', b.nodeName(node), { max_value: max }, [x]);
        return out({ ...x, ref: [name, 0, 0] });
      }
      return out(unary(b, node, x, { op: 'clip', ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) }));
    }
    case 'PRelu': return out(prelu(b, node));
    case 'Softmax': {
      const x = b.unflat(b.tensor(node, 0), node.name);
      const opset = b.options.opset ?? 13;
      const axis = normAxis(Number(a.axis ?? (opset < 13 ? 1 : -1)), x.shape.length);
      // Before opset 13 Softmax normalises over every axis from `axis` on, flattened together.
      if (opset < 13 && axis !== x.shape.length - 1) b.fail(node, `Softmax of opset ${opset} over axes ${axis}… of a rank-${x.shape.length} tensor is not built (over the last axis it is)`);
      if (axis === x.perm[0]) b.fail(node, 'softmax over the batch axis');
      const name = b.layer('Softmax', b.nodeName(node), { axis: x.perm.indexOf(axis) }, [x]);
      return out({ ...x, ref: [name, 0, 0] });
    }
    case 'Add': case 'Sub': case 'Mul': case 'Div': case 'Pow': case 'Max': case 'Min':
      return out(elementwise(b, node));
    case 'Concat': return out(concat(b, node, a));
    case 'MaxPool': case 'AveragePool': return out(pool(b, node, a));
    case 'GlobalAveragePool': case 'GlobalMaxPool': return out(globalPool(b, node));
    case 'ReduceMean': return layerNormPattern(b, node, a) ? undefined : out(reduce(b, node, a));
    case 'ReduceSum': case 'ReduceMax': case 'ReduceMin': return out(reduce(b, node, a));
    case 'Flatten': {
      const x = b.tensor(node, 0);
      const axis = normAxis(Number(a.axis ?? 1), x.shape.length);
      const shape = [product(x.shape.slice(0, axis)), product(x.shape.slice(axis))];
      if (axis !== 1 || x.perm[0] !== 0) return out(reshape(b, node, x, shape.map((d, i) => (i === 0 ? NaN : d))));
      return out(flatten(b, node, x));
    }
    case 'Reshape': {
      const x = b.tensor(node, 0);
      const target = b.ints(node, 1, 'the target shape');
      return out(reshape(b, node, x, target.map((d, i) => (d === 0 && !a.allowzero ? (x.shape[i] === BATCH ? NaN : x.shape[i]) : d))));
    }
    case 'Squeeze': case 'Unsqueeze': {
      const x = b.tensor(node, 0);
      const axesIn = node.input[1] ? b.ints(node, 1, 'axes') : (a.axes as number[] | undefined);
      let shape: number[];
      if (node.opType === 'Squeeze') {
        const axes = (axesIn ?? x.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((ax) => normAxis(ax, x.shape.length));
        shape = x.shape.filter((_, i) => !axes.includes(i));
      } else {
        const rank = x.shape.length + (axesIn ?? []).length;
        const axes = (axesIn ?? []).map((ax) => normAxis(ax, rank));
        shape = [];
        let k = 0;
        for (let i = 0; i < rank; i++) shape.push(axes.includes(i) ? 1 : x.shape[k++]);
      }
      return out(reshape(b, node, x, shape.map((d) => (d === BATCH ? NaN : d))));
    }
    case 'Transpose': {
      const x = b.unflat(b.tensor(node, 0), node.name);
      const p = (a.perm as number[] | undefined) ?? identity(x.shape.length).reverse();
      // Only the labels move: tfjs axis i keeps its data, which is now ONNX axis p⁻¹(perm[i]).
      return out({ ...x, shape: p.map((q) => x.shape[q]), perm: x.perm.map((q) => (q === FOLD ? FOLD : p.indexOf(q))) });
    }
    case 'Pad': return out(pad(b, node, a));
    case 'Slice': return out(slice(b, node));
    case 'Split': return split(b, node, a).forEach((v, i) => out(v, i));
    case 'Resize': case 'Upsample': return out(resize(b, node, a));
    case 'Gather': return out(gather(b, node, a));
    case 'LSTM': case 'GRU': case 'RNN': return recurrent(b, node, a).forEach((v, i) => v && out(v, i));
    case 'ConstantOfShape': case 'Expand': case 'Range': case 'Equal': case 'Where': case 'Floor': case 'Ceil':
      return b.fail(node, 'is only built on constants (shape arithmetic), not on the model\'s tensors');
    default:
      return b.fail(node, 'graft cannot build this op');
  }
}

/** Ops that keep working while the batch is folded with another axis (see SymValue.fold). */
const FOLD_OPS = new Set(['Identity', 'Dropout', 'Cast', 'Shape', 'Transpose', 'Reshape', 'MatMul', 'Gemm', 'Softmax', 'Add', 'Sub', 'Mul', 'Div',
  'Relu', 'Sigmoid', 'Tanh', 'Erf', 'Sqrt']);

function unary(b: Builder, node: OnnxNode, x: SymValue, config: Record<string, unknown>): SymValue {
  const name = b.layer('GraftUnary', b.nodeName(node), config, [x]);
  return { ...x, ref: [name, 0, 0] };
}

// ------------------------------------------------------------------------------ layers with weights

function spatialPads(node: OnnxNode, a: Attrs, b: Builder, k: number): number[] {
  const autoPad = String(a.auto_pad ?? 'NOTSET');
  if (autoPad !== 'NOTSET' && autoPad !== 'VALID') b.fail(node, `auto_pad ${autoPad} is not built; re-export with explicit pads`);
  return (a.pads as number[] | undefined) ?? new Array(2 * k).fill(0);
}

/** Zero padding before a valid convolution/pooling: ZeroPadding2D, or GraftPad for 1-D. */
function zeroPad(b: Builder, x: SymValue, pads: number[], base: string): SymValue {
  const k = pads.length / 2;
  if (pads.every((p) => p === 0)) return x;
  const shape = x.shape.map((d, i) => (i >= 2 ? d + pads[i - 2] + pads[i - 2 + k] : d));
  if (k === 2) {
    const name = b.layer('ZeroPadding2D', b.unique(`${base}_pad`), { padding: [[pads[0], pads[2]], [pads[1], pads[3]]], data_format: 'channels_last' }, [x]);
    return { ...x, ref: [name, 0, 0], shape };
  }
  const paddings = Array.from({ length: k }, (_, i) => [pads[i], pads[i + k]]);
  const name = b.layer('GraftPad', b.unique(`${base}_pad`), { paddings: [...paddings, [0, 0]], mode: 'constant', value: 0 }, [x]);
  return { ...x, ref: [name, 0, 0], shape };
}

function convOut(size: number, k: number, s: number, d: number, p0: number, p1: number): number {
  return Math.floor((size + p0 + p1 - d * (k - 1) - 1) / s) + 1;
}

function conv(b: Builder, node: OnnxNode, a: Attrs): SymValue {
  let x = b.tensor(node, 0);
  const w = b.weight(node, 1, 'the convolution weight');
  const rank = x.shape.length;
  const k = rank - 2;
  if (k !== 1 && k !== 2) b.fail(node, `${k}-D convolutions are not built (1-D and 2-D are)`);
  const name = b.nodeName(node);
  x = b.toPerm(b.unflat(x, name), channelsLast(rank), name);
  const kernel = w.shape.slice(2);
  const strides = (a.strides as number[] | undefined) ?? new Array(k).fill(1);
  const dilations = (a.dilations as number[] | undefined) ?? new Array(k).fill(1);
  const group = Number(a.group ?? 1);
  const pads = spatialPads(node, a, b, k);
  x = zeroPad(b, x, pads, name);
  const cin = x.shape[1];
  const cout = w.shape[0];
  if (w.shape[1] * group !== cin) b.fail(node, `weight [${w.shape}] with group ${group} does not fit ${cin} input channels`);
  const bias = node.input[2] ? b.weight(node, 2, 'the convolution bias') : undefined;
  const common = { strides, padding: 'valid', data_format: 'channels_last', dilation_rate: dilations, activation: 'linear', use_bias: !!bias };
  // tfjs's DepthwiseConv2D ignores dilation: dilated depthwise convolutions go the grouped way.
  if (group > 1 && group === cin && k === 2 && cout % cin === 0 && dilations.every((d) => d === 1)) {
    b.layer('DepthwiseConv2D', name, { ...common, kernel_size: kernel, depth_multiplier: cout / cin }, [x]);
    b.pair(name, 'depthwise_kernel', w.weight, { kind: 'depthwise' });
  } else {
    b.layer(k === 1 ? 'Conv1D' : 'Conv2D', name, { ...common, filters: cout, kernel_size: kernel, ...(group > 1 ? { groups: group } : {}) }, [x]);
    b.pair(name, 'kernel', w.weight, { kind: 'conv' });
  }
  if (bias) b.pair(name, 'bias', bias.weight, { kind: 'identity' });
  b.weighted.push({ node: node.name, op: node.opType, layer: name });
  const shape = [BATCH, cout, ...x.shape.slice(2).map((s, i) => convOut(s, kernel[i], strides[i], dilations[i], 0, 0))];
  return b.sym([name, 0, 0], shape, channelsLast(rank));
}

function convTranspose(b: Builder, node: OnnxNode, a: Attrs): SymValue {
  let x = b.tensor(node, 0);
  const w = b.weight(node, 1, 'the transposed convolution weight');
  if (x.shape.length !== 4) b.fail(node, 'only 2-D transposed convolutions are built');
  if (Number(a.group ?? 1) !== 1) b.fail(node, 'grouped transposed convolutions are not built');
  if (a.output_shape) b.fail(node, 'output_shape is not built; re-export with pads');
  const dil = (a.dilations as number[] | undefined) ?? [1, 1];
  if (dil.some((d) => d !== 1)) b.fail(node, 'dilated transposed convolutions are not built');
  const name = b.nodeName(node);
  x = b.toPerm(b.unflat(x, name), channelsLast(4), name);
  const kernel = w.shape.slice(2);
  const strides = (a.strides as number[] | undefined) ?? [1, 1];
  const pads = spatialPads(node, a, b, 2);
  const outPad = (a.output_padding as number[] | undefined) ?? [0, 0];
  const cout = w.shape[1];
  if (w.shape.length !== 4 || w.shape[0] !== x.shape[1]) b.fail(node, `weight [${w.shape}] does not fit ${x.shape[1]} input channels`);
  const bias = node.input[2] ? b.weight(node, 2, 'the bias') : undefined;
  b.layer('Conv2DTranspose', name, { filters: cout, kernel_size: kernel, strides, padding: 'valid', data_format: 'channels_last', activation: 'linear', use_bias: !!bias }, [x]);
  b.pair(name, 'kernel', w.weight, { kind: 'conv-transpose' });
  if (bias) b.pair(name, 'bias', bias.weight, { kind: 'identity' });
  b.weighted.push({ node: node.name, op: node.opType, layer: name });
  // tfjs 'valid' gives in·s + max(k − s, 0); ONNX's full output is (in − 1)·s + k + output_padding − pads.
  const crops: [number, number][] = [];
  const shape = [BATCH, cout];
  for (let i = 0; i < 2; i++) {
    const n = x.shape[2 + i];
    const tfjsLen = n * strides[i] + Math.max(kernel[i] - strides[i], 0);
    const onnxLen = (n - 1) * strides[i] + kernel[i] + outPad[i] - pads[i] - pads[i + 2];
    const end = tfjsLen - pads[i] - onnxLen;
    // Positions past (in − 1)·s + k get no input: tfjs computes them as bias only, as ONNX does.
    if (end < 0) b.fail(node, 'output_padding beyond the kernel extent is not built');
    crops.push([pads[i], end]);
    shape.push(onnxLen);
  }
  let ref: Ref = [name, 0, 0];
  if (crops.some(([p, q]) => p || q)) ref = [b.layer('Cropping2D', b.unique(`${name}_crop`), { cropping: crops, data_format: 'channels_last' }, [b.sym(ref, shape, channelsLast(4))]), 0, 0];
  return b.sym(ref, shape, channelsLast(4));
}

/** Dense over the last axis: Gemm (A·Bᵀ + C), or MatMul with a weight (+ a following Add of a bias). */
function gemm(b: Builder, node: OnnxNode, a: Attrs): SymValue {
  let x = b.tensor(node, 0);
  if (Number(a.transA ?? 0) !== 0) b.fail(node, 'transA is not built');
  if (Number(a.alpha ?? 1) !== 1 || Number(a.beta ?? 1) !== 1) b.fail(node, 'alpha/beta other than 1 are not built');
  const w = b.weight(node, 1, 'the Gemm weight');
  if (w.shape.length !== 2) b.fail(node, 'the Gemm weight must be 2-D');
  // The tensor as stored (before a Transpose node between it and the Gemm).
  const stored = w.transposed ? [w.shape[1], w.shape[0]] : w.shape;
  const transB = (Number(a.transB ?? 0) !== 0) !== !!w.transposed;
  const name = b.nodeName(node);
  if (x.flat && !transB) x = b.unflat(x, name);
  const [inputs, units] = transB ? [stored[1], stored[0]] : stored;
  if (x.shape.length !== 2 || x.shape[1] !== inputs || (x.fold && x.perm[x.perm.length - 1] !== 1)) b.fail(node, `weight [${w.shape}] does not fit input [${x.shape.map((d) => (d === BATCH ? 'N' : d))}]`);
  const bias = node.input[2] ? b.weight(node, 2, 'the Gemm bias') : undefined;
  b.layer('Dense', name, { units, activation: 'linear', use_bias: !!bias }, [x]);
  const kernel: TransformSpec = x.flat ? { kind: 'dense-after-flatten', channels: x.flat.channels, spatial: x.flat.spatial } : transB ? { kind: 'transpose' } : { kind: 'identity' };
  b.pair(name, 'kernel', w.weight, kernel);
  if (bias) b.pair(name, 'bias', bias.weight, bias.shape.length === 1 ? { kind: 'identity' } : { kind: 'broadcast' });
  b.weighted.push({ node: node.name, op: node.opType, layer: name });
  if (x.fold) return { ...x, ref: [name, 0, 0], shape: [BATCH, units] };
  return b.sym([name, 0, 0], [BATCH, units], [0, 1]);
}

function matmul(b: Builder, node: OnnxNode): SymValue {
  const right = b.value(node, 1);
  const left = b.value(node, 0);
  const name = b.nodeName(node);
  if (left?.kind === 'tensor' && right?.kind === 'tensor') {
    // Attention: both operands computed. Batch first, ONNX order, leading axes broadcast.
    const l = b.toPerm(b.unflat(left, name), canonicalOf(left), name);
    const r = b.toPerm(b.unflat(right, name), canonicalOf(right), name);
    const sameFold = (l.fold?.k ?? 1) === (r.fold?.k ?? 1) && (l.fold?.outer ?? true) === (r.fold?.outer ?? true);
    if (l.perm[0] !== 0 || r.perm[0] !== 0 || l.shape.length !== r.shape.length || l.shape.length < 3 || !sameFold) b.fail(node, 'a product of two tensors is built only for equal ranks ≥ 3 with the batch first');
    b.layer('GraftMatMul', name, {}, [l, r]);
    const shape = [...l.shape.slice(0, -1), r.shape[r.shape.length - 1]];
    return { kind: 'tensor', ref: [name, 0, 0], shape, perm: l.perm, dtype: l.dtype, ...(l.fold ? { fold: l.fold } : {}) };
  }
  if (left?.kind !== 'tensor') b.fail(node, 'a constant left operand is not built');
  const w = b.weight(node, 1, 'the MatMul weight');
  if (w.shape.length !== 2) b.fail(node, 'the MatMul weight must be 2-D');
  let x = b.unflat(left, name);
  const rank = x.shape.length;
  // Dense works on the tfjs last axis: it must hold ONNX's last axis.
  if (x.perm[x.perm.length - 1] !== rank - 1) x = b.toPerm(x, canonicalOf(x), name);
  if (x.perm[x.perm.length - 1] !== rank - 1) b.fail(node, 'the product runs over the folded batch axis');
  const units = w.shape[1];
  if (x.shape[rank - 1] !== w.shape[0]) b.fail(node, `weight [${w.shape}] does not fit input [${x.shape.map((d) => (d === BATCH ? 'N' : d))}]`);
  // torch.nn.Linear on 3-D inputs: MatMul then Add(bias): one Dense.
  const next = b.consumers.get(node.output[0]) ?? [];
  let bias: ConstValue | undefined;
  if (next.length === 1 && next[0].opType === 'Add') {
    const other = next[0].input.find((i) => i !== node.output[0]);
    const c = other ? b.values.get(other) : undefined;
    if (c?.kind === 'const' && c.weight && c.shape.length === 1 && c.shape[0] === units) {
      bias = c;
      b.fused.add(next[0]);
    }
  }
  b.layer('Dense', name, { units, activation: 'linear', use_bias: !!bias }, [x]);
  b.pair(name, 'kernel', w.weight, w.transposed ? { kind: 'transpose' } : { kind: 'identity' });
  if (bias) b.pair(name, 'bias', bias.weight!, { kind: 'identity' });
  b.weighted.push({ node: node.name, op: node.opType, layer: name });
  const result = b.sym([name, 0, 0], [...x.shape.slice(0, -1), units], x.perm);
  if (bias) b.values.set(next[0].output[0], result);
  return result;
}

function batchNorm(b: Builder, node: OnnxNode, a: Attrs): SymValue {
  const name = b.nodeName(node);
  const x = b.unflat(b.tensor(node, 0), name);
  if (Number(a.training_mode ?? 0) === 1 || node.output.length > 1 && node.output.slice(1).some((o) => b.used(o))) b.fail(node, 'batch normalization in training mode (batch statistics) is not built; export in eval mode');
  const [scale, beta, mean, variance] = [1, 2, 3, 4].map((i) => b.weight(node, i, ['', 'scale', 'bias', 'mean', 'variance'][i]));
  if ([scale, beta, mean, variance].some((p) => p.shape.length !== 1 || p.shape[0] !== x.shape[1])) b.fail(node, `parameters do not have the ${x.shape[1]} channels of the input`);
  b.layer('BatchNormalization', name, {
    axis: x.perm.indexOf(1), epsilon: a.epsilon ?? 1e-5, momentum: a.momentum ?? 0.9, center: true, scale: true,
  }, [x]);
  b.pair(name, 'gamma', scale.weight, { kind: 'identity' });
  b.pair(name, 'beta', beta.weight, { kind: 'identity' });
  b.pair(name, 'moving_mean', mean.weight, { kind: 'identity' });
  b.pair(name, 'moving_variance', variance.weight, { kind: 'identity' });
  b.weighted.push({ node: node.name, op: node.opType, layer: name });
  return { ...x, ref: [name, 0, 0] };
}

function instanceNorm(b: Builder, node: OnnxNode, a: Attrs): SymValue {
  const name = b.nodeName(node);
  const x = b.toPerm(b.unflat(b.tensor(node, 0), name), channelsLast(b.tensor(node, 0).shape.length), name);
  const scale = b.weight(node, 1, 'scale');
  const bias = b.weight(node, 2, 'bias');
  b.layer('GraftInstanceNorm', name, { epsilon: a.epsilon ?? 1e-5 }, [x]);
  b.pair(name, 'gamma', scale.weight, { kind: 'identity' });
  b.pair(name, 'beta', bias.weight, { kind: 'identity' });
  b.weighted.push({ node: node.name, op: node.opType, layer: name });
  return { ...x, ref: [name, 0, 0] };
}

function layerNorm(b: Builder, node: OnnxNode, a: Attrs): SymValue {
  const name = b.nodeName(node);
  let x = b.unflat(b.tensor(node, 0), name);
  const rank = x.shape.length;
  if (normAxis(Number(a.axis ?? -1), rank) !== rank - 1) b.fail(node, 'layer normalization is built over the last axis only');
  if (x.perm[rank - 1] !== rank - 1) x = b.toPerm(x, canonical(rank, x.perm[0]), name);
  const scale = b.weight(node, 1, 'scale');
  const bias = node.input[2] ? b.weight(node, 2, 'bias') : undefined;
  b.layer('LayerNormalization', name, { axis: -1, epsilon: a.epsilon ?? 1e-5, center: !!bias, scale: true }, [x]);
  b.pair(name, 'gamma', scale.weight, { kind: 'identity' });
  if (bias) b.pair(name, 'beta', bias.weight, { kind: 'identity' });
  b.weighted.push({ node: node.name, op: node.opType, layer: name });
  return { ...x, ref: [name, 0, 0] };
}

/**
 * The layer normalization exporters emit below opset 17: ReduceMean(x) → Sub → Pow 2 → ReduceMean
 * → Add ε → Sqrt → Div, then optionally Mul γ and Add β, over the last axis. Becomes one
 * LayerNormalization layer (γ, β trainable) when every intermediate feeds only the pattern.
 */
function layerNormPattern(b: Builder, mean: OnnxNode, a: Attrs): boolean {
  const x = b.values.get(mean.input[0]);
  if (!x || x.kind !== 'tensor') return false;
  const rank = x.shape.length;
  const lastAxisOnly = (n: OnnxNode, attrs: Attrs) => {
    const axes = (attrs.axes as number[] | undefined) ?? [];
    return axes.length === 1 && normAxis(axes[0], rank) === rank - 1 && Number(attrs.keepdims ?? 1) === 1 && !n.input[1];
  };
  if (!lastAxisOnly(mean, a)) return false;
  const only = (name: string, op: string): OnnxNode | undefined => {
    const c = b.consumers.get(name) ?? [];
    return c.length === 1 && c[0].opType === op ? c[0] : undefined;
  };
  const constOf = (n: OnnxNode, other: string): ConstValue | undefined => {
    const name = n.input.find((i) => i !== other);
    const v = name ? b.values.get(name) : undefined;
    return v?.kind === 'const' ? v : undefined;
  };
  const sub = only(mean.output[0], 'Sub');
  if (!sub || sub.input[0] !== mean.input[0] || sub.input[1] !== mean.output[0]) return false;
  const users = b.consumers.get(sub.output[0]) ?? [];
  const pow = users.find((n) => n.opType === 'Pow' && n.input[0] === sub.output[0]);
  const div = users.find((n) => n.opType === 'Div' && n.input[0] === sub.output[0]);
  if (users.length !== 2 || !pow || !div || valuesOf(constOf(pow, sub.output[0]) ?? { kind: 'const', shape: [], isFloat: true })?.[0] !== 2) return false;
  const mean2 = only(pow.output[0], 'ReduceMean');
  if (!mean2 || !lastAxisOnly(mean2, attributes(mean2))) return false;
  const add = only(mean2.output[0], 'Add');
  const eps = add && valuesOf(constOf(add, mean2.output[0]) ?? { kind: 'const', shape: [], isFloat: true });
  if (!add || !eps || eps.length !== 1) return false;
  const sqrt = only(add.output[0], 'Sqrt');
  if (!sqrt || only(sqrt.output[0], 'Div') !== div || div.input[1] !== sqrt.output[0]) return false;
  const fused = [mean, sub, pow, mean2, add, sqrt, div];
  let last = div;
  const mul = only(div.output[0], 'Mul');
  const gamma = mul && constOf(mul, div.output[0]);
  let beta: ConstValue | undefined;
  const units = x.shape[rank - 1];
  if (mul && gamma?.weight && product(gamma.shape) === units) {
    fused.push(mul);
    last = mul;
    const addBeta = only(mul.output[0], 'Add');
    const c = addBeta && constOf(addBeta, mul.output[0]);
    if (addBeta && c?.weight && product(c.shape) === units) {
      fused.push(addBeta);
      last = addBeta;
      beta = c;
    }
  }
  const name = b.nodeName(last.name ? last : mean);
  let v = b.unflat(x, name);
  if (v.perm[rank - 1] !== rank - 1) v = b.toPerm(v, canonical(rank, v.perm[0]), name);
  const hasGamma = last !== div;
  b.layer('LayerNormalization', name, { axis: -1, epsilon: eps[0], center: !!beta, scale: hasGamma }, [v]);
  if (hasGamma) b.pair(name, 'gamma', gamma!.weight!, { kind: 'broadcast' });
  if (beta) b.pair(name, 'beta', beta.weight!, { kind: 'broadcast' });
  b.weighted.push({ node: last.name, op: 'LayerNormalization', layer: name });
  for (const n of fused) b.fused.add(n);
  b.values.set(last.output[0], { ...v, ref: [name, 0, 0] });
  return true;
}

function prelu(b: Builder, node: OnnxNode): SymValue {
  const name = b.nodeName(node);
  const x = b.unflat(b.tensor(node, 0), name);
  const slope = b.weight(node, 1, 'the slope');
  const rank = x.shape.length;
  const n = product(slope.shape);
  const expanded = [...new Array(rank - slope.shape.length).fill(1), ...slope.shape];
  const axis = n === 1 ? -1 : expanded.findIndex((d) => d === n);
  if (n !== 1 && (axis < 0 || expanded.some((d, i) => i !== axis && d !== 1))) b.fail(node, `slope [${slope.shape}] is built only as one value or one per axis`);
  // Shared over every non-batch axis but the slope's own.
  const shared = identity(rank).slice(1).filter((t) => n === 1 || x.perm[t] !== axis);
  b.layer('PReLU', name, { shared_axes: shared }, [x]);
  // tfjs alpha has the input's shape with shared axes 1: one varying axis keeps the source's order.
  b.pair(name, 'alpha', slope.weight, { kind: 'broadcast' });
  b.weighted.push({ node: node.name, op: node.opType, layer: name });
  return { ...x, ref: [name, 0, 0] };
}

// ------------------------------------------------------------------------------ elementwise, shapes

function elementwise(b: Builder, node: OnnxNode): SymValue {
  const name = b.nodeName(node);
  const op = { Add: 'add', Sub: 'sub', Mul: 'mul', Div: 'div', Pow: 'pow', Max: 'max', Min: 'min' }[node.opType]!;
  const l = b.value(node, 0)!;
  const r = b.value(node, 1)!;
  if (l.kind === 'tensor' && r.kind === 'tensor') {
    const x = b.unflat(l, name);
    let y = b.unflat(r, name);
    if (x.shape.length !== y.shape.length) b.fail(node, `operands of ranks ${l.shape.length} and ${r.shape.length} are not built`);
    if (x.perm[0] !== y.perm[0]) b.fail(node, 'operands hold the batch on different axes');
    if ((x.fold?.k ?? 1) !== (y.fold?.k ?? 1) || (x.fold?.outer ?? true) !== (y.fold?.outer ?? true)) b.fail(node, 'operands fold the batch differently');
    y = b.toPerm(y, x.perm, name);
    const shape = x.shape.map((d, i) => (d === BATCH || y.shape[i] === BATCH ? BATCH : Math.max(d, y.shape[i])));
    const same = x.shape.every((d, i) => d === y.shape[i]);
    if (same && (op === 'add' || op === 'mul')) b.layer(op === 'add' ? 'Add' : 'Multiply', name, {}, [x, y]);
    else b.layer('GraftBinary', name, { op }, [x, y]);
    return { ...b.sym([name, 0, 0], shape, x.perm, x.dtype), ...(x.fold ? { fold: x.fold } : {}) };
  }
  const x = b.unflat((l.kind === 'tensor' ? l : r) as SymValue, name);
  const c = (l.kind === 'const' ? l : r) as ConstValue;
  const left = l.kind === 'const';
  const rank = x.shape.length;
  if (c.shape.length > rank) b.fail(node, `a constant of rank ${c.shape.length} broadcast against a rank-${rank} tensor is not built`);
  const expanded = [...new Array(rank - c.shape.length).fill(1), ...c.shape];
  if (expanded[x.perm[0]] !== 1) b.fail(node, 'a constant that varies along the batch is not built');
  const tfShape = x.perm.slice(1).map((p) => expanded[p]);
  const shape = x.shape.map((d, i) => (d === BATCH ? BATCH : Math.max(d, expanded[i])));
  const n = product(c.shape);
  if (x.fold && n > 1) b.fail(node, 'a constant operand of a tensor whose batch axis is folded is built only as a scalar');
  if (c.weight && n > 1) {
    b.layer('GraftConstant', name, { op, shape: tfShape, left }, [x]);
    const transform: TransformSpec = { kind: 'reshape-permute', from: expanded, perm: x.perm };
    b.pair(name, 'value', c.weight, c.transposed ? b.fail(node, 'a transposed constant operand is not built') : transform);
    b.weighted.push({ node: node.name, op: node.opType, layer: name });
  } else {
    let values = valuesOf(c);
    if (!values || !c.shape.every(Number.isFinite)) b.fail(node, 'the constant operand is not known ahead of time');
    if (n > 1) values = valuesOf(transposeConst({ ...c, shape: expanded }, x.perm)!)!;
    b.layer('GraftConstant', name, { op, shape: n > 1 ? tfShape : [], values, left }, [x]);
  }
  return { ...b.sym([name, 0, 0], shape, x.perm, x.dtype), ...(x.fold ? { fold: x.fold } : {}) };
}

function concat(b: Builder, node: OnnxNode, a: Attrs): SymValue {
  const name = b.nodeName(node);
  const parts = node.input.map((_, i) => b.value(node, i));
  if (parts.some((p) => p?.kind !== 'tensor')) b.fail(node, 'concatenating constants with tensors is not built');
  const first = b.unflat(parts[0] as SymValue, name);
  const rank = first.shape.length;
  const axis = normAxis(Number(a.axis), rank);
  if (axis === first.perm[0]) b.fail(node, 'concatenation along the batch axis');
  const xs = (parts as SymValue[]).map((p) => b.toPerm(b.unflat(p, name), first.perm, name));
  if (xs.length === 1) return xs[0];
  b.layer('Concatenate', name, { axis: first.perm.indexOf(axis) }, xs);
  const shape = first.shape.map((d, i) => (i === axis ? xs.reduce((s, x) => s + x.shape[i], 0) : d));
  return b.sym([name, 0, 0], shape, first.perm, first.dtype);
}

function pool(b: Builder, node: OnnxNode, a: Attrs): SymValue {
  const name = b.nodeName(node);
  let x = b.unflat(b.tensor(node, 0), name);
  const rank = x.shape.length;
  const k = rank - 2;
  if (k !== 1 && k !== 2) b.fail(node, `${k}-D pooling is not built`);
  x = b.toPerm(x, channelsLast(rank), name);
  const kernel = a.kernel_shape as number[];
  const strides = (a.strides as number[] | undefined) ?? new Array(k).fill(1);
  if (((a.dilations as number[] | undefined) ?? []).some((d) => d !== 1)) b.fail(node, 'dilated pooling is not built');
  const pads = spatialPads(node, a, b, k);
  const ceil = Number(a.ceil_mode ?? 0) === 1;
  const max = node.opType === 'MaxPool';
  const out: number[] = [];
  const extra: number[] = [];
  for (let i = 0; i < k; i++) {
    const size = x.shape[2 + i] + pads[i] + pads[i + k];
    let n = (ceil ? Math.ceil : Math.floor)((size - kernel[i]) / strides[i]) + 1;
    // A last window that would start in the end padding is dropped (PyTorch's rule).
    if (ceil && (n - 1) * strides[i] >= x.shape[2 + i] + pads[i]) n--;
    out.push(n);
    extra.push(Math.max(0, (n - 1) * strides[i] + kernel[i] - size));
  }
  const plain = pads.every((p) => p === 0) && extra.every((e) => e === 0);
  if (plain) {
    const cls = `${max ? 'Max' : 'Average'}Pooling${k}D`;
    b.layer(cls, name, k === 2 ? { pool_size: kernel, strides, padding: 'valid', data_format: 'channels_last' } : { pool_size: kernel[0], strides: strides[0], padding: 'valid' }, [x]);
  } else {
    if (k !== 2) b.fail(node, '1-D pooling with padding or ceil_mode is not built');
    b.layer('GraftPool2D', name, {
      mode: max ? 'max' : 'avg', pool: kernel, strides, pads: [pads[0], pads[2], pads[1], pads[3]], extra,
      inclusive: Number(a.count_include_pad ?? 0) === 1,
    }, [x]);
  }
  return b.sym([name, 0, 0], [BATCH, x.shape[1], ...out], channelsLast(rank));
}

function globalPool(b: Builder, node: OnnxNode): SymValue {
  const name = b.nodeName(node);
  let x = b.unflat(b.tensor(node, 0), name);
  const rank = x.shape.length;
  if (rank !== 3 && rank !== 4) b.fail(node, 'global pooling is built for 1-D and 2-D feature maps');
  x = b.toPerm(x, channelsLast(rank), name);
  const cls = `Global${node.opType === 'GlobalMaxPool' ? 'Max' : 'Average'}Pooling${rank - 2}D`;
  b.layer(cls, name, { data_format: 'channels_last' }, [x]);
  const c = x.shape[1];
  const shape = [BATCH, c, ...new Array(rank - 2).fill(1)];
  const ones = new Array(rank - 2).fill(1);
  const held = b.layer('Reshape', b.unique(`${name}_keepdims`), { target_shape: [...ones, c] }, [b.sym([name, 0, 0], [BATCH, c], [0, 1])]);
  return b.sym([held, 0, 0], shape, channelsLast(rank));
}

function reduce(b: Builder, node: OnnxNode, a: Attrs): SymValue {
  const name = b.nodeName(node);
  const x = b.unflat(b.tensor(node, 0), name);
  const rank = x.shape.length;
  const axesIn = node.input[1] ? b.ints(node, 1, 'axes') : (a.axes as number[] | undefined);
  const axes = (axesIn ?? identity(rank)).map((ax) => normAxis(ax, rank));
  const keep = Number(a.keepdims ?? 1) === 1;
  if (axes.includes(x.perm[0])) b.fail(node, 'reducing over the batch axis is not built');
  const op = { ReduceMean: 'mean', ReduceSum: 'sum', ReduceMax: 'max', ReduceMin: 'min' }[node.opType]!;
  const shape = keep ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
  const perm = keep ? x.perm : x.perm.filter((p) => !axes.includes(p)).map((p) => p - axes.filter((q) => q < p).length);
  const spatial = identity(rank).slice(2);
  const isGap = op === 'mean' && !keep && rank >= 3 && rank <= 4 && samePerm(x.perm, channelsLast(rank)) && axes.length === spatial.length && spatial.every((s) => axes.includes(s));
  if (isGap) b.layer(`GlobalAveragePooling${rank - 2}D`, name, { data_format: 'channels_last' }, [x]);
  else b.layer('GraftReduce', name, { op, axes: axes.map((ax) => x.perm.indexOf(ax)), keepdims: keep }, [x]);
  return b.sym([name, 0, 0], shape, perm, x.dtype);
}

/** Flatten(axis 1) of a batch-first tensor; a channels-last map stays as is when only Dense layers read it. */
function flatten(b: Builder, node: OnnxNode, x: SymValue): SymValue {
  const name = b.nodeName(node);
  const rank = x.shape.length;
  const features = product(x.shape.slice(1));
  if (rank <= 2) return { ...x, shape: [BATCH, features] };
  const orderSame = samePerm(x.perm, identity(rank)) || x.shape.slice(1).filter((d) => d !== 1).length <= 1;
  const readers = b.consumers.get(node.output[0]) ?? [];
  const denseOnly = readers.length > 0 && readers.every((n) => n.opType === 'Gemm' && Number(attributes(n).transB ?? 0) === 1 && n.input[0] === node.output[0]);
  let v = x;
  let flat: SymValue['flat'];
  if (!orderSame) {
    if (denseOnly && samePerm(x.perm, channelsLast(rank))) flat = { channels: x.shape[1], spatial: x.shape.slice(2) };
    else v = b.toPerm(x, identity(rank), name);
  }
  b.layer('Flatten', name, {}, [v]);
  return { kind: 'tensor', ref: [name, 0, 0], shape: [BATCH, features], perm: [0, 1], dtype: x.dtype, ...(flat ? { flat } : {}) };
}

/**
 * Reshape to an ONNX shape (NaN: the batch, -1: inferred). The tensor is brought to ONNX order
 * with the batch first; the batch must stay one whole axis with the same elements before it.
 */
function reshape(b: Builder, node: OnnxNode, x0: SymValue, target: number[]): SymValue {
  const name = b.nodeName(node);
  const x = b.unflat(x0, name);
  const rank = x.shape.length;
  const bIn = x.perm[0];
  const shown = `[${x.shape.map((d) => (d === BATCH ? (x.fold ? 'N·k' : 'N') : d))}] to [${target.map((d) => (Number.isNaN(d) ? 'N·k' : d))}]`;
  const inner = product(x.shape.filter((_, i) => i !== bIn)) * (x.fold?.k ?? 1);
  // Which output axis holds the batch: a NaN (from Shape), a 0 copy (already resolved), or the same position.
  let bOut = target.findIndex((d) => Number.isNaN(d));
  if (bOut < 0 && !x.fold && target.length > bIn && (target[bIn] === 1 || target[bIn] === -1) && product(x.shape.slice(0, bIn)) === product(target.slice(0, bIn).map((d) => (d < 0 ? 1 : d)))) bOut = bIn;
  if (bOut < 0) b.fail(node, `reshape of ${shown} mixes the batch with other axes`);
  const dims = target.filter((_, i) => i !== bOut);
  const unknown = dims.filter((d) => d === -1 || Number.isNaN(d)).length;
  if (unknown > 1) b.fail(node, `reshape target [${target}] leaves ${unknown} dimensions open`);
  const known = product(dims.filter((d) => d > 0));
  const filled = dims.map((d) => (d === -1 || Number.isNaN(d) ? inner / known : d));
  // What the batch axis holds besides the batch: k values folded with it (attention's heads).
  const k = inner / product(filled);
  if (!Number.isInteger(k) || k < 1 || !filled.every(Number.isInteger)) b.fail(node, `reshape of ${shown} does not keep the element count`);
  const shape = [...filled.slice(0, bOut), BATCH, ...filled.slice(bOut)];
  // Elements before and after the batch axis, and how the k part sits in it (see SymValue.fold).
  const pIn = product(x.shape.slice(0, bIn));
  const qIn = product(x.shape.slice(bIn + 1));
  const kIn = x.fold?.k ?? 1;
  const outerIn = x.fold?.outer ?? true;
  const pOut = product(shape.slice(0, bOut));
  const qOut = product(shape.slice(bOut + 1));
  // Per sample the data keep their order exactly when the batch index has the same stride in both.
  const stride = (outer: boolean, kk: number, q: number) => (outer ? kk * q : q);
  let outerOut: boolean | undefined;
  const strideIn = stride(outerIn, kIn, qIn);
  if (k === 1) outerOut = strideIn === qOut && pIn * (outerIn ? 1 : kIn) === pOut ? true : undefined;
  else if (strideIn === k * qOut && (outerIn ? pIn : pIn * kIn) === pOut) outerOut = true;
  else if (strideIn === qOut) outerOut = false;
  if (outerOut === undefined) b.fail(node, `reshape of ${shown} moves elements across the batch axis`);
  const fold = k > 1 ? { k, outer: outerOut } : undefined;
  const result: SymValue = { kind: 'tensor', ref: x.ref, shape, perm: [], dtype: x.dtype, ...(fold ? { fold } : {}) };
  result.perm = canonicalOf({ ...result, perm: [bOut] });
  if (!x.fold && !fold && shape.length === rank && shape.every((d, i) => d === x.shape[i])) return x;
  if (!x.fold && !fold && bOut === 0 && bIn === 0 && shape.length === 2 && rank > 2) return flatten(b, node, x);
  const v = b.toPerm(x, canonicalOf(x), name);
  const held = result.perm.slice(1).map((p) => (p === FOLD ? k : shape[p]));
  const same = held.length === v.perm.length - 1 && held.every((d, i) => d === (v.perm[i + 1] === FOLD ? kIn : v.shape[v.perm[i + 1]]));
  // Only the labels change when the tfjs tensor already has the new per-sample shape (T·N → T, N).
  if (same) return { ...result, ref: v.ref };
  b.layer('Reshape', name, { target_shape: held }, [v]);
  return { ...result, ref: [name, 0, 0] };
}

function pad(b: Builder, node: OnnxNode, a: Attrs): SymValue {
  const name = b.nodeName(node);
  const x = b.unflat(b.tensor(node, 0), name);
  const rank = x.shape.length;
  const pads = node.input[1] ? b.ints(node, 1, 'pads') : (a.pads as number[]);
  const value = node.input[2] ? b.ints(node, 2, 'the pad value')[0] : typeof a.value === 'number' ? a.value : 0;
  const mode = String(a.mode ?? 'constant');
  if (mode !== 'constant' && mode !== 'reflect') b.fail(node, `pad mode ${mode} is not built`);
  if (pads[x.perm[0]] || pads[x.perm[0] + rank]) b.fail(node, 'padding the batch axis');
  if (pads.some((p) => p < 0)) b.fail(node, 'negative pads are not built');
  const shape = x.shape.map((d, i) => (d === BATCH ? d : d + pads[i] + pads[i + rank]));
  const paddings = x.perm.slice(1).map((p) => [pads[p], pads[p + rank]]);
  b.layer('GraftPad', name, { paddings, mode, value }, [x]);
  return b.sym([name, 0, 0], shape, x.perm, x.dtype);
}

function slice(b: Builder, node: OnnxNode): SymValue {
  const name = b.nodeName(node);
  const x = b.unflat(b.tensor(node, 0), name);
  const rank = x.shape.length;
  // Before opset 10 starts/ends/axes are attributes.
  const attrs = attributes(node);
  const starts = node.input[1] ? b.ints(node, 1, 'starts') : (attrs.starts as number[] | undefined) ?? b.fail(node, 'no starts');
  const ends = node.input[2] ? b.ints(node, 2, 'ends') : (attrs.ends as number[] | undefined) ?? b.fail(node, 'no ends');
  const axes = (node.input[3] ? b.ints(node, 3, 'axes') : (attrs.axes as number[] | undefined) ?? identity(starts.length)).map((ax) => normAxis(ax, rank));
  const steps = node.input[4] ? b.ints(node, 4, 'steps') : new Array(starts.length).fill(1);
  const begin = x.shape.map(() => 0);
  const end = x.shape.map((d) => d);
  const stride = x.shape.map(() => 1);
  const shape = [...x.shape];
  axes.forEach((ax, i) => {
    if (ax === x.perm[0]) b.fail(node, 'slicing the batch axis is not built');
    const dim = x.shape[ax];
    const step = steps[i];
    if (!step) b.fail(node, 'a zero slice step');
    const norm = (v: number) => (v < 0 ? v + dim : v);
    let s = norm(starts[i]);
    let e = norm(ends[i]);
    if (step > 0) {
      s = Math.max(0, Math.min(dim, s));
      e = Math.max(0, Math.min(dim, e));
      shape[ax] = Math.max(0, Math.ceil((e - s) / step));
    } else {
      s = Math.max(0, Math.min(dim - 1, s));
      e = Math.max(-1, Math.min(dim - 1, e));
      shape[ax] = Math.max(0, Math.ceil((s - e) / -step));
    }
    begin[ax] = s;
    end[ax] = e;
    stride[ax] = step;
  });
  if (shape.every((d, i) => d === x.shape[i]) && stride.every((s) => s === 1)) return x;
  const t = x.perm.slice(1);
  b.layer('GraftSlice', name, { begin: t.map((p) => begin[p]), end: t.map((p) => end[p]), strides: t.map((p) => stride[p]) }, [x]);
  return b.sym([name, 0, 0], shape, x.perm, x.dtype);
}

function split(b: Builder, node: OnnxNode, a: Attrs): SymValue[] {
  const name = b.nodeName(node);
  const x = b.unflat(b.tensor(node, 0), name);
  const axis = normAxis(Number(a.axis ?? 0), x.shape.length);
  if (axis === x.perm[0]) b.fail(node, 'splitting the batch axis');
  const n = node.output.length;
  const sizes = node.input[1] ? b.ints(node, 1, 'split sizes') : (a.split as number[] | undefined) ?? new Array(n).fill(x.shape[axis] / n);
  if (sizes.reduce((s, v) => s + v, 0) !== x.shape[axis] || !sizes.every(Number.isInteger)) b.fail(node, `split sizes [${sizes}] do not fill the axis of ${x.shape[axis]}`);
  b.layer('GraftSplit', name, { axis: x.perm.indexOf(axis), sizes }, [x]);
  return sizes.map((s, i) => b.sym([name, 0, i], x.shape.map((d, j) => (j === axis ? s : d)), x.perm, x.dtype));
}

function resize(b: Builder, node: OnnxNode, a: Attrs): SymValue {
  const name = b.nodeName(node);
  let x = b.unflat(b.tensor(node, 0), name);
  if (x.shape.length !== 4) b.fail(node, 'resizing is built for 2-D feature maps');
  const mode = String(a.mode ?? 'nearest');
  // Upsample and opset-10 Resize sample asymmetrically; opset 11 made half_pixel the default.
  const legacy = node.opType === 'Upsample' || (b.options.opset ?? 13) < 11;
  const coords = String(a.coordinate_transformation_mode ?? (legacy ? 'asymmetric' : 'half_pixel'));
  const nearestMode = String(a.nearest_mode ?? (legacy ? 'floor' : 'round_prefer_floor'));
  let scales: number[] | undefined;
  let sizes: number[] | undefined;
  if (node.opType === 'Upsample' || (node.input.length === 2 && (b.options.opset ?? 13) < 11)) scales = node.input[1] ? b.ints(node, 1, 'scales') : (a.scales as number[]);
  else {
    const s = node.input[2] ? valuesOf(b.constant(node, 2, 'scales')) : undefined;
    if (s && s.length) scales = s;
    else if (node.input[3]) sizes = b.ints(node, 3, 'sizes');
  }
  const out = sizes ?? x.shape.map((d, i) => (d === BATCH ? BATCH : Math.floor(d * scales![i])));
  if (out[0] !== BATCH && !Number.isNaN(out[0]) && out[0] !== 1) b.fail(node, 'resizing the batch axis');
  if (out[1] !== x.shape[1]) b.fail(node, 'resizing the channel axis');
  x = b.toPerm(x, channelsLast(4), name);
  const shape = [BATCH, x.shape[1], out[2], out[3]];
  const factor = [out[2] / x.shape[2], out[3] / x.shape[3]];
  if (mode === 'nearest') {
    if (coords !== 'asymmetric' || (nearestMode !== 'floor' && !factor.every(Number.isInteger))) b.fail(node, `nearest resizing with ${coords}/${nearestMode} coordinates is not built (asymmetric/floor is)`);
    if (factor.every(Number.isInteger)) b.layer('UpSampling2D', name, { size: factor, interpolation: 'nearest', data_format: 'channels_last' }, [x]);
    else b.layer('GraftResize', name, { mode: 'nearest', size: out.slice(2), coordinates: 'asymmetric' }, [x]);
  } else if (mode === 'linear') {
    const known: Record<string, string> = { half_pixel: 'halfPixel', pytorch_half_pixel: 'halfPixel', align_corners: 'alignCorners', asymmetric: 'asymmetric' };
    if (!known[coords] || (coords === 'pytorch_half_pixel' && out.slice(2).some((d) => d === 1))) b.fail(node, `bilinear resizing with ${coords} coordinates is not built`);
    b.layer('GraftResize', name, { mode: 'bilinear', size: out.slice(2), coordinates: known[coords] }, [x]);
  } else b.fail(node, `resize mode ${mode} is not built`);
  return b.sym([name, 0, 0], shape, channelsLast(4));
}

function gather(b: Builder, node: OnnxNode, a: Attrs): SymValue {
  const name = b.nodeName(node);
  const data = b.value(node, 0)!;
  const indices = b.value(node, 1)!;
  const axis = Number(a.axis ?? 0);
  if (data.kind === 'const') {
    // Embedding: a float table looked up by token ids.
    if (!data.weight || data.shape.length !== 2 || axis !== 0) b.fail(node, 'a Gather from a constant is built only as an embedding (2-D float initializer, axis 0)');
    const ids = b.unflat(indices as SymValue, name);
    if (ids.dtype !== 'int32') b.fail(node, 'embedding indices must be integers');
    const v = b.toPerm(ids, canonical(ids.shape.length, ids.perm[0]), name);
    b.layer('Embedding', name, { input_dim: data.shape[0], output_dim: data.shape[1] }, [v]);
    b.pair(name, 'embeddings', data.weight, { kind: 'identity' });
    b.weighted.push({ node: node.name, op: node.opType, layer: name });
    const shape = [...v.shape, data.shape[1]];
    return b.sym([name, 0, 0], shape, [...v.perm, v.shape.length]);
  }
  const x = b.unflat(data, name);
  const rank = x.shape.length;
  const ax = normAxis(axis, rank);
  if (indices.kind !== 'const' || ax === x.perm[0]) b.fail(node, 'a Gather of computed indices, or along the batch, is not built');
  const idx = valuesOf(indices);
  if (!idx || indices.shape.length !== 0) b.fail(node, 'a Gather of a tensor is built for one constant index (x[:, i])');
  const dim = x.shape[ax];
  const i = idx[0] < 0 ? idx[0] + dim : idx[0];
  const t = x.perm.slice(1);
  const tAxis = x.perm.indexOf(ax);
  b.layer('GraftSlice', name, {
    begin: t.map((p) => (p === ax ? i : 0)), end: t.map((p) => (p === ax ? i + 1 : x.shape[p])), strides: t.map(() => 1), squeeze: [tAxis],
  }, [x]);
  const shape = x.shape.filter((_, j) => j !== ax);
  const perm = x.perm.filter((p) => p !== ax).map((p) => (p > ax ? p - 1 : p));
  return b.sym([name, 0, 0], shape, perm, x.dtype);
}

/** ONNX gate order → Keras order: Keras block k comes from ONNX block gates[k]. */
const RNN_GATES: Record<string, number[]> = { LSTM: [0, 2, 3, 1], GRU: [0, 1, 2], RNN: [0] };

function recurrent(b: Builder, node: OnnxNode, a: Attrs): (SymValue | undefined)[] {
  const name = b.nodeName(node);
  const op = node.opType;
  const direction = String(a.direction ?? 'forward');
  if (!['forward', 'reverse', 'bidirectional'].includes(direction)) b.fail(node, `direction ${direction} is not built`);
  const layout = Number(a.layout ?? 0);
  const units = Number(a.hidden_size);
  if (a.clip !== undefined) b.fail(node, 'clip is not built');
  if (Number(a.input_forget ?? 0)) b.fail(node, 'input_forget is not built');
  const acts = (a.activations as string[] | undefined)?.map((s) => s.toLowerCase());
  const defaults: Record<string, string[]> = { LSTM: ['sigmoid', 'tanh', 'tanh'], GRU: ['sigmoid', 'tanh'], RNN: ['tanh'] };
  const dirs = direction === 'bidirectional' ? 2 : 1;
  if (acts && acts.join() !== Array.from({ length: dirs }, () => defaults[op]).flat().join()) b.fail(node, `activations ${acts.join(',')} are not built (the defaults are)`);
  if (node.input[4] && b.value(node, 4)) b.fail(node, 'sequence_lens is not built');
  if (op === 'LSTM' && node.input[7]) b.fail(node, 'peepholes are not built');
  for (const i of op === 'LSTM' ? [5, 6] : [5]) {
    const s = node.input[i] ? b.value(node, i) : undefined;
    if (!s) continue;
    const zero = s.kind === 'const' && (s.fill === 0 && !s.data || (s.data ?? [1]).every((v) => v === 0));
    if (!zero) b.fail(node, 'initial states other than zeros are not built');
  }
  const x = b.unflat(b.tensor(node, 0), name);
  const batchAxis = layout === 0 ? 1 : 0;
  if (x.shape.length !== 3 || x.perm[0] !== batchAxis) b.fail(node, 'the sequence input must be [seq, batch, features] (layout 0) or [batch, seq, features] (layout 1)');
  const v = b.toPerm(x, canonical(3, batchAxis), name);
  const seq = x.shape[layout === 0 ? 0 : 1];
  const W = b.weight(node, 1, 'W');
  const R = b.weight(node, 2, 'R');
  const gateRows = RNN_GATES[op].length * units;
  if (W.shape.join() !== [dirs, gateRows, x.shape[2]].join() || R.shape.join() !== [dirs, gateRows, units].join()) {
    b.fail(node, `W [${W.shape}] / R [${R.shape}] do not fit ${dirs} direction(s) of ${units} units over ${x.shape[2]} features`);
  }
  const B = node.input[3] ? b.weight(node, 3, 'B') : undefined;
  const wantY = b.used(node.output[0]);
  const wantH = b.used(node.output[1]);
  const wantC = op === 'LSTM' && b.used(node.output[2]);
  const resetAfter = op === 'GRU' && Number(a.linear_before_reset ?? 0) === 1;
  const cls = { LSTM: 'LSTM', GRU: 'GRU', RNN: 'SimpleRNN' }[op]!;
  const inner: Record<string, unknown> = {
    name, units, activation: 'tanh', use_bias: !!B, return_sequences: true, return_state: wantH || wantC,
    ...(op !== 'RNN' ? { recurrent_activation: 'sigmoid' } : {}),
    ...(op === 'LSTM' ? { unit_forget_bias: false } : {}),
    ...(op === 'GRU' ? { reset_after: resetAfter } : {}),
    ...(direction === 'reverse' ? { go_backwards: true } : {}),
  };
  if (dirs === 2) b.layer('Bidirectional', name, { layer: { class_name: cls, config: inner }, merge_mode: 'concat' }, [v]);
  else b.layer(cls, name, inner, [v]);
  const gates = RNN_GATES[op];
  for (let d = 0; d < dirs; d++) {
    const dir = dirs === 2 ? (d === 0 ? 'forward' : 'backward') : undefined;
    b.pair(name, 'kernel', W.weight, { kind: 'onnx-rnn-kernel', gates, direction: d }, dir);
    b.pair(name, 'recurrent_kernel', R.weight, { kind: 'onnx-rnn-kernel', gates, direction: d }, dir);
    if (B) b.pair(name, 'bias', B.weight, { kind: 'onnx-rnn-bias', gates, direction: d, stacked: resetAfter }, dir);
  }
  b.weighted.push({ node: node.name, op, layer: name });
  const results: (SymValue | undefined)[] = [];
  // Y: [seq, dirs, batch, units] (layout 0) from tfjs [batch, seq, dirs·units].
  if (wantY) {
    let y = b.sym([name, 0, 0], [BATCH, seq, dirs * units], [0, 1, 2]);
    if (direction === 'reverse') {
      // Keras' go_backwards returns the outputs in processing order; ONNX keeps time order.
      const flip = b.layer('GraftSlice', b.unique(`${name}_time_order`), { begin: [seq - 1, 0], end: [-1, units], strides: [-1, 1] }, [y]);
      y = b.sym([flip, 0, 0], y.shape, y.perm);
    }
    const held = b.layer('Reshape', b.unique(`${name}_directions`), { target_shape: [seq, dirs, units] }, [y]);
    results.push(layout === 0
      ? b.sym([held, 0, 0], [seq, dirs, BATCH, units], [2, 0, 1, 3])
      : b.sym([held, 0, 0], [BATCH, seq, dirs, units], [0, 1, 2, 3]));
  } else results.push(undefined);
  // Y_h / Y_c: [dirs, batch, units] from the per-direction states.
  const perDir = op === 'LSTM' ? 2 : 1;
  const state = (which: number): SymValue => {
    const parts = Array.from({ length: dirs }, (_, d) => {
      const s = b.sym([name, 0, 1 + d * perDir + which], [BATCH, units], [0, 1]);
      const r = b.layer('Reshape', b.unique(`${name}_state`), { target_shape: [1, units] }, [s]);
      return b.sym([r, 0, 0], [BATCH, 1, units], [0, 1, 2]);
    });
    let ref = parts[0].ref;
    if (dirs === 2) ref = [b.layer('Concatenate', b.unique(`${name}_states`), { axis: 1 }, parts), 0, 0];
    return layout === 0 ? b.sym(ref, [dirs, BATCH, units], [1, 0, 2]) : b.sym(ref, [BATCH, dirs, units], [0, 1, 2]);
  };
  results.push(wantH ? state(0) : undefined);
  results.push(wantC ? state(1) : undefined);
  return results;
}
