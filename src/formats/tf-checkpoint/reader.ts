/**
 * TensorFlow V2 checkpoints ("tensor bundles"): `<prefix>.index`, a LevelDB-style sorted table
 * mapping tensor names to BundleEntryProto, plus data shards `<prefix>.data-NNNNN-of-MMMMM`
 * holding raw tensor bytes. Written by tf.train.Saver (TF1), tf.train.Checkpoint and Keras
 * `save_weights` in TF format, and inside SavedModels (`variables/variables.index`).
 */
import { GraftError, asCorrupt } from '../../errors';
import { ByteSource, byteSwapInPlace, elementCount, fileVolume, printable, rawTensor, resolveInside } from '../../io/bytes';
import * as path from '../../io/posix';
import type { Volume } from '../../io/volume';
import { budgetError } from '../../io/budget';
import { crc32c, unmaskCrc } from '../../io/crc32c';
import { BundleEntry, BundleHeader, decodeBundleEntry, decodeBundleHeader } from './schema';
import { DTYPE_BYTES, DType, FormatHandler, RawTensor, TensorInfo, WeightReader } from '../types';

/** Table magic number 0xdb4775248b80fb57 as it appears on disk (little-endian). */
const TABLE_MAGIC = [0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb];
/** Two block handles padded to 40 bytes, then the 8-byte magic. */
const FOOTER_BYTES = 48;
/** Each block is followed by a compression-type byte and a masked CRC-32C. */
const BLOCK_TRAILER_BYTES = 5;
const SHARD_SUFFIX = /\.data-(\d{5,})-of-(\d{5,})$/;
/** Far above any real checkpoint; keeps a damaged header from making us stat millions of files. */
const MAX_SHARDS = 100_000;

/** TensorFlow DataType enum values graft reads as weights. */
const WEIGHT_DTYPES: Record<number, DType> = {
  1: 'float32', // DT_FLOAT
  2: 'float64', // DT_DOUBLE
  3: 'int32',
  4: 'uint8',
  5: 'int16',
  6: 'int8',
  9: 'int64',
  10: 'bool',
  14: 'bfloat16',
  17: 'uint16',
  19: 'float16', // DT_HALF
  22: 'uint32',
  23: 'uint64',
};
/** Values stored in checkpoints that are not weights at all: strings, resource handles, variants. */
const NON_WEIGHT_DTYPES: Record<number, string> = { 7: 'DT_STRING', 20: 'DT_RESOURCE', 21: 'DT_VARIANT' };
const OTHER_DTYPE_NAMES: Record<number, string> = {
  8: 'DT_COMPLEX64', 11: 'DT_QINT8', 12: 'DT_QUINT8', 13: 'DT_QINT32', 15: 'DT_QINT16', 16: 'DT_QUINT16', 18: 'DT_COMPLEX128',
};

// ---------------------------------------------------------------------------------------------
// Checkpoint paths

export interface CheckpointFiles {
  prefix: string;
  indexPath: string;
}


/** `model_checkpoint_path` from a `checkpoint` state file (text-format CheckpointState). */
export function parseCheckpointState(text: string): string | undefined {
  const m = /^\s*model_checkpoint_path\s*:\s*"((?:[^"\\]|\\.)*)"/m.exec(text);
  if (!m) return undefined;
  return m[1].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c));
}

/**
 * Finds the `.index` file for whatever the user named: a prefix (`model.ckpt`), the index itself,
 * one of its data shards, or a folder with a `checkpoint` state file.
 */
export function resolveCheckpoint(userPath: string, volume: Volume = fileVolume): CheckpointFiles {
  if (volume.isDirectory(userPath)) return resolveFolder(userPath, volume);
  let prefix = userPath;
  if (userPath.endsWith('.index')) prefix = userPath.slice(0, -'.index'.length);
  else if (SHARD_SUFFIX.test(userPath)) prefix = userPath.replace(SHARD_SUFFIX, '');
  const indexPath = `${prefix}.index`;
  if (!volume.isFile(indexPath)) {
    throw new GraftError('NOT_FOUND', `no TensorFlow checkpoint index '${indexPath}'`, { file: userPath });
  }
  return { prefix, indexPath };
}

function resolveFolder(dir: string, volume: Volume): CheckpointFiles {
  const statePath = path.join(dir, 'checkpoint');
  if (volume.isFile(statePath)) {
    const src = volume.open(statePath);
    let text: string;
    try {
      // A state file is a few lines; refuse to slurp something huge that merely shares the name.
      if (src.size > 1 << 20) throw new GraftError('CORRUPT', 'checkpoint state file is implausibly large', { file: statePath });
      text = new TextDecoder('utf-8').decode(src.read(0, src.size));
    } finally {
      src.close();
    }
    const named = parseCheckpointState(text);
    if (named === undefined) {
      throw new GraftError('CORRUPT', 'checkpoint state file has no model_checkpoint_path', { file: statePath });
    }
    // Folders get moved after training, so an absolute path is looked up by its last component
    // inside this folder; a relative one must not climb out of it.
    // The prefix as named inside the folder.
    const inside = path.isAbsolute(named) ? path.basename(named) : path.normalize(named);
    if (inside === '..' || inside.startsWith('../')) {
      throw new GraftError('UNSAFE', `model_checkpoint_path '${printable(named)}' points outside the checkpoint folder`, { file: statePath });
    }
    const prefix = path.join(dir, inside);
    const indexPath = `${prefix}.index`;
    if (!volume.isFile(indexPath)) {
      throw new GraftError('NOT_FOUND', `model_checkpoint_path '${printable(named)}' names a checkpoint whose index '${printable(indexPath)}' does not exist`, { file: statePath });
    }
    // The state file is input too: a symlink inside the folder must not lead it elsewhere.
    try {
      volume.resolveInside(dir, `${inside}.index`, statePath);
    } catch (e) {
      if (e instanceof GraftError && e.code === 'UNSAFE') {
        throw new GraftError('UNSAFE', `model_checkpoint_path '${printable(named)}' resolves (through a symlink) outside the checkpoint folder`, { file: statePath });
      }
      throw e;
    }
    return { prefix, indexPath };
  }
  // No state file: accept a folder holding exactly one checkpoint (e.g. a SavedModel's variables/).
  const indexes = safeReaddir(dir, volume).filter((f) => f.endsWith('.index'));
  if (indexes.length === 1) {
    const indexPath = path.join(dir, indexes[0]);
    return { prefix: indexPath.slice(0, -'.index'.length), indexPath };
  }
  throw new GraftError('NOT_FOUND', indexes.length
    ? `folder holds ${indexes.length} checkpoint indexes and no 'checkpoint' file saying which to use; name the prefix instead`
    : "folder holds no 'checkpoint' file and no '.index' file", { file: dir });
}

function safeReaddir(dir: string, volume: Volume): string[] {
  try {
    return volume.list(dir);
  } catch {
    return [];
  }
}

function endsWithMagic(file: string, volume: Volume): boolean {
  let src: ByteSource | undefined;
  try {
    // Through the volume: opened without blocking, regular files only (a FIFO named like an
    // index must not hang sniffing).
    src = volume.open(file);
    if (src.size < FOOTER_BYTES) return false;
    const tail = src.read(src.size - 8, 8);
    return TABLE_MAGIC.every((b, i) => tail[i] === b);
  } catch {
    return false;
  } finally {
    src?.close();
  }
}

/** True when `<prefix>.data-00000-of-…` exists beside an index: a checkpoint, even if the index is damaged. */
function hasDataShard(prefix: string, volume: Volume): boolean {
  const dir = path.dirname(prefix);
  const base = `${path.basename(prefix)}.data-`;
  return safeReaddir(dir, volume).some((f) => f.startsWith(base) && SHARD_SUFFIX.test(f));
}

function sniffCheckpoint(head: Uint8Array, p: string, volume: Volume = fileVolume): boolean {
  // A truncated index has lost its footer magic; a data shard beside it still says what it is,
  // so the reader (not the registry) reports the damage.
  const isCheckpointIndex = (index: string) => endsWithMagic(index, volume) || (volume.isFile(index) && hasDataShard(index.slice(0, -'.index'.length), volume));
  if (p.endsWith('.index')) return isCheckpointIndex(p);
  const shard = SHARD_SUFFIX.exec(p);
  if (shard) return isCheckpointIndex(`${p.replace(SHARD_SUFFIX, '')}.index`);
  if (head.length === 0) {
    if (volume.isDirectory(p)) {
      if (volume.isFile(path.join(p, 'checkpoint'))) return true;
      const indexes = safeReaddir(p, volume).filter((f) => f.endsWith('.index'));
      return indexes.length === 1 && isCheckpointIndex(path.join(p, indexes[0]));
    }
    return isCheckpointIndex(`${p}.index`);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The sorted-table index file

/** A cursor over bytes that reports damage as CORRUPT naming the file. */
class ByteCursor {
  pos: number;
  constructor(readonly bytes: Uint8Array, readonly end: number, start: number, readonly file: string, readonly where: string) {
    this.pos = start;
  }

  /** Unsigned LEB128 varint of at most 64 bits, returned only when it is a safe integer. */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw this.corrupt('varint runs past the end');
      const b = this.bytes[this.pos++];
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) throw this.corrupt('varint value is too large');
        return result;
      }
      scale *= 128;
    }
    throw this.corrupt('varint is longer than 10 bytes');
  }

  take(n: number): Uint8Array {
    if (n > this.end - this.pos) throw this.corrupt(`entry of ${n} bytes runs past the end`);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  corrupt(reason: string): GraftError {
    return new GraftError('CORRUPT', `checkpoint index ${this.where}: ${reason}`, { file: this.file });
  }
}

interface BlockHandle {
  offset: number;
  size: number;
}

function readHandle(c: ByteCursor): BlockHandle {
  return { offset: c.varint(), size: c.varint() };
}

/** Checks a block's trailer and returns its contents. */
function readBlock(index: Uint8Array, handle: BlockHandle, file: string, what: string): Uint8Array {
  const limit = index.length - FOOTER_BYTES;
  if (handle.offset + handle.size + BLOCK_TRAILER_BYTES > limit) {
    throw new GraftError('CORRUPT', `checkpoint index ${what} (offset ${handle.offset}, ${handle.size} bytes) lies outside the table (${limit} bytes before the footer); the file is truncated or damaged`, { file });
  }
  const contents = index.subarray(handle.offset, handle.offset + handle.size);
  const type = index[handle.offset + handle.size];
  const trailer = index.subarray(handle.offset + handle.size + 1, handle.offset + handle.size + BLOCK_TRAILER_BYTES);
  const stored = (trailer[0] | (trailer[1] << 8) | (trailer[2] << 16) | (trailer[3] << 24)) >>> 0;
  // The checksum covers the contents and the compression-type byte.
  const actual = crc32c(index.subarray(handle.offset, handle.offset + handle.size + 1));
  if (unmaskCrc(stored) !== actual) {
    throw new GraftError('CORRUPT', `checkpoint index ${what} at offset ${handle.offset} fails its CRC-32C check (stored ${hex(unmaskCrc(stored))}, computed ${hex(actual)})`, { file });
  }
  if (type === 0) return contents;
  if (type === 1) {
    throw new GraftError('UNSUPPORTED', `checkpoint index ${what} is Snappy-compressed; TensorFlow itself writes bundle indexes uncompressed and graft does not decompress Snappy`, { file });
  }
  throw new GraftError('CORRUPT', `checkpoint index ${what} has unknown compression type ${type}`, { file });
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/**
 * Bytes of keys rebuilt from prefix compression, per index: each key costs its full length to
 * rebuild, so a crafted index sharing a long prefix across many tiny entries could otherwise
 * make a 1 MB file rebuild gigabytes of keys.
 */
const KEY_BYTES_PER_INDEX_BYTE = 16;
const KEY_BYTES_FLOOR = 4 << 20;

/** Counts rebuilt key bytes against the index's budget. */
class KeyBudget {
  used = 0;
  constructor(readonly limit: number, readonly file: string) {}
  charge(n: number): void {
    this.used += n;
    if (this.used > this.limit) {
      throw budgetError(this.file, `checkpoint index keys rebuild to more than ${this.limit} bytes (prefix compression)`, `${KEY_BYTES_PER_INDEX_BYTE} key bytes per index byte`);
    }
  }
}

/** Iterates the key/value entries of one block, undoing the prefix compression of keys. */
function* blockEntries(block: Uint8Array, file: string, what: string, budget?: KeyBudget): Generator<[Uint8Array, Uint8Array]> {
  if (block.length < 4) throw new GraftError('CORRUPT', `checkpoint index ${what} is too short (${block.length} bytes)`, { file });
  const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const numRestarts = dv.getUint32(block.length - 4, true);
  const maxRestarts = Math.floor((block.length - 4) / 4);
  if (numRestarts > maxRestarts) {
    throw new GraftError('CORRUPT', `checkpoint index ${what} claims ${numRestarts} restart points, more than its ${block.length} bytes can hold`, { file });
  }
  // Entries run up to the restart array; restart points themselves are only a seek aid.
  const entriesEnd = block.length - 4 - 4 * numRestarts;
  const c = new ByteCursor(block, entriesEnd, 0, file, what);
  let key: Uint8Array = new Uint8Array(0);
  while (c.pos < entriesEnd) {
    const shared = c.varint();
    const unshared = c.varint();
    const valueLength = c.varint();
    if (shared > key.length) throw c.corrupt(`key shares ${shared} bytes with a previous key of ${key.length}`);
    const suffix = c.take(unshared);
    budget?.charge(shared + unshared);
    const next = new Uint8Array(shared + unshared);
    next.set(key.subarray(0, shared));
    next.set(suffix, shared);
    key = next;
    yield [key, c.take(valueLength)];
  }
}

const utf8 = new TextDecoder('utf-8');

interface IndexContents {
  header?: BundleHeader;
  /** Entries in table (sorted-key) order. */
  entries: { name: string; entry: BundleEntry }[];
}

/** Parses the whole index table. */
function parseIndex(index: Uint8Array, file: string): IndexContents {
  if (index.length < FOOTER_BYTES) {
    throw new GraftError('CORRUPT', `checkpoint index is ${index.length} bytes, too short to hold the ${FOOTER_BYTES}-byte table footer; the file is truncated`, { file });
  }
  const magic = index.subarray(index.length - 8);
  if (!TABLE_MAGIC.every((b, i) => magic[i] === b)) {
    throw new GraftError('CORRUPT', 'not a TensorFlow checkpoint index: the table footer magic number is missing (file truncated or not a checkpoint)', { file });
  }
  const footer = new ByteCursor(index, index.length - 8, index.length - FOOTER_BYTES, file, 'footer');
  readHandle(footer); // metaindex: bundles keep no meta blocks (no filters), so it is not needed
  const indexHandle = readHandle(footer);
  const indexBlock = readBlock(index, indexHandle, file, 'index block');
  const out: IndexContents = { entries: [] };
  let blockNo = 0;
  // Writers emit data blocks front to back; requiring that keeps a crafted index from making us
  // re-read (and re-checksum) the same bytes once per index entry.
  let nextFree = 0;
  const budget = new KeyBudget(Math.max(KEY_BYTES_FLOOR, index.length * KEY_BYTES_PER_INDEX_BYTE), file);
  // A table's keys are strictly increasing (TensorFlow's writer requires it): a repeated key is
  // found by comparing with the previous one, never by hashing every rebuilt key.
  let previous: Uint8Array | undefined;
  for (const [, handleBytes] of blockEntries(indexBlock, file, 'index block', budget)) {
    const what = `data block ${blockNo++}`;
    const handle = readHandle(new ByteCursor(handleBytes, handleBytes.length, 0, file, `index block entry for ${what}`));
    if (handle.offset < nextFree) {
      throw new GraftError('CORRUPT', `checkpoint index ${what} at offset ${handle.offset} overlaps the previous block`, { file });
    }
    nextFree = handle.offset + handle.size + BLOCK_TRAILER_BYTES;
    const block = readBlock(index, handle, file, what);
    for (const [keyBytes, value] of blockEntries(block, file, what, budget)) {
      const name = utf8.decode(keyBytes);
      if (previous && compareBytes(previous, keyBytes) >= 0) {
        throw new GraftError('CORRUPT', compareBytes(previous, keyBytes) === 0 ? 'checkpoint index lists this key twice' : 'checkpoint index keys are out of order', { file, tensor: name });
      }
      previous = keyBytes;
      try {
        if (keyBytes.length === 0) out.header = decodeBundleHeader(value);
        else out.entries.push({ name, entry: decodeBundleEntry(value) });
      } catch (e) {
        throw new GraftError('CORRUPT', `checkpoint index entry cannot be decoded (${printable((e as Error).message)})`, { file, tensor: keyBytes.length ? name : '<bundle header>' });
      }
    }
  }
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

// ---------------------------------------------------------------------------------------------
// Names

/**
 * Keys that are bookkeeping or optimizer state rather than model weights: the TF2 object graph,
 * step counters, optimizer slots (TF2 `.OPTIMIZER_SLOT`, Keras `optimizer/…`, TF1 `<var>/Adam`…)
 * and Adam's beta power accumulators.
 */
export function isNonWeightKey(name: string): boolean {
  if (name === '_CHECKPOINTABLE_OBJECT_GRAPH') return true;
  if (name === 'global_step' || name.startsWith('global_step/')) return true;
  if (name.startsWith('save_counter/')) return true;
  if (name.startsWith('optimizer/') || name.includes('/.OPTIMIZER_SLOT/')) return true;
  if (/\/(Adam|Adam_1|Momentum|RMSProp|RMSProp_1|Adagrad)$/.test(name)) return true;
  if (/^beta[12]_power(_\d+)?$/.test(name)) return true;
  return false;
}

export interface ObjectGraphLayerStep {
  /** `layer_with_weights-N` counts only layers that own weights; `layer-N` counts all layers. */
  kind: 'layer' | 'layer_with_weights';
  index: number;
}

export interface ObjectGraphKey {
  /** Layer indices from the outermost model inward. */
  path: number[];
  /** The same steps with their kind. */
  steps: ObjectGraphLayerStep[];
  /** Index of the innermost layer (last element of `path`). */
  layerIndex: number;
  /** The variable's own name: 'kernel', 'bias', 'gamma', 'moving_mean', … */
  weight: string;
  /** Attribute path below the innermost layer, e.g. 'cell/kernel' for an RNN layer. */
  weightPath: string;
}

const LAYER_STEP = /^(layer|layer_with_weights)-(\d+)$/;

/**
 * Parses a TF2 object-based checkpoint key such as
 * `model/layer_with_weights-2/bias/.ATTRIBUTES/VARIABLE_VALUE` into layer indices and the weight
 * name; undefined for keys that do not address a variable under numbered layers.
 */
export function objectGraphKey(name: string): ObjectGraphKey | undefined {
  const SUFFIX = '/.ATTRIBUTES/VARIABLE_VALUE';
  if (!name.endsWith(SUFFIX)) return undefined;
  const parts = name.slice(0, -SUFFIX.length).split('/');
  if (parts.some((p) => p === '.OPTIMIZER_SLOT')) return undefined;
  // Leading non-layer segments (a `model/` attribute) are allowed; then consecutive layer steps;
  // everything after the first non-layer segment that follows them is the weight's own path.
  const steps: ObjectGraphLayerStep[] = [];
  let i = 0;
  while (i < parts.length && !LAYER_STEP.test(parts[i])) i++;
  for (; i < parts.length; i++) {
    const m = LAYER_STEP.exec(parts[i]);
    if (!m) break;
    const index = Number(m[2]);
    if (!Number.isSafeInteger(index)) return undefined;
    steps.push({ kind: m[1] as ObjectGraphLayerStep['kind'], index });
  }
  const lastLayer = i - 1;
  if (steps.length === 0) return undefined;
  const rest = parts.slice(lastLayer + 1);
  if (rest.length === 0 || rest.some((p) => p === '' || LAYER_STEP.test(p))) return undefined;
  return {
    path: steps.map((s) => s.index),
    steps,
    layerIndex: steps[steps.length - 1].index,
    weight: rest[rest.length - 1],
    weightPath: rest.join('/'),
  };
}

// ---------------------------------------------------------------------------------------------
// The reader

interface StoredTensor {
  info: TensorInfo;
  shard: number;
  offset: number;
  size: number;
  crc: number;
  /** Set when the tensor can be listed but not read (partitioned variables). */
  unsupported?: string;
}

export function shardPath(prefix: string, shard: number, numShards: number): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `${prefix}.data-${pad(shard)}-of-${pad(numShards)}`;
}

function safeInt64(value: string, what: string, file: string, tensor: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new GraftError('CORRUPT', `checkpoint index gives ${what} ${value}, which is not a usable size or offset`, { file, tensor });
  }
  return n;
}

class TfCheckpointReader implements WeightReader {
  readonly format = 'tf-checkpoint';
  readonly convention = 'tf' as const;
  readonly metadata: Record<string, unknown>;
  private readonly tensors = new Map<string, StoredTensor>();
  private readonly order: TensorInfo[] = [];
  /** Tensors present but unreadable as weights, with the reason, for a clear error on read. */
  private readonly refused: Map<string, GraftError>;
  private readonly shardSources = new Map<number, ByteSource>();
  private readonly bigEndian: boolean;

  constructor(readonly path: string, private readonly files: CheckpointFiles, private readonly shardFiles: string[], header: BundleHeader, stored: StoredTensor[], skipped: string[], nonWeights: string[], refused: Map<string, GraftError>, private readonly volume: Volume) {
    this.bigEndian = header.endianness === 1;
    for (const t of stored) {
      this.tensors.set(t.info.name, t);
      this.order.push(t.info);
    }
    this.refused = refused;
    this.metadata = {
      prefix: files.prefix,
      index: files.indexPath,
      shards: shardFiles,
      endianness: this.bigEndian ? 'big' : 'little',
      producer: header.producer,
      minConsumer: header.minConsumer,
      objectBased: nonWeights.includes('_CHECKPOINTABLE_OBJECT_GRAPH'),
      /** Every stored key left out of list(): bookkeeping, optimizer state, non-numeric values. */
      skipped,
      /** The subset of `skipped` holding strings, resource handles or variants. */
      nonWeights,
      unsupported: [...refused.entries()].map(([name, e]) => ({ name, code: e.code, reason: e.message })),
    };
  }

  list(): TensorInfo[] {
    return this.order.map((t) => ({ ...t, shape: [...t.shape] }));
  }

  async read(name: string): Promise<RawTensor> {
    const t = this.tensors.get(name);
    if (!t) {
      const refused = this.refused.get(name);
      if (refused) throw refused;
      const why = (this.metadata.skipped as string[]).includes(name)
        ? 'is stored in the checkpoint but is not a weight (optimizer state, a counter or a non-numeric value), so it is not offered'
        : 'no such tensor in the checkpoint';
      throw new GraftError('NOT_FOUND', why, { file: this.files.indexPath, tensor: name });
    }
    if (t.unsupported) throw new GraftError('UNSUPPORTED', t.unsupported, { file: this.files.indexPath, tensor: name });
    const src = this.shard(t.shard);
    let data: Uint8Array;
    try {
      data = src.read(t.offset, t.size, name);
    } catch (e) {
      throw asCorrupt(e, { file: src.path, tensor: name });
    }
    const actual = crc32c(data);
    if (actual !== unmaskCrc(t.crc)) {
      throw new GraftError('CORRUPT', `tensor data at offset ${t.offset} (${t.size} bytes) fails its CRC-32C check (index says ${hex(unmaskCrc(t.crc))}, data gives ${hex(actual)}); the shard is damaged or does not belong to this index`, { file: src.path, tensor: name });
    }
    if (this.bigEndian) byteSwapInPlace(data, DTYPE_BYTES[t.info.dtype]);
    return rawTensor({ ...t.info, shape: [...t.info.shape] }, data, src.path);
  }

  private shard(id: number): ByteSource {
    let src = this.shardSources.get(id);
    if (!src) {
      src = this.volume.open(this.shardFiles[id]);
      this.shardSources.set(id, src);
    }
    return src;
  }

  async close(): Promise<void> {
    for (const s of this.shardSources.values()) s.close();
    this.shardSources.clear();
  }
}

/** Opens a checkpoint by prefix, `.index` path, shard path, or folder. */
export async function openTfCheckpoint(userPath: string, volume: Volume = fileVolume): Promise<WeightReader> {
  const files = resolveCheckpoint(userPath, volume);
  const file = files.indexPath;
  const src = volume.open(file);
  let index: Uint8Array;
  try {
    index = src.read(0, src.size);
  } finally {
    src.close();
  }
  let contents: IndexContents;
  try {
    contents = parseIndex(index, file);
  } catch (e) {
    throw asCorrupt(e, { file });
  }
  const header = contents.header;
  if (!header) throw new GraftError('CORRUPT', 'checkpoint index has no bundle header (the entry under the empty key)', { file });
  if (!Number.isSafeInteger(header.numShards) || header.numShards < 1 || header.numShards > MAX_SHARDS) {
    throw new GraftError('CORRUPT', `bundle header claims ${header.numShards} data shards`, { file });
  }
  if (header.endianness !== 0 && header.endianness !== 1) {
    throw new GraftError('CORRUPT', `bundle header has unknown endianness ${header.endianness}`, { file });
  }
  const shardFiles = Array.from({ length: header.numShards }, (_, i) => shardPath(files.prefix, i, header.numShards));
  const shardSizes = new Map<number, number>();
  const shardSize = (id: number, tensor: string): number => {
    let size = shardSizes.get(id);
    if (size === undefined) {
      if (!volume.exists(shardFiles[id])) {
        throw new GraftError('NOT_FOUND', `data shard ${id} of ${header.numShards} ('${path.basename(shardFiles[id])}') is missing`, { file: shardFiles[id], tensor });
      }
      // The shard sits beside the index; through a symlink it must still resolve inside the
      // index's folder, so no outside bytes are read (nor their CRC-32C printed).
      resolveInside(path.dirname(file), path.basename(shardFiles[id]), file, volume);
      if (!volume.isFile(shardFiles[id])) throw new GraftError('NOT_FOUND', `data shard ${id} of ${header.numShards} is not a regular file`, { file: shardFiles[id], tensor });
      size = volume.statFile(shardFiles[id]).size;
      shardSizes.set(id, size);
    }
    return size;
  };

  const stored: StoredTensor[] = [];
  const skipped: string[] = [];
  const nonWeights: string[] = [];
  const refused = new Map<string, GraftError>();
  for (const { name, entry } of contents.entries) {
    // Slices of a partitioned variable live under binary keys starting with a zero byte; the
    // full variable's own entry (with `slices`) is what names them.
    if (name.charCodeAt(0) === 0) continue;
    if (NON_WEIGHT_DTYPES[entry.dtype]) {
      nonWeights.push(name);
      skipped.push(name);
      continue;
    }
    if (isNonWeightKey(name)) {
      skipped.push(name);
      continue;
    }
    const dtype = WEIGHT_DTYPES[entry.dtype];
    if (!dtype) {
      const dtName = OTHER_DTYPE_NAMES[entry.dtype] ?? `DataType ${entry.dtype}`;
      refused.set(name, new GraftError('UNSUPPORTED', `dtype ${dtName} is not a weight type graft can read`, { file, tensor: name }));
      continue;
    }
    if (entry.unknownRank) throw new GraftError('CORRUPT', 'checkpoint entry has a shape of unknown rank', { file, tensor: name });
    const shape = entry.dims.map((d) => {
      const n = Number(d);
      if (!Number.isSafeInteger(n) || n < 0) throw new GraftError('CORRUPT', `invalid dimension ${d}`, { file, tensor: name });
      return n;
    });
    const count = elementCount(shape, { file, tensor: name });
    const info: TensorInfo = { name, dtype, shape, byteSize: count * DTYPE_BYTES[dtype] };
    if (entry.sliceCount > 0) {
      stored.push({ info, shard: 0, offset: 0, size: 0, crc: 0, unsupported: `is a partitioned variable saved as ${entry.sliceCount} slices; graft reads only whole tensors (re-save it unpartitioned)` });
      continue;
    }
    const size = safeInt64(entry.size, 'size', file, name);
    const offset = safeInt64(entry.offset, 'offset', file, name);
    if (size !== info.byteSize) {
      throw new GraftError('CORRUPT', `checkpoint entry stores ${size} bytes where shape [${shape.join(', ')}] of ${dtype} needs ${info.byteSize}`, { file, tensor: name });
    }
    if (!Number.isSafeInteger(entry.shardId) || entry.shardId < 0 || entry.shardId >= header.numShards) {
      throw new GraftError('CORRUPT', `checkpoint entry names data shard ${entry.shardId}, but the bundle has ${header.numShards}`, { file, tensor: name });
    }
    const available = shardSize(entry.shardId, name);
    if (offset + size > available) {
      throw new GraftError('CORRUPT', `tensor data ${offset}+${size} lies beyond the end of its data shard (${available} bytes); the shard is truncated or does not belong to this index`, { file: shardFiles[entry.shardId], tensor: name });
    }
    stored.push({ info, shard: entry.shardId, offset, size, crc: entry.crc32c });
  }
  return new TfCheckpointReader(userPath, files, shardFiles, header, stored, skipped, nonWeights, refused, volume);
}

export const tfCheckpointFormat: FormatHandler = {
  format: 'tf-checkpoint',
  // Not '.ckpt': PyTorch Lightning uses it for zip pickles.
  extensions: ['.index'],
  sniff: (head, p, volume) => sniffCheckpoint(head, p, volume),
  open: (p, options) => openTfCheckpoint(p, options?.volume),
};
