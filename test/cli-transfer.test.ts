/**
 * `graft finetune` and `graft verify` as a user runs them: the built CLI (dist/, built by
 * `npm test` first) in a child process, on the real fixtures.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { loadLayersModelFromDir } from '../src/output/load';
import { convert } from '../src/convert';
import { saveLayersModel } from '../src/transfer/save';
import { fixture } from './helpers/realworld';
import { readNpy, tempDir } from './helpers/models';

const CLI = path.resolve(__dirname, '..', 'dist', 'cli', 'main.js');
const SEED = fixture('torch/seed_mlp');
const TRAIN_X = path.join(SEED, 'digits_5_9_train_x.npy');
const TRAIN_Y = path.join(SEED, 'digits_5_9_train_y.npy');

function graft(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** One clean line on stderr, no stack trace. */
function assertOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got: ${stderr}`);
  assert.match(lines[0], /^graft: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(stderr, /\n\s+at /);
}

let work: string;
let grafted: string;
/** fixtures/torch/mlp converted faithfully. */
let mlpGood: string;

before(async () => {
  assert.ok(fs.existsSync(CLI), `${CLI} is missing: build with npx tsc -p tsconfig.json`);
  await initBackend();
  work = tempDir('graft-cli-transfer-');
  grafted = path.join(work, 'grafted');
  await convert({
    source: path.join(SEED, 'model.safetensors'),
    target: path.join(SEED, 'target_new.json'),
    from: 'torch',
    include: ['^hidden[123]/'],
    freeze: ['^hidden[12]$'],
    out: grafted,
  });
  mlpGood = path.join(work, 'mlp-good');
  const mlp = fixture('torch/mlp');
  await convert({ source: path.join(mlp, 'model.safetensors'), target: path.join(mlp, 'target.json'), from: 'torch', out: mlpGood });
});

test('finetune --json prints one JSON object, writes a model that loads and predicts, frozen layers untouched', async () => {
  const out = path.join(work, 'ft-json');
  const r = graft('finetune', grafted, '--data', TRAIN_X, '--labels', TRAIN_Y, '--epochs', '4', '--batch-size', '16', '--learning-rate', '0.01', '--validation-split', '0.2', '--out', out, '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const doc = JSON.parse(r.stdout);
  assert.equal(r.stdout.trim().split('\n').length, 1);
  assert.equal(doc.secondsPerEpoch.length, 4);
  assert.ok(doc.secondsPerEpoch.every((s: number) => s > 0));
  assert.ok(doc.cacheSeconds > 0);
  assert.equal(doc.cache, true);
  for (const key of ['loss', 'accuracy', 'valLoss', 'valAccuracy']) assert.equal(typeof doc[key], 'number', key);
  assert.ok(doc.accuracy >= 0 && doc.accuracy <= 1 && doc.valAccuracy >= 0 && doc.valAccuracy <= 1);
  assert.equal(doc.samples, 120);
  assert.equal(doc.validationSamples, 30);
  assert.deepEqual(doc.frozen, ['hidden1', 'hidden2']);
  assert.deepEqual(doc.trained, ['hidden3', 'hidden4', 'output']);
  assert.equal(doc.lossFunction, 'sparseCategoricalCrossentropy');

  const json = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
  const frozenNames = (json.modelTopology.config.layers as { config: { name: string; trainable: boolean } }[]).filter((l) => l.config.trainable === false).map((l) => l.config.name);
  assert.deepEqual(frozenNames, ['hidden1', 'hidden2']);
  const before = await loadLayersModelFromDir(grafted);
  const after = await loadLayersModelFromDir(out);
  const x = readNpy(TRAIN_X);
  const probs = tf.tidy(() => (after.predict(tf.tensor(x.data, x.shape)) as tf.Tensor).arraySync() as number[][]);
  assert.equal(probs.length, 150);
  assert.ok(probs.every((row) => row.length === 5 && Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5));
  const old = new Map(before.weights.map((w) => [w.originalName, w.read().dataSync()]));
  for (const w of after.weights) {
    const same = w.read().dataSync().every((v, i) => Object.is(v, old.get(w.originalName)![i]));
    assert.equal(same, /^hidden[12]\//.test(w.originalName), `${w.originalName}: unchanged = ${same}`);
  }
});

test('finetune --no-cache trains the same way, only slower per epoch; without --json it prints a summary', () => {
  const cached = graft('finetune', grafted, '--data', TRAIN_X, '--labels', TRAIN_Y, '--epochs', '3', '--out', path.join(work, 'ft-a'), '--json');
  const uncached = graft('finetune', grafted, '--data', TRAIN_X, '--labels', TRAIN_Y, '--epochs', '3', '--no-cache', '--out', path.join(work, 'ft-b'), '--json');
  assert.equal(cached.code, 0, cached.stderr);
  assert.equal(uncached.code, 0, uncached.stderr);
  const a = JSON.parse(cached.stdout);
  const b = JSON.parse(uncached.stdout);
  assert.equal(b.cache, false);
  assert.equal(b.cacheSeconds, 0);
  assert.equal(b.valLoss, undefined);
  assert.ok(Math.abs(a.loss - b.loss) < 1e-5, `${a.loss} vs ${b.loss}`);
  assert.equal(a.accuracy, b.accuracy);

  const text = graft('finetune', grafted, '--data', TRAIN_X, '--labels', TRAIN_Y, '--epochs', '2', '--out', path.join(work, 'ft-c'));
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /cached the output of 'hidden2' \[32\] for 150 samples/);
  assert.match(text.stdout, /trained hidden3, hidden4, output for 2 epoch\(s\)/);
  assert.match(text.stdout, /wrote .*ft-c: model\.json, group1-shard1of1\.bin/);
});

test('finetune usage errors exit 2 with one line', () => {
  const base = [grafted, '--data', TRAIN_X, '--labels', TRAIN_Y, '--out', path.join(work, 'never')];
  let r = graft('finetune', ...base, '--freeze', '^nothing$');
  assert.equal(r.code, 2);
  assertOneLineError(r.stderr, /--freeze '\^nothing\$' matches no layer \(layers: hidden1, hidden2, hidden3, hidden4, output\)/);
  r = graft('finetune', grafted, '--labels', TRAIN_Y, '--out', path.join(work, 'never'));
  assert.equal(r.code, 2);
  assertOneLineError(r.stderr, /needs --data/);
  r = graft('finetune', ...base, '--epochs', '0');
  assert.equal(r.code, 2);
  assertOneLineError(r.stderr, /--epochs must be a positive integer/);
  r = graft('finetune', ...base, '--validation-split', '1.5');
  assert.equal(r.code, 2);
  assertOneLineError(r.stderr, /--validation-split must be a fraction/);
  r = graft('finetune', mlpGood, '--data', fixture('torch/mlp/input.npy'), '--labels', TRAIN_Y, '--out', path.join(work, 'never'));
  assert.equal(r.code, 2);
  assertOneLineError(r.stderr, /no frozen layers at the bottom of the model \(its first layer with weights, 'fc1', is trainable\)/);
  r = graft('finetune', fixture('torch/mlp/target.json'), '--data', fixture('torch/mlp/input.npy'), '--labels', TRAIN_Y, '--out', path.join(work, 'never'));
  assert.equal(r.code, 2);
  assertOneLineError(r.stderr, /target\.json: has no weights, only a topology/);
  assert.equal(fs.existsSync(path.join(work, 'never')), false);
});

test('finetune refuses a non-empty --out without --force, bad labels and missing files, exit 1', () => {
  const out = path.join(work, 'taken');
  fs.mkdirSync(out);
  fs.writeFileSync(path.join(out, 'keep.txt'), 'mine');
  let r = graft('finetune', grafted, '--data', TRAIN_X, '--labels', TRAIN_Y, '--epochs', '1', '--out', out);
  assert.equal(r.code, 1);
  assertOneLineError(r.stderr, /is not empty \(use --force/);
  assert.deepEqual(fs.readdirSync(out), ['keep.txt']);
  r = graft('finetune', grafted, '--data', TRAIN_X, '--labels', path.join(SEED, 'digits_5_9_test_y.npy'), '--epochs', '1', '--out', path.join(work, 'bad-labels'));
  assert.equal(r.code, 1);
  assertOneLineError(r.stderr, /labels hold 746 samples .* the data holds 150/);
  r = graft('finetune', grafted, '--data', path.join(work, 'missing.npy'), '--labels', TRAIN_Y, '--out', path.join(work, 'missing-out'));
  assert.equal(r.code, 1);
  assertOneLineError(r.stderr, /missing\.npy: no such file/);
  r = graft('finetune', grafted, '--data', TRAIN_X, '--labels', TRAIN_Y, '--epochs', '1', '--out', out, '--force');
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.existsSync(path.join(out, 'model.json')));
});

test('verify: exit 0 on a faithful conversion of fixtures/torch/mlp, 1 on a wrong one', async () => {
  const dir = fixture('torch/mlp');
  const good = mlpGood;
  let r = graft('verify', good, '--input', path.join(dir, 'input.npy'), '--expect', path.join(dir, 'output.npy'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^max \|output - expected\| = \d\.\d\de-\d+ at \[\d+, \d+\] .*: OK\n$/);
  const err = Number(/= (\S+) at/.exec(r.stdout)![1]);
  assert.ok(err <= 1e-4);

  // The classic grafting bug: a square kernel loaded without its transpose still "fits".
  const wrong = path.join(work, 'mlp-wrong');
  const model = await loadLayersModelFromDir(good);
  const fc2 = model.getLayer('fc2');
  const [kernel, bias] = fc2.getWeights();
  fc2.setWeights([kernel.transpose(), bias]);
  await saveLayersModel(model, wrong);
  r = graft('verify', wrong, '--input', path.join(dir, 'input.npy'), '--expect', path.join(dir, 'output.npy'));
  assert.equal(r.code, 1);
  assert.match(r.stdout, /: MISMATCH\n$/);
  assertOneLineError(r.stderr, /of 10 output element\(s\) differ from --expect by more than 0\.0001/);

  // A loose enough tolerance accepts it: the exit code follows --atol.
  r = graft('verify', wrong, '--input', path.join(dir, 'input.npy'), '--expect', path.join(dir, 'output.npy'), '--atol', '1000');
  assert.equal(r.code, 0, r.stderr);
});

test('verify --channels-first on fixtures/torch/conv_bn; without it the shape error says so', async () => {
  const dir = fixture('torch/conv_bn');
  const out = path.join(work, 'conv-bn');
  await convert({ source: path.join(dir, 'model.safetensors'), target: path.join(dir, 'target.json'), from: 'torch', out });
  let r = graft('verify', out, '--input', path.join(dir, 'input.npy'), '--expect', path.join(dir, 'output.npy'), '--channels-first');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /0 of 300 element\(s\) above atol 0\.0001: OK/);
  r = graft('verify', out, '--input', path.join(dir, 'input.npy'), '--expect', path.join(dir, 'output.npy'));
  assert.equal(r.code, 1);
  assertOneLineError(r.stderr, /--input has shape \[2, 3, 9, 9\] but the model takes \[\?, 9, 9, 3\] \(it fits channels-first: add --channels-first\)/);
});

test('verify usage and file errors', () => {
  const dir = fixture('torch/mlp');
  let r = graft('verify', mlpGood, '--input', path.join(dir, 'input.npy'), '--expect', path.join(dir, 'output.npy'), '--atol', 'abc');
  assert.equal(r.code, 2);
  assertOneLineError(r.stderr, /--atol must be a non-negative number/);
  r = graft('verify', mlpGood, '--input', path.join(dir, 'input.npy'));
  assert.equal(r.code, 2);
  assertOneLineError(r.stderr, /needs --expect/);
  r = graft('verify', path.join(work, 'no-model'), '--input', path.join(dir, 'input.npy'), '--expect', path.join(dir, 'output.npy'));
  assert.equal(r.code, 1);
  assertOneLineError(r.stderr, /no-model/);
  r = graft('verify', mlpGood, '--input', path.join(dir, 'input.npy'), '--expect', TRAIN_Y);
  assert.equal(r.code, 1);
  assertOneLineError(r.stderr, /the model's output has shape \[2, 5\] but --expect holds \[150\]/);
});
