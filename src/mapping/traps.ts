import type { Convention, SourceOp } from '../formats/types';
import type { Assignment } from './plan';
import { isObject, Json } from '../io/json';
import { isModelClass, layerClassName, walkLayers } from '../topology/walk';

/**
 * Traps in hand-written targets: layer settings the source framework did not use, which graft can
 * see. Weights alone cannot carry these (a PyTorch state dict stores no eps, no activation, no
 * padding), so the converted model would load and run and compute something else. Pure.
 */
export interface TrapWarning {
  layer: string;
  message: string;
}

export interface TrapSource {
  convention: Convention;
  format: string;
  /** ONNX weighted ops: their attributes (epsilon, pads, activations) are what the source used. */
  ops?: readonly SourceOp[];
}

/** A layer's input shape without the batch dimension, when known. */
export type InputShapeOf = (layer: string) => readonly (number | null)[] | undefined;

interface LayerEntry {
  name: string;
  className: string;
  config: Json;
}

/** Every layer of a Keras/tfjs topology that is not itself a model, with its config. */
function topologyLayers(topology: Json): LayerEntry[] {
  const out: LayerEntry[] = [];
  walkLayers(topology, (l) => {
    const className = layerClassName(l as Json);
    if (!className || isModelClass(className) || !isObject(l.config) || typeof l.config.name !== 'string') return;
    out.push({ name: l.config.name, className, config: l.config });
  });
  return out;
}

/** PyTorch's BatchNorm default; ONNX's BatchNormalization default too. */
const TORCH_BN_EPSILON = 1e-5;

const f32 = Math.fround;

/** A float32 attribute as the decimal it was written as: 9.99999974e-6 → 1e-5. */
function num(x: number): string {
  const n = Number(x.toPrecision(6));
  return Math.abs(n) < 1e-3 && n !== 0 ? n.toExponential() : String(n);
}

function pair(v: unknown, n: number): number[] | undefined {
  if (typeof v === 'number') return new Array(n).fill(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return v as number[];
  return undefined;
}

/**
 * Warnings for layers that receive weights from a PyTorch-convention source (a state dict, or an
 * ONNX export whose nodes say what the source used), one line each with the fix.
 */
export function findTraps(topology: Json, assignments: readonly Assignment[], source: TrapSource, inputShapeOf: InputShapeOf = () => undefined): TrapWarning[] {
  if (source.convention !== 'torch') return [];
  const restored = new Set(assignments.map((a) => a.layer));
  const opOfTensor = new Map<string, SourceOp>();
  for (const op of source.ops ?? []) for (const t of Object.values(op.params)) if (!opOfTensor.has(t)) opOfTensor.set(t, op);
  const opOf = (layer: string): SourceOp | undefined => {
    for (const a of assignments) if (a.layer === layer) for (const s of a.sources) if (opOfTensor.has(s)) return opOfTensor.get(s);
    return undefined;
  };
  const warnings: TrapWarning[] = [];
  for (const l of topologyLayers(topology)) {
    if (!restored.has(l.name)) continue;
    const op = opOf(l.name);
    if (l.className === 'BatchNormalization') {
      const eps = typeof l.config.epsilon === 'number' ? l.config.epsilon : 1e-3;
      const fromOp = op?.type === 'BatchNormalization' ? (typeof op.attributes?.epsilon === 'number' ? op.attributes.epsilon : TORCH_BN_EPSILON) : undefined;
      if (fromOp !== undefined ? f32(eps) !== f32(fromOp) : f32(eps) !== f32(TORCH_BN_EPSILON)) {
        const want = num(fromOp ?? TORCH_BN_EPSILON);
        const used = fromOp !== undefined ? `the ONNX BatchNormalization node uses ${want}` : `PyTorch's BatchNorm uses ${want} unless the model set eps (state dicts do not store it)`;
        warnings.push({ layer: l.name, message: `layer '${l.name}': epsilon ${num(eps)} but ${used}: set "epsilon": ${want} in the target` });
      }
    }
    const rnn = l.className === 'Bidirectional' && isObject(l.config.layer) ? l.config.layer : { class_name: l.className, config: l.config };
    const rnnClass = String(rnn.class_name);
    if ((rnnClass === 'LSTM' || rnnClass === 'GRU') && isObject(rnn.config)) {
      // tfjs's default when the config omits it is hard_sigmoid.
      const act = typeof rnn.config.recurrent_activation === 'string' ? rnn.config.recurrent_activation : 'hard_sigmoid';
      const opActs = op && Array.isArray(op.attributes?.activations) ? (op.attributes.activations as string[]) : undefined;
      const expected = opActs?.[0] ? opActs[0].toLowerCase().replace('hardsigmoid', 'hard_sigmoid') : 'sigmoid';
      const normalized = act.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
      if (normalized !== expected) {
        const who = opActs ? `the ONNX ${rnnClass} node uses ${expected}` : `PyTorch's ${rnnClass} gates use sigmoid`;
        warnings.push({ layer: l.name, message: `layer '${l.name}': recurrent_activation '${act}'${rnn.config.recurrent_activation === undefined ? ' (tfjs\'s default)' : ''} but ${who}: set "recurrent_activation": "${expected}" in the target` });
      }
    }
    const conv = /^(Conv[123]D|SeparableConv[12]D|DepthwiseConv2D)$/.exec(l.className);
    if (conv && l.config.padding === 'same') {
      const w = samePaddingTrap(l, op, inputShapeOf(l.name));
      if (w) warnings.push(w);
    }
  }
  return warnings;
}

/** 'same' at stride > 1 pads asymmetrically (more after) where the padding is odd; PyTorch pads both sides alike. */
function samePaddingTrap(l: LayerEntry, op: SourceOp | undefined, input: readonly (number | null)[] | undefined): TrapWarning | undefined {
  const kernel = pair(l.config.kernel_size, 2) ?? [];
  const rank = kernel.length;
  const strides = pair(l.config.strides ?? 1, rank) ?? [];
  const dilation = pair(l.config.dilation_rate ?? 1, rank) ?? [];
  if (!strides.some((s) => s > 1)) return undefined;
  const fix = `use a ZeroPadding${rank}D layer with PyTorch's padding and padding 'valid'`;
  const opPads = op?.type === 'Conv' && Array.isArray(op.attributes?.pads) ? (op.attributes.pads as number[]) : undefined;
  for (let d = 0; d < rank; d++) {
    const k = (kernel[d] - 1) * (dilation[d] ?? 1) + 1;
    const s = strides[d];
    const n = input?.[d];
    if (typeof n !== 'number') {
      if (k > 1 && s > 1) return { layer: l.name, message: `layer '${l.name}': padding 'same' at stride ${s} pads unevenly (more after) on some input sizes, PyTorch pads both sides alike: ${fix}` };
      continue;
    }
    const total = Math.max((Math.ceil(n / s) - 1) * s + k - n, 0);
    const before = Math.floor(total / 2);
    const after = total - before;
    if (opPads && opPads.length === 2 * rank) {
      if (opPads[d] !== before || opPads[d + rank] !== after) {
        return { layer: l.name, message: `layer '${l.name}': padding 'same' at stride ${s} pads ${before} before and ${after} after on size ${n}, the ONNX Conv pads ${opPads[d]} and ${opPads[d + rank]}: ${fix}` };
      }
    } else if (before !== after) {
      return { layer: l.name, message: `layer '${l.name}': padding 'same' at stride ${s} pads ${before} before and ${after} after on size ${n}, PyTorch pads both sides alike: ${fix}` };
    }
  }
  return undefined;
}
