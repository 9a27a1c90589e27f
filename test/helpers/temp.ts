import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const made: string[] = [];
// Each test file runs in its own process: what it made goes when it ends, pass or fail, so runs
// do not pile folders up in the system's temporary folder.
process.on('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh folder under the system's temporary folder, removed when the test process exits. */
export function tempDir(prefix = 'graft-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
