import { GraftError } from '../../errors';
import { rawTensor, tensorInfo } from '../../io/bytes';
import type { Hdf5File } from '../../io/hdf5';
import { isObject, Json } from '../../io/json';
import { removeTemp } from '../../io/temp';
import { layerClass } from '../../topology/catalogue';
import { toTfjsTopology } from '../../topology/keras-config';
import { isModelClass } from '../../topology/walk';
import type { Convention, RawTensor, StridedRange, TensorInfo, WeightReader } from '../types';
import { checkStridedRead, copyRuns } from '../types';

/**
 * Keras 3 weights: `model.save_weights('x.weights.h5')` and the `.keras` zip (config.json,
 * metadata.json, model.weights.h5). Keras 3 stores each layer's variables as
 * `<container>/<snake_case(class)>[_k]/vars/<i>` (trainable first, then non-trainable), where
 * the group name comes from the class and its rank among same-class siblings, not from the
 * layer's name; RNN layers keep theirs under `cell/vars`, wrappers under `layer/`,
 * `forward_layer/`, `backward_layer/`.
 *
 * With a config, tensors are named `<layer>/<weight>` (tfjs' variable names) using each class's
 * weight order; without one (bare .weights.h5), `<layer group>/<index>` (nested models keep
 * their group path: `functional/conv2d/0`).
 */

interface Entry {
  info: TensorInfo;
  datasetPath: string;
}

/** Weight names in Keras 3 variable order (the catalogue's `addWeight` order), for the classes that have any. */
function weightNamesFor(className: string, cfg: Record<string, unknown>): string[] | undefined {
  const names = layerClass(className)?.weights?.(cfg);
  return names && names.length > 0 ? names : undefined;
}

/** Keras' `to_snake_case`, which names the weight groups. */
export function toSnakeCase(name: string): string {
  let s = name.replace(/\W+/g, '');
  s = s.replace(/(.)([A-Z][a-z]+)/g, '$1_$2');
  s = s.replace(/([a-z])([A-Z])/g, '$1_$2');
  return s.toLowerCase();
}

/** Numeric children of a `vars` group, in index order. */
function varIndices(h5: Hdf5File, varsPath: string): string[] {
  return h5
    .keys(varsPath)
    .filter((k) => /^\d+$/.test(k))
    .sort((a, b) => Number(a) - Number(b));
}

/**
 * Groups and datasets looked at while naming weights. Hard links can make a group its own
 * descendant, and a few such loops would otherwise be walked an exponential number of times;
 * real models (hundreds to a few thousand variables) stay far below this.
 */
const MAX_OBJECT_VISITS = 20_000;
/**
 * And in proportion to the file: every group or dataset costs an HDF5 object header (tens to
 * hundreds of bytes), so a file cannot hold more than size/32 of them; more visits are loops.
 */
const BYTES_PER_OBJECT = 32;
const MIN_OBJECT_VISITS = 1_000;
/** Nested models deeper than this are damage (or a config built to exhaust the stack). */
const MAX_MODEL_NESTING = 64;

class NameBuilder {
  readonly entries: Entry[] = [];
  readonly claimed = new Set<string>();
  readonly notes: string[] = [];
  private visits = 0;
  private readonly maxVisits: number;
  constructor(
    private readonly h5: Hdf5File,
    private readonly file: string,
  ) {
    this.maxVisits = Math.min(MAX_OBJECT_VISITS, Math.max(MIN_OBJECT_VISITS, Math.floor(h5.fileSize / BYTES_PER_OBJECT)));
  }

  private visit(): void {
    if (++this.visits > this.maxVisits) {
      throw new GraftError('CORRUPT', `weight groups nest or loop beyond ${this.maxVisits} groups and datasets (hard-link cycles?)`, { file: this.file });
    }
  }

  add(name: string, datasetPath: string): void {
    if (this.claimed.has(datasetPath)) return;
    this.visit();
    const { dtype, shape } = this.h5.datasetInfo(datasetPath);
    this.entries.push({ info: tensorInfo(name, dtype, shape, this.file), datasetPath });
    this.claimed.add(datasetPath);
  }

  /** Names one layer's `vars` group by its class's weight order, or by index. */
  addVars(layerName: string, varsPath: string, names: string[] | undefined, prefix = ''): void {
    const idx = varIndices(this.h5, varsPath);
    if (idx.length === 0) return;
    const usable = names && names.length === idx.length;
    if (names && !usable) this.notes.push(`${layerName}: ${idx.length} variables where ${names.length} (${names.join(', ')}) were expected; named by index`);
    idx.forEach((k, i) => this.add(`${layerName}/${prefix}${usable ? names[i] : k}`, `${varsPath}/${k}`));
  }

  /** Walks a model config's layers alongside their weight groups under `base`. */
  walkModel(layers: unknown[], base: string, depth = 0): void {
    if (depth > MAX_MODEL_NESTING) throw new GraftError('CORRUPT', `model config nests models more than ${MAX_MODEL_NESTING} deep`, { file: this.file });
    const used = new Map<string, number>();
    for (const layer of layers) {
      this.visit();
      if (!isObject(layer) || typeof layer.class_name !== 'string') continue;
      const className = layer.class_name;
      const cfg = isObject(layer.config) ? layer.config : {};
      const name = typeof cfg.name === 'string' ? cfg.name : typeof layer.name === 'string' ? layer.name : className;
      const groupPath = `${base}/${this.groupName(className, used)}`;
      if (isModelClass(className) && Array.isArray(cfg.layers)) {
        this.walkModel(cfg.layers, this.containerOf(groupPath), depth + 1);
        continue;
      }
      this.walkLayer(className, cfg, name, groupPath);
    }
  }

  private walkLayer(className: string, cfg: Json, name: string, groupPath: string): void {
    if (className === 'Bidirectional') {
      const inner = isObject(cfg.layer) ? cfg.layer : {};
      const innerClass = String(inner.class_name ?? '');
      const innerCfg = isObject(inner.config) ? inner.config : {};
      const innerName = typeof innerCfg.name === 'string' ? innerCfg.name : toSnakeCase(innerClass);
      const back = isObject(cfg.backward_layer) ? cfg.backward_layer : inner;
      const backCfg = isObject(back.config) ? back.config : innerCfg;
      this.walkCell(`${groupPath}/forward_layer`, innerClass, innerCfg, name, `forward_${innerName}/`);
      this.walkCell(`${groupPath}/backward_layer`, String(back.class_name ?? innerClass), backCfg, name, `backward_${innerName}/`);
      return;
    }
    if (className === 'TimeDistributed') {
      const inner = isObject(cfg.layer) ? cfg.layer : {};
      const innerClass = String(inner.class_name ?? '');
      const innerCfg = isObject(inner.config) ? inner.config : {};
      this.walkCell(`${groupPath}/layer`, innerClass, innerCfg, name, '');
      return;
    }
    this.walkCell(groupPath, className, cfg, name, '');
  }

  private walkCell(groupPath: string, className: string, cfg: Json, layerName: string, prefix: string): void {
    const sublayers = layerClass(className)?.kerasSublayers?.(cfg);
    if (sublayers) {
      // Keras 3 MultiHeadAttention: query_dense/vars → query/kernel, query/bias, …
      for (const { group, scope, weights } of sublayers) {
        if (this.h5.kind(`${groupPath}/${group}/vars`) === 'group') this.addVars(layerName, `${groupPath}/${group}/vars`, weights, `${prefix}${scope}/`);
      }
      return;
    }
    const names = weightNamesFor(className, cfg);
    if (layerClass(className)?.kerasCell && this.h5.kind(`${groupPath}/cell/vars`) === 'group') {
      this.addVars(layerName, `${groupPath}/cell/vars`, names, prefix);
    }
    if (this.h5.kind(`${groupPath}/vars`) === 'group') this.addVars(layerName, `${groupPath}/vars`, names, prefix);
  }

  private groupName(className: string, used: Map<string, number>): string {
    const snake = toSnakeCase(className);
    const n = used.get(snake);
    used.set(snake, n === undefined ? 0 : n + 1);
    return n === undefined ? snake : `${snake}_${n + 1}`;
  }

  containerOf(groupPath: string): string {
    if (this.h5.kind(`${groupPath}/layers`) === 'group') return `${groupPath}/layers`;
    if (this.h5.kind(`${groupPath}/_layer_checkpoint_dependencies`) === 'group') return `${groupPath}/_layer_checkpoint_dependencies`;
    return `${groupPath}/layers`;
  }

  /** Every `vars` group no config layer claimed, named by its path (`functional/conv2d/0`). */
  addUnclaimed(base: string, depth = 0): void {
    if (depth > 12) return;
    for (const key of this.h5.keys(base)) {
      this.visit();
      if (base === '/' && (key === 'optimizer' || key === 'metrics')) continue;
      const p = base === '/' ? key : `${base}/${key}`;
      if (this.h5.kind(p) !== 'group') continue;
      if (key === 'vars') {
        const label = p
          .split('/')
          .filter((s) => !['layers', 'vars', '_layer_checkpoint_dependencies', 'cell', 'layer'].includes(s))
          .join('/');
        for (const k of varIndices(this.h5, p)) this.add(`${label || 'model'}/${k}`, `${p}/${k}`);
      } else {
        this.addUnclaimed(p, depth + 1);
      }
    }
  }
}

export class Keras3Reader implements WeightReader {
  readonly format = 'keras3';
  readonly path: string;
  readonly convention: Convention = 'keras';
  readonly metadata: Record<string, unknown>;
  private readonly h5: Hdf5File;
  private readonly entries: Entry[];
  private readonly byName: Map<string, Entry>;
  private readonly topologyValue?: Record<string, unknown>;
  private readonly topologyError?: GraftError;
  private readonly tempDir?: string;
  /** The last tensor decoded whole for strided reads through h5wasm. */
  private decoded?: { name: string; data: Uint8Array };

  private constructor(path: string, h5: Hdf5File, entries: Entry[], metadata: Record<string, unknown>, topology: { value?: Record<string, unknown>; error?: GraftError }, tempDir?: string) {
    this.path = path;
    this.h5 = h5;
    this.entries = entries;
    this.byName = new Map(entries.map((e) => [e.info.name, e]));
    this.metadata = metadata;
    this.topologyValue = topology.value;
    this.topologyError = topology.error;
    this.tempDir = tempDir;
  }

  /** See KerasH5Reader.topology: throws the GraftError when the config cannot be represented. */
  get topology(): Record<string, unknown> | undefined {
    if (this.topologyError) throw this.topologyError;
    return this.topologyValue;
  }

  static fromWeightsH5(
    filePath: string,
    h5: Hdf5File,
    config: Json | undefined,
    zipInfo: { metadata: Json; tempDir?: string } | undefined,
  ): Keras3Reader {
    const builder = new NameBuilder(h5, filePath);
    const rootKeys = h5.keys('/');
    const container = rootKeys.includes('layers') ? 'layers' : rootKeys.includes('_layer_checkpoint_dependencies') ? '_layer_checkpoint_dependencies' : 'layers';
    const cfg = config && isObject(config.config) ? config.config : undefined;
    const representable = config !== undefined && isModelClass(config.class_name) && Array.isArray(cfg?.layers);
    if (representable) {
      // The model's own variables (rare) sit in a root `vars` group.
      builder.addVars(String(cfg?.name ?? 'model'), 'vars', undefined);
      builder.walkModel(cfg?.layers as unknown[], container);
    }
    builder.addUnclaimed('/');
    const seen = new Set<string>();
    for (const e of builder.entries) {
      if (seen.has(e.info.name)) throw new GraftError('CORRUPT', `two variables resolve to the same name (second at '${e.datasetPath}')`, { file: filePath, tensor: e.info.name });
      seen.add(e.info.name);
    }
    const kerasVersion = typeof zipInfo?.metadata.keras_version === 'string' ? zipInfo.metadata.keras_version : undefined;
    const metadata: Record<string, unknown> = {
      kind: zipInfo ? 'keras' : 'weights',
      keras_version: kerasVersion,
      date_saved: zipInfo?.metadata.date_saved,
      layout: container,
    };
    if (builder.notes.length) metadata.naming_notes = builder.notes;
    const topology: { value?: Record<string, unknown>; error?: GraftError } = {};
    if (config) {
      try {
        topology.value = toTfjsTopology(config, kerasVersion ?? '3', { file: filePath });
      } catch (e) {
        if (!(e instanceof GraftError)) throw e;
        topology.error = e;
        metadata.topology_error = e.message;
      }
    }
    return new Keras3Reader(filePath, h5, builder.entries, metadata, topology, zipInfo?.tempDir);
  }

  list(): TensorInfo[] {
    return this.entries.map((e) => e.info);
  }

  async read(name: string): Promise<RawTensor> {
    const entry = this.byName.get(name);
    if (!entry) throw new GraftError('NOT_FOUND', 'no such tensor in this file', { file: this.path, tensor: name });
    return rawTensor(entry.info, this.h5.readRaw(entry.datasetPath), this.path);
  }

  /**
   * `count` runs of `runBytes`, the i-th at `start + i·stride` of a tensor's data, into `target`:
   * positioned reads from the file when it is read natively, else from the tensor decoded whole.
   */
  async readStrided(name: string, r: StridedRange, target: Uint8Array): Promise<void> {
    this.readStridedSync(name, r, target);
  }

  readStridedSync(name: string, r: StridedRange, target: Uint8Array): void {
    const entry = this.byName.get(name);
    if (!entry) throw new GraftError('NOT_FOUND', 'no such tensor in this file', { file: this.path, tensor: name });
    if (!checkStridedRead(r, entry.info.byteSize, target, this.path, name)) return;
    if (this.h5.readRunsInto(entry.datasetPath, r, target)) return;
    if (this.decoded?.name !== name) {
      this.decoded = undefined;
      this.decoded = { name, data: this.h5.readRaw(entry.datasetPath) };
    }
    copyRuns(this.decoded.data, r, target);
  }

  dataOffset(name: string): number | undefined {
    const entry = this.byName.get(name);
    return entry ? this.h5.dataOffset(entry.datasetPath) : undefined;
  }

  async close(): Promise<void> {
    this.decoded = undefined;
    this.h5.close();
    if (this.tempDir) removeTemp(this.tempDir);
  }
}

