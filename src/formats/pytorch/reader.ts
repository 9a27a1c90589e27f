import { GraftError } from '../../errors';
import { byteSwapInPlace, ByteSource, elementCount, openSource, printable, rawTensor, tensorInfo } from '../../io/bytes';
import { PickleTruncated, PyDict, PyGlobal, TorchStorage, TorchStorageType, TorchTensor, unpickle } from '../../io/pickle';
import { startsWith } from '../registry';
import type { FormatHandler, OpenOptions, RawTensor, ReadsStrided, StridedRange, TensorInfo, WeightReader } from '../types';
import { checkStridedRead, copyRuns } from '../types';
import { METHOD_STORED, ZipArchive, ZipEntry } from '../../io/zip';
import { MAX_PICKLE_BYTES } from '../../io/budget';

/**
 * PyTorch checkpoints written by torch.save: the zip container (torch ≥ 1.6) and the legacy
 * sequence of pickles followed by raw storages. Pickles go through the restricted unpickler in
 * pickle.ts; storages are read lazily, only for the tensors asked for.
 */

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
/** `\x80\x02` (PROTO 2), then LONG1 of 10 bytes holding torch's legacy magic number 0x1950a86a20f9469cfc6c. */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const LEGACY_MAGIC_NUMBER = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;
/** Entry names torch writes inside its single top-level folder. */
const TORCH_ZIP_RECORD = /^[^/]+\/(data\.pkl|data\/\d+|byteorder|version|\.format_version|\.storage_alignment|\.data\/.+)$/;
/** First window read for legacy pickles; grows (doubling) until they fit. */
const LEGACY_FIRST_WINDOW = 1 << 20;
/** Keys under which checkpoints usually keep the weights, most specific first. */
const COMMON_KEYS = ['state_dict', 'model_state_dict', 'model', 'module', 'net', 'network', 'weights', 'params', 'generator', 'ema'];
/** Nesting explored when looking for the dict of tensors (real checkpoints nest 2–3 levels). */
const MAX_SEARCH_DEPTH = 8;

// TextDecoder and a byte loop rather than Buffer: the reader also runs in browsers (no Buffer there).
const UTF8 = new TextDecoder('utf-8');
function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function firstZipEntryName(head: Uint8Array): string | undefined {
  if (head.length < 30 || !startsWith(head, ZIP_MAGIC)) return undefined;
  const nameLength = head[26] | (head[27] << 8);
  if (30 + nameLength > head.length) return undefined;
  return UTF8.decode(head.subarray(30, 30 + nameLength));
}

/** torch < 0.4 wrote a tar archive whose members are these records. */
const TORCH_TAR_MEMBERS = new Set(['sys_info', 'pickle', 'storages', 'tensors']);

function isTorchTar(head: Uint8Array): boolean {
  if (head.length < 262 || latin1(head.subarray(257, 262)) !== 'ustar') return false;
  const name = latin1(head.subarray(0, 100)).replace(/\0.*$/s, '');
  return TORCH_TAR_MEMBERS.has(name);
}

export const pytorchFormat: FormatHandler = {
  format: 'pytorch',
  extensions: ['.pt', '.pth', '.ckpt'],
  sniff(head: Uint8Array): boolean {
    if (startsWith(head, LEGACY_MAGIC)) return true;
    const first = firstZipEntryName(head);
    if (first !== undefined) return TORCH_ZIP_RECORD.test(first);
    // Claimed only so the user gets a clear UNSUPPORTED error.
    return isTorchTar(head);
  },
  open: openPyTorch,
};

export async function openPyTorch(path: string, options: OpenOptions = {}): Promise<WeightReader> {
  const src = openSource(path, options.volume);
  let head: Uint8Array;
  try {
    head = src.read(0, Math.min(512, src.size));
  } catch (e) {
    src.close();
    throw e;
  }
  if (startsWith(head, ZIP_MAGIC)) {
    src.close();
    return openZip(path, options);
  }
  if (startsWith(head, LEGACY_MAGIC)) {
    try {
      return openLegacy(path, src, options);
    } catch (e) {
      src.close();
      throw e;
    }
  }
  src.close();
  if (isTorchTar(head)) {
    throw new GraftError('UNSUPPORTED', 'is a tar-format PyTorch checkpoint (torch < 0.4); load it with an old torch and re-save it with torch.save(state_dict, path)', { file: path });
  }
  throw new GraftError('UNKNOWN_FORMAT', 'is neither a zip nor a legacy PyTorch checkpoint', { file: path });
}

// ---------------------------------------------------------------------------------------------
// Where storages live, per container.

interface StorageBlob {
  /** Bytes available for the storage (the zip entry's size or the legacy record's size). */
  byteLength: number;
  read(offset: number, length: number, tensor: string): Uint8Array;
  /**
   * Fills `target` from `offset` straight from the file, where the record is stored as is (a
   * stored zip entry, a legacy record); `sweep` as in StridedRange. Absent for deflated records.
   */
  readInto?(offset: number, target: Uint8Array, tensor: string, sweep: boolean): void;
  /** For a sweep's read that reached the end of the tensor's data: finishes the record's check. */
  finishSweep?(): void;
  /** Where the record's bytes start in the file, with readInto. */
  fileOffset?(): number;
}

/** A storage type as named in a persistent id, checked. */
function storageTypeOf(value: unknown, file: string): TorchStorageType {
  if (value instanceof PyGlobal && value.value instanceof TorchStorageType) return value.value;
  throw new GraftError('CORRUPT', 'persistent id names no storage type', { file });
}

function checkedInt(value: unknown, what: string, file: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new GraftError('CORRUPT', `persistent id has an invalid ${what} (${keyText(value)})`, { file });
  }
  return value;
}

function storageKey(value: unknown, file: string): string {
  if (typeof value === 'string' && value.length > 0 && value.length <= 256) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw new GraftError('CORRUPT', 'persistent id has an invalid storage key', { file });
}

// ---------------------------------------------------------------------------------------------
// Zip container.

async function openZip(path: string, options: OpenOptions): Promise<WeightReader> {
  const zip = ZipArchive.open(path, options.volume);
  try {
    const pkl = zip.entries
      .filter((e) => e.name === 'data.pkl' || e.name.endsWith('/data.pkl'))
      .sort((a, b) => a.name.split('/').length - b.name.split('/').length)[0];
    if (!pkl) {
      throw new GraftError('UNKNOWN_FORMAT', 'is a zip archive without a data.pkl record, so not a torch.save checkpoint', { file: path });
    }
    const prefix = pkl.name.slice(0, pkl.name.length - 'data.pkl'.length);
    const byteorder = readByteorder(zip, prefix, path);
    const storages = new Map<string, TorchStorage>();
    const persistentLoad = (pid: unknown): unknown => {
      if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
        throw new GraftError('CORRUPT', `unknown persistent id ${describe(pid)}`, { file: path });
      }
      const type = storageTypeOf(pid[1], path);
      const key = storageKey(pid[2], path);
      const numel = checkedInt(pid[4], 'element count', path);
      return sharedStorage(storages, new TorchStorage(key, type, numel, locationText(pid[3])), path);
    };
    const { value } = unpickleOrCorrupt(zip.readLimited(pkl, MAX_PICKLE_BYTES, 'pickle'), path, persistentLoad);
    const blobs = new Map<string, StorageBlob>();
    const blobFor = (storage: TorchStorage, tensor: string): StorageBlob => {
      let blob = blobs.get(storage.key);
      if (!blob) {
        const entry: ZipEntry | undefined = zip.entry(`${prefix}data/${storage.key}`);
        if (!entry) throw new GraftError('CORRUPT', `storage record '${printable(`${prefix}data/${storage.key}`)}' is missing from the archive`, { file: path, tensor });
        // keep: a deflated storage is inflated once, however many views read from it.
        blob = { byteLength: entry.uncompressedSize, read: (offset, length) => zip.readRange(entry, offset, length, { keep: true }) };
        if (entry.method === METHOD_STORED) {
          // A sweep starting at the record's start defers its CRC-32 to the end (see StridedRange).
          blob.readInto = (offset, target, _t, sweep) => zip.readStoredInto(entry, offset, target, { deferCheck: sweep && (offset === 0 || zip.checkingFrontToBack(entry)) });
          blob.finishSweep = () => zip.finishStoredCheck(entry);
          blob.fileOffset = () => zip.dataOffset(entry);
        }
        blobs.set(storage.key, blob);
      }
      return blob;
    };
    return makeReader(path, value, options, {
      container: 'zip',
      byteorder,
      // Stored records fit in the file; deflated ones in the archive's inflate budget.
      maxRecordBytes: Math.max(zip.fileSize, Math.min(zip.fileSize * MAX_DEFLATE_RATIO, zip.inflateBudget)),
      prefix: prefix.replace(/\/$/, ''),
      blobFor,
      close: () => zip.close(),
    });
  } catch (e) {
    zip.close();
    throw e;
  }
}

function readByteorder(zip: ZipArchive, prefix: string, path: string): 'little' | 'big' {
  const entry = zip.entry(`${prefix}byteorder`);
  if (!entry) return 'little';
  if (entry.uncompressedSize > 16) throw new GraftError('CORRUPT', `byteorder record is ${entry.uncompressedSize} bytes long`, { file: path });
  const text = latin1(zip.read(entry)).trim();
  if (text !== 'little' && text !== 'big') throw new GraftError('CORRUPT', `byteorder record says '${printable(text, 16)}'`, { file: path });
  return text;
}

/** One storage object per key, so tensors sharing a storage share it here too. */
function sharedStorage(storages: Map<string, TorchStorage>, storage: TorchStorage, path: string): TorchStorage {
  const known = storages.get(storage.key);
  if (!known) {
    storages.set(storage.key, storage);
    return storage;
  }
  if (known.type.elementBytes !== storage.type.elementBytes || known.numel !== storage.numel) {
    throw new GraftError('CORRUPT', `storage '${printable(storage.key)}' is described twice with different types or sizes`, { file: path });
  }
  return known;
}

function unpickleOrCorrupt(bytes: Uint8Array, path: string, persistentLoad: (pid: unknown) => unknown, offset = 0) {
  try {
    return unpickle(bytes, { file: path, persistentLoad, offset });
  } catch (e) {
    if (e instanceof PickleTruncated) throw new GraftError('CORRUPT', `pickle data is truncated (${e.message})`, { file: path });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Legacy container: magic, protocol version, sys_info, object, storage keys, then per storage
// an int64 element count and the raw little-endian elements.

interface LegacyRoot {
  type: TorchStorageType;
  numel: number;
}

function openLegacy(path: string, src: ByteSource, options: OpenOptions): WeightReader {
  let window = Math.min(src.size, LEGACY_FIRST_WINDOW);
  for (;;) {
    const bytes = src.read(0, window);
    try {
      return parseLegacy(path, src, bytes, options);
    } catch (e) {
      if (!(e instanceof PickleTruncated)) throw e;
      if (window >= src.size) throw new GraftError('CORRUPT', `pickle data is truncated (${e.message})`, { file: path });
      window = Math.min(src.size, window * 2);
    }
  }
}

function parseLegacy(path: string, src: ByteSource, bytes: Uint8Array, options: OpenOptions): WeightReader {
  const noPersistent = (): never => {
    throw new GraftError('CORRUPT', 'legacy header pickle holds a persistent id', { file: path });
  };
  const magic = unpickle(bytes, { file: path, persistentLoad: noPersistent });
  if (magic.value !== LEGACY_MAGIC_NUMBER) throw new GraftError('CORRUPT', 'legacy magic number is wrong', { file: path });
  const protocol = unpickle(bytes, { file: path, persistentLoad: noPersistent, offset: magic.end });
  if (protocol.value !== LEGACY_PROTOCOL_VERSION) {
    throw new GraftError('UNSUPPORTED', `legacy protocol version ${keyText(protocol.value)} (only ${LEGACY_PROTOCOL_VERSION} exists)`, { file: path });
  }
  const sysInfo = unpickle(bytes, { file: path, persistentLoad: noPersistent, offset: protocol.end });

  const roots = new Map<string, LegacyRoot>();
  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown): unknown => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 6) {
      throw new GraftError('CORRUPT', `unknown persistent id ${describe(pid)}`, { file: path });
    }
    const type = storageTypeOf(pid[1], path);
    const rootKey = storageKey(pid[2], path);
    const rootNumel = checkedInt(pid[4], 'element count', path);
    const known = roots.get(rootKey);
    if (known && (known.numel !== rootNumel || known.type.elementBytes !== type.elementBytes)) {
      throw new GraftError('CORRUPT', `storage '${printable(rootKey)}' is described twice with different sizes`, { file: path });
    }
    roots.set(rootKey, { type, numel: rootNumel });
    const view = pid[5];
    if (view === null || view === undefined) return sharedStorage(storages, new TorchStorage(rootKey, type, rootNumel, locationText(pid[3])), path);
    // A view of the root storage: (view_key, element offset, element count).
    if (!Array.isArray(view) || view.length < 3) throw new GraftError('CORRUPT', 'storage view metadata is malformed', { file: path });
    const offset = checkedInt(view[1], 'view offset', path);
    const size = checkedInt(view[2], 'view size', path);
    if (offset + size > rootNumel) throw new GraftError('CORRUPT', `storage view ${offset}+${size} exceeds its root storage of ${rootNumel} elements`, { file: path });
    return new TorchStorage(rootKey, type, size, locationText(pid[3]), offset);
  };
  const object = unpickle(bytes, { file: path, persistentLoad, offset: sysInfo.end });
  const keyList = unpickle(bytes, { file: path, persistentLoad: noPersistent, offset: object.end });
  if (!Array.isArray(keyList.value)) throw new GraftError('CORRUPT', 'legacy storage key list is not a list', { file: path });

  // Walk the storage records, checking each against the file size before going on.
  const records = new Map<string, { offset: number; byteLength: number }>();
  let pos = keyList.end;
  for (const rawKey of keyList.value) {
    const key = storageKey(rawKey, path);
    const root = roots.get(key);
    if (!root) throw new GraftError('CORRUPT', `legacy storage '${printable(key)}' is listed but never used by a tensor`, { file: path });
    const countBytes = src.read(pos, 8);
    const count = new DataView(countBytes.buffer, countBytes.byteOffset, 8).getBigInt64(0, true);
    if (count !== BigInt(root.numel)) {
      throw new GraftError('CORRUPT', `legacy storage '${printable(key)}' records ${count} elements where the pickle says ${root.numel}`, { file: path });
    }
    const byteLength = root.numel * root.type.elementBytes;
    if (pos + 8 + byteLength > src.size) {
      throw new GraftError('CORRUPT', `legacy storage '${printable(key)}' (${byteLength} bytes at ${pos + 8}) runs past the end of the file (size ${src.size}); the file is truncated`, { file: path });
    }
    records.set(key, { offset: pos + 8, byteLength });
    pos += 8 + byteLength;
  }
  const blobFor = (storage: TorchStorage, tensor: string): StorageBlob => {
    const rec = records.get(storage.key);
    if (!rec) throw new GraftError('CORRUPT', `storage '${printable(storage.key)}' has no data record`, { file: path, tensor });
    return {
      byteLength: rec.byteLength,
      read: (offset, length, t) => src.read(rec.offset + offset, length, t),
      readInto: (offset, target, t) => src.readInto(rec.offset + offset, target, t),
      fileOffset: () => rec.offset,
    };
  };
  return makeReader(path, object.value, options, { container: 'legacy', byteorder: 'little', maxRecordBytes: src.size, blobFor, close: () => src.close() });
}

// ---------------------------------------------------------------------------------------------
// The reader over the unpickled object.

interface Container {
  container: 'zip' | 'legacy';
  byteorder: 'little' | 'big';
  prefix?: string;
  /** The most bytes any storage record in this container could hold (from the file's real size). */
  maxRecordBytes: number;
  blobFor(storage: TorchStorage, tensor: string): StorageBlob;
  close(): void;
}

interface Entry {
  info: TensorInfo;
  tensor: TorchTensor;
}

function makeReader(path: string, root: unknown, options: OpenOptions, c: Container): WeightReader {
  const picked = pickStateDict(root, options.key, path);
  const entries = new Map<string, Entry>();
  const skipped: string[] = [];
  let names = [...picked.dict.entries].filter(([, v]) => v instanceof TorchTensor).map(([k]) => tensorKey(k, path));
  const stripped = commonPrefixToStrip(names);
  for (const [k, v] of picked.dict.entries) {
    if (!(v instanceof TorchTensor)) continue;
    const name = tensorKey(k, path).slice(stripped.length);
    const dtype = v.storage.type.dtype;
    if (!dtype) {
      skipped.push(`${name} (${v.storage.type.name})`);
      continue;
    }
    if (entries.has(name)) throw new GraftError('CORRUPT', 'two tensors share this name', { file: path, tensor: name });
    const info = tensorInfo(name, dtype, v.shape, path);
    checkClaims(v, info, c.maxRecordBytes, path);
    entries.set(name, { info, tensor: v });
  }
  names = [...entries.keys()];
  let closed = false;
  /** The last tensor decoded whole for strided reads (a view that is not one run of its record). */
  let decoded: { name: string; data: Uint8Array } | undefined;
  const readWhole = (name: string): RawTensor => {
    const entry = entries.get(name);
    if (!entry) throw new GraftError('NOT_FOUND', 'no such tensor in the checkpoint', { file: path, tensor: name });
    const { info, tensor } = entry;
    const data = readStrided(tensor, info, c.blobFor(tensor.storage, name), path);
    if (c.byteorder === 'big') byteSwapInPlace(data, tensor.storage.type.elementBytes);
    return rawTensor(info, data, path);
  };
  const metadata: Record<string, unknown> = { container: c.container, byteorder: c.byteorder, key: picked.key };
  if (c.prefix !== undefined) metadata.prefix = c.prefix;
  if (stripped) metadata.strippedPrefix = stripped;
  if (skipped.length) metadata.skipped = skipped;
  if (picked.otherCandidates.length) metadata.otherCandidates = picked.otherCandidates;
  return {
    format: 'pytorch',
    path,
    convention: 'torch',
    metadata,
    list: () => names.map((n) => entries.get(n)!.info),
    async read(name: string): Promise<RawTensor> {
      return readWhole(name);
    },
    async readStrided(name: string, r: StridedRange, target: Uint8Array): Promise<void> {
      this.readStridedSync(name, r, target);
    },
    /**
     * Runs of a contiguous little-endian tensor in a stored record come straight from the file;
     * other views (and deflated records) are decoded whole once, kept until another is.
     */
    readStridedSync(name: string, r: StridedRange, target: Uint8Array): void {
      const entry = entries.get(name);
      if (!entry) throw new GraftError('NOT_FOUND', 'no such tensor in the checkpoint', { file: path, tensor: name });
      const { info, tensor } = entry;
      if (!checkStridedRead(r, info.byteSize, target, path, name)) return;
      const { start, runBytes, stride, count } = r;
      const blob = c.blobFor(tensor.storage, name);
      if (blob.readInto && c.byteorder === 'little' && isContiguous(tensor.shape, tensor.stride)) {
        checkView(tensor, info, blob, path);
        const base = (tensor.storage.elementOffset + tensor.storageOffset) * tensor.storage.type.elementBytes;
        const sweep = r.sweep === true;
        for (let i = 0; i < count; i++) {
          const run = count === 1 && target.length === runBytes ? target : target.subarray(i * runBytes, (i + 1) * runBytes);
          blob.readInto(base + start + i * stride, run, name, sweep);
        }
        if (sweep && start + (count - 1) * stride + runBytes === info.byteSize) blob.finishSweep?.();
        return;
      }
      if (decoded?.name !== name) {
        decoded = undefined;
        decoded = { name, data: readWhole(name).data };
      }
      copyRuns(decoded.data, r, target);
    },
    dataOffset(name: string): number | undefined {
      const entry = entries.get(name);
      if (!entry || c.byteorder !== 'little' || !isContiguous(entry.tensor.shape, entry.tensor.stride)) return undefined;
      const blob = c.blobFor(entry.tensor.storage, name);
      if (!blob.fileOffset) return undefined;
      return blob.fileOffset() + (entry.tensor.storage.elementOffset + entry.tensor.storageOffset) * entry.tensor.storage.type.elementBytes;
    },
    async close() {
      decoded = undefined;
      if (!closed) {
        closed = true;
        c.close();
      }
    },
  } as WeightReader & Required<ReadsStrided>;
}

/** 'module.' (DataParallel) or '_orig_mod.' (torch.compile) when every name carries it. */
function commonPrefixToStrip(names: string[]): string {
  for (const p of ['module.', '_orig_mod.']) {
    if (names.length > 0 && names.every((n) => n.startsWith(p) && n.length > p.length)) return p;
  }
  return '';
}

/** A view repeating storage elements (stride 0, overlaps) may decode to at most this many bytes. */
const MAX_EXPANDED_BYTES = 64 * 1024 * 1024;
/** Deflate's best ratio: no zip record can hold more than this many bytes per stored byte. */
const MAX_DEFLATE_RATIO = 1032;

/**
 * When the checkpoint is opened: a storage, or a tensor, claiming more bytes than the whole file
 * could hold is refused at once, so `graft inspect` never lists terabyte tensors from a
 * kilobyte file. The exact record sizes are checked on read (checkView).
 */
function checkClaims(tensor: TorchTensor, info: TensorInfo, maxRecordBytes: number, path: string): void {
  const ctx = { file: path, tensor: info.name };
  const storageBytes = (tensor.storage.elementOffset + tensor.storage.numel) * tensor.storage.type.elementBytes;
  if (storageBytes > maxRecordBytes) {
    throw new GraftError('CORRUPT', `storage '${printable(tensor.storage.key)}' claims ${storageBytes} bytes, more than the file could hold (${maxRecordBytes})`, ctx);
  }
  if (info.byteSize > Math.max(maxRecordBytes, MAX_EXPANDED_BYTES)) {
    throw new GraftError('CORRUPT', `shape [${info.shape.join(', ')}] claims ${info.byteSize} bytes, more than the file could hold (${maxRecordBytes})`, ctx);
  }
}

/**
 * Checks a tensor's view against its storage, and the storage against the bytes its record
 * holds, without reading anything. Returns the element count and the bytes the view spans.
 * Readers call it when the file is opened, so a damaged header fails there, not mid-conversion.
 */
export function checkView(tensor: TorchTensor, info: TensorInfo, blob: StorageBlob, path: string): { count: number; spanBytes: number } {
  const ctx = { file: path, tensor: info.name };
  const { shape, stride, storageOffset, storage } = tensor;
  const es = storage.type.elementBytes;
  const count = elementCount(shape, ctx);
  if (stride.some((s) => !Number.isSafeInteger(s) || s < 0)) throw new GraftError('CORRUPT', `has invalid strides [${stride.join(', ')}]`, ctx);
  const storageBytes = storage.numel * es;
  const needed = (storage.elementOffset + storage.numel) * es;
  if (!Number.isSafeInteger(needed) || needed > blob.byteLength) {
    throw new GraftError('CORRUPT', `storage '${printable(storage.key)}' needs ${needed} bytes but its record holds ${blob.byteLength}`, ctx);
  }
  if (count === 0) return { count, spanBytes: 0 };
  let last = storageOffset;
  for (let i = 0; i < shape.length; i++) last += (shape[i] - 1) * stride[i];
  if (!Number.isSafeInteger(last) || last >= storage.numel) {
    throw new GraftError('CORRUPT', `view (offset ${storageOffset}, shape [${shape.join(', ')}], strides [${stride.join(', ')}]) reaches element ${last} of a storage holding ${storage.numel}`, ctx);
  }
  const spanBytes = (last - storageOffset + 1) * es;
  if (spanBytes > storageBytes) throw new GraftError('CORRUPT', 'view spans more than its storage', ctx);
  if (count * es > spanBytes && count * es > MAX_EXPANDED_BYTES) {
    throw new GraftError('UNSUPPORTED', `view repeats ${spanBytes} stored bytes into ${count * es} (strides [${stride.join(', ')}]); graft expands such views up to ${MAX_EXPANDED_BYTES} bytes`, ctx);
  }
  return { count, spanBytes };
}

/**
 * Gathers a strided view of a storage into contiguous C-order bytes, after checking that every
 * element it reaches lies inside the storage and the storage inside its blob.
 */
export function readStrided(tensor: TorchTensor, info: TensorInfo, blob: StorageBlob, path: string): Uint8Array {
  const { shape, stride, storageOffset, storage } = tensor;
  const es = storage.type.elementBytes;
  const { count, spanBytes } = checkView(tensor, info, blob, path);
  if (count === 0) return new Uint8Array(0);
  const span = blob.read((storage.elementOffset + storageOffset) * es, spanBytes, info.name);
  if (isContiguous(shape, stride)) return span.length === count * es ? span : span.slice(0, count * es);
  return gather(span, shape, stride, es, count);
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

/** Copies elements of a strided view (element 0 at span offset 0) into C order. */
function gather(span: Uint8Array, shape: number[], stride: number[], es: number, count: number): Uint8Array {
  const out = new Uint8Array(count * es);
  const rank = shape.length;
  const innerSize = shape[rank - 1];
  const innerStride = stride[rank - 1];
  const index = new Array<number>(rank - 1).fill(0);
  let base = 0; // element offset of the current row
  let o = 0;
  for (;;) {
    if (innerStride === 1) {
      out.set(span.subarray(base * es, (base + innerSize) * es), o);
      o += innerSize * es;
    } else {
      for (let j = 0, e = base; j < innerSize; j++, e += innerStride) {
        for (let b = 0; b < es; b++) out[o++] = span[e * es + b];
      }
    }
    // Advance the outer odometer.
    let k = rank - 2;
    for (; k >= 0; k--) {
      index[k]++;
      base += stride[k];
      if (index[k] < shape[k]) break;
      base -= stride[k] * shape[k];
      index[k] = 0;
    }
    if (k < 0) break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Finding the state dict inside whatever was saved.

interface Picked {
  dict: PyDict;
  key: string | undefined;
  otherCandidates: string[];
}

function tensorCount(d: PyDict): number {
  let n = 0;
  for (const v of d.entries.values()) if (v instanceof TorchTensor) n++;
  return n;
}

export function pickStateDict(root: unknown, key: string | undefined, path: string): Picked {
  if (key !== undefined && key !== '') {
    const found = followKey(root, key, path);
    if (tensorCount(found) === 0) throw new GraftError('USAGE', `key '${key}' holds no tensors`, { file: path });
    return { dict: found, key, otherCandidates: [] };
  }
  if (!(root instanceof PyDict)) {
    throw new GraftError('UNSUPPORTED', `holds a ${describe(root)} rather than a dict of tensors (a state dict)`, { file: path });
  }
  // All dicts holding tensors, breadth first, with their dotted key paths.
  const candidates: { path: string; dict: PyDict; count: number }[] = [];
  const seen = new Set<unknown>();
  let level: { path: string; dict: PyDict }[] = [{ path: '', dict: root }];
  for (let depth = 0; depth < MAX_SEARCH_DEPTH && level.length; depth++) {
    const next: typeof level = [];
    for (const { path: p, dict } of level) {
      if (seen.has(dict)) continue;
      seen.add(dict);
      const count = tensorCount(dict);
      if (count) candidates.push({ path: p, dict, count });
      for (const [k, v] of dict.entries) {
        if (v instanceof PyDict) next.push({ path: p ? `${p}.${keyText(k)}` : keyText(k), dict: v });
      }
    }
    level = next;
  }
  if (candidates.length === 0) {
    throw new GraftError('UNSUPPORTED', 'holds no tensors (expected a state dict, or a checkpoint dict containing one)', { file: path });
  }
  const rootCandidate = candidates.find((c) => c.path === '');
  let chosen: (typeof candidates)[number] | undefined;
  for (const k of COMMON_KEYS) {
    chosen = candidates.find((c) => c.path === k);
    if (chosen) break;
  }
  // A state dict at the top wins over a common key only when the top holds more tensors.
  if (rootCandidate && (!chosen || rootCandidate.count >= chosen.count)) chosen = rootCandidate;
  if (!chosen) chosen = candidates.reduce((a, b) => (b.count > a.count ? b : a));
  return {
    dict: chosen.dict,
    key: chosen.path || undefined,
    otherCandidates: candidates.filter((c) => c !== chosen).map((c) => c.path || '(top level)'),
  };
}

/** Follows a dotted key path; a key may itself contain dots, so the longest matching key wins. */
function followKey(root: unknown, key: string, path: string): PyDict {
  let node: unknown = root;
  let rest = key;
  while (rest) {
    if (!(node instanceof PyDict)) throw new GraftError('USAGE', `key '${key}' does not lead to a dict`, { file: path });
    const dict: PyDict = node;
    const parts = rest.split('.');
    let matched = false;
    for (let n = parts.length; n >= 1; n--) {
      const k = parts.slice(0, n).join('.');
      const child = lookup(dict, k);
      if (child !== undefined) {
        node = child;
        rest = parts.slice(n).join('.');
        matched = true;
        break;
      }
    }
    if (!matched) {
      const available = printable([...dict.entries.keys()].slice(0, 20).map(keyText).join(', '), 400);
      throw new GraftError('USAGE', `key '${key}' not found (available here: ${available})`, { file: path });
    }
  }
  if (!(node instanceof PyDict)) throw new GraftError('USAGE', `key '${key}' does not hold a dict of tensors`, { file: path });
  return node;
}

function lookup(d: PyDict, k: string): unknown {
  if (d.entries.has(k)) return d.entries.get(k);
  for (const [key, v] of d.entries) if (keyText(key) === k) return v;
  return undefined;
}

/**
 * A dict key as text without String(): a crafted key may be a list nested thousands deep (String
 * recurses) or one list referenced a million times (String is exponential).
 */
function keyText(k: unknown): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return String(k);
  return `<${describe(k)}>`;
}

/** The name of a tensor in a state dict: a string (or an int, as some exporters write). */
function tensorKey(k: unknown, path: string): string {
  if (typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint') return String(k);
  throw new GraftError('CORRUPT', `state dict has a tensor under a key that is a ${describe(k)}, not a name`, { file: path });
}

/** A storage's device location ('cpu', 'cuda:0'); anything else is kept as a placeholder. */
function locationText(v: unknown): string {
  return typeof v === 'string' ? v.slice(0, 64) : '<not a string>';
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list/tuple';
  if (v instanceof PyDict) return v.className;
  if (v instanceof TorchTensor) return 'single tensor';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

