import * as fs from 'fs';
import * as path from 'path';
import type { ModelSink } from './sink';

/**
 * Files written into a folder (the atomic writer's temporary one). Node-only: the browser bundle
 * swaps in folder-sink.browser.ts.
 */
export function folderSink(dir: string): ModelSink {
  let fd: number | undefined;
  return {
    start() {},
    begin(name) {
      fd = fs.openSync(path.join(dir, name), 'w');
    },
    write(bytes, offset, length) {
      let done = 0;
      while (done < length) done += fs.writeSync(fd!, bytes, offset + done, Math.min(length - done, MAX_WRITE));
    },
    end() {
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
    },
  };
}

/** Largest single write: fs.writeSync takes at most 2 GiB - 1 bytes per call. */
const MAX_WRITE = 1 << 30;
