import { GraftError } from '../errors';
import type { ByteSource, Volume } from './volume';

/**
 * The browser bundle's file-volume.ts: a page has no file system, so every read by path is
 * refused; files reach the library as bytes in a MemoryVolume (convertInMemory).
 */
const noDisk = (file: string) => new GraftError('USAGE', 'reading files by path needs Node; in a browser, give the files as bytes (convertInMemory)', { file });

export function filesRead(): string[] {
  return [];
}

export function noteRead(): void {}

export function fileOpenError(path: string, e: unknown): GraftError {
  return new GraftError('NOT_FOUND', `cannot open (${String((e as Error)?.message ?? e)})`, { file: path });
}

export const FileSource = {
  open(path: string): ByteSource {
    throw noDisk(path);
  },
};

export function statRegularFile(file: string): { size: number } {
  throw noDisk(file);
}

export function realPathInside(dir: string): { path: string; real: string } {
  throw noDisk(dir);
}

export const fileVolume: Volume = {
  kind: 'files',
  open: (p) => {
    throw noDisk(p);
  },
  statFile: (p) => {
    throw noDisk(p);
  },
  isFile: () => false,
  isDirectory: () => false,
  exists: () => false,
  list: (dir) => {
    throw noDisk(dir);
  },
  resolveInside: (dir) => {
    throw noDisk(dir);
  },
};
