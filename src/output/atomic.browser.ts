import { GraftError } from '../errors';

/** The browser bundle's atomic.ts: no folders to write; convertInMemory writes into a MemorySink. */
export { TEMP_MARKER } from '../io/temp';

const noDisk = (file: string) => new GraftError('USAGE', 'writing a folder needs Node; in a browser, convert in memory', { file });

export function checkOutputDir(outDir: string): void {
  throw noDisk(outDir);
}

export async function writeFolderAtomically(outDir: string): Promise<void> {
  throw noDisk(outDir);
}
