import type { Convention, SourceOp, TensorInfo } from '../formats/types';
import { channelsLastKernels, inOutKernels, isDenseKernelTransform, kernelFromInOut } from './onnx-aliases';
import { OnnxExporter, writesKerasNames } from '../topology/onnx/names';
import { kerasKey, torchRule } from './conventions';
import type { MappingTable } from './table';
import type { TargetVariable } from '../topology/variables';

/** A unit of source weights that feeds one target layer: a PyTorch module or an ONNX op. */
interface SourceGroup {
  label: string;
  /** Parameter name under PyTorch's naming (weight, bias, running_mean, …) → source tensor. */
  params: Map<string, string>;
  /** The op stores its kernel already [in, out] (Gemm without transB, MatMul). */
  kernelInOut?: boolean;
  /** The op's convolution kernel is stored channels-last ([k…, in, out]) behind a Transpose node. */
  kernelChannelsLast?: boolean;
}

/** ONNX op roles → the PyTorch parameter names the torch convention's rules use. */
const ROLE_AS_TORCH: Record<string, string> = { weight: 'weight', bias: 'bias', scale: 'weight', mean: 'running_mean', var: 'running_var', slope: 'weight' };

function groupsFromOps(ops: readonly SourceOp[]): SourceGroup[] {
  return ops.map((op, i) => {
    const params = new Map<string, string>();
    for (const [role, tensor] of Object.entries(op.params)) {
      const torchName = ROLE_AS_TORCH[role];
      if (torchName) params.set(torchName, tensor);
    }
    const a = op.attributes ?? {};
    return { label: `${op.type} #${i}${typeof a.name === 'string' ? ` (${a.name})` : ''}`, params, kernelInOut: inOutKernels([op]).size > 0, kernelChannelsLast: channelsLastKernels([op]).size > 0 };
  });
}

/** Consecutive tensors sharing a module prefix (`features.0.weight`, `features.0.bias`) form a group. */
function groupsFromNames(sources: readonly TensorInfo[]): SourceGroup[] {
  const groups: SourceGroup[] = [];
  const byPrefix = new Map<string, SourceGroup>();
  for (const s of sources) {
    const cut = s.name.lastIndexOf('.');
    const prefix = cut > 0 ? s.name.slice(0, cut) : s.name;
    const param = cut > 0 ? s.name.slice(cut + 1) : 'weight';
    if (param === 'num_batches_tracked') continue;
    let g = byPrefix.get(prefix);
    if (!g) {
      g = { label: prefix, params: new Map() };
      byPrefix.set(prefix, g);
      groups.push(g);
    }
    g.params.set(param, s.name);
  }
  return groups;
}

/**
 * `--match order`: pairs the source's weighted modules or ops with the target's weighted layers
 * in order, for sources whose names say nothing (ONNX initializers named `1`, `2`, …). The result
 * is a table of explicit pairs; the planner then checks every shape as usual.
 */
export function orderMatchingTable(sources: readonly TensorInfo[], ops: readonly SourceOp[] | undefined, targets: readonly TargetVariable[], convention: Convention = 'torch', exporter?: OnnxExporter): MappingTable['tensors'] {
  // A Keras model exported to ONNX flattens channels-last, as tfjs does.
  const kerasSource = exporter !== undefined && writesKerasNames(exporter);
  if (convention !== 'torch') return kerasOrderTable(sources, targets, convention);
  const groups = ops && ops.length ? groupsFromOps(ops) : groupsFromNames(sources);
  const layers: TargetVariable[][] = [];
  for (const v of targets) {
    if (!layers[v.layerIndex]) layers[v.layerIndex] = [];
    layers[v.layerIndex].push(v);
  }
  const weighted = layers.filter(Boolean);
  const pairs: MappingTable['tensors'] = [];
  weighted.forEach((vars, i) => {
    const g = groups[i];
    if (!g) return;
    for (const v of vars) {
      const rule = torchRule(v);
      if (!rule) continue;
      const names: string[] = [];
      for (const alternatives of rule.params) {
        // Relative paths like `depthwise.weight` only exist in module trees; an op has flat roles.
        const hit = alternatives.map((p) => g.params.get(p) ?? g.params.get(p.split('.').pop()!)).find(Boolean);
        if (hit) names.push(hit);
      }
      if (names.length !== rule.params.length) continue;
      let transform = rule.transform;
      if (kerasSource && transform.kind === 'dense-after-flatten') transform = { kind: 'transpose' };
      // A kernel already [in, out] is not transposed, but a channels-first flatten still reorders its rows.
      if (isDenseKernelTransform(transform) && g.kernelInOut) transform = kernelFromInOut(transform);
      if (transform.kind === 'conv' && g.kernelChannelsLast) transform = { kind: 'identity' };
      pairs.push({ sources: names, target: v.name, transform });
    }
  });
  return pairs;
}

/**
 * Order matching for Keras/TF sources (already in the target's layout): consecutive tensors of
 * one layer scope form a group; the i-th group feeds the i-th weighted target layer, weight by
 * weight name (or by position when names differ), untransformed.
 */
function kerasOrderTable(sources: readonly TensorInfo[], targets: readonly TargetVariable[], convention: Convention): MappingTable['tensors'] {
  const groups: { scope: string; tensors: { weight: string; name: string }[] }[] = [];
  for (const s of sources) {
    const key = kerasKey(s.name, convention);
    if (!key) continue;
    const scope = key.layerOrdinal !== undefined ? `#${key.layerOrdinal}` : key.scopes.join('/');
    if (groups.length === 0 || groups[groups.length - 1].scope !== scope) groups.push({ scope, tensors: [] });
    groups[groups.length - 1].tensors.push({ weight: key.weight, name: s.name });
  }
  const layers: TargetVariable[][] = [];
  for (const v of targets) (layers[v.layerIndex] ??= []).push(v);
  const pairs: MappingTable['tensors'] = [];
  layers.filter(Boolean).forEach((vars, i) => {
    const g = groups[i];
    if (!g) return;
    for (const v of vars) {
      const hit = g.tensors.find((t) => t.weight === v.weight) ?? g.tensors[v.indexInLayer];
      if (hit) pairs.push({ sources: [hit.name], target: v.name, transform: { kind: 'identity' } });
    }
  });
  return pairs;
}
