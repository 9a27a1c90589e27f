import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/**
 * Temporary files and folders graft must not leave behind: readers register the private copies
 * they extract (a `.keras` member), the writer its half-written output.
 */

const pendingTemps = new Set<string>();
let guardianWanted = false;
let guardian: { registry: string } | undefined;

/** The file in a graft temporary folder that marks it as graft's own, with the writer's pid. */
export const TEMP_MARKER = '.graft-tmp-owner';

/**
 * Signals are never caught: Ctrl-C, SIGTERM and SIGHUP terminate graft at once (the shell reports
 * 128 + the signal number, 130 for Ctrl-C), even in the middle of a long synchronous parse, where
 * a JavaScript handler would only run once the work ended. Cleanup therefore cannot run in this
 * process: the CLI calls this at start, and the first temporary folder then starts a guardian, a
 * small detached process that holds one end of a pipe. When graft ends, however it ends (a signal,
 * a crash, kill -9), the pipe closes and the guardian removes the temporary folders still
 * registered. Folders left anyway (the guardian killed too) are swept by the next run there
 * (sweepStaleTemps).
 */
export function installSignalCleanup(): void {
  guardianWanted = true;
}

/** Runs in the guardian: waits for the pipe from graft to close, then removes what is registered. */
const GUARDIAN_SCRIPT = `
const fs = require('fs');
const registry = process.argv[1];
let done = false;
const finish = () => {
  if (done) return;
  done = true;
  try {
    for (const dir of JSON.parse(fs.readFileSync(registry, 'utf8'))) if (typeof dir === 'string' && dir.includes('graft-')) fs.rmSync(dir, { recursive: true, force: true });
  } catch {}
  try { fs.rmSync(registry, { force: true }); } catch {}
  process.exit(0);
};
process.stdin.on('end', finish);
process.stdin.on('close', finish);
process.stdin.on('error', finish);
process.stdin.resume();
`;

function startGuardian(): { registry: string } | undefined {
  try {
    const registry = path.join(os.tmpdir(), `graft-guard-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(registry, '[]', { flag: 'wx', mode: 0o600 });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { spawn } = require('child_process') as typeof import('child_process');
    // Detached: a Ctrl-C sent to graft's process group does not reach the guardian.
    const child = spawn(process.execPath, ['-e', GUARDIAN_SCRIPT, registry], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    child.on('error', () => undefined);
    child.unref();
    (child.stdin as unknown as { unref?: () => void })?.unref?.();
    return { registry };
  } catch {
    return undefined;
  }
}

function syncGuardian(): void {
  if (!guardianWanted) return;
  guardian ??= startGuardian();
  if (!guardian) return;
  try {
    fs.writeFileSync(guardian.registry, JSON.stringify([...pendingTemps]));
  } catch {
    // The next run's sweep still removes the folder.
  }
}

/** Registers a temporary folder (made by a reader, say) to be removed however graft ends. */
export function registerTemp(dir: string): void {
  pendingTemps.add(dir);
  syncGuardian();
}

export function releaseTemp(dir: string): void {
  if (pendingTemps.delete(dir)) syncGuardian();
}

/** Whether a process with this pid runs (a pid of another user counts as running). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Makes a temporary folder named `<prefix><pid>-<random>`, registered before it exists and
 * marked inside as graft's own (the sweep removes only folders with both the name and the mark).
 */
export function makeTempFolder(prefix: string): string {
  const dir = `${prefix}${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  registerTemp(dir);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.writeFileSync(path.join(dir, TEMP_MARKER), `${process.pid}\n`, { flag: 'wx' });
  } catch (e) {
    releaseTemp(dir);
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return dir;
}

/**
 * Removes folders a killed graft left in `parent`: named `<startsWith>…`, real folders (not
 * links), holding graft's marker whose pid no longer runs. Anything else is left alone.
 */
export function sweepStaleTemps(parent: string, startsWith: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(startsWith)) continue;
    const dir = path.join(parent, name);
    try {
      if (!fs.lstatSync(dir).isDirectory()) continue;
      const marker = path.join(dir, TEMP_MARKER);
      const st = fs.lstatSync(marker);
      if (!st.isFile() || st.size > 32) continue;
      const pid = Number(fs.readFileSync(marker, 'utf8').trim());
      if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || alive(pid)) continue;
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // Not ours, or gone already.
    }
  }
}

/** Removes a registered temporary folder now and forgets it. */
export function removeTemp(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  releaseTemp(dir);
}
