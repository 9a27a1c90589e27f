/**
 * Hostile inputs, round two, through the built CLI: what reaches the terminal, what is refused
 * as a usage error, what never blocks, what --force never deletes, and how signals end a run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { CLI, graft } from './helpers/cli';
import { tempDir } from './helpers/models';
import { fixture } from './helpers/realworld';
import { zipArchive } from './helpers/hostile-build';

const built = fs.existsSync(CLI);
const skip = !built && 'dist/ not built';
const mlp = fixture('torch/mlp');
/** A conversion or refusal of these small inputs takes well under this. */
const BOUND_MS = 20_000;

function oneLineError(r: { code: number; stderr: string }, code: number, says: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^graft: /);
  assert.match(lines[0], says);
  assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
}

/** safetensors bytes for `tensors` (name → float32 values, 1-D). */
function safetensors(tensors: Record<string, number[]>): Buffer {
  const header: Record<string, unknown> = {};
  const data: Buffer[] = [];
  let at = 0;
  for (const [name, values] of Object.entries(tensors)) {
    const b = Buffer.from(new Float32Array(values).buffer);
    header[name] = { dtype: 'F32', shape: [values.length], data_offsets: [at, at + b.length] };
    data.push(b);
    at += b.length;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  return Buffer.concat([len, Buffer.from(text), ...data]);
}

const EVIL = 'evil\u001b]0;pwned\u0007\u001b[2J\nforged line\u202e';

test('names from files reach the terminal escaped: convert summary, unused list, dry-run plan, inspect', { skip }, () => {
  const dir = tempDir();
  try {
    // The MLP's own tensors plus one hostile name, which ends up unused.
    const source = path.join(dir, 'model.safetensors');
    const original = fs.readFileSync(path.join(mlp, 'model.safetensors'));
    const n = Number(original.readBigUInt64LE(0));
    const header = JSON.parse(original.subarray(8, 8 + n).toString()) as Record<string, { data_offsets: number[] }>;
    const data = original.subarray(8 + n);
    const end = Math.max(...Object.values(header).filter((v) => v.data_offsets).map((v) => v.data_offsets[1]));
    (header as Record<string, unknown>)[EVIL] = { dtype: 'F32', shape: [1], data_offsets: [end, end + 4] };
    let text = JSON.stringify(header);
    text += ' '.repeat((8 - (text.length % 8)) % 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(text.length));
    fs.writeFileSync(source, Buffer.concat([len, Buffer.from(text), data.subarray(0, end), Buffer.alloc(4)]));
    const runs = [
      graft(['convert', source, '--target', path.join(mlp, 'target.json'), '--out', path.join(dir, 'out')]),
      graft(['convert', source, '--target', path.join(mlp, 'target.json'), '--dry-run']),
      graft(['inspect', source]),
      graft(['inspect', source, '--json']),
    ];
    for (const r of runs) {
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/, 'a control character reached the terminal');
      assert.doesNotMatch(r.stdout, /^forged line/m, 'a name forged a line');
    }
    assert.match(runs[0].stdout, /unused \(1\): evil\\x1b\]0;pwned\\x07\\x1b\[2J\\x0aforged line\\u202e/);
    assert.match(runs[1].stdout, /evil\\x1b/);
    // --json stays valid JSON and keeps the name exactly.
    const doc = JSON.parse(runs[3].stdout) as { tensors: { name: string }[] };
    assert.ok(doc.tensors.some((t) => t.name === EVIL));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('YAML mapping tables with unknown tags are errors (one line), not warnings', { skip }, () => {
  const dir = tempDir();
  try {
    const map = path.join(dir, 'map.yaml');
    fs.writeFileSync(map, 'rename: !!python/object/apply:os.system ["touch /tmp/graft-pwned"]\nignore: [!foo bar]\n');
    const r = graft(['convert', path.join(mlp, 'model.safetensors'), '--target', path.join(mlp, 'target.json'), '--map', map, '--dry-run']);
    oneLineError(r, 1, /map\.yaml: is not valid JSON or YAML \(Unresolved tag/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('numeric flags out of range are usage errors (exit 2): --shard-size 99999999999999999999, --epochs 1e20', { skip }, () => {
  const r = graft(['convert', path.join(mlp, 'model.safetensors'), '--target', path.join(mlp, 'target.json'), '--dry-run', '--shard-size', '99999999999999999999']);
  oneLineError(r, 2, /--shard-size must be at most 1 GiB|is not a size/);
  const r2 = graft(['finetune', mlp, '--data', 'x.npy', '--labels', 'y.npy', '--out', '/nonexistent/o', '--epochs', '99999999999999999999']);
  oneLineError(r2, 2, /--epochs must be a positive integer up to 2147483647/);
});

test('a FIFO or /dev/zero anywhere graft reads is refused at once: --target model.json, a shard of --target, verify and finetune folders, the source', { skip: (skip || process.platform === 'win32') && 'needs dist/ and mkfifo' }, () => {
  const dir = tempDir();
  try {
    const fifo = (p: string) => execFileSync('mkfifo', [p]);
    // --target is a FIFO named model.json.
    fs.mkdirSync(path.join(dir, 't1'));
    fifo(path.join(dir, 't1', 'model.json'));
    // A converted model whose shard is a FIFO: as --target (its own weights) and for verify / finetune.
    const model = path.join(dir, 'model');
    const ok = graft(['convert', path.join(mlp, 'model.safetensors'), '--target', path.join(mlp, 'target.json'), '--out', model, '--quiet']);
    assert.equal(ok.code, 0, ok.stderr);
    const clean = path.join(dir, 'clean');
    fs.cpSync(model, clean, { recursive: true });
    const shard = fs.readdirSync(model).find((f) => f.endsWith('.bin'))!;
    fs.rmSync(path.join(model, shard));
    fifo(path.join(model, shard));
    const runs: [string[], RegExp][] = [
      [['convert', path.join(mlp, 'model.safetensors'), '--target', path.join(dir, 't1', 'model.json'), '--dry-run'], /model\.json: is not a regular file/],
      [['convert', path.join(mlp, 'model.safetensors'), '--target', path.join(dir, 't1'), '--dry-run'], /model\.json: is not a regular file/],
      [['convert', path.join(mlp, 'model.safetensors'), '--target', model, '--include', '^fc1', '--out', path.join(dir, 'o2')], /is not a regular file/],
      [['verify', model, '--input', path.join(mlp, 'input.npy'), '--expect', path.join(mlp, 'output.npy')], /is not a regular file/],
      [['finetune', model, '--data', path.join(mlp, 'input.npy'), '--labels', path.join(mlp, 'input.npy'), '--out', path.join(dir, 'o3')], /is not a regular file/],
      [['inspect', '/dev/zero'], /\/dev\/zero: is not a regular file/],
      [['convert', path.join(mlp, 'model.safetensors'), '--target', path.join(mlp, 'target.json'), '--map', '/dev/zero', '--dry-run'], /\/dev\/zero: is not a regular file/],
      [['verify', clean, '--input', '/dev/zero', '--expect', path.join(mlp, 'output.npy')], /\/dev\/zero: is not a regular file/],
      [['finetune', clean, '--data', path.join(dir, 't1', 'model.json'), '--labels', path.join(mlp, 'input.npy'), '--out', path.join(dir, 'o4')], /model\.json: is not a regular file/],
    ];
    for (const [args, says] of runs) {
      const t0 = Date.now();
      const r = graft(args, { timeoutMs: BOUND_MS });
      assert.ok(Date.now() - t0 < BOUND_MS, `${args.join(' ')} blocked`);
      oneLineError(r, 1, says);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--report that cannot be written fails before --out is committed; --out link/ is still a link', { skip }, () => {
  const dir = tempDir();
  try {
    const out = path.join(dir, 'out');
    fs.mkdirSync(path.join(dir, 'a-folder'));
    for (const report of [path.join(dir, 'missing', 'r.json'), path.join(dir, 'a-folder')]) {
      const r = graft(['convert', path.join(mlp, 'model.safetensors'), '--target', path.join(mlp, 'target.json'), '--out', out, '--report', report]);
      oneLineError(r, 1, /cannot be written|is not a regular file/);
      assert.equal(fs.existsSync(out), false, 'the output was committed before the report failed');
    }
    assert.deepEqual(fs.readdirSync(dir).sort(), ['a-folder']);
    // A trailing slash does not get past the symlink refusal.
    fs.mkdirSync(path.join(dir, 'real'));
    fs.writeFileSync(path.join(dir, 'real', 'keep'), 'x');
    fs.symlinkSync('real', path.join(dir, 'link'));
    for (const force of [[], ['--force']]) {
      const r = graft(['convert', path.join(mlp, 'model.safetensors'), '--target', path.join(mlp, 'target.json'), '--out', `${path.join(dir, 'link')}/`, ...force]);
      oneLineError(r, 1, /is a symbolic link/);
    }
    assert.ok(fs.lstatSync(path.join(dir, 'link')).isSymbolicLink());
    assert.deepEqual(fs.readdirSync(path.join(dir, 'real')), ['keep']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--force never deletes a folder holding, by real path, a file this run reads: inputs through an alias, ONNX external data', { skip }, () => {
  const dir = tempDir();
  try {
    // Inputs given as alias/… where alias → real; --out real --force.
    const real = path.join(dir, 'real');
    fs.mkdirSync(real);
    fs.copyFileSync(path.join(mlp, 'model.safetensors'), path.join(real, 'model.safetensors'));
    fs.copyFileSync(path.join(mlp, 'target.json'), path.join(real, 'target.json'));
    fs.symlinkSync('real', path.join(dir, 'alias'));
    const r = graft(['convert', path.join(dir, 'alias', 'model.safetensors'), '--target', path.join(dir, 'alias', 'target.json'), '--out', real, '--force']);
    oneLineError(r, 1, /which this conversion reads; --force will not replace it/);
    assert.deepEqual(fs.readdirSync(real).sort(), ['model.safetensors', 'target.json']);

    // ONNX external data in data/, converted with --out data --force: data/ is read, so kept.
    const data = path.join(dir, 'data');
    fs.mkdirSync(data);
    fs.copyFileSync(fixture('hostile/onnx/external/control.onnx'), path.join(data, 'control.onnx'));
    fs.copyFileSync(fixture('hostile/onnx/external/weights.bin'), path.join(data, 'weights.bin'));
    const onnx = path.join(dir, 'model.onnx');
    fs.copyFileSync(path.join(data, 'control.onnx'), onnx);
    fs.rmSync(path.join(data, 'control.onnx'));
    // The model names 'weights.bin' beside itself: put it there through a link into data/.
    fs.symlinkSync(path.join('data', 'weights.bin'), path.join(dir, 'weights.bin'));
    const target = path.join(dir, 'target.json');
    fs.writeFileSync(target, JSON.stringify({
      format: 'layers-model',
      modelTopology: { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'Dense', config: { name: 'w', units: 2, use_bias: false, batch_input_shape: [null, 2] } }] } },
    }));
    const before = fs.readFileSync(path.join(data, 'weights.bin'));
    const r2 = graft(['convert', onnx, '--target', target, '--out', data, '--force', '--map', mapFor(dir)]);
    assert.equal(r2.code, 1, r2.stderr + r2.stdout);
    assert.match(r2.stderr, /weights\.bin, which this conversion reads; --force will not replace it/);
    assert.deepEqual(fs.readFileSync(path.join(data, 'weights.bin')), before);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function mapFor(dir: string): string {
  const map = path.join(dir, 'map.json');
  fs.writeFileSync(map, JSON.stringify({ tensors: [{ source: 'w', target: 'w/kernel' }] }));
  return map;
}

test('--target nested 100,000 deep is a one-line CORRUPT error, not an internal error', { skip }, () => {
  const dir = tempDir();
  try {
    const target = path.join(dir, 'deep.json');
    fs.writeFileSync(target, `{"format": "layers-model", "modelTopology": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    const r = graft(['convert', path.join(mlp, 'model.safetensors'), '--target', target, '--dry-run']);
    oneLineError(r, 1, /nests more than 256 levels deep/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('SIGINT ends a busy run (a long synchronous unpickle) within a second', { skip }, async () => {
  const dir = tempDir();
  try {
    // A legitimate-size pickle (48 MB of small ints appended to one list, 1,000 per MARK …
    // APPENDS) that takes seconds to unpickle in one synchronous call.
    const block = Buffer.alloc(2002);
    block[0] = 0x28; // MARK
    for (let i = 0; i < 1000; i++) {
      block[1 + 2 * i] = 0x4b; // BININT1
      block[2 + 2 * i] = i & 0x7f;
    }
    block[2001] = 0x65; // APPENDS
    const blocks = Math.floor((48 << 20) / block.length);
    const pkl = Buffer.concat([Buffer.from([0x80, 0x02, 0x5d]), ...Array.from({ length: blocks }, () => block), Buffer.from([0x2e])]);
    const file = path.join(dir, 'busy.pt');
    fs.writeFileSync(file, zipArchive([{ name: 'archive/data.pkl', stored: pkl }]));
    const child = spawn(process.execPath, [CLI, 'inspect', file], { stdio: 'ignore' });
    const closed = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_c, s) => resolve(s)));
    await new Promise((r) => setTimeout(r, 1500));
    const sent = Date.now();
    const stillRunning = child.exitCode === null;
    child.kill('SIGINT');
    const signal = await closed;
    const ms = Date.now() - sent;
    assert.ok(stillRunning, 'the run ended before the signal: make the pickle bigger');
    assert.equal(signal, 'SIGINT');
    assert.ok(ms < 1000, `took ${ms} ms after SIGINT`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
