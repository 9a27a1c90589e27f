import { GraftError } from '../../errors';
import { printable, rawTensor, tensorInfo } from '../../io/bytes';
import type { Hdf5File } from '../../io/hdf5';
import { layerClass } from '../../topology/catalogue';
import { toTfjsTopology } from '../../topology/keras-config';
import { isModelClass, walkLayers } from '../../topology/walk';
import type { Convention, RawTensor, StridedRange, TensorInfo, WeightReader } from '../types';
import { checkStridedRead, copyRuns, DTYPE_BYTES } from '../types';

/**
 * Keras 2 legacy HDF5: `model.save('x.h5')` (attribute `model_config` + group `model_weights`)
 * and `model.save_weights('x.h5')` (attribute `layer_names` at the root).
 *
 * Tensor names are what tfjs calls the matching variable, `<layer>/<weight>`:
 *  - the trailing `:0` is dropped;
 *  - the weight name is taken relative to its layer: Keras' own scope (which may differ from
 *    the layer name: `conv1_1/kernel:0` under layer `conv1`, or carry an outer
 *    `sequential/` scope when written by Keras 3) is replaced by the layer name;
 *  - RNN cell scopes (`lstm_cell`, `gru_cell_3`, `cell`) are dropped, as tfjs names RNN
 *    weights `lstm_1/kernel`; Bidirectional keeps `forward_lstm_1/…` / `backward_lstm_1/…`;
 *  - weights of a nested model are named by their inner layer (`model_1/dense_1/kernel:0` →
 *    `dense_1/kernel`), prefixed with the outer model only if two inner names collide.
 * Optimizer weights are ignored.
 */

interface Entry {
  info: TensorInfo;
  datasetPath: string;
  /** Theano-backend convolution kernel: spatial axes are flipped on read. */
  flipSpatial: boolean;
}

/**
 * Keras 1 config keys that Keras 2 renamed; their presence means a Keras 1 file. `output_dim`
 * only counts on Dense (Keras 2's Embedding still has it).
 */
const KERAS1_KEYS = ['nb_filter', 'nb_row', 'nb_col', 'border_mode', 'subsample', 'init', 'W_regularizer', 'b_regularizer', 'dim_ordering'];
const KERAS1_DENSE_KEYS = ['output_dim'];

export class KerasH5Reader implements WeightReader {
  readonly format = 'keras-h5';
  readonly path: string;
  readonly convention: Convention = 'keras';
  readonly metadata: Record<string, unknown>;
  private readonly h5: Hdf5File;
  private readonly entries: Entry[];
  private readonly byName: Map<string, Entry>;
  private readonly topologyValue?: Record<string, unknown>;
  private readonly topologyError?: GraftError;
  /** The last tensor decoded whole for strided reads, so its pieces do not each decode it again. */
  private decoded?: { name: string; data: Uint8Array };

  private constructor(
    path: string,
    h5: Hdf5File,
    entries: Entry[],
    metadata: Record<string, unknown>,
    topology: { value?: Record<string, unknown>; error?: GraftError },
  ) {
    this.path = path;
    this.h5 = h5;
    this.entries = entries;
    this.byName = new Map(entries.map((e) => [e.info.name, e]));
    this.metadata = metadata;
    this.topologyValue = topology.value;
    this.topologyError = topology.error;
  }

  /**
   * The model's tfjs topology (full-model files only). When the config holds something tfjs
   * cannot represent (a Lambda layer, a custom class), reading this throws that GraftError;
   * the weights themselves stay readable for use with an explicit target model.
   */
  get topology(): Record<string, unknown> | undefined {
    if (this.topologyError) throw this.topologyError;
    return this.topologyValue;
  }

  /** Opens an already-open legacy Keras HDF5 file (the caller checked the layout). */
  static fromHdf5(path: string, h5: Hdf5File): KerasH5Reader {
    const ctx = { file: path };
    const full = h5.kind('model_weights') === 'group';
    const weightsRoot = full ? 'model_weights' : '/';
    const kerasVersion = h5.stringAttr('/', 'keras_version') ?? h5.stringAttr(weightsRoot, 'keras_version');
    const backend = h5.stringAttr('/', 'backend') ?? h5.stringAttr(weightsRoot, 'backend');
    const configText = h5.stringAttr('/', 'model_config');
    let config: Record<string, unknown> | undefined;
    if (configText !== undefined) {
      try {
        config = JSON.parse(configText) as Record<string, unknown>;
      } catch (e) {
        throw new GraftError('CORRUPT', `model_config attribute is not valid JSON (${printable((e as Error).message)})`, ctx);
      }
    }
    rejectKeras1(kerasVersion, config, ctx);

    const layerNames = h5.stringListAttr(weightsRoot, 'layer_names');
    if (!layerNames) {
      throw new GraftError('CORRUPT', `'${weightsRoot}' has no layer_names attribute; not a Keras weight file`, ctx);
    }
    const classes = new Map<string, string>();
    if (config) collectLayerClasses(config, classes);
    const flipTheano = backend === 'theano';

    const entries: Entry[] = [];
    const flipped: string[] = [];
    const prefixFor = new Map<Entry, string>();
    // Each layer and each weight once: Keras writes no repeats, and a list repeating one name
    // thousands of times would make millions of HDF5 lookups (layers × weights).
    const seenLayers = new Set<string>();
    for (const layer of layerNames) {
      if (seenLayers.has(layer)) throw new GraftError('CORRUPT', `layer_names lists '${printable(layer)}' more than once`, ctx);
      seenLayers.add(layer);
      const groupPath = weightsRoot === '/' ? layer : `${weightsRoot}/${layer}`;
      if (h5.kind(groupPath) !== 'group') {
        throw new GraftError('CORRUPT', `layer_names lists '${layer}' but there is no group '${groupPath}'`, ctx);
      }
      const weightNames = (h5.stringListAttr(groupPath, 'weight_names') ?? []).map(String);
      const seenWeights = new Set<string>();
      const repeated = weightNames.find((w) => seenWeights.size === seenWeights.add(w).size);
      if (repeated !== undefined) throw new GraftError('CORRUPT', `layer '${printable(layer)}' lists weight '${printable(repeated)}' more than once in weight_names`, ctx);
      if (weightNames.some((w) => /_[WUb](_[a-z])?(:\d+)?$/.test(w) && !w.includes('/'))) {
        throw keras1Error(ctx, `weight names like '${weightNames[0]}' are Keras 1 naming`);
      }
      const layerClass = classes.get(layer);
      const nested = layerClass !== undefined ? isModelClass(layerClass) : looksNested(layer, weightNames);
      for (const stored of weightNames) {
        const datasetPath = `${groupPath}/${stored}`;
        if (h5.kind(datasetPath) !== 'dataset') {
          throw new GraftError('CORRUPT', `layer '${layer}' lists weight '${stored}' but dataset '${datasetPath}' does not exist`, ctx);
        }
        const { name, innerLayer } = nested ? nestedWeightName(stored) : layerWeightName(layer, stored);
        const { dtype, shape } = h5.datasetInfo(datasetPath);
        const ownerClass = classes.get(innerLayer) ?? (nested ? undefined : layerClass);
        const flipSpatial = flipTheano && isTheanoConvKernel(ownerClass, name, shape);
        const entry: Entry = { info: tensorInfo(name, dtype, shape, path), datasetPath, flipSpatial };
        if (nested) prefixFor.set(entry, layer);
        if (flipSpatial) flipped.push(name);
        entries.push(entry);
      }
    }
    disambiguate(entries, prefixFor, path);

    const metadata: Record<string, unknown> = {
      keras_version: kerasVersion,
      backend,
      kind: full ? 'full' : 'weights',
    };
    if (flipTheano) {
      metadata.theano_kernels_flipped = flipped;
      if (!config) metadata.theano_note = 'no model config: kernels were recognised by name and rank (3-5-D `kernel`)';
    }
    const topology: { value?: Record<string, unknown>; error?: GraftError } = {};
    if (config) {
      try {
        topology.value = toTfjsTopology(config, kerasVersion ?? '2', { backend: backend ?? 'tensorflow', file: path });
      } catch (e) {
        if (!(e instanceof GraftError)) throw e;
        topology.error = e;
        metadata.topology_error = e.message;
      }
    }
    return new KerasH5Reader(path, h5, entries, metadata, topology);
  }

  list(): TensorInfo[] {
    return this.entries.map((e) => e.info);
  }

  async read(name: string): Promise<RawTensor> {
    return this.readSync(name);
  }

  private readSync(name: string): RawTensor {
    const entry = this.byName.get(name);
    if (!entry) throw new GraftError('NOT_FOUND', 'no such tensor in this file', { file: this.path, tensor: name });
    let data = this.h5.readRaw(entry.datasetPath);
    if (entry.flipSpatial) data = flipLeadingAxes(data, entry.info.shape, DTYPE_BYTES[entry.info.dtype], entry.info.shape.length - 2);
    return rawTensor(entry.info, data, this.path);
  }

  /**
   * Copies `count` runs of `runBytes`, the i-th at `start + i·stride` within the tensor's data, into
   * `target`. Whole rows of the outermost axis, or a band of columns of a 2-D dataset, are read as
   * an HDF5 hyperslab straight into `target`; other selections (and kernels whose spatial axes are
   * flipped) decode the tensor whole once, kept until another tensor is read this way. Files graft
   * reads natively are read like safetensors: one positioned read per run, straight from the file.
   */
  async readStrided(name: string, r: StridedRange, target: Uint8Array): Promise<void> {
    this.readStridedSync(name, r, target);
  }

  readStridedSync(name: string, r: StridedRange, target: Uint8Array): void {
    const entry = this.byName.get(name);
    if (!entry) throw new GraftError('NOT_FOUND', 'no such tensor in this file', { file: this.path, tensor: name });
    const { start, runBytes, stride, count } = r;
    const { shape, byteSize, dtype } = entry.info;
    if (!checkStridedRead(r, byteSize, target, this.path, name)) return;
    const element = DTYPE_BYTES[dtype];
    if (!entry.flipSpatial && this.h5.readRunsInto(entry.datasetPath, r, target)) return;
    if (!entry.flipSpatial && shape.length >= 1 && start % element === 0 && runBytes % element === 0) {
      const rowBytes = byteSize / shape[0];
      const out = target.subarray(0, count * runBytes);
      const contiguous = count === 1 || stride === runBytes;
      if (contiguous && start % rowBytes === 0 && (count * runBytes) % rowBytes === 0) {
        this.h5.readBlockInto(entry.datasetPath, [start / rowBytes, ...shape.slice(1).map(() => 0)], [count * runBytes / rowBytes, ...shape.slice(1)], out);
        return;
      }
      if (shape.length === 2 && (count === 1 || stride === rowBytes) && (start % rowBytes) + runBytes <= rowBytes) {
        this.h5.readBlockInto(entry.datasetPath, [Math.floor(start / rowBytes), (start % rowBytes) / element], [count, runBytes / element], out);
        return;
      }
    }
    if (this.decoded?.name !== name) {
      this.decoded = undefined;
      this.decoded = { name, data: this.readSync(name).data };
    }
    copyRuns(this.decoded.data, r, target);
  }

  dataOffset(name: string): number | undefined {
    const entry = this.byName.get(name);
    return entry && !entry.flipSpatial ? this.h5.dataOffset(entry.datasetPath) : undefined;
  }

  async close(): Promise<void> {
    this.decoded = undefined;
    this.h5.close();
  }
}

function keras1Error(ctx: { file?: string }, why: string): GraftError {
  return new GraftError('UNSUPPORTED', `is a Keras 1 file (${why}); graft reads Keras 2 and 3 files only: load it in Keras 2 and re-save it`, ctx);
}

function rejectKeras1(version: string | undefined, config: Record<string, unknown> | undefined, ctx: { file?: string }): void {
  if (version !== undefined && /^1(\.|$)/.test(version)) throw keras1Error(ctx, `keras_version ${version}`);
  if (!config) return;
  const found = findKeras1Key(config);
  if (found) throw keras1Error(ctx, `layer config key '${found}'`);
}

function findKeras1Key(config: unknown, depth = 0): string | undefined {
  if (depth > 8 || typeof config !== 'object' || config === null) return undefined;
  const c = config as Record<string, unknown>;
  const inner = c.config;
  if (typeof c.class_name === 'string' && inner && typeof inner === 'object' && !Array.isArray(inner)) {
    const cfg = inner as Record<string, unknown>;
    if (!isModelClass(c.class_name)) {
      for (const k of KERAS1_KEYS) if (k in cfg) return k;
      if (c.class_name === 'Dense' || c.class_name === 'TimeDistributedDense') {
        for (const k of KERAS1_DENSE_KEYS) if (k in cfg) return k;
      }
    }
  }
  const layers = Array.isArray(inner) ? inner : inner && typeof inner === 'object' ? (inner as Record<string, unknown>).layers : undefined;
  if (Array.isArray(layers)) {
    for (const l of layers) {
      const hit = findKeras1Key(l, depth + 1);
      if (hit) return hit;
    }
  }
  return undefined;
}

/** layer name → class name: the model's own, then every layer's through nested models. */
function collectLayerClasses(config: Record<string, unknown>, out: Map<string, string>): void {
  const record = (n: { class_name?: unknown; name?: unknown; config?: unknown }): void => {
    const cfg = n.config;
    const name = typeof n.name === 'string' ? n.name : cfg && typeof cfg === 'object' && !Array.isArray(cfg) ? (cfg as Record<string, unknown>).name : undefined;
    if (typeof n.class_name === 'string' && typeof name === 'string' && !out.has(name)) out.set(name, n.class_name);
  };
  record(config);
  walkLayers(config, record, 15);
}

const CELL_SCOPE = /(^|_)cell(_\d+)?$/;

function stripSuffix(weightName: string): string[] {
  return weightName.replace(/:\d+$/, '').split('/').filter((p) => p.length > 0);
}

/** True when `part` is the layer's own scope: its name, or its name uniquified (`conv1_1`). */
function isLayerScope(part: string, layer: string): boolean {
  if (part === layer) return true;
  return part.startsWith(`${layer}_`) && /^\d+$/.test(part.slice(layer.length + 1));
}

function withoutCellScopes(parts: string[]): string[] {
  if (parts.length <= 1) return parts;
  const kept = parts.filter((p, i) => i === parts.length - 1 || !CELL_SCOPE.test(p));
  return kept;
}

/** Name of a weight stored under an ordinary layer's group. */
export function layerWeightName(layer: string, stored: string): { name: string; innerLayer: string } {
  const parts = stripSuffix(stored);
  const at = parts.findIndex((p) => isLayerScope(p, layer));
  const rest = at >= 0 ? parts.slice(at + 1) : parts.length > 1 ? parts.slice(1) : parts;
  const tail = withoutCellScopes(rest.length > 0 ? rest : parts.slice(-1));
  return { name: `${layer}/${tail.join('/')}`, innerLayer: layer };
}

/** Name of a weight stored under a nested model's group: its inner layer is the first scope. */
export function nestedWeightName(stored: string): { name: string; innerLayer: string } {
  const parts = stripSuffix(stored);
  if (parts.length === 1) return { name: parts[0], innerLayer: parts[0] };
  const [inner, ...rest] = parts;
  return { name: `${inner}/${withoutCellScopes(rest).join('/')}`, innerLayer: inner };
}

/**
 * Without a config, a layer group is taken for a nested model when none of its weight names
 * carries the layer's own scope (a plain layer's always does, possibly uniquified).
 */
function looksNested(layer: string, weightNames: string[]): boolean {
  if (weightNames.length === 0) return false;
  return weightNames.every((w) => !stripSuffix(w).some((p) => isLayerScope(p, layer)));
}

/** Keras applies `convert_kernel` to the catalogue's `theanoFlipped` weights; without a config, kernels of rank 3–5. */
function isTheanoConvKernel(className: string | undefined, name: string, shape: number[]): boolean {
  const leaf = name.slice(name.lastIndexOf('/') + 1);
  if (className !== undefined) return layerClass(className)?.theanoFlipped?.includes(leaf) ?? false;
  return (leaf === 'kernel' || leaf === 'recurrent_kernel') && shape.length >= 3 && shape.length <= 5;
}

function disambiguate(entries: Entry[], prefixFor: Map<Entry, string>, file: string): void {
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(e.info.name, (counts.get(e.info.name) ?? 0) + 1);
  for (const e of entries) {
    if ((counts.get(e.info.name) ?? 0) > 1 && prefixFor.has(e)) {
      e.info = { ...e.info, name: `${prefixFor.get(e)}/${e.info.name}` };
    }
  }
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.info.name)) {
      throw new GraftError('CORRUPT', `two weights resolve to the same name (stored at '${e.datasetPath}')`, { file, tensor: e.info.name });
    }
    seen.add(e.info.name);
  }
}

/**
 * Reverses the first `axes` axes of a C-order array: Keras' `convert_kernel`, which turns a
 * Theano convolution kernel into the TensorFlow one (convolution vs. cross-correlation).
 */
export function flipLeadingAxes(data: Uint8Array, shape: readonly number[], elementBytes: number, axes: number): Uint8Array {
  if (axes <= 0) return data;
  const block = shape.slice(axes).reduce((a, b) => a * b, 1) * elementBytes;
  const lead = shape.slice(0, axes);
  const count = lead.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(data.length);
  const idx = new Array(axes).fill(0);
  for (let i = 0; i < count; i++) {
    // Destination index: every leading coordinate mirrored.
    let j = 0;
    for (let k = 0; k < axes; k++) j = j * lead[k] + (lead[k] - 1 - idx[k]);
    out.set(data.subarray(i * block, (i + 1) * block), j * block);
    for (let k = axes - 1; k >= 0; k--) {
      if (++idx[k] < lead[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}
