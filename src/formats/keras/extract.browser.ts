import { GraftError } from '../../errors';
import type { ZipArchive, ZipEntry } from '../../io/zip';

/** The browser bundle's extract.ts: no disk, so members are always read in memory (dispatch.ts). */
export function extractToTemp(zip: ZipArchive, _entry: ZipEntry, name: string): { file: string; tempDir: string } {
  throw new GraftError('USAGE', `cannot extract '${name}' to disk in a browser`, { file: zip.path });
}
