import * as fs from 'fs';
import * as path from 'path';
import type * as tfTypes from '@tensorflow/tfjs';
import { BackendName, currentBackend, initBackend } from '../backend';
import { checkOutputDir } from '../output/atomic';
import { freezeLayers } from '../topology/freeze';
import { ModelJson, readModelJson } from '../topology/model-json';
import { QUANTIZE_DTYPES, QuantizeDType, weightPattern } from '../output/quantize';
import { analyzeTopology, TopologyAnalysis } from '../topology/weight-specs';
import { DEFAULT_SHARD_BYTES, manifestBytes, WeightToWrite, writeLayersModel } from '../output/writer';
import { GraftError } from '../errors';
import { openWeights } from '../formats';
import { TfjsHandler } from '../formats/tfjs/reader';
import type { Convention, TensorInfo, WeightReader } from '../formats/types';
import { needsGraftLayers } from '../topology/needs-layers';
import { inferConvention } from '../mapping/conventions';
import { orderMatchingTable } from '../mapping/order';
import { Plan, planGraft } from '../mapping/plan';
import { EMPTY_TABLE, MappingTable, parseMappingTable } from '../mapping/table';
import type { TargetVariable } from '../topology/variables';
import { QuantizedWeight, QuantizeOptions, streamedWeight, streamWeights } from './stream';
import { describeTransform } from '../transforms';
import { normalizeTopology } from '../topology/keras-config';

export const VERSION = '0.1.0';

/**
 * How the weights get to the output: `stream` moves them file to file one at a time without tfjs;
 * `tfjs` builds the live model and assigns into it (needed when unrestored variables must take
 * tfjs's initial values, or for layers graft cannot size alone); `auto` streams whenever it can.
 */
export type ConvertEngine = 'auto' | 'stream' | 'tfjs';

/** What `backend` says when the streaming engine did the work: no tfjs backend was involved. */
export const STREAMING_BACKEND = 'none (streaming)';

export interface ConvertOptions {
  /** Source weight file (or checkpoint prefix). */
  source: string;
  /** Output folder; required unless dryRun. */
  out?: string;
  /** A tfjs layers-model JSON (with or without weights) describing the target. */
  target?: string;
  /** A mapping table file, or an already-parsed table. */
  map?: string | MappingTable;
  /** Naming/layout convention of the source; inferred when absent. */
  from?: Convention;
  /** Regexes over target variable names: restore only these / not these. */
  include?: (string | RegExp)[];
  exclude?: (string | RegExp)[];
  /** Regexes over layer names to freeze (trainable: false). */
  freeze?: (string | RegExp)[];
  /** For nested PyTorch checkpoints: the key holding the state dict. */
  key?: string;
  shardBytes?: number;
  force?: boolean;
  dryRun?: boolean;
  /** Fail when a selected target variable has no source. */
  strict?: boolean;
  /**
   * How sources find targets: by name (conventions and table), or by order — the source's weighted
   * modules/ops paired with the target's weighted layers in sequence (for anonymous ONNX exports).
   */
  match?: 'name' | 'order';
  /** Default `auto`. */
  engine?: ConvertEngine;
  /** Forces a tfjs backend (and with it the tfjs engine, the only one that uses a backend). */
  backend?: BackendName;
  /** Store float32 weights quantized, as tensorflowjs_converter's --quantize_* options do. */
  quantize?: QuantizeDType;
  /** Which weights to quantize: globs or `/regexes/` over weight names (default: every float32 weight). */
  quantizeWeights?: (string | RegExp)[];
  /** Called as data is written (after each weight, and after each piece of a large one). */
  onProgress?: (p: ConvertProgress) => void;
}

export interface ConvertProgress {
  weights: number;
  totalWeights: number;
  bytes: number;
  totalBytes: number;
}

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
  assigned: { source: string; target: string; transform: string }[];
  missing: string[];
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
  plan: Plan;
}

export function toRegexes(list: (string | RegExp)[] | undefined, flag: string): RegExp[] {
  return (list ?? []).map((r) => {
    if (r instanceof RegExp) return r;
    try {
      return new RegExp(r);
    } catch (e) {
      throw new GraftError('USAGE', `${flag} ${JSON.stringify(r)} is not a valid regex (${(e as Error).message})`);
    }
  });
}

function loadTable(map: ConvertOptions['map']): MappingTable {
  if (!map) return EMPTY_TABLE;
  if (typeof map !== 'string') return map;
  let text: string;
  try {
    text = fs.readFileSync(map, 'utf8');
  } catch {
    throw new GraftError('NOT_FOUND', 'mapping table not found', { file: map });
  }
  return parseMappingTable(text, map);
}

interface Checked {
  include: RegExp[];
  exclude: RegExp[];
  freeze: RegExp[];
  quantizePatterns: RegExp[];
  table: MappingTable;
  engine: ConvertEngine;
}

function checkOptions(options: ConvertOptions): Checked {
  if (!options.dryRun && !options.out) throw new GraftError('USAGE', '--out is required (or use --dry-run)');
  const engine = options.engine ?? 'auto';
  if (!['auto', 'stream', 'tfjs'].includes(engine)) throw new GraftError('USAGE', `engine must be auto, stream or tfjs, not ${JSON.stringify(engine)}`);
  if (options.backend && engine === 'stream') throw new GraftError('USAGE', 'a --backend is only used by the tfjs engine; the streaming engine needs none');
  if (options.quantize !== undefined && !QUANTIZE_DTYPES.includes(options.quantize)) {
    throw new GraftError('USAGE', `--quantize must be ${QUANTIZE_DTYPES.join(', ')}, not ${JSON.stringify(options.quantize)}`);
  }
  if (options.quantizeWeights?.length && !options.quantize) throw new GraftError('USAGE', '--quantize-weights needs --quantize float16|uint8|uint16');
  return {
    include: toRegexes(options.include, '--include'),
    exclude: toRegexes(options.exclude, '--exclude'),
    freeze: toRegexes(options.freeze, '--freeze'),
    quantizePatterns: (options.quantizeWeights ?? []).map((p) => (p instanceof RegExp ? p : weightPattern(p))),
    table: loadTable(options.map),
    engine: options.backend && engine === 'auto' ? 'tfjs' : engine,
  };
}

/**
 * The whole pipeline: source file → reader → plan → weights → tfjs layers-model folder.
 * Every check (flags, table, shapes) happens before the output folder is touched, and a failure
 * while writing leaves it as it was.
 */
export async function convert(options: ConvertOptions): Promise<ConvertReport> {
  const checked = checkOptions(options);
  // --force may replace a folder, but never one holding this conversion's own inputs.
  if (options.out && !options.dryRun) checkOutputDir(options.out, options.force ?? false, [options.source, options.target ?? '', typeof options.map === 'string' ? options.map : ''].filter(Boolean));
  if (options.backend) await initBackend(options.backend);

  const reader = await openWeights(options.source, { key: options.key });
  try {
    return await convertWith(reader, options, checked);
  } finally {
    await reader.close();
  }
}

/** tfjs-dependent modules, loaded only on the tfjs engine so streaming never pays for tfjs. */
const lazy = {
  /* eslint-disable @typescript-eslint/no-require-imports */
  target: () => require('../topology/live-model') as typeof import('../topology/live-model'),
  assign: () => require('./assign') as typeof import('./assign'),
  /* eslint-enable @typescript-eslint/no-require-imports */
};

/** The target model as JSON: its topology (tfjs-ready), name for reports, and own weights if any. */
interface TargetJson {
  topology: Record<string, unknown>;
  name: string;
  /** The model.json holding weights for variables nothing restores. */
  weightsFile?: string;
}

function readTarget(options: ConvertOptions, reader: WeightReader): TargetJson {
  if (options.target) {
    const json: ModelJson = readModelJson(options.target);
    const hasWeights = (json.weightsManifest ?? []).some((g) => g.weights.length > 0);
    const file = fs.statSync(options.target).isDirectory() ? path.join(options.target, 'model.json') : options.target;
    return { topology: normalizeTopology(json.modelTopology, options.target), name: options.target, weightsFile: hasWeights ? file : undefined };
  }
  if (reader.topology) return { topology: normalizeTopology(reader.topology, reader.path), name: `${reader.path} (its own topology)` };
  throw new GraftError('USAGE', `${reader.format} files carry no model topology: give the target model with --target model.json`, { file: reader.path });
}

async function convertWith(reader: WeightReader, options: ConvertOptions, c: Checked): Promise<ConvertReport> {
  const target = readTarget(options, reader);
  const sources = reader.list();
  const convention = options.from ?? reader.convention ?? inferConvention(sources) ?? 'keras';

  let analysis: TopologyAnalysis | undefined;
  let engineReason: string | undefined;
  if (c.engine === 'tfjs') engineReason = options.backend ? `--backend ${options.backend}` : 'the tfjs engine was asked for';
  else {
    const a = analyzeTopology(target.topology);
    if ('reason' in a) engineReason = `graft cannot size this model without tfjs: ${a.reason}`;
    else analysis = a;
  }

  let model: tfTypes.LayersModel | undefined;
  let targets: TargetVariable[];
  if (analysis) targets = analysis.variables;
  else {
    if (c.engine === 'stream') throw new GraftError('UNSUPPORTED', `cannot stream this conversion: ${engineReason}`, { file: options.target ?? reader.path });
    model = await buildModel(options, reader, target);
    targets = lazy.target().targetVariables(model);
  }

  let table = c.table;
  if (options.match === 'order') {
    // Pairs found by order act as table entries; the user's own explicit pairs still win.
    const own = new Set(table.tensors.map((p) => p.target));
    const byOrder = orderMatchingTable(sources, reader.opOrder, targets, convention).filter((p) => !own.has(p.target));
    table = { ...table, tensors: [...table.tensors, ...byOrder] };
  }
  const plan = planGraft(sources, targets, { convention, table, include: c.include, exclude: c.exclude, ops: reader.opOrder });
  const { topology: outTopology, frozen } = c.freeze.length ? freezeLayers(target.topology, c.freeze) : { topology: target.topology, frozen: [] as string[] };
  const needsLayers = needsGraftLayers(outTopology);
  const quantize = quantizeOptions(options, c, targets);

  const report: ConvertReport = {
    source: reader.path,
    format: reader.format,
    convention,
    target: target.name,
    backend: model ? currentBackend() : STREAMING_BACKEND,
    engine: model ? 'tfjs' : 'stream',
    engineReason,
    assigned: plan.assignments.map((a) => ({ source: a.sources.join(' + '), target: a.target, transform: describeTransform(a.transform) })),
    missing: plan.missing,
    unused: plan.unused,
    skipped: plan.skipped,
    ignored: plan.ignored,
    frozen,
    needsLayers,
    plan,
  };
  if (options.dryRun) return report;

  // assign.ts (and tfjs with it) is loaded only to word the refusal of a broken plan.
  if (plan.errors.length) lazy.assign().assertPlanUsable(plan, reader.path);
  if (plan.assignments.length === 0 && plan.missing.length > 0) {
    throw new GraftError('MAPPING', `no source tensor matched any selected target variable (missing: ${plan.missing.slice(0, 8).join(', ')}${plan.missing.length > 8 ? ', …' : ''}); check --from, or map names with --map or --match order`, { file: reader.path });
  }
  if (options.strict && plan.missing.length) {
    throw new GraftError('MAPPING', `no source for ${plan.missing.length} target variable(s): ${plan.missing.join(', ')}`, { file: reader.path });
  }

  const quantized: QuantizedWeight[] = [];
  let kept: WeightReader | undefined;
  try {
    let weights: WeightToWrite[] | undefined;
    if (analysis) {
      const restored = new Set(plan.assignments.map((a) => a.target));
      const unrestored = analysis.variables.filter((v) => !restored.has(v.name));
      const keptOrWhy = unrestored.length ? await keptWeights(target, analysis.variables) : undefined;
      if (typeof keptOrWhy === 'string') {
        if (c.engine === 'stream') throw new GraftError('UNSUPPORTED', `cannot stream this conversion: ${keptOrWhy}`, { file: options.target ?? reader.path });
        report.engineReason = keptOrWhy;
      } else {
        kept = keptOrWhy;
        weights = streamWeights({ reader, variables: analysis.variables, saveOrder: analysis.saveOrder, assignments: plan.assignments, kept, quantize }, quantized);
      }
    }
    if (!weights) {
      model ??= await buildModel(options, reader, target);
      weights = await modelWeights(model, reader, plan, quantize, quantized);
      report.engine = 'tfjs';
      report.backend = currentBackend();
    }
    let weightsDone = 0;
    const totalBytes = weights.reduce((sum, w) => sum + manifestBytes(w.spec), 0);
    const written = await writeLayersModel(
      options.out!,
      {
        generatedBy: `tfjs-graft ${VERSION} from ${path.basename(reader.path)} (${reader.format})`,
        convertedBy: `tfjs-graft ${VERSION}`,
        modelTopology: outTopology,
        userDefinedMetadata: {
          graft: { source: path.basename(reader.path), format: reader.format, convention, restored: plan.assignments.length, frozen, needsLayers },
        },
      },
      weights,
      {
        shardBytes: options.shardBytes ?? DEFAULT_SHARD_BYTES,
        force: options.force,
        onWeight: (done, total, bytes) => {
          weightsDone = done;
          options.onProgress?.({ weights: done, totalWeights: total, bytes, totalBytes });
        },
        onBytes: (bytes) => options.onProgress?.({ weights: weightsDone, totalWeights: weights.length, bytes, totalBytes }),
      },
    );
    report.out = options.out;
    report.files = written.files;
    report.bytes = written.totalBytes;
    if (quantize) report.quantization = quantizationReport(quantize.dtype, quantized);
    return report;
  } finally {
    await kept?.close();
  }
}

/** The live tfjs model: the target's own weights loaded, or tfjs's initial values. */
async function buildModel(options: ConvertOptions, reader: WeightReader, target: TargetJson): Promise<tfTypes.LayersModel> {
  await initBackend(options.backend);
  // Registers graft's layer extensions (grouped convolutions, GRU reset_after) with tfjs.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('../layers');
  const t = lazy.target();
  if (options.target) return (await t.loadTargetModel(options.target)).model;
  return t.modelFromTopology(target.topology, reader.path);
}

/** The tfjs engine: assign into the live model, then write its variables in `model.weights` order. */
async function modelWeights(model: tfTypes.LayersModel, reader: WeightReader, plan: Plan, quantize: QuantizeOptions | undefined, quantized: QuantizedWeight[]): Promise<WeightToWrite[]> {
  await lazy.assign().assignPlan(model, reader, plan);
  return model.weights.map((w) => {
    const spec = { name: w.originalName, shape: [...w.shape] as number[], dtype: (w.dtype === 'int32' ? 'int32' : 'float32') as 'float32' | 'int32' };
    return streamedWeight(spec, async () => {
      return { chunks: [w.read().dataSync() as Float32Array | Int32Array] };
    }, quantize, quantized);
  });
}

/**
 * Values for variables nothing restores, from the target model.json's own weights: a reader over
 * them, or why they cannot serve (then tfjs must load the target, and report the same problem, or
 * initialise them).
 */
async function keptWeights(target: TargetJson, variables: readonly TargetVariable[]): Promise<WeightReader | string> {
  if (!target.weightsFile) return 'variables that nothing restores need tfjs initial values (the target has no weights of its own)';
  let kept: WeightReader;
  try {
    kept = await TfjsHandler.open(target.weightsFile);
  } catch (e) {
    // tfjs, loading the same files, words the problem as the tfjs engine always has.
    if (e instanceof GraftError) return `the target's weights cannot be read (${e.message})`;
    throw e;
  }
  const manifest = new Map<string, TensorInfo>(kept.list().map((t) => [t.name, t]));
  // tfjs loads a target's weights strictly: same names, same shapes, nothing more.
  const why = manifest.size !== variables.length
    ? `the target's weights name ${manifest.size} variables, its topology has ${variables.length}`
    : variables.map((v) => {
      const t = manifest.get(v.name);
      if (!t) return `the target's weights lack '${v.name}'`;
      if (t.shape.join() !== v.shape.join() || t.dtype !== v.dtype) return `the target's weight '${v.name}' is ${t.dtype} [${t.shape}], the model needs ${v.dtype} [${v.shape}]`;
      return '';
    }).find(Boolean);
  if (why) {
    await kept.close();
    return why;
  }
  return kept;
}

function quantizeOptions(options: ConvertOptions, c: Checked, targets: readonly TargetVariable[]): QuantizeOptions | undefined {
  if (!options.quantize) return undefined;
  const floats = targets.filter((v) => v.dtype === 'float32').map((v) => v.name);
  const patterns = c.quantizePatterns;
  // A pattern that selects nothing is a typo, not a request to quantize nothing.
  const idle = patterns.filter((p) => !floats.some((n) => p.test(n)));
  if (idle.length) {
    throw new GraftError('USAGE', `--quantize-weights ${idle.map((p) => `'${p.source}'`).join(', ')} matches no float32 weight (weights: ${floats.slice(0, 12).join(', ')}${floats.length > 12 ? ', …' : ''})`);
  }
  return { dtype: options.quantize, selected: (name) => patterns.length === 0 || patterns.some((p) => p.test(name)) };
}

function quantizationReport(dtype: QuantizeDType, quantized: QuantizedWeight[]): QuantizationReport {
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
    unused: r.unused,
    skipped: r.skipped,
    ignored: r.ignored,
    frozen: r.frozen,
    needsLayers: r.needsLayers,
    out: r.out,
    files: r.files,
    bytes: r.bytes,
    quantization: r.quantization,
  };
}
