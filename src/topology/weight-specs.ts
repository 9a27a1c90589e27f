import type { TargetVariable } from './variables';
import { modelConfigOf } from './model-json';

/**
 * The variables a tfjs layers-model would have, derived from its topology alone: names, shapes,
 * owning layer and order exactly as tfjs builds them, without loading tfjs. This lets a conversion
 * stream tensors from file to file instead of building a live model.
 *
 * It mirrors tfjs-layers (with `tfjs-graft/layers` registered: grouped Conv1D/Conv2D, GRU
 * reset_after): Keras-style shape inference through Sequential and functional graphs. Anything it
 * does not know exactly (an unknown class, a dimension it cannot infer, an exotic option) makes it
 * give up, and the caller builds the model with tfjs instead.
 */

type Json = Record<string, unknown>;
/** A tensor shape with the batch dimension first; `null` is an unknown dimension. */
type Shape = (number | null)[];

/** One variable as its layer creates it (in `addWeight` order). */
interface CreatedWeight {
  /** Name below the layer's scope: `kernel`, or `forward_lstm/kernel` inside a Bidirectional. */
  local: string;
  shape: number[];
  /** The `trainable` argument of `addWeight` (false for BatchNormalization's moving statistics). */
  trainable: boolean;
}

/** A layer with weights, as tfjs lists it among a model's layers. */
interface WeightedLayer {
  kind: 'layer';
  name: string;
  className: string;
  config: Json;
  weights: CreatedWeight[];
  trainable: boolean;
  flattenInput?: number[];
}

/** A model (top level or nested) and its layers in tfjs's `model.layers` order. */
interface ModelNode {
  kind: 'model';
  layers: (WeightedLayer | ModelNode)[];
}

/** What `analyzeTopology` finds: the planner's view and the order tfjs saves weights in. */
export interface TopologyAnalysis {
  /** Per layer, in `model.layers` order (nested models flattened): what `targetVariables` returns. */
  variables: TargetVariable[];
  /** Variable names in `model.weights` order: every trainable weight, then every non-trainable one. */
  saveOrder: string[];
}

/** Why the topology could not be analysed without tfjs. */
export class TopologyNotSupported extends Error {}

function fail(why: string): never {
  throw new TopologyNotSupported(why);
}

/**
 * The target variables of a topology (the JSON under `modelTopology`), equal to what
 * `targetVariables(model)` gives for the tfjs model built from it, or undefined when the topology
 * needs tfjs to be sized.
 */
export function weightSpecsFromTopology(topology: Record<string, unknown>): TargetVariable[] | undefined {
  const r = analyzeTopology(topology);
  return 'reason' in r ? undefined : r.variables;
}

/** Like weightSpecsFromTopology, also giving the save order, or the reason it cannot. */
export function analyzeTopology(topology: Record<string, unknown>): TopologyAnalysis | { reason: string } {
  let root: ModelNode;
  if (!isObject(topology)) return { reason: 'the topology is not a JSON object' };
  try {
    builtModels = new WeakMap();
    root = buildModel(modelConfigOf(topology)).node;
  } catch (e) {
    if (e instanceof TopologyNotSupported) return { reason: e.message };
    throw e;
  } finally {
    builtModels = new WeakMap();
  }
  const layers = flatLayers(root);
  const variables: TargetVariable[] = [];
  let layerIndex = 0;
  for (const layer of layers) {
    const own = orderedWeights(layer);
    if (own.length === 0) continue;
    const unwrapped = layer.className === 'Bidirectional' ? (layer.config.layer as Json) : undefined;
    const className = unwrapped ? String(unwrapped.class_name) : layer.className;
    const inner = unwrapped ? (unwrapped.config as Json) : layer.config;
    own.forEach((w, indexInLayer) => {
      const name = `${layer.name}/${w.local}`;
      const segments = name.split('/');
      const direction = segments.some((s) => s.startsWith('backward_')) ? 'backward' : segments.some((s) => s.startsWith('forward_')) ? 'forward' : undefined;
      variables.push({
        name,
        layer: layer.name,
        className,
        weight: segments[segments.length - 1],
        shape: w.shape.slice(),
        dtype: 'float32',
        indexInLayer,
        layerIndex,
        flattenInput: className === 'Dense' ? layer.flattenInput : undefined,
        config: {
          resetAfter: className === 'GRU' && inner.reset_after === true ? true : undefined,
          groups: (className === 'Conv1D' || className === 'Conv2D') && inner.groups !== undefined ? ((inner.groups as number | null) ?? 1) : undefined,
          units: UNITS_CLASSES.has(className) && typeof inner.units === 'number' ? inner.units : undefined,
        },
        direction,
      });
    });
    layerIndex++;
  }
  const saveOrder = [...trainableOf(root), ...nonTrainableOf(root)];
  const names = new Set(variables.map((v) => v.name));
  if (names.size !== variables.length) return { reason: 'two variables share a name' };
  return { variables, saveOrder };
}

/** Classes whose tfjs getConfig() reports `units`. */
const UNITS_CLASSES = new Set(['Dense', 'LSTM', 'GRU', 'SimpleRNN']);

function flatLayers(model: ModelNode): WeightedLayer[] {
  return model.layers.flatMap((l) => (l.kind === 'model' ? flatLayers(l) : [l]));
}

/** A layer's `weights` in tfjs order: trainable ones first, then the others, each in creation order. */
function orderedWeights(layer: WeightedLayer): CreatedWeight[] {
  return [...layer.weights.filter((w) => w.trainable), ...layer.weights.filter((w) => !w.trainable)];
}

/** Names of the weights a node lists as trainable (tfjs `trainableWeights`). */
function trainableOf(node: WeightedLayer | ModelNode): string[] {
  if (node.kind === 'model') return node.layers.flatMap(trainableOf);
  if (!node.trainable) return [];
  return node.weights.filter((w) => w.trainable).map((w) => `${node.name}/${w.local}`);
}

/** Names of the weights a node lists as non-trainable: a frozen layer's all, else the statistics. */
function nonTrainableOf(node: WeightedLayer | ModelNode): string[] {
  if (node.kind === 'model') return node.layers.flatMap(nonTrainableOf);
  const ws = node.trainable ? node.weights.filter((w) => !w.trainable) : orderedWeights(node);
  return ws.map((w) => `${node.name}/${w.local}`);
}

// ---------------------------------------------------------------------------------------------
// Models

interface BuiltModel {
  node: ModelNode;
  inputs: Shape[];
  outputs: Shape[];
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

/** Models already analysed in this analysis: a nested model is met both as a layer and in the layer order. */
let builtModels = new WeakMap<Json, BuiltModel>();

/** `{class_name, config}` of a model, nested or not; each must declare its own input shape. */
function buildModel(entry: Json): BuiltModel {
  const done = builtModels.get(entry);
  if (done) return done;
  const className = entry.class_name;
  let built: BuiltModel;
  if (className === 'Sequential') built = buildSequential(entry.config);
  else if (className === 'Model' || className === 'Functional') built = buildFunctional(entry.config);
  else return fail(`the topology's class is ${JSON.stringify(className)}, not Sequential or a functional Model`);
  builtModels.set(entry, built);
  return built;
}

function layerEntries(config: unknown): Json[] {
  const list = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
  if (!Array.isArray(list) || !list.every(isObject)) fail('the model config has no list of layers');
  return list as Json[];
}

function layerName(entry: Json): string {
  const cfg = entry.config;
  const name = isObject(cfg) ? cfg.name : undefined;
  // tfjs invents names for unnamed layers from global counters; only tfjs itself can predict them.
  if (typeof name !== 'string' || name.length === 0) fail(`a ${String(entry.class_name)} layer has no name`);
  return name;
}

function checkModelTrainable(config: unknown): void {
  if (isObject(config) && config.trainable === false) fail('a whole model is marked trainable: false');
}

function buildSequential(config: unknown): BuiltModel {
  checkModelTrainable(config);
  const entries = layerEntries(config);
  if (entries.length === 0) fail('a Sequential model has no layers');
  let current: Shape | undefined;
  let start = 0;
  const first = entries[0];
  if (first.class_name === 'InputLayer') {
    current = inputLayerShape(first.config);
    start = 1;
  } else if (MODEL_CLASSES.has(String(first.class_name))) {
    current = buildModel(first).inputs[0];
  } else if (isObject(first.config)) {
    current = declaredInputShape(first.config);
  }
  // Without a declared input shape tfjs builds the layers only when the model is first called
  // (under other name scopes), so only tfjs can say what they will be.
  if (!current) fail('the first layer of a Sequential model declares no input shape');
  const inputs = [current];
  const layers: (WeightedLayer | ModelNode)[] = [];
  let producer: CallRecord | undefined;
  for (const entry of entries.slice(start)) {
    const call = callLayer(entry, [current], producer ? [producer] : []);
    if (call.outputs.length !== 1) fail(`layer '${layerName(entry)}' has ${call.outputs.length} outputs; a Sequential model needs one`);
    layers.push(call.node);
    current = call.outputs[0];
    producer = call.record;
  }
  return { node: { kind: 'model', layers }, inputs, outputs: [current] };
}

/** What a layer call leaves behind for its consumers: its class and the shapes it was called on. */
interface CallRecord {
  className: string;
  /** Input shapes of this layer's first call (tfjs `layer.input` is the first node's input). */
  firstInputs: Shape[];
}

function buildFunctional(config: unknown): BuiltModel {
  checkModelTrainable(config);
  if (!isObject(config)) fail('the functional model config is not an object');
  const entries = layerEntries(config);
  interface State {
    entry: Json;
    name: string;
    /** Output shapes per created node (node index = position). */
    nodes: { outputs: Shape[]; inbound: [string, number, number][] }[];
    call?: ReturnType<typeof callLayer>;
    record?: CallRecord;
  }
  const created = new Map<string, State>();
  const unprocessed = new Map<string, unknown[][]>();
  for (const entry of entries) {
    const name = layerName(entry);
    if (created.has(name)) fail(`two layers are named '${name}'`);
    const state: State = { entry, name, nodes: [] };
    created.set(name, state);
    if (entry.class_name === 'InputLayer') {
      state.nodes.push({ outputs: [inputLayerShape(entry.config)], inbound: [] });
      state.record = { className: 'InputLayer', firstInputs: [] };
    } else if (MODEL_CLASSES.has(String(entry.class_name))) {
      // A nested model owns node 0 (its own inputs) from the moment it is built.
      const inner = buildModel(entry);
      state.nodes.push({ outputs: inner.outputs, inbound: [] });
    }
    const inbound = entry.inbound_nodes;
    if (!Array.isArray(inbound)) fail(`layer '${name}' has no inbound_nodes list (not a Keras 2 / tfjs functional config)`);
    for (const nodeData of inbound) {
      if (!Array.isArray(nodeData)) fail(`layer '${name}' has an inbound node that is not a list (Keras 3 configs need translating first)`);
      const list = unprocessed.get(name) ?? [];
      list.push(nodeData);
      unprocessed.set(name, list);
    }
  }
  const processNode = (state: State, nodeData: unknown[]): boolean => {
    const inputs: Shape[] = [];
    const producers: CallRecord[] = [];
    const refs: [string, number, number][] = [];
    for (const item of nodeData) {
      if (!Array.isArray(item) || typeof item[0] !== 'string' || !Number.isInteger(item[1]) || !Number.isInteger(item[2])) {
        fail(`layer '${state.name}' has a malformed inbound node`);
      }
      const [from, nodeIndex, tensorIndex, kwargs] = item as [string, number, number, unknown];
      if (isObject(kwargs) && Object.keys(kwargs).some((k) => k !== 'training' && k !== 'mask')) {
        fail(`layer '${state.name}' is called with ${Object.keys(kwargs).join(', ')}`);
      }
      const source = created.get(from);
      if (!source || source.nodes.length <= nodeIndex) return false;
      const out = source.nodes[nodeIndex].outputs[tensorIndex];
      if (!out) fail(`layer '${state.name}' takes output ${tensorIndex} of '${from}', which has ${source.nodes[nodeIndex].outputs.length}`);
      inputs.push(out);
      producers.push(source.record ?? { className: String(source.entry.class_name), firstInputs: [] });
      refs.push([from, nodeIndex, tensorIndex]);
    }
    if (inputs.length === 0) return true;
    const call = callLayer(state.entry, inputs, producers, state.call?.node);
    if (!state.call) {
      state.call = call;
      state.record = call.record;
    }
    state.nodes.push({ outputs: call.outputs, inbound: refs });
    return true;
  };
  // tfjs processes queued calls layer by layer in config order, re-queueing the ones whose inputs
  // do not exist yet; shared layers are built by whichever call comes first.
  while (unprocessed.size > 0) {
    let progressed = false;
    for (const entry of entries) {
      const name = layerName(entry);
      const queued = unprocessed.get(name);
      if (!queued) continue;
      unprocessed.delete(name);
      const state = created.get(name)!;
      for (const nodeData of queued) {
        if (processNode(state, nodeData)) progressed = true;
        else {
          const again = unprocessed.get(name) ?? [];
          again.push(nodeData);
          unprocessed.set(name, again);
        }
      }
    }
    if (!progressed) fail('the functional graph has calls whose inputs never exist');
  }
  const tensorRefs = (key: string): [string, number, number][] => {
    const list = config[key];
    if (!Array.isArray(list) || list.length === 0) fail(`the functional model has no ${key}`);
    return (list as unknown[]).map((r) => {
      if (!Array.isArray(r) || typeof r[0] !== 'string' || !created.has(r[0]) || !Number.isInteger(r[1]) || !Number.isInteger(r[2])) fail(`the functional model's ${key} are malformed`);
      const state = created.get(r[0])!;
      if (!state.nodes[r[1]]?.outputs[r[2]]) fail(`the functional model's ${key} name a tensor that does not exist`);
      return [r[0], r[1], r[2]] as [string, number, number];
    });
  };
  const inputRefs = tensorRefs('input_layers');
  const outputRefs = tensorRefs('output_layers');
  const shapeOf = ([n, i, t]: [string, number, number]): Shape => created.get(n)!.nodes[i].outputs[t];

  // Container's layer order: depth-first from the outputs, then by decreasing depth, ties by first visit.
  const layerOrder = new Map<string, number>();
  const finished = new Set<string>();
  const inProgress = new Set<string>();
  const nodesInDecreasingDepth: [string, number][] = [];
  const visit = (name: string, nodeIndex: number): void => {
    const key = `${name}#${nodeIndex}`;
    if (inProgress.has(key)) fail('the functional graph has a cycle');
    if (finished.has(key)) return;
    if (!layerOrder.has(name)) layerOrder.set(name, layerOrder.size);
    inProgress.add(key);
    for (const [from, i] of created.get(name)!.nodes[nodeIndex].inbound) visit(from, i);
    finished.add(key);
    inProgress.delete(key);
    nodesInDecreasingDepth.push([name, nodeIndex]);
  };
  for (const [name, nodeIndex] of outputRefs) visit(name, nodeIndex);
  const nodeDepth = new Map<string, number>();
  const layerDepth = new Map<string, number>();
  for (const [name, nodeIndex] of nodesInDecreasingDepth.slice().reverse()) {
    const key = `${name}#${nodeIndex}`;
    let depth = nodeDepth.get(key) ?? 0;
    depth = Math.max(depth, layerDepth.get(name) ?? 0);
    layerDepth.set(name, depth);
    nodeDepth.set(key, depth);
    for (const [from, i] of created.get(name)!.nodes[nodeIndex].inbound) {
      const k = `${from}#${i}`;
      nodeDepth.set(k, Math.max(depth + 1, nodeDepth.get(k) ?? 0));
    }
  }
  const ordered = [...layerDepth.keys()].sort((a, b) => layerDepth.get(b)! - layerDepth.get(a)! || layerOrder.get(a)! - layerOrder.get(b)!);
  const layers: (WeightedLayer | ModelNode)[] = [];
  for (const name of ordered) {
    const state = created.get(name)!;
    if (state.entry.class_name === 'InputLayer') continue;
    if (MODEL_CLASSES.has(String(state.entry.class_name))) {
      layers.push(buildModel(state.entry).node);
      continue;
    }
    if (!state.call) fail(`layer '${name}' is never called`);
    layers.push(state.call.node);
  }
  return { node: { kind: 'model', layers }, inputs: inputRefs.map(shapeOf), outputs: outputRefs.map(shapeOf) };
}

function inputLayerShape(config: unknown): Shape {
  const shape = isObject(config) ? declaredInputShape(config) : undefined;
  if (!shape) fail('an InputLayer declares no batch_input_shape');
  return shape;
}

/** `batch_input_shape`, or `input_shape` with `batch_size`, as tfjs reads them. */
function declaredInputShape(config: Json): Shape | undefined {
  const batch = config.batch_input_shape;
  if (Array.isArray(batch)) return dims(batch, 'batch_input_shape');
  const input = config.input_shape;
  if (Array.isArray(input)) {
    const size = config.batch_size;
    return [typeof size === 'number' ? size : null, ...dims(input, 'input_shape')];
  }
  return undefined;
}

function dims(list: unknown[], what: string): Shape {
  return list.map((d) => {
    if (d === null || d === undefined) return null;
    if (typeof d !== 'number' || !Number.isInteger(d)) fail(`${what} ${JSON.stringify(list)} is not a list of integers`);
    return d < 0 ? null : d;
  });
}

// ---------------------------------------------------------------------------------------------
// Layers

interface LayerCall {
  node: WeightedLayer | ModelNode;
  outputs: Shape[];
  record: CallRecord;
}

/**
 * Calls a layer on input shapes: builds its weights (first call only: `built` is passed on later
 * calls of a shared layer) and computes its output shapes.
 */
function callLayer(entry: Json, inputs: Shape[], producers: CallRecord[], built?: WeightedLayer | ModelNode): LayerCall {
  const className = String(entry.class_name);
  const name = layerName(entry);
  const record: CallRecord = { className, firstInputs: inputs };
  if (MODEL_CLASSES.has(className)) {
    const inner = buildModel(entry);
    return { node: built ?? inner.node, outputs: inner.outputs, record };
  }
  const config = entry.config as Json;
  const weights: CreatedWeight[] = [];
  const outputs = layerRule(className, config, inputs, weights, '');
  let flattenInput: number[] | undefined;
  const producer = producers[0];
  if (className === 'Dense' && producer?.className === 'Flatten') {
    const shape = producer.firstInputs[0];
    if (shape && shape.slice(1).every((d) => typeof d === 'number')) flattenInput = shape.slice(1) as number[];
  }
  const trainable = config.trainable !== false;
  const node: WeightedLayer = built && built.kind === 'layer'
    ? built
    : { kind: 'layer', name, className, config, weights, trainable, flattenInput };
  return { node, outputs, record };
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(`${what} is ${JSON.stringify(v)}, not an integer`);
  return v;
}

/** A number or a list of `n` numbers (Keras writes either). */
function tuple(v: unknown, n: number, what: string, fallback?: number): number[] {
  if ((v === undefined || v === null) && fallback !== undefined) return new Array(n).fill(fallback);
  if (typeof v === 'number') return new Array(n).fill(int(v, what));
  if (Array.isArray(v) && v.length === n) return v.map((x) => int(x, what));
  return fail(`${what} ${JSON.stringify(v)} is not ${n} integer(s)`);
}

function known(d: number | null | undefined, what: string): number {
  if (d === null || d === undefined || d < 0) fail(`${what} is unknown`);
  return d;
}

/** The one input of a single-input layer. */
function single(inputs: Shape[], cls: string): Shape {
  if (inputs.length !== 1) fail(`${cls} is called on ${inputs.length} inputs`);
  return inputs[0];
}

function channelsFirst(config: Json, cls: string): boolean {
  const f = config.data_format ?? 'channels_last';
  if (f !== 'channels_last' && f !== 'channels_first') fail(`${cls} has data_format ${JSON.stringify(f)}`);
  return f === 'channels_first';
}

function padding(config: Json, cls: string, allowed: string[]): string {
  const p = config.padding ?? 'valid';
  if (typeof p !== 'string' || !allowed.includes(p)) fail(`${cls} has padding ${JSON.stringify(p)}`);
  return p;
}

/** tfjs convOutputLength: anything but 'same' (valid, causal) shrinks by the dilated kernel. */
function convLength(length: number | null, kernel: number, pad: string, stride: number, dilation = 1): number | null {
  if (length === null) return null;
  const dilated = kernel + (kernel - 1) * (dilation - 1);
  const out = pad === 'same' ? length : length - dilated + 1;
  return Math.floor((out + stride - 1) / stride);
}

function deconvLength(length: number | null, stride: number, kernel: number, pad: string): number | null {
  if (length === null) return null;
  return pad === 'valid' ? length * stride + Math.max(kernel - stride, 0) : length * stride;
}

type Add = (local: string, shape: (number | null)[], trainable?: boolean) => void;

/** The shared tail of every rule: records a weight, refusing unknown dimensions. */
function adder(weights: CreatedWeight[], prefix: string, cls: string): Add {
  return (local, shape, trainable = true) => {
    const full = shape.map((d, i) => known(d, `dimension ${i} of ${cls} weight '${local}'`));
    weights.push({ local: prefix + local, shape: full, trainable });
  };
}

const IDENTITY_CLASSES = new Set([
  'Activation', 'Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'ReLU', 'LeakyReLU', 'ELU',
  'ThresholdedReLU', 'Softmax', 'Masking', 'Rescaling',
]);

/**
 * One layer class: pushes the weights it creates when built on `inputs` and returns its output
 * shapes. Mirrors each tfjs class's `build` and `computeOutputShape`.
 */
function layerRule(cls: string, config: Json, inputs: Shape[], weights: CreatedWeight[], prefix: string): Shape[] {
  if (!isObject(config)) fail(`layer of class ${cls} has no config`);
  const add = adder(weights, prefix, cls);
  const useBias = config.use_bias !== false;
  if (IDENTITY_CLASSES.has(cls)) return [single(inputs, cls).slice()];
  /** What DepthwiseConv2D and SeparableConv2D read alike: a rank-4 input and the depthwise step. */
  const depthwiseConfig = () => {
    const x = single(inputs, cls);
    if (x.length !== 4) fail(`${cls} input has rank ${x.length}`);
    return {
      x,
      first: channelsFirst(config, cls),
      kernel: tuple(config.kernel_size, 2, `${cls} kernel_size`),
      strides: tuple(config.strides, 2, `${cls} strides`, 1),
      dilation: tuple(config.dilation_rate, 2, `${cls} dilation_rate`, 1),
      pad: padding(config, cls, ['valid', 'same']),
      multiplier: config.depth_multiplier === undefined || config.depth_multiplier === null ? 1 : int(config.depth_multiplier, `${cls} depth_multiplier`),
    };
  };
  switch (cls) {
    case 'Dense': {
      const x = single(inputs, cls);
      const units = int(config.units, 'Dense units');
      add('kernel', [x[x.length - 1], units]);
      if (useBias) add('bias', [units]);
      return [[...x.slice(0, -1), units]];
    }
    case 'Conv1D': case 'Conv2D': case 'Conv3D': {
      const rank = Number(cls[4]);
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
      const groups = cls === 'Conv3D' ? 1 : (config.groups as number | null | undefined) ?? 1;
      if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0 || filters % groups !== 0) fail(`${cls} groups ${JSON.stringify(config.groups)} do not divide its channels`);
      if (groups > 1 && first) fail(`grouped ${cls} with channels_first`);
      add('kernel', [...kernel, channels / groups, filters]);
      if (useBias) add('bias', [filters]);
      const space = first ? x.slice(2) : x.slice(1, -1);
      const out = space.map((d, i) => convLength(d, kernel[i], pad, strides[i], dilation[i]));
      return [first ? [x[0], filters, ...out] : [x[0], ...out, filters]];
    }
    case 'Conv2DTranspose': case 'Conv3DTranspose': {
      const rank = Number(cls[4]);
      const x = single(inputs, cls);
      if (x.length !== rank + 2) fail(`${cls} input has rank ${x.length}`);
      const first = channelsFirst(config, cls);
      const kernel = tuple(config.kernel_size, rank, `${cls} kernel_size`);
      const strides = tuple(config.strides, rank, `${cls} strides`, 1);
      const pad = padding(config, cls, ['valid', 'same']);
      const filters = int(config.filters, `${cls} filters`);
      const channels = known(first ? x[1] : x[x.length - 1], `${cls} input channels`);
      add('kernel', [...kernel, filters, channels]);
      if (useBias) add('bias', [filters]);
      const space = first ? x.slice(2) : x.slice(1, -1);
      const out = space.map((d, i) => deconvLength(d, strides[i], kernel[i], pad));
      return [first ? [x[0], filters, ...out] : [x[0], ...out, filters]];
    }
    case 'DepthwiseConv2D': {
      const { x, first, kernel, strides, dilation, pad, multiplier } = depthwiseConfig();
      const channels = known(first ? x[1] : x[3], `${cls} input channels`);
      add('depthwise_kernel', [kernel[0], kernel[1], channels, multiplier]);
      if (useBias) add('bias', [channels * multiplier]);
      const space = first ? x.slice(2) : x.slice(1, -1);
      const out = space.map((d, i) => convLength(d, kernel[i], pad, strides[i], dilation[i]));
      return [first ? [x[0], channels * multiplier, ...out] : [x[0], ...out, channels * multiplier]];
    }
    case 'SeparableConv2D': {
      const { x, first, kernel, strides, dilation, pad, multiplier } = depthwiseConfig();
      const filters = int(config.filters, `${cls} filters`);
      const channels = known(first ? x[1] : x[3], `${cls} input channels`);
      add('depthwise_kernel', [kernel[0], kernel[1], channels, multiplier]);
      add('pointwise_kernel', [1, 1, channels * multiplier, filters]);
      if (useBias) add('bias', [filters]);
      const space = first ? x.slice(2) : x.slice(1, -1);
      const out = space.map((d, i) => convLength(d, kernel[i], pad, strides[i], dilation[i]));
      return [first ? [x[0], filters, ...out] : [x[0], ...out, filters]];
    }
    case 'BatchNormalization': {
      const x = single(inputs, cls);
      let axis = config.axis ?? -1;
      // tfjs takes a number; Keras sometimes writes [axis], which tfjs only survives when non-negative.
      if (Array.isArray(axis) && axis.length === 1 && typeof axis[0] === 'number' && axis[0] >= 0) axis = axis[0];
      if (typeof axis !== 'number' || !Number.isInteger(axis) || axis >= x.length || axis < -x.length) fail(`BatchNormalization axis ${JSON.stringify(config.axis)}`);
      const dim = x[axis < 0 ? axis + x.length : axis];
      if (config.scale !== false) add('gamma', [dim]);
      if (config.center !== false) add('beta', [dim]);
      add('moving_mean', [dim], false);
      add('moving_variance', [dim], false);
      return [x.slice()];
    }
    case 'LayerNormalization': {
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
      if (config.scale !== false) add('gamma', shape);
      if (config.center !== false) add('beta', shape);
      return [x.slice()];
    }
    case 'Embedding': {
      const x = single(inputs, cls);
      const dtype = config.dtype ?? 'float32';
      // tfjs creates the table in the layer's dtype; only float32 tables are graftable here.
      if (dtype !== 'float32') fail(`Embedding with dtype ${JSON.stringify(dtype)}`);
      const outDim = int(config.output_dim, 'Embedding output_dim');
      add('embeddings', [int(config.input_dim, 'Embedding input_dim'), outDim]);
      const inputLength = config.input_length;
      if (inputLength === undefined || inputLength === null) return [[...x, outDim]];
      const lens = (Array.isArray(inputLength) ? inputLength : [inputLength]) as (number | null)[];
      if (lens.length !== x.length - 1) fail('Embedding input_length does not match its input');
      return [[x[0], ...lens.map((l, k) => (l === null ? x[k + 1] : l)), outDim]];
    }
    case 'PReLU': {
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
      add('alpha', param);
      return [x.slice()];
    }
    case 'LSTM': case 'GRU': case 'SimpleRNN':
      return recurrent(cls, config, inputs, add);
    case 'Bidirectional':
      return bidirectional(config, inputs, weights, prefix);
    case 'TimeDistributed': {
      const x = single(inputs, cls);
      const inner = config.layer;
      if (!isObject(inner) || !isObject(inner.config) || typeof inner.class_name !== 'string') fail('TimeDistributed has no inner layer');
      if (config.trainable === false || inner.config.trainable === false) fail('a frozen TimeDistributed layer');
      if (x.length < 3) fail(`TimeDistributed input has rank ${x.length}`);
      if (MODEL_CLASSES.has(inner.class_name) || inner.class_name === 'TimeDistributed' || inner.class_name === 'Bidirectional') fail(`TimeDistributed(${inner.class_name})`);
      // tfjs builds the wrapped layer without a name scope of its own: `td/kernel`.
      const outs = layerRule(inner.class_name, inner.config, [[x[0], ...x.slice(2)]], weights, prefix);
      if (outs.length !== 1) fail('TimeDistributed of a multi-output layer');
      return [[outs[0][0], x[1], ...outs[0].slice(1)]];
    }
    case 'Flatten': {
      const x = single(inputs, cls);
      const rest = x.slice(1).map((d, i) => known(d, `Flatten input dimension ${i + 1}`));
      return [[x[0], rest.reduce((a, b) => a * b, 1)]];
    }
    case 'Reshape': {
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
    }
    case 'Permute': {
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
    }
    case 'RepeatVector': {
      const x = single(inputs, cls);
      if (x.length !== 2) fail(`RepeatVector input has rank ${x.length}`);
      return [[x[0], int(config.n, 'RepeatVector n'), x[1]]];
    }
    case 'MaxPooling1D': case 'AveragePooling1D': {
      const x = single(inputs, cls);
      if (x.length !== 3) fail(`${cls} input has rank ${x.length}`);
      const pool = tuple(config.pool_size, 1, `${cls} pool_size`, 2);
      const strides = config.strides === null || config.strides === undefined ? pool : tuple(config.strides, 1, `${cls} strides`);
      const pad = padding(config, cls, ['valid', 'same']);
      return [[x[0], convLength(x[1], pool[0], pad, strides[0]), x[2]]];
    }
    case 'MaxPooling2D': case 'AveragePooling2D': case 'MaxPooling3D': case 'AveragePooling3D': {
      const rank = Number(cls[cls.length - 2]);
      const x = single(inputs, cls);
      if (x.length !== rank + 2) fail(`${cls} input has rank ${x.length}`);
      const first = channelsFirst(config, cls);
      const pool = tuple(config.pool_size, rank, `${cls} pool_size`, 2);
      const strides = config.strides === null || config.strides === undefined ? pool : tuple(config.strides, rank, `${cls} strides`);
      const pad = padding(config, cls, ['valid', 'same']);
      const space = first ? x.slice(2) : x.slice(1, -1);
      const out = space.map((d, i) => convLength(d, pool[i], pad, strides[i]));
      return [first ? [x[0], x[1], ...out] : [x[0], ...out, x[x.length - 1]]];
    }
    case 'GlobalAveragePooling1D': case 'GlobalMaxPooling1D': {
      const x = single(inputs, cls);
      if (x.length !== 3 || config.keepdims === true) fail(`${cls} with rank ${x.length} input or keepdims`);
      return [[x[0], x[2]]];
    }
    case 'GlobalAveragePooling2D': case 'GlobalMaxPooling2D': {
      const x = single(inputs, cls);
      if (x.length !== 4 || config.keepdims === true) fail(`${cls} with rank ${x.length} input or keepdims`);
      return [[x[0], channelsFirst(config, cls) ? x[1] : x[3]]];
    }
    case 'ZeroPadding2D': case 'Cropping2D': {
      const x = single(inputs, cls);
      if (x.length !== 4) fail(`${cls} input has rank ${x.length}`);
      const key = cls === 'ZeroPadding2D' ? 'padding' : 'cropping';
      const pairs = padPairs(config[key], cls === 'ZeroPadding2D' ? 1 : 0, `${cls} ${key}`);
      const sign = cls === 'ZeroPadding2D' ? 1 : -1;
      const first = channelsFirst(config, cls);
      const [h, w] = first ? [2, 3] : [1, 2];
      const out = x.slice();
      out[h] = x[h] === null ? null : x[h]! + sign * (pairs[0][0] + pairs[0][1]);
      out[w] = x[w] === null ? null : x[w]! + sign * (pairs[1][0] + pairs[1][1]);
      return [out];
    }
    case 'UpSampling2D': {
      const x = single(inputs, cls);
      if (x.length !== 4) fail(`${cls} input has rank ${x.length}`);
      const size = tuple(config.size, 2, 'UpSampling2D size', 2);
      const first = channelsFirst(config, cls);
      const [h, w] = first ? [2, 3] : [1, 2];
      const out = x.slice();
      out[h] = x[h] === null ? null : x[h]! * size[0];
      out[w] = x[w] === null ? null : x[w]! * size[1];
      return [out];
    }
    case 'Concatenate': {
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
    }
    case 'Add': case 'Multiply': case 'Average': case 'Maximum': case 'Minimum':
      return [elementwise(inputs, cls)];
    default:
      return fail(`layer class ${cls} is not one graft can size without tfjs`);
  }
}

/** ZeroPadding2D / Cropping2D amounts: n, [h, w] or [[top, bottom], [left, right]]. */
function padPairs(v: unknown, fallback: number, what: string): [number, number][] {
  if (v === undefined || v === null) return [[fallback, fallback], [fallback, fallback]];
  if (typeof v === 'number') return [[int(v, what), v], [v, v]];
  if (Array.isArray(v) && v.length === 2) {
    if (v.every((x) => typeof x === 'number')) return [[int(v[0], what), v[0]], [int(v[1], what), v[1]]];
    if (v.every((x) => Array.isArray(x) && x.length === 2)) return (v as unknown[][]).map((p) => [int(p[0], what), int(p[1], what)] as [number, number]);
  }
  return fail(`${what} ${JSON.stringify(v)}`);
}

/** tfjs Merge.computeOutputShape: broadcasting over the non-batch dimensions. */
function elementwise(inputs: Shape[], cls: string): Shape {
  if (inputs.length < 2) fail(`${cls} is called on fewer than two inputs`);
  const broadcast = (a: Shape, b: Shape): Shape => {
    if (a.length < b.length) return broadcast(b, a);
    if (b.length === 0) return a;
    const out = a.slice(0, a.length - b.length);
    for (let k = 0; k < b.length; k++) {
      const i = a[a.length - b.length + k];
      const j = b[k];
      if (i === null || j === null) out.push(null);
      else if (i === 1) out.push(j);
      else if (j === 1) out.push(i);
      else if (i !== j) fail(`${cls} inputs of shapes that do not broadcast`);
      else out.push(i);
    }
    return out;
  };
  let shape = inputs[0].slice(1);
  for (const s of inputs.slice(1)) shape = broadcast(shape, s.slice(1));
  const batches = [...new Set(inputs.map((s) => s[0]).filter((b) => b !== null))];
  return [batches.length === 1 ? batches[0] : null, ...shape];
}

function recurrent(cls: string, config: Json, inputs: Shape[], add: Add): Shape[] {
  if (inputs.length !== 1) fail(`${cls} is called with initial states`);
  const x = inputs[0];
  if (x.length !== 3) fail(`${cls} input has rank ${x.length}`);
  const units = int(config.units, `${cls} units`);
  const gates = cls === 'LSTM' ? 4 : cls === 'GRU' ? 3 : 1;
  add('kernel', [x[2], units * gates]);
  add('recurrent_kernel', [units, units * gates]);
  if (config.use_bias !== false) add('bias', cls === 'GRU' && config.reset_after === true ? [2, units * gates] : [units * gates]);
  const out: Shape = config.return_sequences === true ? [x[0], x[1], units] : [x[0], units];
  if (config.return_state !== true) return [out];
  const states = cls === 'LSTM' ? 2 : 1;
  return [out, ...Array.from({ length: states }, () => [x[0], units])];
}

function bidirectional(config: Json, inputs: Shape[], weights: CreatedWeight[], prefix: string): Shape[] {
  const inner = config.layer;
  if (!isObject(inner) || !isObject(inner.config) || typeof inner.class_name !== 'string') fail('Bidirectional has no inner layer');
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
  const [out] = layerRule(cls, inner.config, inputs, weights, `${prefix}forward_${name}/`);
  layerRule(cls, inner.config, inputs, weights, `${prefix}backward_${name}/`);
  if (mergeMode === 'concat') {
    const last = out[out.length - 1];
    return [[...out.slice(0, -1), last === null ? null : last * 2]];
  }
  return mergeMode === null ? [out, out.slice()] : [out];
}
