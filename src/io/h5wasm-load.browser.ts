import type * as H5 from 'h5wasm';
import { GraftError } from '../errors';

/**
 * The browser bundle's h5wasm-load.ts: only the ES-module build with its in-memory file system
 * (bundled by scripts/build-web.mjs); there is no disk to read.
 */

type H5Api = typeof H5.default;

export async function importH5wasm(build: 'disk' | 'memory'): Promise<H5Api> {
  if (build === 'disk') throw new GraftError('USAGE', 'HDF5 files on disk need Node; in a browser, give the file\'s bytes');
  return (await import('h5wasm')).default;
}

export function diskPathOf(path: string): string {
  throw new GraftError('USAGE', 'HDF5 files on disk need Node; in a browser, give the file\'s bytes', { file: path });
}
