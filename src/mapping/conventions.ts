import type { Convention, TensorInfo } from '../formats/types';
import type { TransformSpec } from '../transforms';
import { layerClass, TorchRule } from '../topology/catalogue';
import type { TargetVariable } from '../topology/variables';

export type { TorchRule };

const one = (alternatives: string[] | string, transform: TransformSpec): TorchRule => ({
  params: [Array.isArray(alternatives) ? alternatives : [alternatives]],
  transform,
});

/**
 * The torch rule for a target variable: its layer class's catalogue entry gives the parameter
 * paths (relative to the PyTorch module matching the target layer) and the transform. `rnnLayer`
 * picks one layer of a stacked PyTorch RNN (`num_layers > 1` keeps `weight_ih_l1`, … in one module).
 */
export function torchRule(v: TargetVariable, rnnLayer = 0): TorchRule | undefined {
  const rules = layerClass(v.className)?.torch?.(v, rnnLayer);
  return rules && Object.prototype.hasOwnProperty.call(rules, v.weight) ? rules[v.weight] : undefined;
}

/**
 * Where a target layer finds its PyTorch module: the module named like the layer, or — for the
 * layers of a stacked PyTorch RNN split into one tfjs layer each — `<module>_l<k>` naming layer k
 * of module `<module>`.
 */
export function torchModulesFor(v: TargetVariable): { module: string; rnnLayer: number }[] {
  const out = [{ module: v.layer, rnnLayer: 0 }];
  const stacked = /^(.+?)[._/]?l(\d+)$/.exec(v.layer);
  if (stacked && layerClass(v.className)?.torchStacked) out.push({ module: stacked[1], rnnLayer: Number(stacked[2]) });
  return out;
}

/**
 * Recurrent weights as ONNX stores them (`W`, `R`, `B` inputs of an LSTM/GRU/RNN node): the rule for
 * a target RNN variable when the source holds ONNX-native initializers instead of PyTorch names.
 */
export function onnxRnnRule(v: TargetVariable, rnnLayer = 0): TorchRule | undefined {
  const order = layerClass(v.className)?.onnxGates;
  if (!order) return undefined;
  const gates = [...order];
  const direction = v.direction === 'backward' ? 1 : 0;
  const k = `_l${rnnLayer}`;
  switch (v.weight) {
    case 'kernel': return one(`onnx:W${k}`, { kind: 'onnx-rnn-kernel', gates, direction });
    case 'recurrent_kernel': return one(`onnx:R${k}`, { kind: 'onnx-rnn-kernel', gates, direction });
    case 'bias': return one(`onnx:B${k}`, { kind: 'onnx-rnn-bias', gates, direction, stacked: v.config?.resetAfter === true });
    default: return undefined;
  }
}

/**
 * The transform for an explicit table pair without one: what the target's class implies under the
 * convention, falling back to identity (and letting the shape check speak).
 */
export function defaultTransform(v: TargetVariable, convention: Convention, sourceCount: number): TransformSpec {
  if (convention === 'torch') {
    const rule = torchRule(v);
    if (rule && rule.params.length === sourceCount) return rule.transform;
    if (sourceCount > 1) return { kind: 'sum' };
  }
  return sourceCount > 1 ? { kind: 'sum' } : { kind: 'identity' };
}

/** PyTorch module paths and tfjs layer names compare equal across `.`, `/` and `_` separators. */
export function normalizeModulePath(path: string): string {
  return path.replace(/[./]/g, '_');
}

/** Parameters PyTorch keeps in a state dict that are not weights (left out, not reported unused). */
export const TORCH_NON_WEIGHTS = /(^|\.)num_batches_tracked$/;

/** TF1 and slim variable names that mean the Keras weight names. */
const TF_WEIGHT_ALIASES: Record<string, string> = {
  weights: 'kernel',
  biases: 'bias',
  w: 'kernel',
  b: 'bias',
  embedding: 'embeddings',
  depthwise_weights: 'depthwise_kernel',
  pointwise_weights: 'pointwise_kernel',
};

/**
 * A Keras/tfjs/TF source name reduced to what identifies a weight: the path of scopes and the
 * weight name, with `:0`, `/.ATTRIBUTES/VARIABLE_VALUE`, and RNN cell scopes dropped.
 */
export interface KerasKey {
  /** Scope segments, outermost first (the last one is normally the layer name). */
  scopes: string[];
  weight: string;
  /** `layer_with_weights-N` from a TF2 object-graph checkpoint: the N-th layer with weights. */
  layerOrdinal?: number;
  /** `<layer>/<i>`: the i-th weight of the layer (Keras 3 files without a config). */
  weightIndex?: number;
}

export function kerasKey(name: string, convention: Convention): KerasKey | undefined {
  let n = name.replace(/:\d+$/, '').replace(/\/\.ATTRIBUTES\/VARIABLE_VALUE$/, '');
  if (/\.OPTIMIZER_SLOT|(^|\/)optimizer(\/|$)/.test(n)) return undefined;
  const og = /(?:^|\/)layer_with_weights-(\d+)\/(.+)$/.exec(n);
  if (og) {
    const segs = og[2].split('/').filter((s) => s !== 'cell' && !/_cell$/.test(s));
    return { scopes: [], weight: segs[segs.length - 1], layerOrdinal: Number(og[1]) };
  }
  const segs = n.split('/').filter((s) => s.length > 0);
  if (segs.length < 2) return { scopes: [], weight: segs[0] ?? n };
  let weight = segs.pop()!;
  // RNN weights live under a cell scope: `lstm/lstm_cell/kernel` is `lstm/kernel` to tfjs.
  while (segs.length > 1 && /(^|_)cell(_\d+)?$/.test(segs[segs.length - 1])) segs.pop();
  // Keras 3 `layers/<name>/vars/<i>` and our `<layer>/<i>` index form.
  if (/^\d+$/.test(weight)) {
    if (segs[segs.length - 1] === 'vars') segs.pop();
    const cleaned = segs.filter((s, i) => !(s === 'layers' && i % 2 === 0) && s !== '_layer_checkpoint_dependencies');
    return { scopes: cleaned.length ? cleaned : segs, weight, weightIndex: Number(weight) };
  }
  if (convention === 'tf' && TF_WEIGHT_ALIASES[weight]) weight = TF_WEIGHT_ALIASES[weight];
  return { scopes: segs, weight };
}

/** Infers the convention from tensor names when the format does not imply one. */
export function inferConvention(tensors: readonly TensorInfo[]): Convention | undefined {
  let torch = 0;
  let keras = 0;
  let tf = 0;
  for (const t of tensors) {
    if (/\.(weight|bias|running_mean|running_var|num_batches_tracked|weight_ih_l\d+|weight_hh_l\d+)$/.test(t.name)) torch++;
    else if (/(^|\/)(kernel|recurrent_kernel|gamma|beta|moving_mean|moving_variance|embeddings)(:\d+)?$/.test(t.name)) keras++;
    else if (/(^|\/)(weights|biases)(:\d+)?$/.test(t.name)) tf++;
  }
  const best = Math.max(torch, keras, tf);
  if (best === 0) return undefined;
  if (best === torch) return 'torch';
  return tf > keras ? 'tf' : 'keras';
}
