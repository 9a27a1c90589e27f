/**
 * The browser bundle's inflate-file.ts: a page has no disk (nor Node's zlib), so there is no
 * temporary file to inflate into; ZipArchive inflates deflated entries in memory instead.
 */
import type { InflatedFile } from './inflate-file';

export type { InflatedFile };

export function inflateToFile(): InflatedFile | undefined {
  return undefined;
}
