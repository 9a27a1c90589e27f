import { isObject, Json } from '../io/json';
import { layerClass } from './catalogue';
import { fail, known, Shape, TopologyNotSupported } from './shapes';
import { variableNameParts, type TargetVariable } from './variables';
import { isModelClass, modelConfigOf } from './walk';

export { TopologyNotSupported };
import { inputOrigin, originAfter, TensorOrigin } from './flatten-origin';

/**
 * The variables a tfjs layers-model would have, derived from its topology alone: names, shapes,
 * owning layer and order exactly as tfjs builds them, without loading tfjs. This lets a conversion
 * stream tensors from file to file instead of building a live model.
 *
 * It mirrors tfjs-layers (with `tfjs-graft/layers` registered: grouped Conv1D/Conv2D, GRU
 * reset_after): Keras-style shape inference through Sequential and functional graphs. Anything it
 * does not know exactly (an unknown class, a dimension it cannot infer, an exotic option) makes it
 * give up, and the caller builds the model with tfjs instead. What each layer class creates and
 * outputs comes from the layer catalogue (catalogue.ts); this file walks the model graph.
 */

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
  /** For a Dense after a Flatten: what the Flatten's input is (decides the kernel's row order). */
  flattenFrom?: TensorOrigin;
  /** Input shape of the first call, without the batch dimension. */
  inputShape?: Shape;
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
  /** Each layer's first input shape without the batch dimension. */
  inputShapes: Map<string, (number | null)[]>;
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
    const facts = layerClass(className)?.facts?.(inner) ?? {};
    own.forEach((w, indexInLayer) => {
      const name = `${layer.name}/${w.local}`;
      const { weight, direction } = variableNameParts(name);
      variables.push({
        name,
        layer: layer.name,
        className,
        weight,
        shape: w.shape.slice(),
        dtype: 'float32',
        indexInLayer,
        layerIndex,
        flattenInput: className === 'Dense' ? layer.flattenInput : undefined,
        flattenFrom: className === 'Dense' ? layer.flattenFrom : undefined,
        config: { resetAfter: facts.resetAfter, groups: facts.groups, units: facts.units },
        direction,
      });
    });
    layerIndex++;
  }
  const saveOrder = [...trainableOf(root), ...nonTrainableOf(root)];
  const names = new Set(variables.map((v) => v.name));
  if (names.size !== variables.length) return { reason: 'two variables share a name' };
  const inputShapes = new Map(layers.filter((l) => l.inputShape).map((l) => [l.name, l.inputShape!]));
  return { variables, saveOrder, inputShapes };
}

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
  } else if (isModelClass(first.class_name)) {
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
  /** What its output is, for a Flatten further on; and what its inputs were. */
  origin?: TensorOrigin;
  inputOrigins?: TensorOrigin[];
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
      state.record = { className: 'InputLayer', firstInputs: [], origin: inputOrigin(name, inputLayerShape(entry.config).slice(1)) };
    } else if (isModelClass(entry.class_name)) {
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
  /** The first input of a call that does not exist yet (`layer#node`), after checking its form. */
  const missingInput = (state: State, nodeData: unknown[]): string | undefined => {
    for (const item of nodeData) {
      if (!Array.isArray(item) || typeof item[0] !== 'string' || !Number.isInteger(item[1]) || !Number.isInteger(item[2])) {
        fail(`layer '${state.name}' has a malformed inbound node`);
      }
      const [from, nodeIndex] = item as [string, number];
      const source = created.get(from);
      if (!source || source.nodes.length <= nodeIndex) return `${from}#${nodeIndex}`;
    }
    return undefined;
  };
  const processNode = (state: State, nodeData: unknown[]): void => {
    const inputs: Shape[] = [];
    const producers: CallRecord[] = [];
    const refs: [string, number, number][] = [];
    for (const item of nodeData) {
      const [from, nodeIndex, tensorIndex, kwargs] = item as [string, number, number, unknown];
      if (isObject(kwargs) && Object.keys(kwargs).some((k) => k !== 'training' && k !== 'mask')) {
        fail(`layer '${state.name}' is called with ${Object.keys(kwargs).join(', ')}`);
      }
      const source = created.get(from)!;
      const out = source.nodes[nodeIndex].outputs[tensorIndex];
      if (!out) fail(`layer '${state.name}' takes output ${tensorIndex} of '${from}', which has ${source.nodes[nodeIndex].outputs.length}`);
      inputs.push(out);
      producers.push(source.record ?? { className: String(source.entry.class_name), firstInputs: [] });
      refs.push([from, nodeIndex, tensorIndex]);
    }
    if (inputs.length === 0) return;
    const call = callLayer(state.entry, inputs, producers, state.call?.node);
    if (!state.call) {
      state.call = call;
      state.record = call.record;
    }
    state.nodes.push({ outputs: call.outputs, inbound: refs });
  };
  // tfjs processes queued calls in passes over the layers in config order, re-queueing the ones
  // whose inputs do not exist yet; shared layers are built by whichever call comes first. That
  // order is reproduced without re-scanning every layer on every pass (quadratic for a config
  // listed in reverse order): a waiting call is woken when the node it waits for is created, and
  // its layer is visited in the pass tfjs would reach it (this pass if it comes later in the
  // config, the next one otherwise).
  const position = new Map<string, number>();
  entries.forEach((entry, i) => position.set(layerName(entry), i));
  const waiting = new Map<string, string[]>();
  const visits = new MinHeap();
  const scheduled = new Set<number>();
  const schedule = (name: string, pass: number): void => {
    const key = pass * entries.length + position.get(name)!;
    if (scheduled.has(key)) return;
    scheduled.add(key);
    visits.push(key);
  };
  for (const name of unprocessed.keys()) schedule(name, 0);
  while (visits.size > 0) {
    const key = visits.pop();
    scheduled.delete(key);
    const pass = Math.floor(key / entries.length);
    const entry = entries[key % entries.length];
    const name = layerName(entry);
    const queued = unprocessed.get(name);
    if (!queued) continue;
    unprocessed.delete(name);
    const state = created.get(name)!;
    const again: unknown[][] = [];
    for (const nodeData of queued) {
      const missing = missingInput(state, nodeData);
      if (missing === undefined) {
        processNode(state, nodeData);
        const made = `${name}#${state.nodes.length - 1}`;
        for (const waiter of waiting.get(made) ?? []) schedule(waiter, position.get(waiter)! > position.get(name)! ? pass : pass + 1);
        waiting.delete(made);
      } else {
        again.push(nodeData);
        const list = waiting.get(missing);
        if (list) list.push(name);
        else waiting.set(missing, [name]);
      }
    }
    if (again.length) unprocessed.set(name, again);
  }
  if (unprocessed.size > 0) fail('the functional graph has calls whose inputs never exist');
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
  // Iterative (a 20,000-layer chain must not overflow the stack): enter a node, walk its inbound
  // nodes in order, finish it after them.
  const visit = (rootName: string, rootIndex: number): void => {
    const stack: { name: string; nodeIndex: number; key: string; next: number }[] = [];
    const enter = (name: string, nodeIndex: number): void => {
      const key = `${name}#${nodeIndex}`;
      if (inProgress.has(key)) fail('the functional graph has a cycle');
      if (finished.has(key)) return;
      if (!layerOrder.has(name)) layerOrder.set(name, layerOrder.size);
      inProgress.add(key);
      stack.push({ name, nodeIndex, key, next: 0 });
    };
    enter(rootName, rootIndex);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const inbound = created.get(top.name)!.nodes[top.nodeIndex].inbound;
      if (top.next < inbound.length) {
        const [from, i] = inbound[top.next++];
        enter(from, i);
        continue;
      }
      stack.pop();
      finished.add(top.key);
      inProgress.delete(top.key);
      nodesInDecreasingDepth.push([top.name, top.nodeIndex]);
    }
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
    if (isModelClass(state.entry.class_name)) {
      layers.push(buildModel(state.entry).node);
      continue;
    }
    if (!state.call) fail(`layer '${name}' is never called`);
    layers.push(state.call.node);
  }
  return { node: { kind: 'model', layers }, inputs: inputRefs.map(shapeOf), outputs: outputRefs.map(shapeOf) };
}

/** A binary min-heap of numbers (the visit schedule of buildFunctional). */
class MinHeap {
  private readonly items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  push(v: number): void {
    const a = this.items;
    a.push(v);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p] <= a[i]) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop(): number {
    const a = this.items;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l] < a[m]) m = l;
        if (r < a.length && a[r] < a[m]) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
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
  const inputOrigins = producers.length
    ? producers.map((p) => p.origin ?? { layout: 'unknown' as const, layer: '?', className: p.className })
    : [inputOrigin('input', inputs[0]?.slice(1))];
  const record: CallRecord = { className, firstInputs: inputs, origin: originAfter(name, className, inputOrigins), inputOrigins };
  if (isModelClass(className)) {
    const inner = buildModel(entry);
    return { node: built ?? inner.node, outputs: inner.outputs, record };
  }
  const config = entry.config as Json;
  const weights: CreatedWeight[] = [];
  const outputs = buildLayer(className, config, inputs, weights, '');
  let flattenInput: number[] | undefined;
  let flattenFrom: TensorOrigin | undefined;
  const producer = producers[0];
  if (className === 'Dense' && producer?.className === 'Flatten') {
    const shape = producer.firstInputs[0];
    if (shape && shape.slice(1).every((d) => typeof d === 'number')) flattenInput = shape.slice(1) as number[];
    flattenFrom = producer.inputOrigins?.[0];
  }
  const trainable = config.trainable !== false;
  const node: WeightedLayer = built && built.kind === 'layer'
    ? built
    : { kind: 'layer', name, className, config, weights, trainable, flattenInput, flattenFrom, inputShape: inputs[0]?.slice(1) };
  return { node, outputs, record };
}

/**
 * Builds one layer from its catalogue entry: pushes the weights it creates on `inputs` (in the
 * entry's `weights` order, under `prefix`) and returns its output shapes.
 */
function buildLayer(cls: string, config: Json, inputs: Shape[], weights: CreatedWeight[], prefix: string): Shape[] {
  if (!isObject(config)) fail(`layer of class ${cls} has no config`);
  const entry = layerClass(cls);
  if (!entry?.build) return fail(`layer class ${cls} is not one graft can size without tfjs`);
  const shapes = new Map<string, number[]>();
  const outputs = entry.build({
    cls,
    config,
    inputs,
    weight: (local, shape) => {
      shapes.set(local, shape.map((d, i) => known(d, `dimension ${i} of ${cls} weight '${local}'`)));
    },
    wrapped: (innerClass, innerConfig, innerInputs, scope) => buildLayer(innerClass, innerConfig, innerInputs, weights, prefix + scope),
  });
  if (entry.weights) {
    const names = entry.weights(config);
    // The catalogue's two views of a class must agree: a mismatch is a bug in its entry.
    if (names.length !== shapes.size || names.some((n) => !shapes.has(n))) {
      throw new Error(`layer catalogue: ${cls} lists weights [${names.join(', ')}] but builds [${[...shapes.keys()].join(', ')}]`);
    }
    const frozen = new Set(entry.nonTrainable ?? []);
    for (const local of names) weights.push({ local: prefix + local, shape: shapes.get(local)!, trainable: !frozen.has(local) });
  } else if (shapes.size) {
    throw new Error(`layer catalogue: ${cls} builds weights but lists none`);
  }
  return outputs;
}
