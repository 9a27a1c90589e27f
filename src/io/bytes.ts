import * as fs from 'fs';
import * as path from 'path';
import { GraftError, printable } from '../errors';

export { printable };
import { DTYPE_BYTES, DType, RawTensor, TensorInfo } from './tensor';

/** Largest element count graft accepts for one tensor (2^46 elements, far beyond any real model). */
const MAX_ELEMENTS = 2 ** 46;

/**
 * Product of dimensions, refusing negative, fractional, or absurd values read from a file.
 * Every reader calls this before trusting a shape.
 */
export function elementCount(shape: readonly number[], context: { file?: string; tensor?: string } = {}): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new GraftError('CORRUPT', `invalid dimension ${String(d)} in shape [${shape.join(', ')}]`, context);
    }
    n *= d;
    if (n > MAX_ELEMENTS) {
      throw new GraftError('CORRUPT', `shape [${shape.join(', ')}] is implausibly large`, context);
    }
  }
  return n;
}

export function tensorInfo(name: string, dtype: DType, shape: number[], file?: string): TensorInfo {
  const count = elementCount(shape, { file, tensor: name });
  return { name, dtype, shape, byteSize: count * DTYPE_BYTES[dtype] };
}

/** Real paths of every file opened for reading in this process (see checkOutputDir). */
const opened = new Set<string>();

/** Every file graft opened for reading so far, by real path: `--force` never deletes a folder holding one. */
export function filesRead(): string[] {
  return [...opened];
}

/** Records a file as read by this run. */
export function noteRead(file: string): void {
  try {
    opened.add(fs.realpathSync(file));
  } catch {
    opened.add(path.resolve(file));
  }
}

/**
 * Random access to a file through a descriptor: reads only what is asked, after checking the
 * range against the real file size (never against sizes the file claims about itself).
 */
export class FileSource {
  readonly path: string;
  readonly size: number;
  private fd: number | null;

  private constructor(path: string, fd: number, size: number) {
    this.path = path;
    this.fd = fd;
    this.size = size;
  }

  static open(path: string): FileSource {
    let fd: number;
    try {
      // O_NONBLOCK: opening a FIFO planted where a weight file should be must not wait for a
      // writer forever; regular files ignore the flag.
      fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
    } catch (e) {
      throw fileOpenError(path, e);
    }
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) {
      fs.closeSync(fd);
      throw new GraftError('NOT_FOUND', 'is not a regular file', { file: path });
    }
    noteRead(path);
    return new FileSource(path, fd, stat.size);
  }

  /** Reads `length` bytes at `offset`; a range past the end of the file is a CORRUPT error. */
  read(offset: number, length: number, tensor?: string): Uint8Array {
    const out = new Uint8Array(this.checkRange(offset, length, tensor));
    this.readInto(offset, out, tensor);
    return out;
  }

  /**
   * Fills `target` from `offset`, range-checked like read(): lets callers stream a large tensor
   * through one reused buffer instead of allocating it whole.
   */
  readInto(offset: number, target: Uint8Array, tensor?: string): void {
    const length = this.checkRange(offset, target.length, tensor);
    let done = 0;
    while (done < length) {
      const chunk = Math.min(length - done, 1 << 30);
      const n = fs.readSync(this.fd!, target, done, chunk, offset + done);
      if (n <= 0) throw new GraftError('CORRUPT', 'unexpected end of file', { file: this.path, tensor });
      done += n;
    }
  }

  private checkRange(offset: number, length: number, tensor?: string): number {
    if (this.fd === null) throw new Error(`FileSource ${this.path} used after close`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new GraftError('CORRUPT', `data range ${offset}+${length} lies outside the file (size ${this.size}); the file is truncated or damaged`, { file: this.path, tensor });
    }
    return length;
  }

  close(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }
}


/** Whether a parsed JSON value nests deeper than `max` (measured without recursion). */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d > max) return true;
    for (const x of Array.isArray(v) ? v : Object.values(v)) if (typeof x === 'object' && x !== null) stack.push([x, d + 1]);
  }
  return false;
}

export function fileOpenError(path: string, e: unknown): GraftError {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return new GraftError('NOT_FOUND', 'no such file', { file: path });
  if (code === 'EISDIR') return new GraftError('NOT_FOUND', 'is a directory, not a file', { file: path });
  if (code === 'EACCES') return new GraftError('NOT_FOUND', 'permission denied', { file: path });
  return new GraftError('NOT_FOUND', `cannot open (${printable((e as Error)?.message ?? String(e))})`, { file: path });
}

/**
 * The stat of a regular file; missing files, folders, FIFOs and devices are clear GraftErrors.
 * Every path graft reads goes through here or FileSource.open (which opens without blocking and
 * checks the open descriptor) before it is opened, so a FIFO or /dev/zero never blocks a run.
 */
export function statRegularFile(file: string): fs.Stats {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (e) {
    throw fileOpenError(file, e);
  }
  if (!stat.isFile()) throw new GraftError('NOT_FOUND', 'is not a regular file', { file });
  noteRead(file);
  return stat;
}

/**
 * A whole regular file (a manifest, a mapping table, a small array), refused beyond `maxBytes`.
 * Opened through FileSource: never blocks on a FIFO, never reads a device.
 */
export function readWholeFile(file: string, maxBytes = Number.MAX_SAFE_INTEGER, what = 'file'): Uint8Array {
  const src = FileSource.open(file);
  try {
    if (src.size > maxBytes) throw new GraftError('UNSUPPORTED', `${what} is ${src.size} bytes, beyond graft's budget of ${maxBytes} bytes for it`, { file });
    return src.read(0, src.size);
  } finally {
    src.close();
  }
}

/** A whole regular file as UTF-8 text (see readWholeFile). */
export function readTextFile(file: string, maxBytes?: number, what?: string): string {
  return new TextDecoder('utf-8').decode(readWholeFile(file, maxBytes, what));
}

/** Reads up to `n` bytes from the start of a file; fewer when the file is shorter. */
export function readHead(path: string, n = 512): Uint8Array {
  const src = FileSource.open(path);
  try {
    return src.read(0, Math.min(n, src.size));
  } finally {
    src.close();
  }
}

/** Reverses the byte order of each element in place (big-endian sources). */
export function byteSwapInPlace(data: Uint8Array, elementBytes: number): void {
  if (elementBytes === 1) return;
  for (let i = 0; i + elementBytes <= data.length; i += elementBytes) {
    for (let a = i, b = i + elementBytes - 1; a < b; a++, b--) {
      const t = data[a];
      data[a] = data[b];
      data[b] = t;
    }
  }
}

/**
 * Turns Fortran-order (column-major) element data into C order. Pure and O(n) over elements.
 */
export function fortranToC(data: Uint8Array, shape: readonly number[], elementBytes: number): Uint8Array {
  const rank = shape.length;
  if (rank < 2) return data;
  const n = data.length / elementBytes;
  const out = new Uint8Array(data.length);
  // Column-major strides (in elements) for each axis.
  const fStride: number[] = new Array(rank);
  let s = 1;
  for (let k = 0; k < rank; k++) {
    fStride[k] = s;
    s *= shape[k];
  }
  const idx = new Array(rank).fill(0);
  for (let c = 0; c < n; c++) {
    let f = 0;
    for (let k = 0; k < rank; k++) f += idx[k] * fStride[k];
    out.set(data.subarray(f * elementBytes, (f + 1) * elementBytes), c * elementBytes);
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

export function rawTensor(info: TensorInfo, data: Uint8Array, file?: string): RawTensor {
  if (data.length !== info.byteSize) {
    throw new GraftError('CORRUPT', `holds ${data.length} bytes where its shape [${info.shape.join(', ')}] of ${info.dtype} needs ${info.byteSize}`, { file, tensor: info.name });
  }
  return { ...info, data };
}

/**
 * Resolves a file name taken from a manifest inside `dir`, refusing anything that could point
 * elsewhere: absolute paths, '..', backslashes, and symlinks whose target leaves the folder.
 */
export function resolveInside(dir: string, name: unknown, manifest: string): string {
  return realPathInside(dir, name, manifest).path;
}

/**
 * resolveInside, also giving the real path: readers key files by it, so one file spelt many ways
 * in a manifest ('./s', './/s', a link to s) is opened and read once.
 */
export function realPathInside(dir: string, name: unknown, manifest: string): { path: string; real: string } {
  if (typeof name !== 'string' || name.length === 0) {
    throw new GraftError('CORRUPT', `names a file that is not a non-empty string (${typeof name === 'string' ? "''" : typeof name})`, { file: manifest });
  }
  if (path.isAbsolute(name) || /^[A-Za-z]:/.test(name) || name.includes('\\') || name.includes('\0') || name.split('/').includes('..')) {
    throw new GraftError('UNSAFE', `refers to '${printable(name)}', outside its own folder; only plain relative names are allowed`, { file: manifest });
  }
  const resolved = path.resolve(dir, name);
  let real: string;
  let realDir: string;
  try {
    realDir = fs.realpathSync(dir);
    real = fs.realpathSync(resolved);
  } catch (e) {
    throw fileOpenError(resolved, e);
  }
  const rel = path.relative(realDir, real);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new GraftError('UNSAFE', `refers to '${printable(name)}', which resolves (through a symlink) outside the folder ${realDir}`, { file: manifest });
  }
  return { path: resolved, real };
}
