import { GraftError } from '../errors';

/**
 * The browser bundle's temp.ts: a page makes no temporary files (a .keras member is read in
 * memory), so there is nothing to register, sweep or remove.
 */
export const TEMP_MARKER = '.graft-tmp-owner';

export function installSignalCleanup(): void {}
export function registerTemp(): void {}
export function releaseTemp(): void {}
export function sweepStaleTemps(): void {}
export function removeTemp(): void {}

export function makeTempFolder(prefix: string): string {
  throw new GraftError('USAGE', 'temporary folders need Node; a browser has no disk', { file: prefix });
}
