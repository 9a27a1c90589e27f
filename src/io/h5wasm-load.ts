import * as fs from 'fs';
import * as nodePath from 'path';
import type * as H5 from 'h5wasm';
import { fileOpenError } from './file-volume';

/**
 * Which h5wasm build reads HDF5, and how a path on disk reaches it. Node-only: the browser bundle
 * replaces this module with h5wasm-load.browser.ts, which has only the in-memory build.
 */

type H5Api = typeof H5.default;

/**
 * h5wasm ships only as an ES module; TypeScript compiles `import()` to `require()` under
 * CommonJS, so the import is built at run time to stay a real dynamic import.
 */
const dynamicImport = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<{ default: H5Api }>;

/**
 * 'disk': the Node build, which reads files from disk on demand (NODERAWFS) rather than copying
 * them into wasm memory. 'memory': the ES-module build with its in-memory file system, for bytes
 * graft holds (a volume in memory, a member of a .keras zip read in memory).
 */
export async function importH5wasm(build: 'disk' | 'memory'): Promise<H5Api> {
  return (await dynamicImport(build === 'disk' ? 'h5wasm/node' : 'h5wasm')).default;
}

/** The absolute path HDF5 opens for a readable file on disk; unreadable files are NOT_FOUND. */
export function diskPathOf(path: string): string {
  try {
    fs.accessSync(path, fs.constants.R_OK);
  } catch (e) {
    throw fileOpenError(path, e);
  }
  return nodePath.resolve(path);
}
