/**
 * What graft does to the output folder: writes it atomically, never touches an existing one
 * without --force (and never the working folder or one holding its inputs even with it), never
 * writes through a symlinked output, and leaves nothing behind when a conversion fails or is
 * interrupted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { TEMP_MARKER, checkOutputDir, writeFolderAtomically } from '../src/output/atomic';
import { writeLayersModel, WeightToWrite } from '../src/output/writer';
import { GraftError } from '../src/errors';
import { CLI, graft } from './helpers/cli';
import { safetensorsPrefix } from './helpers/hostile-build';
import { fixture } from './helpers/realworld';
import { tempDir as freshDir } from './helpers/temp';

const mlp = fixture('torch/mlp');
const builtCli = fs.existsSync(CLI);

function tempDir(): string {
  return freshDir('graft-out-safety-');
}

/** Every file under a folder with its contents, to prove it was not touched. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const p = path.join(dir, entry);
    const st = fs.lstatSync(p);
    out[entry] = st.isFile() ? `${fs.readFileSync(p, 'base64')}@${st.mtimeMs}` : st.isDirectory() ? 'dir' : 'other';
  }
  return out;
}

function leftovers(parent: string): string[] {
  return fs.readdirSync(parent).filter((n) => n.includes('graft-tmp'));
}

test('a fill that fails leaves no output folder and no temporary folder; an existing folder is untouched', async () => {
  const parent = tempDir();
  try {
    const out = path.join(parent, 'out');
    await assert.rejects(
      writeFolderAtomically(out, false, async (tmp) => {
        fs.writeFileSync(path.join(tmp, 'model.json'), '{}');
        throw new GraftError('CORRUPT', 'failed half-way');
      }),
      /failed half-way/,
    );
    assert.equal(fs.existsSync(out), false);
    assert.deepEqual(leftovers(parent), []);

    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'keep.txt'), 'user data');
    const before = snapshot(out);
    await assert.rejects(
      writeFolderAtomically(out, true, async (tmp) => {
        fs.writeFileSync(path.join(tmp, 'model.json'), '{}');
        throw new Error('disk full');
      }),
      /disk full/,
    );
    assert.deepEqual(snapshot(out), before);
    assert.deepEqual(leftovers(parent), []);
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
  }
});

test('a writer failing mid-way through many shards leaves no folder, no temporary folder and no open file', async () => {
  const parent = tempDir();
  const openFiles = () => fs.readdirSync('/proc/self/fd').length;
  try {
    const out = path.join(parent, 'out');
    // 64 weights of 1 KiB in 1 KiB shards; the 41st fails while the writer is under way.
    const weight = (i: number, fail: boolean): WeightToWrite => ({
      spec: { name: `w${i}`, shape: [256], dtype: 'float32' },
      bytes: () => new Uint8Array(1024),
      chunks: async function* () {
        if (fail) throw new GraftError('CORRUPT', `tensor ${i} is damaged`);
        yield new Uint8Array(1024).fill(i);
      },
    });
    const model = { format: 'layers-model', modelTopology: {} } as never;
    const before = openFiles();
    await assert.rejects(writeLayersModel(out, model, Array.from({ length: 64 }, (_, i) => weight(i, i === 40)), { shardBytes: 1024 }), /tensor 40 is damaged/);
    assert.equal(fs.existsSync(out), false);
    assert.deepEqual(leftovers(parent), []);
    assert.equal(openFiles(), before, 'every file opened was closed');
    // The same weights written whole: every shard holds its own weight's bytes.
    const { files } = await writeLayersModel(out, model, Array.from({ length: 64 }, (_, i) => weight(i, false)), { shardBytes: 1024 });
    assert.equal(files.length, 65);
    for (let i = 0; i < 64; i++) assert.ok(fs.readFileSync(path.join(out, `group1-shard${i + 1}of64.bin`)).equals(Buffer.alloc(1024, i)));
    assert.equal(openFiles(), before);
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
  }
});

test('a written folder replaces the old one whole and gets ordinary permissions, not the temporary 0700', async () => {
  const parent = tempDir();
  try {
    const out = path.join(parent, 'out');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'old.bin'), 'old');
    await writeFolderAtomically(out, true, async (tmp) => fs.writeFileSync(path.join(tmp, 'model.json'), '{"new": true}'));
    assert.deepEqual(fs.readdirSync(out), ['model.json']);
    const umask = process.umask();
    assert.equal(fs.statSync(out).mode & 0o777, 0o777 & ~umask);
    assert.deepEqual(leftovers(parent), []);
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
  }
});

test('checkOutputDir: symlinks, files, missing parents, and what --force will not replace', () => {
  const parent = tempDir();
  const cwd = process.cwd();
  try {
    const real = path.join(parent, 'real');
    fs.mkdirSync(real);
    const expectOutput = (f: () => void, says: RegExp) => assert.throws(f, (e: unknown) => e instanceof GraftError && e.code === 'OUTPUT' && says.test(e.message));
    // The output itself may not be a link, even a dangling one (its target would be created).
    fs.symlinkSync(real, path.join(parent, 'link'));
    fs.symlinkSync(path.join(parent, 'nowhere'), path.join(parent, 'dangling'));
    expectOutput(() => checkOutputDir(path.join(parent, 'link'), true), /symbolic link/);
    expectOutput(() => checkOutputDir(path.join(parent, 'dangling'), true), /symbolic link/);
    assert.equal(fs.existsSync(path.join(parent, 'nowhere')), false);
    // A link among the parents is followed: the user named that path (documented in the README).
    assert.doesNotThrow(() => checkOutputDir(path.join(parent, 'link', 'out'), false));
    fs.writeFileSync(path.join(parent, 'file'), 'x');
    expectOutput(() => checkOutputDir(path.join(parent, 'file'), true), /not a folder/);
    expectOutput(() => checkOutputDir(path.join(parent, 'file', 'out'), true), /is not a folder/);
    expectOutput(() => checkOutputDir(path.join(parent, 'missing', 'out'), true), /does not exist/);
    expectOutput(() => checkOutputDir('', true), /empty/);
    // Non-empty: refused without --force; with it, never the working folder (or a parent of it)
    // nor a folder holding an input of the conversion.
    fs.writeFileSync(path.join(real, 'model.pt'), 'x');
    expectOutput(() => checkOutputDir(real, false), /not empty/);
    assert.doesNotThrow(() => checkOutputDir(real, true));
    expectOutput(() => checkOutputDir(real, true, [path.join(real, 'model.pt')]), /holds .*model\.pt, which this conversion reads/);
    process.chdir(real);
    expectOutput(() => checkOutputDir('.', true), /working folder/);
    expectOutput(() => checkOutputDir(parent, true), /working folder/);
    expectOutput(() => checkOutputDir(os.homedir(), true), /home|working/);
  } finally {
    process.chdir(cwd);
    fs.rmSync(parent, { recursive: true, force: true });
  }
});

test('CLI: a conversion failing mid-way (damaged tensor data) leaves no model.json and no temp folder', { skip: !builtCli && 'dist/ not built' }, () => {
  const parent = tempDir();
  try {
    // The header is intact, so the failure comes when the data is read, after the output checks.
    const bytes = fs.readFileSync(path.join(mlp, 'model.safetensors'));
    const src = path.join(parent, 'model.safetensors');
    fs.writeFileSync(src, bytes.subarray(0, bytes.length - 40));
    const out = path.join(parent, 'out');
    const r = graft(['convert', src, '--target', path.join(mlp, 'target.json'), '--out', out]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.equal(fs.existsSync(out), false);
    assert.deepEqual(leftovers(parent), []);
    // The same with an existing --force'd folder: it stays exactly as it was.
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'keep.txt'), 'user data');
    const before = snapshot(out);
    const forced = graft(['convert', src, '--target', path.join(mlp, 'target.json'), '--out', out, '--force']);
    assert.equal(forced.code, 1, forced.stderr);
    assert.deepEqual(snapshot(out), before);
    assert.deepEqual(leftovers(parent), []);
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
  }
});

test('CLI: --out . --force in a folder holding the source is refused and nothing is touched', { skip: !builtCli && 'dist/ not built' }, () => {
  const dir = tempDir();
  try {
    fs.copyFileSync(path.join(mlp, 'model.npz'), path.join(dir, 'model.npz'));
    fs.copyFileSync(path.join(mlp, 'target.json'), path.join(dir, 'target.json'));
    const before = snapshot(dir);
    const r = graft(['convert', 'model.npz', '--target', 'target.json', '--out', '.', '--force'], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /working folder/);
    assert.deepEqual(snapshot(dir), before);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A ~100 MB safetensors file (one Linear 10000→2500) and its tfjs target, in `dir`. */
function bigModel(dir: string): { source: string; target: string } {
  const rows = 2500;
  const cols = 10000;
  const weightBytes = rows * cols * 4;
  const header = {
    'fc.weight': { dtype: 'F32', shape: [rows, cols], data_offsets: [0, weightBytes] },
    'fc.bias': { dtype: 'F32', shape: [rows], data_offsets: [weightBytes, weightBytes + rows * 4] },
  };
  const source = path.join(dir, 'big.safetensors');
  const fd = fs.openSync(source, 'w');
  fs.writeSync(fd, safetensorsPrefix(header));
  const chunk = Buffer.alloc(16 << 20, 0x3c);
  for (let left = weightBytes + rows * 4; left > 0; left -= chunk.length) fs.writeSync(fd, chunk, 0, Math.min(left, chunk.length));
  fs.closeSync(fd);
  const target = path.join(dir, 'target.json');
  fs.writeFileSync(target, JSON.stringify({
    format: 'layers-model',
    modelTopology: {
      class_name: 'Sequential',
      config: { name: 'big', layers: [{ class_name: 'Dense', config: { name: 'fc', units: rows, use_bias: true, batch_input_shape: [null, cols] } }] },
      keras_version: 'tfjs-layers 4.22.0',
      backend: 'tensor_flow.js',
    },
  }));
  return { source, target };
}

/**
 * Starts a conversion, sends SIGINT as soon as its temporary folder appears beside `out`
 * (so the interrupt lands while shards are being written), and waits for it to end.
 */
function interruptWhileWriting(source: string, target: string, out: string, extra: string[], signal: NodeJS.Signals = 'SIGINT'): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; sawTemp: boolean; msToExit: number }> {
  return new Promise((resolve) => {
    const parent = path.dirname(out);
    const child = spawn(process.execPath, [CLI, 'convert', source, '--target', target, '--out', out, '--shard-size', '64KB', '--quiet', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let sawTemp = false;
    let sentAt = 0;
    const watcher = fs.watch(parent, (_event, name) => {
      if (!sawTemp && name && String(name).includes('graft-tmp')) {
        sawTemp = true;
        sentAt = Date.now();
        child.kill(signal);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      watcher.close();
      resolve({ code, signal: sig, stderr, sawTemp, msToExit: Date.now() - sentAt });
    });
  });
}

/** Waits up to `ms` for `check` to hold (the guardian removes temp folders just after graft ends). */
async function eventually(check: () => boolean, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

test('CLI: Ctrl-C while shards are written ends graft at once (exit 130 in the shell) and leaves no output and no temp folder; an existing folder is untouched', { skip: !builtCli && 'dist/ not built' }, async () => {
  const parent = tempDir();
  try {
    const { source, target } = bigModel(parent);
    const outParent = path.join(parent, 'outs');
    fs.mkdirSync(outParent);

    const out = path.join(outParent, 'fresh');
    const fresh = await interruptWhileWriting(source, target, out, []);
    assert.ok(fresh.sawTemp, `the conversion never started writing: ${fresh.stderr}`);
    // Signals are not caught: graft dies of SIGINT, which shells report as exit status 130.
    assert.equal(fresh.signal, 'SIGINT', `ended with code ${fresh.code}: ${fresh.stderr}`);
    assert.ok(fresh.msToExit < 1000, `took ${fresh.msToExit} ms to stop`);
    assert.equal(fs.existsSync(out), false);
    assert.ok(await eventually(() => fs.readdirSync(outParent).length === 0), `left behind: ${fs.readdirSync(outParent).join(', ')}`);

    const existing = path.join(outParent, 'existing');
    fs.mkdirSync(existing);
    fs.writeFileSync(path.join(existing, 'model.json'), '{"mine": true}');
    const before = snapshot(existing);
    const forced = await interruptWhileWriting(source, target, existing, ['--force']);
    assert.ok(forced.sawTemp, forced.stderr);
    assert.equal(forced.signal, 'SIGINT', forced.stderr);
    assert.deepEqual(snapshot(existing), before);
    assert.ok(await eventually(() => fs.readdirSync(outParent).join() === 'existing'), `left behind: ${fs.readdirSync(outParent).join(', ')}`);

    // kill -9 too: the guardian sees graft's end and removes the temporary folder.
    const killed = await interruptWhileWriting(source, target, path.join(outParent, 'killed'), [], 'SIGKILL');
    assert.ok(killed.sawTemp, killed.stderr);
    assert.equal(killed.signal, 'SIGKILL');
    assert.ok(await eventually(() => fs.readdirSync(outParent).join() === 'existing'), `left behind: ${fs.readdirSync(outParent).join(', ')}`);
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
  }
});

test('stale temporary folders of a killed graft (name and marker, dead pid) are removed by the next run there; others are left alone', async () => {
  const parent = tempDir();
  try {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const stale = path.join(parent, `.out.graft-tmp-${dead}-abc`);
    fs.mkdirSync(stale);
    fs.writeFileSync(path.join(stale, TEMP_MARKER), `${dead}\n`);
    fs.writeFileSync(path.join(stale, 'group1-shard1of1.bin'), 'x');
    const unmarked = path.join(parent, '.out.graft-tmp-unmarked');
    fs.mkdirSync(unmarked);
    const live = path.join(parent, `.out.graft-tmp-${process.ppid}-def`);
    fs.mkdirSync(live);
    fs.writeFileSync(path.join(live, TEMP_MARKER), `${process.ppid}\n`);
    const other = path.join(parent, '.other.graft-tmp-1-x');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, TEMP_MARKER), `${dead}\n`);
    await writeFolderAtomically(path.join(parent, 'out'), false, async (tmp) => fs.writeFileSync(path.join(tmp, 'model.json'), '{}'));
    assert.deepEqual(fs.readdirSync(parent).sort(), ['.other.graft-tmp-1-x', `.out.graft-tmp-${process.ppid}-def`, '.out.graft-tmp-unmarked', 'out'].sort());
    assert.deepEqual(fs.readdirSync(path.join(parent, 'out')), ['model.json']);
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
  }
});
