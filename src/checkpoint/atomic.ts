import * as fs from 'fs';
import * as path from 'path';
import { GraftError } from '../errors';

/**
 * Refuses output paths graft must not write through, before any work is done:
 * a symlink (it would write somewhere the user did not name), a file, or a non-empty folder
 * without `force`.
 */
export function checkOutputDir(outDir: string, force: boolean): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(outDir);
  } catch {
    const parent = path.dirname(path.resolve(outDir));
    if (!fs.existsSync(parent)) throw new GraftError('OUTPUT', `parent folder ${parent} does not exist`, { file: outDir });
    return;
  }
  if (stat.isSymbolicLink()) throw new GraftError('OUTPUT', 'is a symbolic link; graft does not write through links', { file: outDir });
  if (!stat.isDirectory()) throw new GraftError('OUTPUT', 'exists and is not a folder', { file: outDir });
  if (!force && fs.readdirSync(outDir).length > 0) throw new GraftError('OUTPUT', 'is not empty (use --force to replace it)', { file: outDir });
}

const pendingTemps = new Set<string>();
let signalHandlersInstalled = false;

/** On Ctrl-C or kill, half-written temporary folders are removed before the process ends. */
function installSignalCleanup(): void {
  if (signalHandlersInstalled) return;
  signalHandlersInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      for (const dir of pendingTemps) fs.rmSync(dir, { recursive: true, force: true });
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

/**
 * Writes a folder atomically: `fill` writes into a temporary sibling folder, which then replaces
 * `outDir` with renames. A failure (or an interrupt) leaves `outDir` exactly as it was.
 */
export async function writeFolderAtomically(outDir: string, force: boolean, fill: (tmpDir: string) => Promise<void>): Promise<void> {
  checkOutputDir(outDir, force);
  const abs = path.resolve(outDir);
  const parent = path.dirname(abs);
  const base = path.basename(abs);
  const tmp = fs.mkdtempSync(path.join(parent, `.${base}.graft-tmp-`));
  pendingTemps.add(tmp);
  installSignalCleanup();
  try {
    await fill(tmp);
    // Re-check: the folder may have appeared or changed while we were writing.
    checkOutputDir(outDir, force);
    if (fs.existsSync(abs)) {
      const old = `${tmp}-old`;
      fs.renameSync(abs, old);
      try {
        fs.renameSync(tmp, abs);
      } catch (e) {
        fs.renameSync(old, abs);
        throw e;
      }
      fs.rmSync(old, { recursive: true, force: true });
    } else {
      fs.renameSync(tmp, abs);
    }
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (e instanceof GraftError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err.code === 'string') throw new GraftError('OUTPUT', `cannot be written (${err.message})`, { file: outDir });
    throw e;
  } finally {
    pendingTemps.delete(tmp);
  }
}
