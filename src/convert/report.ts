import type { GraftError } from '../errors';
import type { Convention, WeightReader } from '../formats/types';
import type { Plan } from '../mapping/plan';
import type { QuantizeDType } from '../output/quantize';
import type { OnnxModelBuild } from '../topology/onnx-graph';
import { describeTransform } from '../transforms';
import type { QuantizedWeight } from './stream';

/** What a conversion did: restored, missing, unused, frozen, written; and the `--report` JSON. */

/** What `backend` says when the streaming engine did the work: no tfjs backend was involved. */
export const STREAMING_BACKEND = 'none (streaming)';

/** Size saved and error introduced by `quantize`. */
export interface QuantizationReport {
  dtype: QuantizeDType;
  /** Quantized weights with the largest |decoded - original| of each. */
  weights: { name: string; maxError: number }[];
  /** Largest error over every quantized weight. */
  maxError: number;
  /** Bytes of the quantized weights as float32, and as stored. */
  bytesBefore: number;
  bytesAfter: number;
  bytesSaved: number;
}

export interface ConvertReport {
  source: string;
  format: string;
  convention: Convention;
  target: string;
  /** The tfjs backend that held the model, or STREAMING_BACKEND. */
  backend: string | undefined;
  /** The engine that did the work, and why it was tfjs when streaming was possible in principle. */
  engine: 'stream' | 'tfjs';
  engineReason?: string;
  assigned: { source: string; target: string; transform: string; note?: string }[];
  /** Selected variables no source fed that keep tfjs's fresh initialisation (only with allowMissing). */
  missing: string[];
  /** Selected variables no source fed that keep the target's own weights. */
  kept: string[];
  /** What graft could see would make the model compute something else than the source, one line each. */
  warnings: string[];
  /** Dry runs: why the real run would fail (it would exit 1). */
  refusal?: GraftError;
  unused: string[];
  skipped: string[];
  ignored: string[];
  frozen: string[];
  /** True when the model uses layers only `tfjs-graft/layers` provides. */
  needsLayers: boolean;
  out?: string;
  files?: string[];
  bytes?: number;
  quantization?: QuantizationReport;
  /** When the model was built from the source's graph (ONNX): input/output layouts, layers of weighted nodes. */
  graph?: Pick<OnnxModelBuild, 'inputs' | 'outputs' | 'layers'>;
  plan: Plan;
}

/** The report of a planned conversion, before anything is written. */
export function planReport(init: {
  reader: WeightReader;
  convention: Convention;
  targetName: string;
  backend: string | undefined;
  engine: 'stream' | 'tfjs';
  engineReason: string | undefined;
  plan: Plan;
  frozen: string[];
  needsLayers: boolean;
  /** The target's own weights keep what nothing restores. */
  keptOwn: boolean;
  warnings: string[];
}): ConvertReport {
  const { reader, plan } = init;
  return {
    source: reader.path,
    format: reader.format,
    convention: init.convention,
    target: init.targetName,
    backend: init.backend,
    engine: init.engine,
    engineReason: init.engineReason,
    assigned: plan.assignments.map((a) => ({ source: a.sources.join(' + '), target: a.target, transform: describeTransform(a.transform) + (a.squeezed ? '+squeeze' : ''), ...(a.note ? { note: a.note } : {}) })),
    missing: init.keptOwn ? [] : plan.missing,
    kept: init.keptOwn ? plan.missing : [],
    warnings: init.warnings,
    unused: plan.unused,
    skipped: plan.skipped,
    ignored: plan.ignored,
    frozen: init.frozen,
    needsLayers: init.needsLayers,
    plan,
  };
}

export function quantizationReport(dtype: QuantizeDType, quantized: QuantizedWeight[]): QuantizationReport {
  const bytesBefore = quantized.reduce((s, q) => s + q.bytes, 0);
  const bytesAfter = quantized.reduce((s, q) => s + q.storedBytes, 0);
  return {
    dtype,
    weights: quantized.map((q) => ({ name: q.name, maxError: q.maxError })),
    maxError: quantized.reduce((m, q) => Math.max(m, q.maxError), 0),
    bytesBefore,
    bytesAfter,
    bytesSaved: bytesBefore - bytesAfter,
  };
}

/** The JSON `--report` writes: what was restored and what was not. */
export function reportJson(r: ConvertReport): Record<string, unknown> {
  return {
    source: r.source,
    format: r.format,
    convention: r.convention,
    target: r.target,
    engine: r.engine,
    engineReason: r.engineReason,
    backend: r.backend,
    assigned: r.assigned,
    missing: r.missing,
    ...(r.missing.length ? { missingKept: 'fresh initialisation' } : {}),
    kept: r.kept,
    warnings: r.warnings,
    unused: r.unused,
    skipped: r.skipped,
    ignored: r.ignored,
    frozen: r.frozen,
    needsLayers: r.needsLayers,
    out: r.out,
    files: r.files,
    bytes: r.bytes,
    quantization: r.quantization,
    graph: r.graph,
  };
}
