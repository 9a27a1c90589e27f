import type { Convention, SourceOp, TensorInfo } from '../formats/types';
import { describeTransform, transformedShape, TransformSpec } from '../transforms';
import { defaultTransform, kerasKey, KerasKey, normalizeModulePath, onnxRnnRule, TORCH_NON_WEIGHTS, torchModulesFor, torchRule } from './conventions';
import { channelsLastKernels, inOutKernels, isDenseKernelTransform, kernelFromInOut, onnxModuleAliases } from './onnx-aliases';
import { OnnxExporter, writesKerasNames } from '../topology/onnx/names';
import { flattenReason } from '../topology/flatten-origin';
import { aliasOf, EMPTY_TABLE, MappingTable } from './table';
import type { TargetVariable } from '../topology/variables';

/** One target variable and the source tensor(s) that will fill it. */
export interface Assignment {
  target: string;
  layer: string;
  /** Original source tensor names, in the order the transform consumes them. */
  sources: string[];
  transform: TransformSpec;
  sourceShapes: number[][];
  targetShape: number[];
  /** What decided this pairing. */
  origin: 'table' | 'convention';
  /** The source's shape differs from the target's only by dimensions of size 1 (`[8, 1, 1]` → `[8]`). */
  squeezed?: boolean;
  /** Why the transform was chosen, where that is not obvious (a Dense kernel after a Flatten). */
  note?: string;
}

/** A pairing that cannot work: shapes that no transform reconciles. */
export interface PlanError {
  target: string;
  layer: string;
  sources: string[];
  message: string;
}

export interface Plan {
  convention: Convention;
  assignments: Assignment[];
  /** Selected target variables that no source feeds (they keep their own or initial values). */
  missing: string[];
  /** Source tensors assigned to nothing. */
  unused: string[];
  /** Target variables left out by --include/--exclude. */
  skipped: string[];
  /** Source tensors left out on purpose (table `ignore`, PyTorch's num_batches_tracked). */
  ignored: string[];
  errors: PlanError[];
  /** Choices graft could not be sure of, one line each. */
  warnings: string[];
}

export interface PlanOptions {
  convention: Convention;
  table?: MappingTable;
  /** Regexes over target variable names; when any is given, only matching targets are restored. */
  include?: RegExp[];
  exclude?: RegExp[];
  /** The source graph's weighted ops (ONNX): their node names name tensors the file leaves unnamed. */
  ops?: readonly SourceOp[];
  /** Which program wrote an ONNX source: how its node and tensor names say which module is whose. */
  exporter?: OnnxExporter;
}

/**
 * Decides which source feeds which target variable, with which transform, and checks every shape —
 * without reading any tensor data. Pure: the same inputs always give the same plan.
 */
export function planGraft(sources: readonly TensorInfo[], targets: readonly TargetVariable[], options: PlanOptions): Plan {
  const table = options.table ?? EMPTY_TABLE;
  const { convention } = options;
  const byName = new Map(sources.map((s) => [s.name, s]));

  const ignored: string[] = [];
  const candidates: { info: TensorInfo; alias: string }[] = [];
  for (const s of sources) {
    if (table.ignore.some((r) => r.test(s.name)) || (convention === 'torch' && TORCH_NON_WEIGHTS.test(s.name))) ignored.push(s.name);
    else candidates.push({ info: s, alias: aliasOf(s.name, table) });
  }
  const byAlias = new Map<string, TensorInfo>();
  for (const c of candidates) if (!byAlias.has(c.alias)) byAlias.set(c.alias, c.info);

  const selected = (name: string): boolean =>
    (!options.include?.length || options.include.some((r) => r.test(name))) && !options.exclude?.some((r) => r.test(name));

  const assignments: Assignment[] = [];
  const errors: PlanError[] = [];
  const missing: string[] = [];
  const skipped: string[] = [];
  const used = new Set<string>();
  const warnings: string[] = [];

  const explicit = new Map(table.tensors.map((p) => [p.target, p]));
  for (const p of table.tensors) {
    if (!targets.some((t) => t.name === p.target)) {
      errors.push({ target: p.target, layer: '', sources: p.sources, message: `mapping table names target '${p.target}', which the target model does not have` });
    }
  }

  const inOut = inOutKernels(options.ops ?? []);
  const channelsLast = channelsLastKernels(options.ops ?? []);
  // A Keras model exported to ONNX flattens its feature maps channels-last, as tfjs does.
  const kerasSource = options.exporter !== undefined && writesKerasNames(options.exporter);
  const resolver = convention === 'torch' ? torchResolver(byAlias, options.ops ?? [], new Set(ignored), options.exporter, inOut, channelsLast, kerasSource) : kerasResolver(byAlias, targets, convention);

  for (const v of targets) {
    if (!selected(v.name)) {
      skipped.push(v.name);
      continue;
    }
    let found: { infos: TensorInfo[]; transform: TransformSpec; origin: Assignment['origin'] } | undefined;
    const pair = explicit.get(v.name);
    if (pair) {
      const infos = pair.sources.map((n) => byName.get(n) ?? byAlias.get(n));
      const absent = pair.sources.filter((_, i) => !infos[i]);
      if (absent.length) {
        errors.push({ target: v.name, layer: v.layer, sources: pair.sources, message: `mapping table maps '${absent.join("', '")}' to '${v.name}', but the source has no such tensor` });
        continue;
      }
      let transform = pair.transform ?? defaultTransform(v, convention, infos.length);
      if (transform.kind === 'dense-after-flatten' && transform.channels === 0) {
        const fi = v.flattenInput;
        if (!fi || fi.length < 2) {
          errors.push({ target: v.name, layer: v.layer, sources: pair.sources, message: `mapping table asks for dense-after-flatten on '${v.name}', which does not follow a Flatten of a feature map` });
          continue;
        }
        transform = { kind: 'dense-after-flatten', channels: fi[fi.length - 1], spatial: fi.slice(0, -1) };
      }
      // An ONNX MatMul weight is already [in, out]: the class's default must not transpose it again.
      if (!pair.transform && kerasSource && transform.kind === 'dense-after-flatten') transform = { kind: 'transpose' };
      if (!pair.transform && isDenseKernelTransform(transform) && inOut.has(infos[0]!.name)) transform = kernelFromInOut(transform);
      if (!pair.transform && transform.kind === 'conv' && channelsLast.has(infos[0]!.name)) transform = { kind: 'identity' };
      found = { infos: infos as TensorInfo[], transform, origin: 'table' };
    } else {
      const r = resolver(v);
      if (r) found = { ...r, origin: 'convention' };
    }
    if (!found) {
      missing.push(v.name);
      continue;
    }
    const sourceShapes = found.infos.map((i) => i.shape);
    const names = found.infos.map((i) => i.name);
    names.forEach((n) => used.add(n));
    const shape = transformedShape(found.transform, sourceShapes, v.shape);
    // Unit dimensions never change row-major order: [8, 1, 1] fills [8] as is. Only for data taken
    // as stored: after a transpose, [1, 10] against [10, 1] would be a Linear(10→1) read as Dense(1→10).
    const squeezed = found.transform.kind === 'identity' && typeof shape !== 'string' && !sameShape(shape, v.shape) && sameShape(withoutUnits(shape), withoutUnits(v.shape));
    if (typeof shape === 'string' || (!sameShape(shape, v.shape) && !squeezed)) {
      const got = typeof shape === 'string' ? shape : `gives [${shape.join(', ')}]`;
      errors.push({
        target: v.name,
        layer: v.layer,
        sources: names,
        message: `layer '${v.layer}': source ${names.map((n, i) => `'${n}' [${sourceShapes[i].join(', ')}]`).join(' + ')} does not fit target '${v.name}' [${v.shape.join(', ')}] (tried ${describeTransform(found.transform)}: ${got})`,
      });
      continue;
    }
    const note = kerasSource && v.flattenFrom?.layout === 'feature-map' && found.origin === 'convention' && flattenNote(v, found.transform, found.origin)
      ? `rows kept: the source is a Keras model (exported by ${options.exporter}), which flattens channels-last as tfjs does`
      : convention === 'torch' ? flattenNote(v, found.transform, found.origin) : undefined;
    const unsure = v.flattenFrom?.layout === 'unknown' || v.flattenFrom === undefined || v.flattenFrom.fromSequence === true;
    if (note && found.origin === 'convention' && unsure && convention === 'torch' && !kerasSource) warnings.push(`layer '${v.layer}': ${note}`);
    assignments.push({ target: v.name, layer: v.layer, sources: names, transform: found.transform, sourceShapes, targetShape: v.shape, origin: found.origin, ...(squeezed ? { squeezed } : {}), ...(note ? { note } : {}) });
  }

  errors.push(...foldedBatchNormErrors(targets, missing, options.ops));
  const unused = candidates.map((c) => c.info.name).filter((n) => !used.has(n));
  return { convention, assignments, missing, unused, skipped, ignored, errors, warnings };
}

/**
 * A graph with convolutions and no BatchNormalization node, under a target whose BatchNormalization
 * layers find no source: the exporter folded BatchNorm into the convolutions (torch.onnx does by
 * default). The convolutions then already hold the normalisation; applying it again is wrong.
 */
function foldedBatchNormErrors(targets: readonly TargetVariable[], missing: readonly string[], ops: readonly SourceOp[] | undefined): PlanError[] {
  if (!ops?.length || ops.some((o) => o.type === 'BatchNormalization') || !ops.some((o) => o.type === 'Conv')) return [];
  const unfed = new Set(missing);
  const layers = [...new Set(targets.filter((v) => v.className === 'BatchNormalization' && unfed.has(v.name)).map((v) => v.layer))];
  if (layers.length === 0) return [];
  const shown = layers.slice(0, 3).map((l) => `'${l}'`).join(', ') + (layers.length > 3 ? ` and ${layers.length - 3} more` : '');
  return [{
    target: targets.find((v) => v.layer === layers[0])!.name,
    layer: layers[0],
    sources: [],
    message: `the target's BatchNormalization layers (${shown}) have no source: the ONNX export folded BatchNorm into the convolutions (no BatchNormalization node is left); re-export with torch.onnx.export(..., training=torch.onnx.TrainingMode.PRESERVE) or do_constant_folding=False, or use a target without BatchNormalization layers (convolutions with biases)`,
  }];
}

/** For a Dense kernel after a Flatten of a multi-dimensional tensor: whether its rows were reordered, and why. */
function flattenNote(v: TargetVariable, transform: TransformSpec, origin: Assignment['origin']): string | undefined {
  if (v.className !== 'Dense' || v.weight !== 'kernel' || !v.flattenInput || v.flattenInput.length < 2 || !v.flattenInput.slice(0, -1).some((d) => d > 1)) return undefined;
  const reordered = transform.kind === 'dense-after-flatten';
  if (origin === 'table') return `${reordered ? 'rows reordered from channels-first' : 'rows kept'}: transform from the mapping table`;
  if (transform.kind !== 'transpose' && transform.kind !== 'identity' && !reordered) return undefined;
  return flattenReason(v.flattenFrom, reordered);
}

function withoutUnits(shape: readonly number[]): number[] {
  return shape.filter((d) => d !== 1);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

type Resolver = (v: TargetVariable) => { infos: TensorInfo[]; transform: TransformSpec } | undefined;

/** Torch convention: module path of the target layer + the parameter names of its class. */
function torchResolver(byAlias: Map<string, TensorInfo>, ops: readonly SourceOp[], ignored: Set<string>, exporter: OnnxExporter | undefined, inOut: Set<string>, channelsLast: Set<string>, kerasSource: boolean): Resolver {
  // (normalized module path, relative parameter path) → tensor, for every split of every name.
  const index = new Map<string, TensorInfo>();
  const add = (alias: string, info: TensorInfo): void => {
    const parts = alias.split('.');
    for (let k = 1; k < parts.length; k++) {
      const key = `${normalizeModulePath(parts.slice(0, k).join('.'))}|${parts.slice(k).join('.')}`;
      if (!index.has(key)) index.set(key, info);
    }
  };
  for (const [alias, info] of byAlias) add(alias, info);
  // ONNX node names stand in for the names of initializers the exporter left anonymous.
  const byName = new Map([...byAlias.values()].map((i) => [i.name, i]));
  for (const a of onnxModuleAliases(ops, exporter)) {
    const info = byName.get(a.tensor);
    if (!info || ignored.has(a.tensor)) continue;
    add(a.alias, info);
  }
  const resolve = (layer: string, rule: ReturnType<typeof torchRule>): { infos: TensorInfo[]; transform: TransformSpec } | undefined => {
    if (!rule) return undefined;
    const module = normalizeModulePath(layer);
    const infos: TensorInfo[] = [];
    for (const alternatives of rule.params) {
      const hit = alternatives.map((p) => index.get(`${module}|${p}`)).find(Boolean);
      if (!hit) return undefined;
      infos.push(hit);
    }
    let transform = rule.transform;
    if (kerasSource && transform.kind === 'dense-after-flatten') transform = { kind: 'transpose' };
    if (isDenseKernelTransform(transform) && inOut.has(infos[0].name)) transform = kernelFromInOut(transform);
    if (transform.kind === 'conv' && channelsLast.has(infos[0].name)) transform = { kind: 'identity' };
    return { infos, transform };
  };
  return (v) => {
    for (const { module, rnnLayer } of torchModulesFor(v)) {
      const hit = resolve(module, torchRule(v, rnnLayer)) ?? resolve(module, onnxRnnRule(v, rnnLayer));
      if (hit) return hit;
    }
    return undefined;
  };
}

/**
 * Keras/tfjs/TF conventions: names already say `<layer>/<weight>` in the target's own layout.
 * Matches the longest scope suffix; `layer_with_weights-N` and `<layer>/<i>` resolve by position.
 */
function kerasResolver(byAlias: Map<string, TensorInfo>, targets: readonly TargetVariable[], convention: Convention): Resolver {
  const keyed: { key: KerasKey; info: TensorInfo }[] = [];
  for (const [alias, info] of byAlias) {
    const key = kerasKey(alias, convention);
    if (key) keyed.push({ key, info });
  }
  const exact = new Map<string, TensorInfo>();
  for (const [alias, info] of byAlias) exact.set(alias.replace(/:\d+$/, ''), info);
  const taken = new Set<TensorInfo>();
  const identity: TransformSpec = { kind: 'identity' };
  return (v) => {
    const direct = exact.get(v.name);
    if (direct && !taken.has(direct)) {
      taken.add(direct);
      return { infos: [direct], transform: identity };
    }
    const targetScopes = v.name.split('/').slice(0, -1);
    let best: { info: TensorInfo; score: number } | undefined;
    for (const { key, info } of keyed) {
      if (taken.has(info)) continue;
      let score = 0;
      if (key.layerOrdinal !== undefined) {
        if (key.layerOrdinal === v.layerIndex && key.weight === v.weight) score = 1;
      } else if (key.weightIndex !== undefined) {
        if (key.weightIndex === v.indexInLayer && key.scopes[key.scopes.length - 1] === v.layer) score = 1;
      } else if (key.weight === v.weight) {
        // Count matching scopes from the innermost outwards; the layer itself must match.
        let i = key.scopes.length - 1;
        let j = targetScopes.length - 1;
        while (i >= 0 && j >= 0 && key.scopes[i] === targetScopes[j]) {
          score++;
          i--;
          j--;
        }
        if (key.scopes[key.scopes.length - 1] !== targetScopes[targetScopes.length - 1]) score = 0;
      }
      if (score > 0 && (!best || score > best.score)) best = { info, score };
    }
    if (!best) return undefined;
    taken.add(best.info);
    return { infos: [best.info], transform: identity };
  };
}
