import * as fs from 'fs';

/**
 * Temporary files and folders the process must remove if it is interrupted: readers register
 * the private copies they extract (a `.keras` member), the writer its half-written output.
 */

const pendingTemps = new Set<string>();
let signalHandlersInstalled = false;

const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM' | 'SIGHUP', number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

/**
 * On Ctrl-C (or SIGTERM, SIGHUP), removes every registered temporary folder and exits with
 * 128 + the signal number. The CLI installs this at start; writeFolderAtomically installs it too.
 */
export function installSignalCleanup(): void {
  if (signalHandlersInstalled) return;
  signalHandlersInstalled = true;
  for (const sig of Object.keys(SIGNAL_EXIT) as (keyof typeof SIGNAL_EXIT)[]) {
    process.on(sig, () => {
      for (const dir of pendingTemps) fs.rmSync(dir, { recursive: true, force: true });
      process.exit(SIGNAL_EXIT[sig]);
    });
  }
}

/** Registers a temporary folder (made by a reader, say) to be removed if the process is interrupted. */
export function registerTemp(dir: string): void {
  pendingTemps.add(dir);
}

export function releaseTemp(dir: string): void {
  pendingTemps.delete(dir);
}

/** Removes a registered temporary folder now and forgets it. */
export function removeTemp(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  releaseTemp(dir);
}
