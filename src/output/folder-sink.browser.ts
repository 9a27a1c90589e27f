import { GraftError } from '../errors';
import type { ModelSink } from './sink';

/** The browser bundle's folder-sink.ts: there is no folder; output goes to a MemorySink. */
export function folderSink(dir: string): ModelSink {
  throw new GraftError('USAGE', 'writing a folder needs Node; in a browser, convert in memory', { file: dir });
}
