import * as fs from 'fs';
import * as path from 'path';
import type { ModelSink } from './sink';

/**
 * Files created ahead of the one being written, on libuv's pool. Creating a file costs ~0.7 ms of
 * file-system work on the benchmark machine (ext4), as much as writing 1 MiB: a 1 GiB model in
 * 4 MB shards spent 0.2 s of its 2 s creating 257 files. Created ahead, that work overlaps the
 * conversion on another core (one hand-off per file, so the cross-thread cost stays small).
 */
const OPEN_AHEAD = 4;

/**
 * Files written into a folder (the atomic writer's temporary one). Node-only: the browser bundle
 * swaps in folder-sink.browser.ts.
 */
export function folderSink(dir: string): ModelSink {
  let fd: number | undefined;
  let files: readonly string[] = [];
  let next = 0;
  const opening = new Map<string, Promise<number>>();
  const openAhead = (): void => {
    while (opening.size < OPEN_AHEAD && next < files.length) {
      const name = files[next++];
      const opened = new Promise<number>((resolve, reject) => fs.open(path.join(dir, name), 'w', (e, f) => (e ? reject(e) : resolve(f))));
      // Awaited when the file is begun (or closed unused): a failure surfaces there, not as an unhandled rejection.
      opened.catch(() => undefined);
      opening.set(name, opened);
    }
  };
  return {
    start(_bytes, names) {
      files = names;
      next = 0;
      openAhead();
    },
    begin(name) {
      const opened = opening.get(name);
      opening.delete(name);
      openAhead();
      if (!opened) {
        fd = fs.openSync(path.join(dir, name), 'w');
        return;
      }
      return opened.then((f) => {
        fd = f;
      });
    },
    write(bytes, offset, length) {
      let done = 0;
      while (done < length) done += fs.writeSync(fd!, bytes, offset + done, Math.min(length - done, MAX_WRITE));
    },
    end() {
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
    },
    async close() {
      // After a failure, files opened ahead but never begun: closed, so the folder can go.
      for (const opened of opening.values()) {
        try {
          fs.closeSync(await opened);
        } catch {
          // It was never opened; nothing to release.
        }
      }
      opening.clear();
    },
  };
}

/** Largest single write: fs.writeSync takes at most 2 GiB - 1 bytes per call. */
const MAX_WRITE = 1 << 30;
