/**
 * What graft does to the output folder: writes it atomically, never touches an existing one
 * without --force (and never the working folder or one holding its inputs even with it), never
 * writes through a symlinked output, and leaves nothing behind when a conversion fails or is
 * interrupted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkOutputDir, writeFolderAtomically } from '../src/output/atomic';
import { GraftError } from '../src/errors';
import { CLI, graft } from './helpers/cli';
import { fixture } from './helpers/realworld';

const mlp = fixture('torch/mlp');
const builtCli = fs.existsSync(CLI);

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'graft-out-safety-'));
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
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const source = path.join(dir, 'big.safetensors');
  const fd = fs.openSync(source, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  fs.writeSync(fd, len);
  fs.writeSync(fd, text);
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
function interruptWhileWriting(source: string, target: string, out: string, extra: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; sawTemp: boolean }> {
  return new Promise((resolve) => {
    const parent = path.dirname(out);
    const child = spawn(process.execPath, [CLI, 'convert', source, '--target', target, '--out', out, '--shard-size', '64KB', '--quiet', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let sawTemp = false;
    const watcher = fs.watch(parent, (_event, name) => {
      if (!sawTemp && name && String(name).includes('graft-tmp')) {
        sawTemp = true;
        child.kill('SIGINT');
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      watcher.close();
      resolve({ code, signal, stderr, sawTemp });
    });
  });
}

test('CLI: Ctrl-C while shards are written exits 130 and leaves no output and no temp folder; an existing folder is untouched', { skip: !builtCli && 'dist/ not built' }, async () => {
  const parent = tempDir();
  try {
    const { source, target } = bigModel(parent);
    const outParent = path.join(parent, 'outs');
    fs.mkdirSync(outParent);

    const out = path.join(outParent, 'fresh');
    const fresh = await interruptWhileWriting(source, target, out, []);
    assert.ok(fresh.sawTemp, `the conversion never started writing: ${fresh.stderr}`);
    assert.equal(fresh.signal, null, 'died of the signal instead of handling it');
    assert.equal(fresh.code, 130, fresh.stderr);
    assert.equal(fs.existsSync(out), false);
    assert.deepEqual(fs.readdirSync(outParent), []);

    const existing = path.join(outParent, 'existing');
    fs.mkdirSync(existing);
    fs.writeFileSync(path.join(existing, 'model.json'), '{"mine": true}');
    const before = snapshot(existing);
    const forced = await interruptWhileWriting(source, target, existing, ['--force']);
    assert.ok(forced.sawTemp, forced.stderr);
    assert.equal(forced.code, 130, forced.stderr);
    assert.deepEqual(snapshot(existing), before);
    assert.deepEqual(fs.readdirSync(outParent), ['existing']);
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
  }
});
