import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { assertPlanUsable, assignPlan } from './assign';
import { currentBackend, initBackend } from './backend';
import { checkOutputDir } from './checkpoint/atomic';
import { freezeLayers } from './checkpoint/freeze';
import { bytesOf, DEFAULT_SHARD_BYTES, writeLayersModel } from './checkpoint/writer';
import { GraftError } from './errors';
import { openWeights } from './formats';
import type { Convention, WeightReader } from './formats/types';
import { inferConvention } from './mapping/conventions';
import { Plan, planGraft } from './mapping/plan';
import { EMPTY_TABLE, MappingTable, parseMappingTable } from './mapping/table';
import { describeTransform } from './transforms';
import { loadTargetModel, modelFromTopology, normalizeTopology, targetVariables } from './target';
import { orderMatchingTable } from './mapping/order';
import { needsGraftLayers } from './layers';

export const VERSION = '0.1.0';

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
}

export interface ConvertReport {
  source: string;
  format: string;
  convention: Convention;
  target: string;
  backend: string | undefined;
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

/**
 * The whole pipeline: source file → reader → plan → assign → tfjs layers-model folder.
 * Every check (flags, table, shapes, data) happens before the output folder is touched.
 */
export async function convert(options: ConvertOptions): Promise<ConvertReport> {
  if (!options.dryRun && !options.out) throw new GraftError('USAGE', '--out is required (or use --dry-run)');
  const include = toRegexes(options.include, '--include');
  const exclude = toRegexes(options.exclude, '--exclude');
  const freeze = toRegexes(options.freeze, '--freeze');
  const table = loadTable(options.map);
  if (options.out && !options.dryRun) checkOutputDir(options.out, options.force ?? false);
  await initBackend();

  const reader = await openWeights(options.source, { key: options.key });
  try {
    return await convertWith(reader, options, { include, exclude, freeze, table });
  } finally {
    await reader.close();
  }
}

async function convertWith(
  reader: WeightReader,
  options: ConvertOptions,
  r: { include: RegExp[]; exclude: RegExp[]; freeze: RegExp[]; table: MappingTable },
): Promise<ConvertReport> {
  let model: tf.LayersModel;
  let topology: Record<string, unknown>;
  let targetName: string;
  if (options.target) {
    const t = await loadTargetModel(options.target);
    model = t.model;
    topology = t.json.modelTopology;
    targetName = options.target;
  } else if (reader.topology) {
    topology = normalizeTopology(reader.topology, reader.path);
    model = await modelFromTopology(topology, reader.path);
    targetName = `${reader.path} (its own topology)`;
  } else {
    throw new GraftError('USAGE', `${reader.format} files carry no model topology: give the target model with --target model.json`, { file: reader.path });
  }

  const sources = reader.list();
  const convention = options.from ?? reader.convention ?? inferConvention(sources) ?? 'keras';
  const targets = targetVariables(model);
  let table = r.table;
  if (options.match === 'order') {
    // Pairs found by order act as table entries; the user's own explicit pairs still win.
    const own = new Set(table.tensors.map((p) => p.target));
    const byOrder = orderMatchingTable(sources, reader.opOrder, targets).filter((p) => !own.has(p.target));
    table = { ...table, tensors: [...table.tensors, ...byOrder] };
  }
  const plan = planGraft(sources, targets, { convention, table, include: r.include, exclude: r.exclude, ops: reader.opOrder });
  const { topology: outTopology, frozen } = r.freeze.length ? freezeLayers(topology, r.freeze) : { topology, frozen: [] as string[] };
  const needsLayers = needsGraftLayers(outTopology);

  const report: ConvertReport = {
    source: reader.path,
    format: reader.format,
    convention,
    target: targetName,
    backend: currentBackend(),
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

  assertPlanUsable(plan, reader.path);
  if (plan.assignments.length === 0 && plan.missing.length > 0) {
    throw new GraftError('MAPPING', `no source tensor matched any selected target variable (missing: ${plan.missing.slice(0, 8).join(', ')}${plan.missing.length > 8 ? ', …' : ''}); check --from, or map names with --map or --match order`, { file: reader.path });
  }
  if (options.strict && plan.missing.length) {
    throw new GraftError('MAPPING', `no source for ${plan.missing.length} target variable(s): ${plan.missing.join(', ')}`, { file: reader.path });
  }
  await assignPlan(model, reader, plan);

  const weights = model.weights.map((w) => ({
    spec: { name: w.originalName, shape: [...w.shape] as number[], dtype: (w.dtype === 'int32' ? 'int32' : 'float32') as 'float32' | 'int32' },
    bytes: () => bytesOf(w.read().dataSync() as Float32Array | Int32Array),
  }));
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
    { shardBytes: options.shardBytes ?? DEFAULT_SHARD_BYTES, force: options.force },
  );
  report.out = options.out;
  report.files = written.files;
  report.bytes = written.totalBytes;
  return report;
}

/** The JSON `--report` writes: what was restored and what was not. */
export function reportJson(r: ConvertReport): Record<string, unknown> {
  return {
    source: r.source,
    format: r.format,
    convention: r.convention,
    target: r.target,
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
  };
}
