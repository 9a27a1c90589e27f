import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GraftError } from '../errors';
import { installSignalCleanup, registerTemp, releaseTemp } from '../io/temp';

/**
 * Refuses output paths graft must not write through, before any work is done:
 * - a symlink as the output folder itself (it would write somewhere the user did not name).
 *   Symlinks among its parents are followed: the user named that path, and the temporary
 *   folder is created beside the output, so the final rename stays on one file system;
 * - a file, or a non-empty folder without `force`;
 * - with `force`, a folder whose replacement would destroy more than old output: the file
 *   system root, the home folder, the working folder or one of its parents, or a folder
 *   holding one of `protectedPaths` (the source, target or mapping table being read).
 */
export function checkOutputDir(outDir: string, force: boolean, protectedPaths: readonly string[] = []): void {
  if (!outDir) throw new GraftError('OUTPUT', 'the output folder name is empty');
  if (outDir.includes('\0')) throw new GraftError('OUTPUT', 'the output folder name holds a NUL byte');
  const abs = path.resolve(outDir);
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(outDir);
  } catch {
    const parent = path.dirname(abs);
    let parentStat: fs.Stats;
    try {
      parentStat = fs.statSync(parent);
    } catch {
      throw new GraftError('OUTPUT', `parent folder ${parent} does not exist`, { file: outDir });
    }
    if (!parentStat.isDirectory()) throw new GraftError('OUTPUT', `parent ${parent} is not a folder`, { file: outDir });
    return;
  }
  if (stat.isSymbolicLink()) throw new GraftError('OUTPUT', 'is a symbolic link; graft does not write through links', { file: outDir });
  if (!stat.isDirectory()) throw new GraftError('OUTPUT', 'exists and is not a folder', { file: outDir });
  if (fs.readdirSync(outDir).length === 0) return;
  if (!force) throw new GraftError('OUTPUT', 'is not empty (use --force to replace it)', { file: outDir });
  const inside = (p: string) => {
    const rel = path.relative(abs, path.resolve(p));
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  };
  if (abs === path.parse(abs).root || abs === path.resolve(os.homedir()) || inside(workingFolder())) {
    throw new GraftError('OUTPUT', 'is the root, home or working folder (or holds the working folder); --force will not replace it, name a dedicated output folder', { file: outDir });
  }
  const held = protectedPaths.find((p) => p && inside(p));
  if (held) throw new GraftError('OUTPUT', `holds ${held}, which this conversion reads; --force will not replace it`, { file: outDir });
}

/** The working folder, or the root when it no longer exists (then it holds nothing to protect). */
function workingFolder(): string {
  try {
    return process.cwd();
  } catch {
    return path.parse(process.execPath).root;
  }
}

/** Lets the event loop run once, so a pending Ctrl-C is handled before the output appears. */
function yieldToSignals(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
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
  installSignalCleanup();
  let tmp: string;
  try {
    tmp = fs.mkdtempSync(path.join(parent, `.${base}.graft-tmp-`));
  } catch (e) {
    throw new GraftError('OUTPUT', `cannot create a temporary folder beside it (${(e as Error).message})`, { file: outDir });
  }
  registerTemp(tmp);
  try {
    await fill(tmp);
    // An interrupt that arrived while the (synchronous) writes ran is handled here, before the rename.
    await yieldToSignals();
    // mkdtemp makes the folder private (0700); the output gets the permissions a new folder would.
    fs.chmodSync(tmp, 0o777 & ~process.umask());
    // Re-check: the folder may have appeared or changed while we were writing.
    checkOutputDir(outDir, force);
    if (fs.existsSync(abs)) {
      // Both renames run without yielding, so no signal handler can run between them.
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
    releaseTemp(tmp);
  }
}

/**
 * Writes a small file (a report) whole or not at all, and never through a symbolic link: the
 * text goes to a temporary sibling first, then is renamed over `file`.
 */
export function writeFileAtomically(file: string, text: string): void {
  try {
    if (fs.lstatSync(file).isSymbolicLink()) throw new GraftError('OUTPUT', 'is a symbolic link; graft does not write through links', { file });
  } catch (e) {
    if (e instanceof GraftError) throw e;
  }
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.graft-tmp-${process.pid}`);
  try {
    fs.writeFileSync(tmp, text, { flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new GraftError('OUTPUT', `cannot be written (${(e as Error).message})`, { file });
  }
}
