import * as fs from 'fs';
import * as path from 'path';
import { GraftError, printable } from '../errors';
import { ByteSource, checkPlainName, checkRange, Volume } from './volume';

/**
 * The disk as a Volume, through Node's fs. Node-only: the browser bundle replaces this module
 * with file-volume.browser.ts (scripts/build-web.mjs), where every path read is refused.
 */

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

export function fileOpenError(path: string, e: unknown): GraftError {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return new GraftError('NOT_FOUND', 'no such file', { file: path });
  if (code === 'EISDIR') return new GraftError('NOT_FOUND', 'is a directory, not a file', { file: path });
  if (code === 'EACCES') return new GraftError('NOT_FOUND', 'permission denied', { file: path });
  return new GraftError('NOT_FOUND', `cannot open (${printable((e as Error)?.message ?? String(e))})`, { file: path });
}

/**
 * Random access to a file through a descriptor: reads only what is asked, after checking the
 * range against the real file size (never against sizes the file claims about itself).
 */
export class FileSource implements ByteSource {
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
    return checkRange(this, offset, length, tensor);
  }

  close(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }
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
 * A manifest's file name resolved inside `dir`, also giving the real path: readers key files by
 * it, so one file spelt many ways in a manifest ('./s', './/s', a link to s) is read once. A symlink
 * whose target leaves the folder is refused.
 */
export function realPathInside(dir: string, name: unknown, manifest: string): { path: string; real: string } {
  const resolved = path.resolve(dir, checkPlainName(name, manifest));
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
    throw new GraftError('UNSAFE', `refers to '${printable(name as string)}', which resolves (through a symlink) outside the folder ${realDir}`, { file: manifest });
  }
  return { path: resolved, real };
}

/** The disk. */
export const fileVolume: Volume = {
  kind: 'files',
  open: (p) => FileSource.open(p),
  statFile: (p) => statRegularFile(p),
  isFile(p) {
    try {
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  },
  isDirectory(p) {
    try {
      return fs.statSync(p).isDirectory();
    } catch {
      return false;
    }
  },
  exists: (p) => fs.existsSync(p),
  list: (dir) => fs.readdirSync(dir),
  resolveInside: realPathInside,
};
