import { GraftError, printable } from '../errors';
import { fileOpenError, FileSource, filesRead, fileVolume, noteRead } from './file-volume';
import type { ByteSource, Volume } from './volume';

export { fileOpenError, FileSource, filesRead, fileVolume, noteRead };
export type { ByteSource, Volume };

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

/**
 * The stat of a regular file on `volume` (the disk by default); missing files, folders, FIFOs and
 * devices are clear GraftErrors.
 */
export function statRegularFile(file: string, volume: Volume = fileVolume): { size: number } {
  return volume.statFile(file);
}

/** Opens a file for random access on `volume` (the disk by default). */
export function openSource(file: string, volume: Volume = fileVolume): ByteSource {
  return volume.open(file);
}

/**
 * A whole regular file (a manifest, a mapping table, a small array), refused beyond `maxBytes`.
 * Opened through FileSource: never blocks on a FIFO, never reads a device.
 */
export function readWholeFile(file: string, maxBytes = Number.MAX_SAFE_INTEGER, what = 'file', volume: Volume = fileVolume): Uint8Array {
  const src = volume.open(file);
  try {
    if (src.size > maxBytes) throw new GraftError('UNSUPPORTED', `${what} is ${src.size} bytes, beyond graft's budget of ${maxBytes} bytes for it`, { file });
    return src.read(0, src.size);
  } finally {
    src.close();
  }
}

/** A whole regular file as UTF-8 text (see readWholeFile). */
export function readTextFile(file: string, maxBytes?: number, what?: string, volume?: Volume): string {
  return new TextDecoder('utf-8').decode(readWholeFile(file, maxBytes, what, volume));
}

/** Reads up to `n` bytes from the start of a file; fewer when the file is shorter. */
export function readHead(path: string, n = 512, volume: Volume = fileVolume): Uint8Array {
  const src = volume.open(path);
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
export function resolveInside(dir: string, name: unknown, manifest: string, volume: Volume = fileVolume): string {
  return volume.resolveInside(dir, name, manifest).path;
}

/**
 * resolveInside, also giving the real path: readers key files by it, so one file spelt many ways
 * in a manifest ('./s', './/s', a link to s) is opened and read once.
 */
export function realPathInside(dir: string, name: unknown, manifest: string, volume: Volume = fileVolume): { path: string; real: string } {
  return volume.resolveInside(dir, name, manifest);
}
