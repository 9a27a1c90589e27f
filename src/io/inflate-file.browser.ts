/**
 * The browser bundle's inflate-file.ts: a page has no disk (nor Node's zlib), so there is no
 * temporary file to inflate into; ZipArchive inflates deflated entries in memory instead.
 */
import type { InflatedFile, SyncInflater } from './inflate-file';

export type { InflatedFile, SyncInflater };

export function inflateToFile(): InflatedFile | undefined {
  return undefined;
}

/** No Node zlib in a page: ZipArchive inflates with fflate. */
export function syncInflater(): SyncInflater | undefined {
  return undefined;
}
