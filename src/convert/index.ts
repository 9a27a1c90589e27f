import type * as tfTypes from '@tensorflow/tfjs';
import { currentBackend, initBackend } from '../backend';
import { asCorrupt, GraftError } from '../errors';
import { openWeights } from '../formats';
import type { WeightReader } from '../formats/types';
import { inferConvention } from '../mapping/conventions';
import { orderMatchingTable } from '../mapping/order';
import { planGraft } from '../mapping/plan';
import { checkOutputDir } from '../output/atomic';
import * as path from '../io/posix';
import type { Volume } from '../io/volume';
import { DEFAULT_SHARD_BYTES, manifestBytes, WeightToWrite, writeLayersModel, WriteOptions } from '../output/writer';
import { freezeLayers } from '../topology/freeze';
import { normalizeTopology } from '../topology/keras-config';
import { ModelJson, readTargetModelJson } from '../topology/model-json';
import { needsGraftLayers } from '../topology/needs-layers';
import type { TargetVariable } from '../topology/variables';
import { VERSION } from '../version';
import { buildModel, cannotStream, chooseEngine, lazy, modelWeights, TargetJson } from './engine';
import { Checked, checkOptions, ConvertOptions, quantizeOptions } from './options';
import { keptWeights, planRefusal } from './policy';
import type { OnnxExporter } from '../topology/onnx/names';
import { findTraps } from '../mapping/traps';
import { analyzeTopology } from '../topology/weight-specs';
import { ConvertReport, planReport, quantizationReport, STREAMING_BACKEND } from './report';
import { QuantizedWeight, streamWeights } from './stream';

export { VERSION };
export { toRegexes } from './options';
export type { ConvertEngine, ConvertOptions, ConvertProgress } from './options';
export { reportJson, STREAMING_BACKEND } from './report';
export type { ConvertReport, QuantizationReport } from './report';

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
  return runConversion(options, checked, {
    write: (model, weights, writeOptions) => writeLayersModel(options.out!, model, weights, { ...writeOptions, force: options.force }),
  });
}

/** Where a conversion reads its inputs and how it writes its files: the disk (convert), or memory (convertInMemory). */
export interface ConversionIo {
  /** Where the source, target and companions live; the disk when absent. */
  volume?: Volume;
  write(model: Omit<ModelJson, 'weightsManifest'>, weights: WeightToWrite[], options: WriteOptions): Promise<{ files: string[]; totalBytes: number }>;
}

/** The pipeline convert() and convertInMemory() share, after the options were checked. */
export async function runConversion(options: ConvertOptions, checked: Checked, io: ConversionIo): Promise<ConvertReport> {
  const reader = await openWeights(options.source, { key: options.key, volume: io.volume });
  try {
    return await convertWith(reader, options, checked, io);
  } finally {
    await reader.close();
  }
}

/** The target: --target's model.json (read once), else the source file's own topology. */
function readTarget(options: ConvertOptions, reader: WeightReader, volume: Volume | undefined): TargetJson {
  if (options.target) {
    const read = readTargetModelJson(options.target, volume);
    return { topology: read.topology, name: options.target, weightsFile: read.hasWeights ? read.file : undefined, read };
  }
  let own: Record<string, unknown> | undefined;
  try {
    own = reader.topology && normalizeTopology(reader.topology, reader.path);
  } catch (e) {
    throw asCorrupt(e, { file: reader.path });
  }
  if (own) return { topology: own, name: `${reader.path} (its own topology)` };
  if (reader.buildTopology) {
    const built = reader.buildTopology({ inputShapes: options.inputShapes });
    return { topology: built.topology, name: `${reader.path} (built from its graph)`, built };
  }
  throw new GraftError('USAGE', `${reader.format} files carry no model topology: give the target model with --target model.json`, { file: reader.path });
}

async function convertWith(reader: WeightReader, options: ConvertOptions, c: Checked, io: ConversionIo): Promise<ConvertReport> {
  const target = readTarget(options, reader, io.volume);
  const sources = reader.list();
  const convention = options.from ?? reader.convention ?? inferConvention(sources) ?? 'keras';

  const { analysis, engineReason } = chooseEngine(c.engine, options.backend, target.topology);

  let model: tfTypes.LayersModel | undefined;
  let targets: TargetVariable[];
  if (analysis) targets = analysis.variables;
  else {
    if (c.engine === 'stream') throw cannotStream(engineReason!, options.target ?? reader.path);
    model = await buildModel(options.backend, reader, target);
    targets = lazy.target().targetVariables(model);
  }

  let table = c.table;
  if (target.built) {
    // The graph says which initializer fills which variable; the user's own explicit pairs still win.
    const own = new Set(table.tensors.map((p) => p.target));
    // Loaded here: only models built from an ONNX graph need the graph module (68 KB) at all.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { resolvePairs } = require('../topology/onnx-graph') as typeof import('../topology/onnx-graph');
    table = { ...table, tensors: [...table.tensors, ...resolvePairs(target.built.pairs, targets).filter((p) => !own.has(p.target))] };
  }
  if (options.match === 'order') {
    // Pairs found by order act as table entries; the user's own explicit pairs still win.
    const own = new Set(table.tensors.map((p) => p.target));
    const byOrder = orderMatchingTable(sources, reader.opOrder, targets, convention, reader.metadata?.exporter as OnnxExporter | undefined).filter((p) => !own.has(p.target));
    table = { ...table, tensors: [...table.tensors, ...byOrder] };
  }
  const exporter = reader.metadata?.exporter as OnnxExporter | undefined;
  const plan = planGraft(sources, targets, { convention, table, include: c.include, exclude: c.exclude, ops: reader.opOrder, exporter });
  const keptOwn = target.weightsFile !== undefined;
  const shapes = analysis ?? analyzeTopology(target.topology);
  const inputShapeOf = (layer: string) => ('inputShapes' in shapes ? shapes.inputShapes.get(layer) : undefined);
  const traps = findTraps(target.topology, plan.assignments, { convention, format: reader.format, ops: reader.opOrder }, inputShapeOf);
  const { topology: outTopology, frozen } = c.freeze.length ? freezeLayers(target.topology, c.freeze) : { topology: target.topology, frozen: [] as string[] };
  const needsLayers = needsGraftLayers(outTopology);
  const quantize = quantizeOptions(options, c, targets);

  const report = planReport({
    reader,
    convention,
    targetName: target.name,
    backend: model ? currentBackend() : STREAMING_BACKEND,
    engine: model ? 'tfjs' : 'stream',
    engineReason,
    plan,
    frozen,
    needsLayers,
    keptOwn,
    warnings: [...plan.warnings, ...traps.map((t) => t.message)],
  });
  if (target.built) report.graph = { inputs: target.built.inputs, outputs: target.built.outputs, layers: target.built.layers };
  const refusal = planRefusal(plan, { strict: options.strict, allowMissing: options.allowMissing, keptOwn, exporter }, reader.path);
  // A dry run reports whether the real run would be refused (the CLI then exits 1).
  if (options.dryRun) return refusal ? { ...report, refusal } : report;
  if (refusal) throw refusal;

  const quantized: QuantizedWeight[] = [];
  let kept: WeightReader | undefined;
  try {
    let weights: WeightToWrite[] | undefined;
    if (analysis) {
      const keptOrWhy = await keptWeights(target, analysis.variables, plan);
      if (typeof keptOrWhy === 'string') {
        if (c.engine === 'stream') throw cannotStream(keptOrWhy, options.target ?? reader.path);
        report.engineReason = keptOrWhy;
      } else {
        kept = keptOrWhy;
        weights = streamWeights({ reader, variables: analysis.variables, saveOrder: analysis.saveOrder, assignments: plan.assignments, kept, quantize, shardBytes: options.shardBytes }, quantized);
      }
    }
    if (!weights) {
      model ??= await buildModel(options.backend, reader, target);
      weights = await modelWeights(model, reader, plan, quantize, quantized);
      report.engine = 'tfjs';
      report.backend = currentBackend();
    }
    let weightsDone = 0;
    const totalBytes = weights.reduce((sum, w) => sum + manifestBytes(w.spec), 0);
    const written = await io.write(
      {
        generatedBy: `tfjs-graft ${VERSION} from ${path.basename(reader.path)} (${reader.format})`,
        convertedBy: `tfjs-graft ${VERSION}`,
        modelTopology: outTopology,
        userDefinedMetadata: {
          graft: {
            source: path.basename(reader.path), format: reader.format, convention, restored: plan.assignments.length, frozen, needsLayers,
            // Built from an ONNX graph: how PyTorch-layout data maps onto the model's tensors.
            ...(target.built ? { layouts: { inputs: target.built.inputs, outputs: target.built.outputs } } : {}),
          },
        },
      },
      weights,
      {
        shardBytes: options.shardBytes ?? DEFAULT_SHARD_BYTES,
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

