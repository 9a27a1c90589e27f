import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GraftError, printable } from '../errors';
import { filesRead } from '../io/bytes';
import { TEMP_MARKER, makeTempFolder, registerTemp, releaseTemp, sweepStaleTemps } from '../io/temp';

export { TEMP_MARKER } from '../io/temp';

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
  outDir = stripTrailingSlashes(outDir);
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
  // Compared lexically and by real path: `alias/model.pt` (alias → out) is inside out too.
  const realOut = realOrSelf(abs);
  const inside = (p: string) => isInside(abs, path.resolve(p)) || isInside(realOut, realOrSelf(path.resolve(p)));
  if (abs === path.parse(abs).root || realOut === path.parse(realOut).root || abs === path.resolve(os.homedir()) || realOut === realOrSelf(os.homedir()) || inside(workingFolder())) {
    throw new GraftError('OUTPUT', 'is the root, home or working folder (or holds the working folder); --force will not replace it, name a dedicated output folder', { file: outDir });
  }
  // Every file read so far in this run (sources, shards, external data named inside a source)
  // counts as well as the paths given: the last check runs after all reading is done.
  const held = [...protectedPaths, ...filesRead()].find((p) => p && inside(p));
  if (held) throw new GraftError('OUTPUT', `holds ${printable(held, 400)}, which this conversion reads; --force will not replace it`, { file: outDir });
}

function realOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

function isInside(dir: string, p: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The working folder, or the root when it no longer exists (then it holds nothing to protect). */
function workingFolder(): string {
  try {
    return process.cwd();
  } catch {
    return path.parse(process.execPath).root;
  }
}

/**
 * Writes a folder atomically: `fill` writes into a temporary sibling folder, which then replaces
 * `outDir` with renames. A failure (or an interrupt) leaves `outDir` exactly as it was.
 * `beforeCommit` runs after `fill`, before anything at `outDir` changes (a report check, say).
 */
export async function writeFolderAtomically(outDir: string, force: boolean, fill: (tmpDir: string) => Promise<void>, protectedPaths: readonly string[] = [], beforeCommit?: () => void): Promise<void> {
  outDir = stripTrailingSlashes(outDir);
  checkOutputDir(outDir, force, protectedPaths);
  const abs = path.resolve(outDir);
  const parent = path.dirname(abs);
  const base = path.basename(abs);
  const prefix = `.${base}.graft-tmp-`;
  sweepStaleTemps(parent, prefix);
  let tmp: string;
  try {
    tmp = makeTempFolder(path.join(parent, prefix));
  } catch (e) {
    throw new GraftError('OUTPUT', `cannot create a temporary folder beside it (${(e as Error).message})`, { file: outDir });
  }
  try {
    await fill(tmp);
    fs.rmSync(path.join(tmp, TEMP_MARKER), { force: true });
    beforeCommit?.();
    // mkdtemp makes the folder private (0700); the output gets the permissions a new folder would.
    fs.chmodSync(tmp, 0o777 & ~process.umask());
    // Re-check: the folder may have appeared or changed while we were writing.
    checkOutputDir(outDir, force, protectedPaths);
    if (fs.existsSync(abs)) {
      // Both renames run without yielding. The old folder moves into the temporary name space
      // (registered, marked) so that a kill between the renames leaves it to the guardian.
      const old = `${tmp}-old`;
      registerTemp(old);
      fs.renameSync(abs, old);
      try {
        fs.renameSync(tmp, abs);
      } catch (e) {
        fs.renameSync(old, abs);
        releaseTemp(old);
        throw e;
      }
      fs.rmSync(old, { recursive: true, force: true });
      releaseTemp(old);
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

/** `out/` and `out` name the same folder; the symlink check must see `out`, not its target. */
export function stripTrailingSlashes(p: string): string {
  const stripped = p.replace(/\/+$/, '');
  return stripped === '' ? (p.startsWith('/') ? '/' : p) : stripped;
}

/**
 * Writes a small file (a report) whole or not at all, and never through a symbolic link: the
 * text goes to a temporary sibling first, then is renamed over `file`.
 */
export function writeFileAtomically(file: string, text: string): void {
  prepareFileAtomically(file).commit(text);
}

/**
 * Checks up front that `file` can be written (not a link, not a folder, its folder writable) by
 * creating its temporary sibling now; `commit` later fills it and renames it into place. The
 * CLI prepares `--report` this way before `--out` is committed, so a report that cannot be
 * written fails the run before any output appears.
 */
export function prepareFileAtomically(file: string): { commit(text: string): void; discard(): void } {
  let stat: fs.Stats | undefined;
  try {
    stat = fs.lstatSync(file);
  } catch {
    stat = undefined;
  }
  if (stat?.isSymbolicLink()) throw new GraftError('OUTPUT', 'is a symbolic link; graft does not write through links', { file });
  if (stat && !stat.isFile()) throw new GraftError('OUTPUT', 'exists and is not a regular file', { file });
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.graft-tmp-${process.pid}`);
  registerTemp(tmp);
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'wx', 0o666);
  } catch (e) {
    releaseTemp(tmp);
    throw new GraftError('OUTPUT', `cannot be written (${(e as Error).message})`, { file });
  }
  let done = false;
  const discard = (): void => {
    if (done) return;
    done = true;
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
    fs.rmSync(tmp, { force: true });
    releaseTemp(tmp);
  };
  return {
    commit(text: string): void {
      if (done) throw new Error('report already written or discarded');
      try {
        fs.writeSync(fd, text);
        fs.closeSync(fd);
        done = true;
        fs.renameSync(tmp, file);
        releaseTemp(tmp);
      } catch (e) {
        done = false;
        discard();
        throw new GraftError('OUTPUT', `cannot be written (${(e as Error).message})`, { file });
      }
    },
    discard,
  };
}
