import * as fs from 'fs';
import type * as H5 from 'h5wasm';
import { GraftError } from '../errors';
import { DTYPE_BYTES, DType } from './types';
import { elementCount, fileOpenError, readHead } from './bytes';

/**
 * A thin, read-only wrapper over h5wasm's Node build (which reads the file from disk on demand
 * rather than copying it into wasm memory). Every failure becomes a GraftError naming the file.
 */

type H5Api = typeof H5.default;
type H5Module = Awaited<H5Api['ready']>;

/** HDF5 files start with this signature, at offset 0 or after a user block of 512·2^k bytes. */
export const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** Largest slice read through wasm memory at once; h5wasm's heap is capped at 2 GiB. */
const SLICE_BYTES = 256 * 1024 * 1024;

// HDF5 type classes (H5T_class_t) as h5wasm reports them in metadata.type.
const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const H5T_ENUM = 8;

let loading: Promise<{ api: H5Api; module: H5Module }> | undefined;

/**
 * h5wasm ships only as an ES module; TypeScript compiles `import()` to `require()` under
 * CommonJS, so the import is built at run time to stay a real dynamic import.
 */
const dynamicImport = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<{ default: H5Api }>;

async function loadH5wasm(): Promise<{ api: H5Api; module: H5Module }> {
  if (!loading) {
    loading = (async () => {
      const api = (await dynamicImport('h5wasm/node')).default;
      const module = await api.ready;
      // Turn HDF5's stderr diagnostics into JS exceptions we can translate.
      (module as unknown as { activate_throwing_error_handler(): number }).activate_throwing_error_handler();
      return { api, module };
    })();
  }
  return loading;
}

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
export function sniffHdf5(head: Uint8Array, filePath: string): boolean {
  if (hdf5MagicOffset(head) !== undefined) return true;
  if (!/\.(h5|hdf5|keras)$/i.test(filePath) || head.length < 512) return false;
  try {
    return hdf5MagicOffset(readHead(filePath, 1 << 20)) !== undefined;
  } catch {
    return false;
  }
}

export interface Hdf5DatasetInfo {
  dtype: DType;
  shape: number[];
}

export type AttrValue = string | number | boolean | bigint | string[] | number[] | undefined;

export class Hdf5File {
  readonly path: string;
  private file: H5.File | null;
  private readonly api: H5Api;
  private readonly module: H5Module;

  private constructor(path: string, file: H5.File, api: H5Api, module: H5Module) {
    this.path = path;
    this.file = file;
    this.api = api;
    this.module = module;
  }

  /** Opens read-only. Missing files are NOT_FOUND; anything HDF5 cannot parse is CORRUPT. */
  static async open(path: string): Promise<Hdf5File> {
    // h5wasm aborts unhelpfully on some inputs it cannot open, so check the path ourselves first.
    let stat: fs.Stats;
    try {
      stat = fs.statSync(path);
    } catch (e) {
      throw fileOpenError(path, e);
    }
    if (!stat.isFile()) throw new GraftError('NOT_FOUND', 'is not a regular file', { file: path });
    try {
      fs.accessSync(path, fs.constants.R_OK);
    } catch (e) {
      throw fileOpenError(path, e);
    }
    const { api, module } = await loadH5wasm();
    let file: H5.File;
    try {
      file = new api.File(path, 'r');
    } catch (e) {
      throw new GraftError('CORRUPT', `not a readable HDF5 file (${hdf5Reason(e)})`, { file: path });
    }
    return new Hdf5File(path, file, api, module);
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
      return undefined;
    }
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
    try {
      return g.keys();
    } catch (e) {
      throw this.corrupt(`group '${groupPath}' cannot be listed (${hdf5Reason(e)})`);
    }
  }

  attrNames(objPath: string): string[] {
    const e = this.entity(objPath);
    if (!e) return [];
    try {
      return Object.keys(e.attrs);
    } catch (err) {
      throw this.corrupt(`attributes of '${objPath || '/'}' cannot be read (${hdf5Reason(err)})`);
    }
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
      throw this.corrupt(`attribute '${name}' of '${objPath || '/'}' cannot be read (${hdf5Reason(err)})`);
    }
    return normaliseAttr(value);
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
    const d = this.entity(objPath);
    if (!d || !(d instanceof this.api.Dataset)) {
      throw this.corrupt(`dataset '${objPath}' does not exist`, objPath);
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
    const shape = (meta.shape ?? []).map(Number);
    elementCount(shape, { file: this.path, tensor: objPath });
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

  private readHyperslab(path: string, offset: number[] | null, count: number[] | null, out: Uint8Array, at: number, bytes: number): void {
    const m = this.module as unknown as {
      _malloc(n: number): number;
      _free(p: number): void;
      HEAPU8: Uint8Array;
      get_dataset_data(f: bigint, p: string, c: bigint[] | null, o: bigint[] | null, s: bigint[] | null, ptr: bigint): number;
    };
    const ptr = m._malloc(bytes);
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
      // HEAPU8 may be replaced when memory grows: read it after the call.
      out.set(m.HEAPU8.subarray(ptr, ptr + bytes), at);
    } finally {
      m._free(ptr);
    }
  }

  private corrupt(message: string, tensor?: string): GraftError {
    return new GraftError('CORRUPT', message, { file: this.path, tensor });
  }

  close(): void {
    if (this.file) {
      try {
        this.file.close();
      } catch {
        // Closing a file HDF5 already considers broken must not mask the original error.
      }
      this.file = null;
    }
  }
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
