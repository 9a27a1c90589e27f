import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { fixture } from './helpers/realworld';
import { tempDir } from './helpers/models';
import { graft } from './helpers/cli';

const mlp = fixture('torch/mlp');
const seed = fixture('torch/seed_mlp');

test('graft --help lists the commands; exit 0', () => {
  const r = graft(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /inspect/);
  assert.match(r.stdout, /convert/);
  const c = graft(['convert', '--help']);
  assert.equal(c.code, 0);
  for (const flag of ['--out', '--target', '--map', '--from', '--include', '--exclude', '--freeze', '--report', '--force', '--dry-run']) assert.ok(c.stdout.includes(flag), flag);
});

test('inspect --json prints format and tensors', () => {
  const r = graft(['inspect', path.join(mlp, 'model.safetensors'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.format, 'safetensors');
  assert.deepEqual(doc.tensors[0], { name: 'fc1.weight', dtype: 'float32', shape: [16, 12], bytes: 768 });
  assert.equal(doc.tensors.length, 6);
});

test('inspect prints a table', () => {
  const r = graft(['inspect', path.join(mlp, 'model.npz')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /fc2\.weight\s+float32\s+\[16, 16\]/);
});

test('convert --dry-run prints the plan and writes nothing', () => {
  const parent = tempDir();
  const out = path.join(parent, 'out');
  const r = graft(['convert', path.join(mlp, 'model.npz'), '--target', path.join(mlp, 'target.json'), '--out', out, '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /fc1\.weight\s+\[16, 12\]\s+transpose\s+fc1\/kernel\s+\[12, 16\]/);
  assert.equal(fs.existsSync(out), false);
  assert.deepEqual(fs.readdirSync(parent), []);
});

test('convert writes model.json + shards, and a report of what was and was not restored', () => {
  const parent = tempDir();
  const out = path.join(parent, 'out');
  const report = path.join(parent, 'report.json');
  const r = graft(['convert', path.join(seed, 'model.pt'), '--target', path.join(seed, 'target_new.json'), '--from', 'torch', '--include', '^hidden[123]/', '--freeze', '^hidden[12]$', '--out', out, '--report', report, '--shard-size', '4KB']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /restored 6 variable/);
  const doc = JSON.parse(fs.readFileSync(report, 'utf8'));
  assert.deepEqual(doc.assigned.map((a: { target: string }) => a.target).sort(), ['hidden1/bias', 'hidden1/kernel', 'hidden2/bias', 'hidden2/kernel', 'hidden3/bias', 'hidden3/kernel']);
  assert.deepEqual(doc.assigned[0], { source: 'hidden1.weight', target: 'hidden1/kernel', transform: 'transpose' });
  assert.deepEqual(doc.unused.sort(), ['hidden4.bias', 'hidden4.weight', 'output.bias', 'output.weight']);
  assert.deepEqual(doc.skipped.sort(), ['hidden4/bias', 'hidden4/kernel', 'output/bias', 'output/kernel']);
  assert.deepEqual(doc.missing, []);
  const model = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
  assert.equal(model.format, 'layers-model');
  assert.ok(model.generatedBy && model.convertedBy);
  const shards = model.weightsManifest[0].paths as string[];
  assert.ok(shards.length > 1, 'a 4 KB shard size splits the weights');
  for (const s of shards) assert.ok(fs.statSync(path.join(out, s)).size <= 4096);
});

test('usage errors exit 2 with one line and no stack trace', () => {
  for (const args of [
    ['convert', path.join(mlp, 'model.npz')], // no --out
    ['convert', path.join(mlp, 'model.npz'), '--out', tempDir(), '--from', 'caffe'],
    ['convert', path.join(mlp, 'model.npz'), '--dry-run', '--target', path.join(mlp, 'target.json'), '--include', '('],
    ['frobnicate'],
  ]) {
    const r = graft(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('conversion errors exit 1 naming the file; --debug adds the stack', () => {
  const missing = graft(['inspect', '/nonexistent/model.pt']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.trim().split('\n').length, 1);
  assert.match(missing.stderr, /\/nonexistent\/model\.pt: no such file/);

  const parent = tempDir();
  const junk = path.join(parent, 'junk.bin');
  fs.writeFileSync(junk, 'definitely not weights');
  const unknown = graft(['inspect', junk]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /junk\.bin: not a weight file graft recognises/);

  const out = path.join(parent, 'out');
  const mismatch = graft(['convert', path.join(seed, 'model.npz'), '--target', path.join(seed, 'target_new.json'), '--out', out]);
  assert.equal(mismatch.code, 1);
  assert.match(mismatch.stderr, /layer 'hidden4'.*\[24, 32\].*\[32, 16\]/);
  assert.doesNotMatch(mismatch.stderr, /\n\s+at /);
  assert.equal(fs.existsSync(out), false, 'no output on failure');

  const debug = graft(['convert', path.join(seed, 'model.npz'), '--target', path.join(seed, 'target_new.json'), '--out', out, '--debug']);
  assert.equal(debug.code, 1);
  assert.match(debug.stderr, /\n\s+at /);
});

test('a non-empty --out is refused without --force and replaced with it', () => {
  const out = tempDir();
  fs.writeFileSync(path.join(out, 'keep.txt'), 'user data');
  const args = ['convert', path.join(mlp, 'model.npz'), '--target', path.join(mlp, 'target.json'), '--out', out];
  const refused = graft(args);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /not empty \(use --force/);
  assert.equal(fs.readFileSync(path.join(out, 'keep.txt'), 'utf8'), 'user data');
  const forced = graft([...args, '--force', '--quiet']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(forced.stdout, '');
  assert.ok(fs.existsSync(path.join(out, 'model.json')));
  assert.equal(fs.existsSync(path.join(out, 'keep.txt')), false);
});

test('a symlinked --out is refused', () => {
  const parent = tempDir();
  const real = path.join(parent, 'real');
  fs.mkdirSync(real);
  const link = path.join(parent, 'link');
  fs.symlinkSync(real, link);
  const r = graft(['convert', path.join(mlp, 'model.npz'), '--target', path.join(mlp, 'target.json'), '--out', link, '--force']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /symbolic link/);
  assert.deepEqual(fs.readdirSync(real), []);
});
