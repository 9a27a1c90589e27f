import type * as tfTypes from '@tensorflow/tfjs';
import { GraftError } from '../errors';
import { nestsDeeperThan } from '../io/bytes';
import { isObject, Json } from '../io/json';
import { isModelClass } from './walk';
import { ATTENTION_CALL_CLASSES, attentionInboundNodes } from './keras-attention-calls';

/**
 * Translates a Keras model config (Keras 2 `model_config` or Keras 3 `config.json`) into the
 * Keras-2-shaped JSON that tfjs `model.json` holds under `modelTopology`, loadable by
 * `tf.models.modelFromJSON({ modelTopology })`. Anything tfjs cannot represent is refused with
 * an UNSUPPORTED GraftError naming the layer and its class.
 */


/** Classes refused whatever tfjs registers: they carry Python code or TF ops, not a config. */
const CODE_CLASSES = new Set(['Lambda', 'TFOpLambda', 'SlicingOpLambda', 'TensorFlowOpLayer']);

/** Keys Keras 3 adds to serialized objects that tfjs does not know. */
const KERAS3_OBJECT_KEYS = ['module', 'registered_name', 'build_config', 'compile_config', 'shared_object_id'];

export interface TopologyOptions {
  /** Backend attribute to record; Keras files carry it, Keras 3 configs do not. */
  backend?: string;
  /** File name for error messages. */
  file?: string;
}

/** JSON nesting accepted in a model config; the translation recurses, so deeper input is refused. */
const MAX_CONFIG_DEPTH = 256;

export function toTfjsTopology(config: object, kerasVersion: string, options: TopologyOptions = {}): Record<string, unknown> {
  const ctx = { file: options.file };
  if (nestsDeeperThan(config, MAX_CONFIG_DEPTH)) {
    throw new GraftError('CORRUPT', `model config nests more than ${MAX_CONFIG_DEPTH} levels deep`, ctx);
  }
  if (!isObject(config) || typeof config.class_name !== 'string') {
    throw new GraftError('CORRUPT', 'model config is not a Keras model description (no class_name)', ctx);
  }
  if (!isModelClass(config.class_name)) {
    throw new GraftError('UNSUPPORTED', `model class '${String(config.class_name)}' is not a Sequential or Functional model; subclassed models carry no layer graph tfjs can rebuild (re-create the model in tfjs and use --target)`, ctx);
  }
  const model = translateLayer(config, [], ctx, new Set());
  return {
    class_name: model.class_name,
    config: model.config,
    keras_version: kerasVersion,
    backend: options.backend ?? 'tensorflow',
  };
}

/** Translates one serialized layer (possibly a nested model) in place of a copy. */
function translateLayer(layer: Json, path: string[], ctx: { file?: string }, nestedSiblings: Set<string>): Json {
  const className = String(layer.class_name);
  // Keras 2.0–2.1 wrote a Sequential's config as a bare list of layers.
  const cfg = isObject(layer.config) ? layer.config : className === 'Sequential' && Array.isArray(layer.config) ? { layers: layer.config } : undefined;
  const name = typeof layer.name === 'string' ? layer.name : typeof cfg?.name === 'string' ? cfg.name : path.length === 0 ? 'model' : '?';
  const where = [...path, name].join('/');
  const refuse = (why: string): never => {
    throw new GraftError('UNSUPPORTED', `layer '${where}' (${className}): ${why}`, ctx);
  };

  if (CODE_CLASSES.has(className)) {
    refuse('holds Python code (marshalled bytecode or TF ops) that graft will not decode or run; replace it with a built-in or custom tfjs layer and use --target');
  }
  if (cfg === undefined) {
    refuse('has no config; it is a subclassed or custom layer that tfjs cannot rebuild');
  }
  if (typeof layer.registered_name === 'string' && layer.registered_name.includes('>')) {
    refuse(`is a custom registered class ('${layer.registered_name}') unknown to tfjs`);
  }

  const outClass = className === 'Functional' ? 'Model' : className;
  const out: Json = { class_name: outClass };
  let config: Json;
  if (isModelClass(className)) {
    config = translateModelConfig(cfg as Json, className, [...path, name], ctx);
  } else {
    config = translateLayerConfig(cfg as Json, where, className, ctx);
    if (!isModelClass(className) && !tfjsKnows(className)) {
      refuse('is not a layer class tfjs knows (custom or unsupported); register a tfjs implementation or use --target');
    }
  }
  out.config = config;
  if (typeof layer.name === 'string') out.name = layer.name;
  if (layer.inbound_nodes !== undefined) {
    out.inbound_nodes = ATTENTION_CALL_CLASSES.has(className)
      ? attentionInboundNodes(className, layer.inbound_nodes, config, refuse, ([l, n, t]) => [l, nestedSiblings.has(l) ? n + 1 : n, t])
      : translateInboundNodes(layer.inbound_nodes, where, className, ctx, nestedSiblings);
  }
  return out;
}

function translateModelConfig(cfg: Json, className: string, path: string[], ctx: { file?: string }): Json {
  const out: Json = {};
  if (cfg.name !== undefined) out.name = cfg.name;
  const layers = cfg.layers;
  if (!Array.isArray(layers)) {
    throw new GraftError('UNSUPPORTED', `model '${path.join('/')}' (${className}) has no layer list; subclassed models cannot be rebuilt by tfjs`, ctx);
  }
  const nestedNames = new Set<string>();
  for (const l of layers) {
    if (isObject(l) && isModelClass(l.class_name)) {
      const n = typeof l.name === 'string' ? l.name : isObject(l.config) ? l.config.name : undefined;
      if (typeof n === 'string') nestedNames.add(n);
    }
  }
  const translated = layers.map((l, i) => {
    if (!isObject(l)) throw new GraftError('CORRUPT', `layer ${i} of model '${path.join('/')}' is not an object`, ctx);
    return translateLayer(l, path, ctx, nestedNames);
  });
  out.layers = translated;
  if (className !== 'Sequential') {
    out.input_layers = translateEndpoints(cfg.input_layers, path, ctx);
    out.output_layers = translateEndpoints(cfg.output_layers, path, ctx);
  } else if (cfg.build_input_shape !== undefined && translated.length > 0) {
    // A Keras 3 Sequential keeps its input shape on an InputLayer; tfjs needs it on the first layer.
    const first = translated[0];
    const fc = first.config as Json;
    if (first.class_name !== 'InputLayer' && fc.batch_input_shape === undefined && Array.isArray(cfg.build_input_shape)) {
      fc.batch_input_shape = cfg.build_input_shape;
    }
  }
  return out;
}

/** `input_layers` / `output_layers`: Keras 3 writes a single endpoint flat (`[name, 0, 0]`). */
function translateEndpoints(value: unknown, path: string[], ctx: { file?: string }): unknown[] {
  if (!Array.isArray(value)) {
    throw new GraftError('CORRUPT', `model '${path.join('/')}' lists no input/output layers`, ctx);
  }
  const list = value.length > 0 && typeof value[0] === 'string' ? [value] : value;
  return list.map((e) => {
    if (!Array.isArray(e) || typeof e[0] !== 'string') {
      throw new GraftError('CORRUPT', `model '${path.join('/')}' has a malformed input/output entry ${JSON.stringify(e)}`, ctx);
    }
    const [name, node, tensor] = e as [string, number, number];
    return [name, Number(node ?? 0), Number(tensor ?? 0)];
  });
}

/**
 * Keras 3 call nodes → Keras 2 lists. A nested model starts with a built-in node in Keras 2 and
 * tfjs (so its first call is node 1) but not in Keras 3's `keras_history`, hence the shift.
 */
function translateInboundNodes(nodes: unknown, where: string, className: string, ctx: { file?: string }, nestedSiblings: Set<string>): unknown[] {
  if (!Array.isArray(nodes)) return [];
  return nodes.map((node) => {
    if (Array.isArray(node)) return node; // Keras 2 format already
    if (!isObject(node)) {
      throw new GraftError('CORRUPT', `layer '${where}' (${className}) has a malformed inbound node`, ctx);
    }
    // Keras 3: { args: [...], kwargs: {...} } with tensors as __keras_tensor__ objects.
    const tensors: [string, number, number][] = [];
    collectKerasTensors(node.args, tensors);
    const kwargs: Json = {};
    if (isObject(node.kwargs)) {
      for (const [k, v] of Object.entries(node.kwargs)) {
        const inner: [string, number, number][] = [];
        collectKerasTensors(v, inner);
        if (inner.length > 0) {
          throw new GraftError('UNSUPPORTED', `layer '${where}' (${className}) is called with a tensor keyword argument '${k}', which tfjs model JSON cannot express`, ctx);
        }
        if (v !== null && !(Array.isArray(v) && v.every((x) => x === null)) && k !== 'mask') kwargs[k] = v;
      }
    }
    return tensors.map(([layer, n, t], i) => [layer, nestedSiblings.has(layer) ? n + 1 : n, t, i === 0 ? kwargs : {}]);
  });
}

function collectKerasTensors(value: unknown, out: [string, number, number][]): void {
  if (Array.isArray(value)) {
    for (const v of value) collectKerasTensors(v, out);
    return;
  }
  if (!isObject(value)) return;
  if (value.class_name === '__keras_tensor__' && isObject(value.config)) {
    const h = value.config.keras_history;
    if (Array.isArray(h) && typeof h[0] === 'string') out.push([h[0], Number(h[1] ?? 0), Number(h[2] ?? 0)]);
    return;
  }
  for (const v of Object.values(value)) collectKerasTensors(v, out);
}

function translateLayerConfig(cfg: Json, where: string, className: string, ctx: { file?: string }): Json {
  const out = stripKeras3(cfg) as Json;
  if (out.batch_shape !== undefined && out.batch_input_shape === undefined) {
    out.batch_input_shape = out.batch_shape;
    delete out.batch_shape;
  }
  if (out.dtype !== undefined) out.dtype = plainDtype(out.dtype, where, className, ctx);
  // Keras 3 InputLayer may give `shape` (without batch) instead of batch_shape.
  if (className === 'InputLayer' && out.batch_input_shape === undefined && Array.isArray(out.shape)) {
    out.batch_input_shape = [null, ...out.shape];
    delete out.shape;
  }
  // Wrapped layers (Bidirectional, TimeDistributed) nest a full layer object.
  for (const key of ['layer', 'backward_layer']) {
    const inner = out[key];
    if (isObject(inner) && typeof inner.class_name === 'string') {
      out[key] = translateLayer(inner, [where], ctx, new Set());
      delete (out[key] as Json).name;
    }
  }
  return out;
}

/** Keras 3 dtype policies ({class_name: 'DTypePolicy', config: {name}}) → the variable dtype. */
function plainDtype(dtype: unknown, where: string, className: string, ctx: { file?: string }): unknown {
  let name = dtype;
  if (isObject(dtype)) {
    const c = isObject(dtype.config) ? dtype.config : {};
    name = c.name ?? dtype.name;
  }
  if (typeof name !== 'string') return 'float32';
  // Mixed-precision policies keep float32 variables; tfjs computes in float32 throughout.
  if (name.startsWith('mixed_')) return 'float32';
  if (['float32', 'int32', 'bool', 'string', 'complex64'].includes(name)) return name;
  if (name === 'float16' || name === 'bfloat16' || name === 'float64') return 'float32';
  if (name.startsWith('int') || name.startsWith('uint')) return 'int32';
  throw new GraftError('UNSUPPORTED', `layer '${where}' (${className}) uses dtype '${name}', which tfjs cannot hold`, ctx);
}

/** Drops Keras 3 serialization keys from every nested object (initializers, regularizers, …). */
function stripKeras3(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripKeras3);
  if (!isObject(value)) return value;
  const out: Json = {};
  const serialized = typeof value.class_name === 'string';
  for (const [k, v] of Object.entries(value)) {
    if (serialized && KERAS3_OBJECT_KEYS.includes(k)) continue;
    out[k] = stripKeras3(v);
  }
  if (serialized && typeof out.class_name === 'string') {
    const cfg = isObject(out.config) ? out.config : {};
    switch (out.class_name) {
      // Keras 3 renamed these initializers; tfjs registers the Keras 2 names.
      case 'OrthogonalInitializer':
        out.class_name = 'Orthogonal';
        break;
      case 'IdentityInitializer':
        out.class_name = 'Identity';
        break;
      // Keras 3 regularizers L1 / L2 are L1L2 with one term in tfjs.
      case 'L1':
        out.class_name = 'L1L2';
        out.config = { l1: cfg.l1 ?? 0, l2: 0 };
        break;
      case 'L2':
        out.class_name = 'L1L2';
        out.config = { l1: 0, l2: cfg.l2 ?? 0 };
        break;
    }
  }
  return out;
}

function tfjsKnows(className: string): boolean {
  try {
    // Required here, not at module load: listing a Keras file's tensors must not pay for tfjs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tf = require('@tensorflow/tfjs') as typeof tfTypes;
    const map = tf.serialization.SerializationMap.getMap().classNameMap as Record<string, unknown>;
    return className in map;
  } catch {
    return true;
  }
}

/** Keras 3 serialises configs tfjs cannot read (`batch_shape`, dtype policy objects, `module` keys). */
export function looksLikeKeras3(topology: Record<string, unknown>): boolean {
  if (/^3\./.test(String(topology.keras_version ?? ''))) return true;
  return /"batch_shape"|"registered_name"|"DTypePolicy"|"__keras_tensor__"/.test(JSON.stringify(topology.model_config ?? topology));
}

/**
 * A topology tfjs can build: Keras 3 configs (from `.keras` files, or model.json files the tfjs
 * converter wrote from Keras 3 models) are translated; tfjs and Keras 2 topologies pass through.
 */
export function normalizeTopology(topology: Record<string, unknown>, file?: string): Record<string, unknown> {
  if (!looksLikeKeras3(topology)) return topology;
  const config = (topology.model_config as Record<string, unknown> | undefined) ?? topology;
  return toTfjsTopology(config, String(topology.keras_version ?? '3'), { file, backend: typeof topology.backend === 'string' ? topology.backend : undefined });
}
