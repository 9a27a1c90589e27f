import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { makeTempFolder, removeTemp, sweepStaleTemps } from '../../io/temp';
import type { ZipArchive, ZipEntry } from '../../io/zip';

/**
 * A `.keras` member copied to a private temporary file, for h5wasm's Node build to read from
 * disk. Node-only: the browser bundle swaps in extract.browser.ts (in memory the member is read
 * into bytes instead; formats/keras/dispatch.ts).
 */
export function extractToTemp(zip: ZipArchive, entry: ZipEntry, name: string): { file: string; tempDir: string } {
  // Removed on close, on failure, and however graft ends (io/temp.ts); folders left by a killed
  // run are swept here next time.
  sweepStaleTemps(os.tmpdir(), 'graft-keras-');
  const tempDir = makeTempFolder(path.join(os.tmpdir(), 'graft-keras-'));
  const file = path.join(tempDir, name);
  try {
    // Copied in chunks, never held whole (zip.ts checks CRC and budget).
    const fd = fs.openSync(file, 'wx', 0o600);
    try {
      zip.copyTo(entry, (chunk) => {
        for (let at = 0; at < chunk.length; ) at += fs.writeSync(fd, chunk, at, chunk.length - at);
      });
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    // A member refused halfway (budget, CRC) leaves no partial copy behind.
    removeTemp(tempDir);
    throw e;
  }
  return { file, tempDir };
}
