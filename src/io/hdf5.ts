import type * as H5 from 'h5wasm';
import { GraftError } from '../errors';
import { DTYPE_BYTES, DType } from './tensor';
import { elementCount, openSource, printable, readHead, statRegularFile } from './bytes';
import { diskPathOf, importH5wasm } from './h5wasm-load';
import * as posix from './posix';
import { checkRange, type ByteSource, type Volume } from './volume';
import { BytesSource, NativeHdf5, NotNative } from './hdf5-native';
import { MAX_HDF5_CHUNK_BYTES, budgetError, inflateBudget, mib } from './budget';

/**
 * HDF5 access (Hdf5File, at the end): graft's own parser (io/hdf5-native.ts) for what h5py and
 * Keras write, and as its fallback a thin, read-only wrapper over h5wasm: its Node build for files
 * on disk (read on demand rather than copied into wasm memory), its ES-module build's in-memory
 * file system for bytes held in memory (io/h5wasm-load.ts), loaded only when a file needs it.
 * Every failure becomes a GraftError naming the file.
 */

type H5Api = typeof H5.default;
type H5Module = Awaited<H5Api['ready']>;

/** HDF5 files start with this signature, at offset 0 or after a user block of 512·2^k bytes. */
export const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** Largest slice read through wasm memory at once; h5wasm's heap is capped at 2 GiB. */
const SLICE_BYTES = 256 * 1024 * 1024;
/**
 * HDF5's only built-in compression (deflate) cannot expand data more than ~1032:1, so a
 * dataset decoding to more than this multiple of the file's size (plus some slack) claims
 * data the file does not hold (a crafted dataspace, or unwritten chunks read as fill values).
 */
const MAX_EXPANSION = 1032;
const EXPANSION_SLACK = 1 << 20;

/**
 * Files HDF5 may open: those graft opened itself (absolute path → open count). h5wasm reaches
 * the whole disk (NODERAWFS), and an HDF5 file can name other files: external links, datasets
 * with external raw storage, virtual datasets. Every other open is refused and remembered, so
 * the operation that tried it fails with UNSAFE.
 */
const openable = new Map<string, number>();
let refusedOpen: string | undefined;

/** The parts of Emscripten's FS the in-memory build is used through. */
interface MemoryFs {
  analyzePath(path: string): { exists: boolean };
  mkdir(path: string): void;
  writeFile(path: string, data: Uint8Array, options?: { canOwn?: boolean }): void;
  unlink(path: string): void;
}

interface EmscriptenFs {
  open(path: unknown, ...rest: unknown[]): unknown;
  ErrnoError: new (errno: number) => Error;
}

/** Emscripten's EACCES (its errno numbering differs from Linux). */
const EMSCRIPTEN_EACCES = 2;
/** O_CREAT | O_EXCL (musl values, as Emscripten uses). */
const O_CREAT_EXCL = 0o100 | 0o200;

function confineFileAccess(module: H5Module): void {
  const fsApi = (module as unknown as { FS?: EmscriptenFs }).FS;
  if (!fsApi || typeof fsApi.open !== 'function') {
    throw new Error('h5wasm exposes no FS.open to confine; refusing to read HDF5 files unconfined');
  }
  // HDF5 looks for filter plugins here when a dataset names a filter it lacks. Plugins are code:
  // they are never loaded either, but that lookup means an unknown filter (CORRUPT), not UNSAFE.
  let pluginDirs: string[] = [];
  try {
    pluginDirs = (module as unknown as { get_plugin_search_paths(): string[] }).get_plugin_search_paths().map((d) => posix.normalize(d));
  } catch {
    pluginDirs = [];
  }
  const open = fsApi.open;
  fsApi.open = function confinedOpen(this: unknown, p: unknown, flags?: unknown, ...rest: unknown[]) {
    // graft opens files by absolute path; a relative name (from a link inside a file) matches none.
    const target = typeof p === 'string' ? (posix.isAbsolute(p) ? posix.normalize(p) : p) : undefined;
    // A file created here and now (the error handler's tmpfile) cannot reveal anything.
    const createsNew = typeof flags === 'number' && (flags & O_CREAT_EXCL) === O_CREAT_EXCL;
    if (!createsNew && (target === undefined || !openable.has(target))) {
      const plugin = target !== undefined && pluginDirs.some((d) => target === d || target.startsWith(`${d}/`));
      if (!plugin) refusedOpen ??= typeof p === 'string' ? p : '(unnamed)';
      throw new fsApi.ErrnoError(EMSCRIPTEN_EACCES);
    }
    return open.call(this, p, flags, ...rest);
  };
}

function allowOpen(p: string): void {
  openable.set(p, (openable.get(p) ?? 0) + 1);
}

function disallowOpen(p: string): void {
  const n = (openable.get(p) ?? 1) - 1;
  if (n <= 0) openable.delete(p);
  else openable.set(p, n);
}

// HDF5 type classes (H5T_class_t) as h5wasm reports them in metadata.type.
const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const H5T_ENUM = 8;

const loading: { disk?: Promise<{ api: H5Api; module: H5Module }>; memory?: Promise<{ api: H5Api; module: H5Module }> } = {};

async function loadH5wasm(build: 'disk' | 'memory' = 'disk'): Promise<{ api: H5Api; module: H5Module }> {
  if (!loading[build]) {
    loading[build] = (async () => {
      const api = await importH5wasm(build);
      const module = await api.ready;
      // Turn HDF5's stderr diagnostics into JS exceptions we can translate.
      (module as unknown as { activate_throwing_error_handler(): number }).activate_throwing_error_handler();
      confineFileAccess(module);
      return { api, module };
    })();
  }
  return loading[build]!;
}

/** Names of files written into the in-memory build's file system, unique per open. */
let memoryFiles = 0;

/** The innermost reason of an HDF5 error stack ("truncated file: eof = …", "Not an HDF5 file"). */
export function hdf5Reason(e: unknown): string {
  const text = e instanceof Error ? e.message : typeof e === 'string' ? e : String(e);
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const frames = lines.filter((l) => /^#\d+:/.test(l));
  const last = frames[frames.length - 1];
  if (last) {
    const m = /\(\):\s*(.*)$/.exec(last);
    if (m && m[1]) return m[1];
  }
  return lines[lines.length - 1] ?? 'unknown HDF5 error';
}

/** Offset of the HDF5 signature: 0, 512, 1024, 2048, … (user blocks), within `head`. */
export function hdf5MagicOffset(head: Uint8Array): number | undefined {
  for (let off = 0; off + HDF5_MAGIC.length <= head.length; off = off === 0 ? 512 : off * 2) {
    let hit = true;
    for (let i = 0; i < HDF5_MAGIC.length; i++) {
      if (head[off + i] !== HDF5_MAGIC[i]) {
        hit = false;
        break;
      }
    }
    if (hit) return off;
  }
  return undefined;
}

/** HDF5 signature at 0 or after a user block; looks past a short head when the extension hints HDF5. */
export function sniffHdf5(head: Uint8Array, filePath: string, volume?: Volume): boolean {
  if (hdf5MagicOffset(head) !== undefined) return true;
  if (!/\.(h5|hdf5|keras)$/i.test(filePath) || head.length < 512) return false;
  try {
    return hdf5MagicOffset(readHead(filePath, 1 << 20, volume)) !== undefined;
  } catch {
    return false;
  }
}

export interface Hdf5DatasetInfo {
  dtype: DType;
  shape: number[];
}

export type AttrValue = string | number | boolean | bigint | string[] | number[] | undefined;

/** The h5wasm backend of Hdf5File: files graft's own parser declines (chunked or filtered data, …). */
class WasmHdf5 {
  /** The name errors give: the path, or what the user knows it as (a member of a .keras zip). */
  readonly path: string;
  private file: H5.File | null;
  private readonly api: H5Api;
  private readonly module: H5Module;
  private readonly diskPath: string;
  private readonly size: number;
  /** Bytes of dataset data decoded so far (see readRaw). */
  private decoded = 0;
  /** Datasets readBlockInto has counted in `decoded`. */
  private readonly charged = new Set<string>();
  /** readBlockInto's buffer in wasm memory, reused across pieces; grows only. */
  private scratch = { ptr: 0, bytes: 0 };

  /** Removes what open put into wasm memory (a file held in memory), after close. */
  private readonly release?: () => void;

  private constructor(path: string, file: H5.File, api: H5Api, module: H5Module, diskPath: string, size: number, release?: () => void) {
    this.release = release;
    this.path = path;
    this.file = file;
    this.api = api;
    this.module = module;
    this.diskPath = diskPath;
    this.size = size;
  }

  /**
   * Opens read-only. Missing files are NOT_FOUND; anything HDF5 cannot parse is CORRUPT.
   * `displayName` replaces the path in error messages (an extracted temporary file).
   */
  static async open(path: string, displayName: string = path, volume?: Volume): Promise<WasmHdf5> {
    if (volume?.bytes) return WasmHdf5.openBytes(volume.bytes(path), displayName);
    // h5wasm aborts unhelpfully on some inputs it cannot open, so check the path ourselves first.
    const stat = statRegularFile(path, volume);
    const diskPath = diskPathOf(path);
    const { api, module } = await loadH5wasm('disk');
    allowOpen(diskPath);
    refusedOpen = undefined;
    let file: H5.File;
    try {
      file = new api.File(diskPath, 'r');
    } catch (e) {
      disallowOpen(diskPath);
      throw refusal(displayName) ?? new GraftError('CORRUPT', `not a readable HDF5 file (${printable(hdf5Reason(e))})`, { file: displayName });
    }
    return new WasmHdf5(displayName, file, api, module, diskPath, stat.size);
  }

  /**
   * Opens an HDF5 file held in memory, through the in-memory file system of h5wasm's ES-module
   * build (the only one a browser has). The file system shares `bytes` rather than copying them,
   * and holds only the files graft put there; the same confinement refuses links to any other.
   */
  static async openBytes(bytes: Uint8Array, displayName: string): Promise<WasmHdf5> {
    const { api, module } = await loadH5wasm('memory');
    const memFs = (module as unknown as { FS: MemoryFs }).FS;
    const dir = '/graft-memory';
    const memPath = `${dir}/${++memoryFiles}.h5`;
    if (!memFs.analyzePath(dir).exists) memFs.mkdir(dir);
    allowOpen(memPath); // before writing: the confinement refuses every open it was not told of
    // canOwn: the file system keeps a view of `bytes` instead of a copy (graft never writes it).
    memFs.writeFile(memPath, bytes, { canOwn: true });
    const release = () => memFs.unlink(memPath);
    refusedOpen = undefined;
    let file: H5.File;
    try {
      file = new api.File(memPath, 'r');
    } catch (e) {
      disallowOpen(memPath);
      release();
      throw refusal(displayName) ?? new GraftError('CORRUPT', `not a readable HDF5 file (${printable(hdf5Reason(e))})`, { file: displayName });
    }
    return new WasmHdf5(displayName, file, api, module, memPath, bytes.length, release);
  }

  /** Size of the file on disk, in bytes (budgets of readers walking it scale with it). */
  get fileSize(): number {
    return this.size;
  }

  /** Throws UNSAFE when the last HDF5 call tried to open a file other than this one. */
  private confined(): void {
    const e = refusal(this.path);
    if (e) throw e;
  }

  private get h5(): H5.File {
    if (!this.file) throw new Error(`Hdf5File ${this.path} used after close`);
    return this.file;
  }

  private entity(objPath: string): H5.Group | H5.Dataset | undefined {
    if (objPath === '' || objPath === '/') return this.h5;
    let got: unknown;
    try {
      got = this.h5.get(objPath);
    } catch {
      got = undefined;
    }
    this.confined();
    if (got instanceof this.api.Group || got instanceof this.api.Dataset) return got;
    return undefined;
  }

  kind(objPath: string): 'group' | 'dataset' | undefined {
    const e = this.entity(objPath);
    if (!e) return undefined;
    return e instanceof this.api.Dataset ? 'dataset' : 'group';
  }

  /** Child names of a group, or [] when it is absent or not a group. */
  keys(groupPath: string): string[] {
    const g = this.entity(groupPath);
    if (!g || !(g instanceof this.api.Group)) return [];
    let keys: string[];
    try {
      keys = g.keys();
    } catch (e) {
      throw this.corrupt(`group '${printable(groupPath)}' cannot be listed (${hdf5Reason(e)})`);
    }
    this.confined();
    return keys;
  }

  attrNames(objPath: string): string[] {
    const e = this.entity(objPath);
    if (!e) return [];
    let names: string[];
    try {
      names = Object.keys(e.attrs);
    } catch (err) {
      throw this.corrupt(`attributes of '${printable(objPath || '/')}' cannot be read (${hdf5Reason(err)})`);
    }
    this.confined();
    return names;
  }

  /**
   * One attribute, decoded: strings (fixed, variable or byte strings) as string, arrays of them
   * as string[], numbers as number / number[]. Undefined when absent.
   */
  attr(objPath: string, name: string): AttrValue {
    const e = this.entity(objPath);
    if (!e) return undefined;
    let value: unknown;
    try {
      const attrs = e.attrs;
      if (!(name in attrs)) return undefined;
      value = attrs[name].value;
    } catch (err) {
      throw this.corrupt(`attribute '${printable(name)}' of '${printable(objPath || '/')}' cannot be read (${hdf5Reason(err)})`);
    }
    this.confined();
    return normaliseAttr(value);
  }

  datasetInfo(objPath: string): Hdf5DatasetInfo {
    const d = this.entity(objPath);
    if (!d || !(d instanceof this.api.Dataset)) {
      throw this.corrupt(`dataset '${printable(objPath)}' does not exist`, objPath);
    }
    let meta: H5.Metadata;
    try {
      meta = d.metadata;
    } catch (e) {
      throw this.corrupt(`cannot be read (${hdf5Reason(e)})`, objPath);
    }
    const dtype = dtypeOf(meta);
    if (!dtype) {
      throw new GraftError('UNSUPPORTED', `has an HDF5 element type graft cannot read (class ${meta.type}, ${meta.size} bytes)`, { file: this.path, tensor: objPath });
    }
    if ((meta as { virtual_sources?: unknown }).virtual_sources !== undefined) {
      throw new GraftError('UNSAFE', 'is a virtual dataset, which maps data from other files; graft reads only the file it was given', { file: this.path, tensor: objPath });
    }
    const shape = (meta.shape ?? []).map(Number);
    // HDF5 decodes (or fills) whole chunks in wasm memory, whatever the selection: a 1 GiB chunk
    // behind a 16-byte dataset would exhaust the wasm heap. Sized from metadata, before any read.
    const chunks = (meta as { chunks?: number[] | null }).chunks;
    if (Array.isArray(chunks) && chunks.length) {
      const chunkBytes = elementCount(chunks.map(Number), { file: this.path, tensor: objPath }) * meta.size;
      if (chunkBytes > MAX_HDF5_CHUNK_BYTES) {
        throw budgetError(this.path, `dataset '${printable(objPath)}' is stored in chunks of ${mib(chunkBytes)}, which HDF5 decodes whole`, `${mib(MAX_HDF5_CHUNK_BYTES)} per HDF5 chunk`);
      }
    }
    const bytes = elementCount(shape, { file: this.path, tensor: objPath }) * DTYPE_BYTES[dtype];
    if (bytes > this.size * MAX_EXPANSION + EXPANSION_SLACK) {
      throw new GraftError('CORRUPT', `dataspace [${shape.join(', ')}] of ${dtype} claims ${bytes} bytes, more than a ${this.size}-byte file can hold even compressed`, { file: this.path, tensor: objPath });
    }
    return { dtype, shape };
  }

  /**
   * The dataset's elements as little-endian C-order bytes of its own type (h5wasm converts
   * big-endian storage). Large datasets are read in hyperslab slices to stay within wasm memory.
   */
  readRaw(objPath: string): Uint8Array {
    const { dtype, shape } = this.datasetInfo(objPath);
    const elementBytes = DTYPE_BYTES[dtype];
    const total = elementCount(shape) * elementBytes;
    // Like zip archives: what a run decodes from one file is bounded by the file's size (32×, at
    // least 64 MiB), so compressed chunks of zeros cannot turn a small file into gigabytes.
    const budget = inflateBudget(this.size);
    if (this.decoded + total > budget) {
      throw budgetError(this.path, `datasets would decode to more than ${mib(budget)} (dataset '${printable(objPath)}' of ${mib(total)} after ${mib(this.decoded)} already)`, `${mib(budget)} decoded per HDF5 file (32× its size, at least 64 MiB)`);
    }
    this.decoded += total;
    const out = new Uint8Array(total);
    if (total === 0) return out;
    const fullPath = objPath.startsWith('/') ? objPath : `/${objPath}`;
    if (total <= SLICE_BYTES || shape.length === 0) {
      this.readHyperslab(fullPath, null, null, out, 0, total);
      return out;
    }
    // Pick the outermost axis whose sub-blocks fit; iterate single indices on axes before it.
    let axis = 0;
    let inner = total / shape[0];
    while (inner > SLICE_BYTES && axis < shape.length - 1) {
      axis++;
      inner /= shape[axis];
    }
    const perStep = Math.max(1, Math.floor(SLICE_BYTES / inner));
    const outer = shape.slice(0, axis);
    const index = new Array(axis).fill(0);
    let written = 0;
    for (;;) {
      for (let start = 0; start < shape[axis]; start += perStep) {
        const n = Math.min(perStep, shape[axis] - start);
        const offset = [...index, start, ...shape.slice(axis + 1).map(() => 0)];
        const count = [...index.map(() => 1), n, ...shape.slice(axis + 1)];
        const bytes = n * inner;
        this.readHyperslab(fullPath, offset, count, out, written, bytes);
        written += bytes;
      }
      let k = axis - 1;
      for (; k >= 0; k--) {
        if (++index[k] < outer[k]) break;
        index[k] = 0;
      }
      if (k < 0) break;
    }
    return out;
  }

  /**
   * Fills `target` with the hyperslab `count` elements from `offset` (one per axis) of a dataset,
   * C-order little-endian bytes of its own type, through one reused buffer in wasm memory: a large
   * dataset streams in pieces without being held whole. The dataset counts against the decode
   * budget (see readRaw) in full on its first piece.
   */
  readBlockInto(objPath: string, offset: number[], count: number[], target: Uint8Array): void {
    const { dtype, shape } = this.datasetInfo(objPath);
    const ctx = { file: this.path, tensor: objPath };
    if (offset.length !== shape.length || count.length !== shape.length
      || shape.some((d, i) => !Number.isSafeInteger(offset[i]) || !Number.isSafeInteger(count[i]) || offset[i] < 0 || count[i] < 0 || offset[i] + count[i] > d)) {
      throw new GraftError('CORRUPT', `hyperslab [${offset.join(', ')}] + [${count.join(', ')}] lies outside dataspace [${shape.join(', ')}]`, ctx);
    }
    const bytes = count.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    if (bytes !== target.length) throw new Error(`internal: hyperslab of ${bytes} bytes read into ${target.length}`);
    if (!this.charged.has(objPath)) {
      const total = elementCount(shape) * DTYPE_BYTES[dtype];
      const budget = inflateBudget(this.size);
      if (this.decoded + total > budget) {
        throw budgetError(this.path, `datasets would decode to more than ${mib(budget)} (dataset '${printable(objPath)}' of ${mib(total)} after ${mib(this.decoded)} already)`, `${mib(budget)} decoded per HDF5 file (32× its size, at least 64 MiB)`);
      }
      this.decoded += total;
      this.charged.add(objPath);
    }
    if (bytes === 0) return;
    if (bytes > SLICE_BYTES) throw new GraftError('UNSUPPORTED', `a ${bytes}-byte slice is over the ${SLICE_BYTES}-byte HDF5 read limit`, ctx);
    const fullPath = objPath.startsWith('/') ? objPath : `/${objPath}`;
    this.readHyperslab(fullPath, shape.length ? offset : null, shape.length ? count : null, target, 0, bytes, true);
  }

  private readHyperslab(path: string, offset: number[] | null, count: number[] | null, out: Uint8Array, at: number, bytes: number, reuse = false): void {
    const m = this.module as unknown as {
      _malloc(n: number): number;
      _free(p: number): void;
      HEAPU8: Uint8Array;
      get_dataset_data(f: bigint, p: string, c: bigint[] | null, o: bigint[] | null, s: bigint[] | null, ptr: bigint): number;
    };
    if (reuse && this.scratch.bytes < bytes) {
      if (this.scratch.ptr) m._free(this.scratch.ptr);
      this.scratch = { ptr: 0, bytes: 0 };
      const grown = m._malloc(bytes);
      if (grown) this.scratch = { ptr: grown, bytes };
    }
    const ptr = reuse ? this.scratch.ptr : m._malloc(bytes);
    if (!ptr) throw new GraftError('UNSUPPORTED', `a ${bytes}-byte slice does not fit in HDF5 reader memory`, { file: this.path, tensor: path });
    try {
      const c = count ? count.map(BigInt) : null;
      const o = offset ? offset.map(BigInt) : null;
      const s = count ? count.map(() => 1n) : null;
      try {
        m.get_dataset_data(this.h5.file_id, path, c, o, s, BigInt(ptr));
      } catch (e) {
        throw this.corrupt(`data cannot be read (${hdf5Reason(e)})`, path);
      }
      this.confined();
      // HEAPU8 may be replaced when memory grows: read it after the call.
      out.set(m.HEAPU8.subarray(ptr, ptr + bytes), at);
    } finally {
      if (!reuse) m._free(ptr);
    }
  }

  private corrupt(message: string, tensor?: string): GraftError {
    return refusal(this.path, tensor) ?? new GraftError('CORRUPT', printable(message, 400), { file: this.path, tensor });
  }

  close(): void {
    if (this.scratch.ptr) (this.module as unknown as { _free(p: number): void })._free(this.scratch.ptr);
    this.scratch = { ptr: 0, bytes: 0 };
    if (this.file) {
      try {
        this.file.close();
      } catch {
        // Closing a file HDF5 already considers broken must not mask the original error.
      }
      this.file = null;
      disallowOpen(this.diskPath);
      this.release?.();
    }
  }
}

/** The UNSAFE error for a refused open since the last check (and clears it), if any. */
function refusal(file: string, tensor?: string): GraftError | undefined {
  const other = refusedOpen;
  if (other === undefined) return undefined;
  refusedOpen = undefined;
  return new GraftError('UNSAFE', `refers to another file ('${printable(other)}') through an HDF5 external link, external raw storage or virtual dataset; graft reads only the file it was given`, { file, tensor });
}

function dtypeOf(meta: H5.Metadata): DType | undefined {
  if (meta.vlen) return undefined;
  if (meta.type === H5T_FLOAT) {
    return meta.size === 2 ? 'float16' : meta.size === 4 ? 'float32' : meta.size === 8 ? 'float64' : undefined;
  }
  if (meta.type === H5T_INTEGER) {
    const table: Record<number, [DType, DType]> = { 1: ['int8', 'uint8'], 2: ['int16', 'uint16'], 4: ['int32', 'uint32'], 8: ['int64', 'uint64'] };
    const pair = table[meta.size];
    return pair ? (meta.signed ? pair[0] : pair[1]) : undefined;
  }
  // h5py stores numpy bool as a one-byte enum {FALSE: 0, TRUE: 1}.
  if (meta.type === H5T_ENUM && meta.size === 1) {
    const members = meta.enum_type?.members ?? {};
    const names = Object.keys(members).map((n) => n.toUpperCase()).sort();
    if (names.length === 2 && names[0] === 'FALSE' && names[1] === 'TRUE') return 'bool';
  }
  return undefined;
}

function normaliseAttr(value: unknown): AttrValue {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return value;
  if (value instanceof Uint8Array && !(value instanceof Uint8ClampedArray)) {
    // Opaque byte blobs: treat as UTF-8 text (Keras never stores binary attributes).
    return new TextDecoder('utf-8').decode(value);
  }
  if (ArrayBuffer.isView(value)) {
    return Array.from(value as unknown as ArrayLike<number | bigint>, (x) => Number(x));
  }
  if (Array.isArray(value)) {
    if (value.every((x) => typeof x === 'string')) return value as string[];
    if (value.every((x) => typeof x === 'number')) return value as number[];
    return value.map((x) => (x instanceof Uint8Array ? new TextDecoder().decode(x) : String(x)));
  }
  return String(value);
}

function toStringList(v: AttrValue): string[] | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.map(String);
  return [String(v)];
}

/**
 * Where the HDF5 signature sits in a file: at 0 or after a user block of 512·2^k bytes. One small
 * read per candidate, so a large file is never read whole to find it.
 */
function magicOffsetIn(source: ByteSource): number | undefined {
  for (let off = 0; off + HDF5_MAGIC.length <= source.size; off = off === 0 ? 512 : off * 2) {
    if (hdf5MagicOffset(source.read(off, HDF5_MAGIC.length)) === 0) return off;
  }
  return undefined;
}

/**
 * graft's parser (io/hdf5-native.ts) on a source, or why it declined. The source is closed when it
 * declines; GraftErrors (loops in the file's structure) pass through.
 */
function tryNative(source: ByteSource, displayName: string): NativeHdf5 | { declined: string } {
  try {
    const at = magicOffsetIn(source);
    if (at === undefined) {
      source.close();
      return { declined: 'no HDF5 signature' };
    }
    return NativeHdf5.open(source, displayName, at);
  } catch (e) {
    source.close();
    if (e instanceof GraftError) throw e;
    // Anything else the parser trips over is h5wasm's to read (and to report, when it is damage).
    return { declined: e instanceof NotNative ? e.reason : `parser error: ${e instanceof Error ? e.message : String(e)}` };
  }
}

export interface Hdf5OpenOptions {
  /** Read through h5wasm even when graft's parser could (tests comparing the two). */
  h5wasmOnly?: boolean;
}

/**
 * Read-only access to one HDF5 file. graft's own parser reads what h5py and Keras write, straight
 * from the file with positioned reads; files it declines go through h5wasm, which stays the
 * reference. Both answer the same way; every failure is a GraftError naming the file.
 */
export class Hdf5File {
  /** The name errors give: the path, or what the user knows it as (a member of a .keras zip). */
  readonly path: string;
  /** Which reader serves the file: graft's own ('native') or h5wasm (files the native one declines). */
  readonly backend: 'native' | 'h5wasm';
  /** Why graft's parser declined the file (h5wasm backend only). */
  readonly declined?: string;
  private readonly native?: NativeHdf5;
  private readonly wasm?: WasmHdf5;
  /** Bytes of dataset data read so far by the native backend (see readRaw). */
  private decoded = 0;
  private readonly charged = new Set<string>();
  /** Natively read datasets looked up so far (see nativeInfo). */
  private readonly infos = new Map<string, { dtype: DType; shape: number[]; bytes: number }>();

  private constructor(path: string, backend: NativeHdf5 | WasmHdf5, declined?: string) {
    this.path = path;
    if (backend instanceof NativeHdf5) this.native = backend;
    else this.wasm = backend;
    this.backend = this.native ? 'native' : 'h5wasm';
    this.declined = declined;
  }

  /**
   * Opens read-only. Missing files are NOT_FOUND; anything HDF5 cannot parse is CORRUPT.
   * `displayName` replaces the path in error messages (an extracted temporary file).
   */
  static async open(path: string, displayName: string = path, volume?: Volume, options: Hdf5OpenOptions = {}): Promise<Hdf5File> {
    if (volume?.bytes) return Hdf5File.openBytes(volume.bytes(path), displayName, options);
    if (options.h5wasmOnly) return new Hdf5File(displayName, await WasmHdf5.open(path, displayName, volume), 'h5wasm asked for');
    const native = tryNative(new RenamedSource(openSource(path, volume), displayName), displayName);
    if (native instanceof NativeHdf5) return new Hdf5File(displayName, native);
    return new Hdf5File(displayName, await WasmHdf5.open(path, displayName, volume), native.declined);
  }

  /** Opens an HDF5 file held in memory (natively, else through h5wasm's in-memory file system). */
  static async openBytes(bytes: Uint8Array, displayName: string, options: Hdf5OpenOptions = {}): Promise<Hdf5File> {
    if (options.h5wasmOnly) return new Hdf5File(displayName, await WasmHdf5.openBytes(bytes, displayName), 'h5wasm asked for');
    const native = tryNative(new BytesSource(displayName, bytes), displayName);
    if (native instanceof NativeHdf5) return new Hdf5File(displayName, native);
    return new Hdf5File(displayName, await WasmHdf5.openBytes(bytes, displayName), native.declined);
  }

  /** Size of the file, in bytes (budgets of readers walking it scale with it). */
  get fileSize(): number {
    return this.native ? this.native.fileSize : this.wasm!.fileSize;
  }

  kind(objPath: string): 'group' | 'dataset' | undefined {
    return this.native ? this.native.kind(objPath) : this.wasm!.kind(objPath);
  }

  /** Child names of a group, or [] when it is absent or not a group. */
  keys(groupPath: string): string[] {
    return this.native ? this.native.keys(groupPath) : this.wasm!.keys(groupPath);
  }

  attrNames(objPath: string): string[] {
    return this.native ? this.native.attrNames(objPath) : this.wasm!.attrNames(objPath);
  }

  /**
   * One attribute, decoded: strings (fixed, variable or byte strings) as string, arrays of them
   * as string[], numbers as number / number[]. Undefined when absent.
   */
  attr(objPath: string, name: string): AttrValue {
    return this.native ? this.native.attr(objPath, name) : this.wasm!.attr(objPath, name);
  }

  /** A string attribute; byte strings and one-element string arrays count too. */
  stringAttr(objPath: string, name: string): string | undefined {
    const v = this.attr(objPath, name);
    if (typeof v === 'string') return v;
    if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'string') return v[0];
    return undefined;
  }

  /**
   * A list-of-strings attribute. Keras splits attributes larger than 64 KB into `name0`,
   * `name1`, …; those chunks are joined in order.
   */
  stringListAttr(objPath: string, name: string): string[] | undefined {
    const whole = this.attr(objPath, name);
    if (whole !== undefined) return toStringList(whole);
    const names = new Set(this.attrNames(objPath));
    if (!names.has(`${name}0`)) return undefined;
    const out: string[] = [];
    for (let i = 0; names.has(`${name}${i}`); i++) {
      const chunk = this.attr(objPath, `${name}${i}`);
      out.push(...(toStringList(chunk) ?? []));
    }
    return out;
  }

  datasetInfo(objPath: string): Hdf5DatasetInfo {
    if (!this.native) return this.wasm!.datasetInfo(objPath);
    const { dtype, shape } = this.nativeInfo(objPath);
    return { dtype, shape: shape.slice() };
  }

  /** A natively read dataset's type, shape and size in bytes, checked once and kept (strided reads ask per run). */
  private nativeInfo(objPath: string): { dtype: DType; shape: number[]; bytes: number } {
    const known = this.infos.get(objPath);
    if (known) return known;
    const d = this.native!.dataset(objPath);
    const bytes = elementCount(d.shape, { file: this.path, tensor: objPath }) * DTYPE_BYTES[d.dtype];
    if (bytes > this.fileSize * MAX_EXPANSION + EXPANSION_SLACK) {
      throw new GraftError('CORRUPT', `dataspace [${d.shape.join(', ')}] of ${d.dtype} claims ${bytes} bytes, more than a ${this.fileSize}-byte file can hold even compressed`, { file: this.path, tensor: objPath });
    }
    const info = { dtype: d.dtype, shape: d.shape.slice(), bytes };
    this.infos.set(objPath, info);
    return info;
  }

  /** Counts a dataset against the decode budget (see WasmHdf5.readRaw); `once`: only on its first read. */
  private charge(objPath: string, total: number, once: boolean): void {
    if (once && this.charged.has(objPath)) return;
    const budget = inflateBudget(this.fileSize);
    if (this.decoded + total > budget) {
      throw budgetError(this.path, `datasets would decode to more than ${mib(budget)} (dataset '${printable(objPath)}' of ${mib(total)} after ${mib(this.decoded)} already)`, `${mib(budget)} decoded per HDF5 file (32× its size, at least 64 MiB)`);
    }
    this.decoded += total;
    if (once) this.charged.add(objPath);
  }

  /** The dataset's elements as little-endian C-order bytes of its own type (big-endian storage is converted). */
  readRaw(objPath: string): Uint8Array {
    if (!this.native) return this.wasm!.readRaw(objPath);
    const { bytes: total } = this.nativeInfo(objPath);
    this.charge(objPath, total, false);
    const out = new Uint8Array(total);
    this.native.readInto(objPath, 0, out);
    return out;
  }

  /**
   * Fills `target` with the hyperslab `count` elements from `offset` (one per axis) of a dataset,
   * C-order little-endian bytes of its own type. The dataset counts against the decode budget
   * (see readRaw) in full on its first piece.
   */
  readBlockInto(objPath: string, offset: number[], count: number[], target: Uint8Array): void {
    if (!this.native) return this.wasm!.readBlockInto(objPath, offset, count, target);
    const { dtype, shape, bytes: total } = this.nativeInfo(objPath);
    const ctx = { file: this.path, tensor: objPath };
    if (offset.length !== shape.length || count.length !== shape.length
      || shape.some((d, i) => !Number.isSafeInteger(offset[i]) || !Number.isSafeInteger(count[i]) || offset[i] < 0 || count[i] < 0 || offset[i] + count[i] > d)) {
      throw new GraftError('CORRUPT', `hyperslab [${offset.join(', ')}] + [${count.join(', ')}] lies outside dataspace [${shape.join(', ')}]`, ctx);
    }
    const element = DTYPE_BYTES[dtype];
    const bytes = count.reduce((a, b) => a * b, 1) * element;
    if (bytes !== target.length) throw new Error(`internal: hyperslab of ${bytes} bytes read into ${target.length}`);
    this.charge(objPath, total, true);
    if (bytes === 0) return;
    // Axes after the last partial one are whole: each run of the selection is contiguous.
    let split = shape.length - 1;
    while (split > 0 && count[split] === shape[split]) split--;
    const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1) * element);
    const run = shape.length ? count[split] * strides[split] : element;
    const index = count.slice(0, Math.max(0, split)).map(() => 0);
    for (let at = 0; at < bytes; at += run) {
      let start = shape.length ? offset[split] * strides[split] : 0;
      for (let k = 0; k < index.length; k++) start += (offset[k] + index[k]) * strides[k];
      this.native.readInto(objPath, start, target.subarray(at, at + run));
      for (let k = index.length - 1; k >= 0; k--) {
        if (++index[k] < count[k]) break;
        index[k] = 0;
      }
    }
  }

  /**
   * Copies `target.length` bytes of a dataset's C-order data from byte `start` into `target`, when
   * the file is read natively (one positioned read; false through h5wasm, whose callers then read by
   * hyperslab). The dataset counts against the decode budget once, like readBlockInto.
   */
  readBytesInto(objPath: string, start: number, target: Uint8Array): boolean {
    if (!this.native) return false;
    const { dtype, bytes: total } = this.nativeInfo(objPath);
    const element = DTYPE_BYTES[dtype];
    if (!Number.isSafeInteger(start) || start < 0 || start + target.length > total) {
      throw new GraftError('CORRUPT', `byte range ${start}+${target.length} lies outside the dataset's ${total} bytes`, { file: this.path, tensor: objPath });
    }
    if (start % element !== 0 || target.length % element !== 0) return false;
    this.charge(objPath, total, true);
    this.native.readInto(objPath, start, target);
    return true;
  }

  /**
   * `count` runs of `runBytes`, the i-th at byte `start + i·stride` of a dataset's data, back to back
   * into `target`, one positioned read each, when the file is read natively; false when it is not
   * (or the runs split elements), and the caller reads another way. Ranges are the caller's to check.
   */
  readRunsInto(objPath: string, r: { start: number; runBytes: number; stride: number; count: number }, target: Uint8Array): boolean {
    if (!this.native) return false;
    const { start, runBytes, stride, count } = r;
    // One run filling the target (a block of rows) needs no view of its own.
    if (count === 1 && target.length === runBytes) return this.readBytesInto(objPath, start, target);
    const element = DTYPE_BYTES[this.nativeInfo(objPath).dtype];
    if (stride % element !== 0) return false;
    // Every run aligned like the first: it answers for all of them.
    if (!this.readBytesInto(objPath, start, target.subarray(0, runBytes))) return false;
    for (let i = 1; i < count; i++) this.readBytesInto(objPath, start + i * stride, target.subarray(i * runBytes, (i + 1) * runBytes));
    return true;
  }

  /** Where a dataset's bytes start in the file, when it is read natively and stored contiguous as is. */
  dataOffset(objPath: string): number | undefined {
    return this.native?.dataOffset(objPath);
  }

  close(): void {
    this.native?.close();
    this.wasm?.close();
  }
}

/** A source whose range errors name the file as the user knows it (a .keras member's temporary copy). */
class RenamedSource implements ByteSource {
  constructor(private readonly inner: ByteSource, readonly path: string) {}
  get size(): number {
    return this.inner.size;
  }
  read(offset: number, length: number, tensor?: string): Uint8Array {
    checkRange(this, offset, length, tensor);
    return this.inner.read(offset, length, tensor);
  }
  readInto(offset: number, target: Uint8Array, tensor?: string): void {
    checkRange(this, offset, target.length, tensor);
    this.inner.readInto(offset, target, tensor);
  }
  close(): void {
    this.inner.close();
  }
}
