import type { SourceOp } from '../formats/types';
import { kerasLayerOfName, modulePathOfNode, OnnxExporter, writesKerasNames } from '../topology/onnx/names';
import type { TransformSpec } from '../transforms';

/** ONNX op input roles → the PyTorch parameter name a module would hold them under. */
const ROLE_AS_TORCH: Record<string, string> = { weight: 'weight', bias: 'bias', scale: 'weight', mean: 'running_mean', var: 'running_var', slope: 'weight', W: 'onnx:W', R: 'onnx:R', B: 'onnx:B' };

/** A torch-style name (`layer1.0.conv1.weight`) for a tensor an ONNX op uses, read off what the exporter wrote. */
export interface OnnxAlias {
  alias: string;
  tensor: string;
}

/**
 * The module (or Keras layer) an op belongs to, by its exporter's naming: torch.onnx scopes node
 * names (`/layer1/layer1.0/conv1/Conv`); keras2onnx keeps Keras variable names on the initializers
 * (`dense/kernel:0`) and tf2onnx TensorFlow op paths (`sequential/dense/MatMul`); CNTK names nothing.
 */
export function moduleOfOp(op: SourceOp, exporter: OnnxExporter | undefined): string | undefined {
  const name = typeof op.attributes?.name === 'string' ? op.attributes.name : '';
  if (exporter === 'cntk') return undefined;
  if (exporter && writesKerasNames(exporter)) {
    const tensor = op.params.weight ?? op.params.scale ?? op.params.W ?? Object.values(op.params)[0];
    return (tensor && kerasLayerOfName(tensor)) || (name && kerasLayerOfName(name)) || undefined;
  }
  return name ? modulePathOfNode(name) : undefined;
}

/**
 * Torch-style names for the tensors of an ONNX graph's weighted ops, so initializers the exporter
 * left anonymous (`onnx::Conv_196`, `1`) or named its own way (`dense/kernel:0`) resolve to modules.
 */
export function onnxModuleAliases(ops: readonly SourceOp[], exporter?: OnnxExporter): OnnxAlias[] {
  const out: OnnxAlias[] = [];
  // A stacked PyTorch RNN exports one node per layer, all under the module's name: number them.
  const rnnNodes = new Map<string, number>();
  for (const op of ops) {
    const module = moduleOfOp(op, exporter);
    if (!module) continue;
    let rnnSuffix = '';
    if (op.params.W) {
      const k = rnnNodes.get(module) ?? 0;
      rnnNodes.set(module, k + 1);
      rnnSuffix = `_l${k}`;
    }
    for (const [role, tensor] of Object.entries(op.params)) {
      const param = ROLE_AS_TORCH[role];
      if (param) out.push({ alias: `${module}.${param}${param.startsWith('onnx:') ? rnnSuffix : ''}`, tensor });
    }
  }
  return out;
}

/** Weight tensors stored [in, out]: Gemm without transB, MatMul on an untransposed initializer. */
export function inOutKernels(ops: readonly SourceOp[]): Set<string> {
  const out = new Set<string>();
  for (const op of ops) {
    const a = op.attributes ?? {};
    const w = op.params.weight;
    if (!w) continue;
    if ((op.type === 'Gemm' && a.transB !== 1) || (op.type === 'MatMul' && a.weightLayout === 'in,out')) out.add(w);
  }
  return out;
}

/** Transposes that turn a channels-last kernel ([k…, in, out], Keras's) into ONNX's [out, in, k…]. */
const CHANNELS_LAST_TO_ONNX: Record<number, string> = { 3: '2,1,0', 4: '3,2,0,1', 5: '4,3,0,1,2' };

/**
 * Convolution kernels stored in Keras's [k…, in, out] layout and transposed by a node in the graph
 * (tf2onnx, keras2onnx): already the tfjs layout.
 */
export function channelsLastKernels(ops: readonly SourceOp[]): Set<string> {
  const out = new Set<string>();
  for (const op of ops) {
    const w = op.params.weight;
    const via = (op.attributes?.via as Record<string, Record<string, unknown>[]> | undefined)?.weight;
    if (op.type !== 'Conv' || !w || !via || via.length !== 1 || via[0].op !== 'Transpose' || !Array.isArray(via[0].perm)) continue;
    const perm = (via[0].perm as number[]).join(',');
    if (Object.values(CHANNELS_LAST_TO_ONNX).includes(perm)) out.add(w);
  }
  return out;
}

/** A Dense kernel transform for a source already in [in, out] layout. */
export function kernelFromInOut(t: TransformSpec): TransformSpec {
  if (t.kind === 'transpose') return { kind: 'identity' };
  if (t.kind === 'dense-after-flatten') return { ...t, inOut: true };
  return t;
}

/** True for transforms that take a PyTorch [out, in] Dense kernel. */
export function isDenseKernelTransform(t: TransformSpec): boolean {
  return t.kind === 'transpose' || t.kind === 'dense-after-flatten';
}
