import { GraftError, printable } from '../errors';
import * as posix from './posix';

/**
 * Where a conversion's input files live. Readers name files by path and open them through a
 * Volume, so the same reader reads a file on disk (io/file-volume.ts) or bytes held in memory
 * (MemoryVolume: a browser's dropped File, convertInMemory). A conversion picks its volume and
 * hands it down (OpenOptions.volume); nothing global decides it.
 */

/** Random access to one file's bytes, range-checked against its real size. */
export interface ByteSource {
  readonly path: string;
  readonly size: number;
  /** Reads `length` bytes at `offset`; a range past the end is a CORRUPT error naming the file (and tensor). */
  read(offset: number, length: number, tensor?: string): Uint8Array;
  /** Fills `target` from `offset` (range-checked like read), so large tensors stream through one buffer. */
  readInto(offset: number, target: Uint8Array, tensor?: string): void;
  close(): void;
}

export interface Volume {
  /** 'files': the disk, through Node's fs. 'memory': every file is bytes held by the volume. */
  readonly kind: 'files' | 'memory';
  /** Opens a regular file; a missing file, a folder or a device is a NOT_FOUND GraftError. */
  open(path: string): ByteSource;
  /** The size of a regular file (errors as open's). */
  statFile(path: string): { size: number };
  /** True for an existing regular file; never throws. */
  isFile(path: string): boolean;
  /** True for an existing folder; never throws. */
  isDirectory(path: string): boolean;
  /** True when anything exists at `path` (a file, a folder, a FIFO …); never throws. */
  exists(path: string): boolean;
  /** The names in a folder (a TF checkpoint's siblings). */
  list(dir: string): string[];
  /**
   * A file that a manifest (`manifest`, itself inside `dir`) names: plain relative names only, and
   * never a file outside `dir`. `real` identifies the file whatever spelling named it.
   */
  resolveInside(dir: string, name: unknown, manifest: string): { path: string; real: string };
  /** Memory volumes: the file's bytes, without a copy (HDF5 hands them to wasm memory whole). */
  bytes?(path: string): Uint8Array;
}

/** A range check shared by every ByteSource, so files on disk and in memory fail with the same words. */
export function checkRange(source: { path: string; size: number }, offset: number, length: number, tensor?: string): number {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > source.size) {
    throw new GraftError('CORRUPT', `data range ${offset}+${length} lies outside the file (size ${source.size}); the file is truncated or damaged`, { file: source.path, tensor });
  }
  return length;
}

/**
 * The check every volume applies to a name read from a manifest: a non-empty plain relative name,
 * no absolute path, drive letter, backslash, NUL or '..' — it cannot point outside its folder.
 */
export function checkPlainName(name: unknown, manifest: string): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new GraftError('CORRUPT', `names a file that is not a non-empty string (${typeof name === 'string' ? "''" : typeof name})`, { file: manifest });
  }
  if (posix.isAbsolute(name) || /^[A-Za-z]:/.test(name) || name.includes('\\') || name.includes('\0') || name.split('/').includes('..')) {
    throw new GraftError('UNSAFE', `refers to '${printable(name)}', outside its own folder; only plain relative names are allowed`, { file: manifest });
  }
  return name;
}

/** A file held in memory. Reads return copies, as reads from disk do: callers may modify them. */
class MemorySource implements ByteSource {
  private closed = false;
  constructor(readonly path: string, private readonly data: Uint8Array) {}

  get size(): number {
    return this.data.length;
  }

  read(offset: number, length: number, tensor?: string): Uint8Array {
    this.live();
    checkRange(this, offset, length, tensor);
    return this.data.slice(offset, offset + length);
  }

  readInto(offset: number, target: Uint8Array, tensor?: string): void {
    this.live();
    checkRange(this, offset, target.length, tensor);
    target.set(this.data.subarray(offset, offset + target.length));
  }

  close(): void {
    this.closed = true;
  }

  private live(): void {
    if (this.closed) throw new Error(`MemorySource ${this.path} used after close`);
  }
}

/**
 * Files held in memory, by name (one flat folder unless names contain '/'). Each conversion in
 * memory gets its own volume, so nothing one run adds is visible to another.
 */
export class MemoryVolume implements Volume {
  readonly kind = 'memory';
  private readonly files = new Map<string, Uint8Array>();

  /** Adds a file; its name must be a plain relative name, unique in the volume. */
  add(name: string, data: Uint8Array): string {
    const key = posix.normalize(checkPlainName(name, name));
    if (key === '.' || this.files.has(key)) throw new GraftError('USAGE', this.files.has(key) ? 'two files share this name' : 'is not a file name', { file: name });
    this.files.set(key, data);
    return key;
  }

  names(): string[] {
    return [...this.files.keys()];
  }

  private find(path: string): Uint8Array {
    const data = this.files.get(posix.normalize(path));
    if (!data) throw new GraftError('NOT_FOUND', 'no such file', { file: path });
    return data;
  }

  open(path: string): ByteSource {
    return new MemorySource(path, this.find(path));
  }

  statFile(path: string): { size: number } {
    return { size: this.find(path).length };
  }

  isFile(path: string): boolean {
    return this.files.has(posix.normalize(path));
  }

  /** The volume's own folder ('.') and the folders its names imply ('a' for 'a/b.bin'). */
  isDirectory(path: string): boolean {
    const dir = posix.normalize(path);
    if (dir === '.') return true;
    for (const name of this.files.keys()) if (name.startsWith(`${dir}/`)) return true;
    return false;
  }

  exists(path: string): boolean {
    return this.isFile(path) || this.isDirectory(path);
  }

  list(dir: string): string[] {
    const d = posix.normalize(dir);
    const under = d === '.' ? '' : `${d}/`;
    const names = new Set<string>();
    for (const key of this.files.keys()) if (key.startsWith(under)) names.add(key.slice(under.length).split('/')[0]);
    return [...names];
  }

  resolveInside(dir: string, name: unknown, manifest: string): { path: string; real: string } {
    const p = posix.join(dir, checkPlainName(name, manifest));
    // As on disk, a name for the folder itself ('.', 'a/..') is no file inside it.
    if (posix.normalize(p) === posix.normalize(dir)) throw new GraftError('UNSAFE', `refers to '${printable(name as string)}', the folder itself`, { file: manifest });
    this.find(p);
    return { path: p, real: posix.normalize(p) };
  }

  bytes(path: string): Uint8Array {
    return this.find(path);
  }
}
