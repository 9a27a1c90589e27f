/**
 * The book's workflow (reusing pretrained layers): restore hidden1–hidden3 of a five-layer MLP
 * trained in PyTorch into a new model whose hidden4 and output differ, freeze hidden1–hidden2,
 * and train in tfjs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { convert } from '../src/convert';
import { loadLayersModelFromDir } from '../src/output/load';
import { GraftError } from '../src/errors';
import { fixture } from './helpers/realworld';
import { readNpy, tempDir } from './helpers/models';

const dir = fixture('torch/seed_mlp');

test('restore hidden1-3, freeze hidden1-2: report, frozen layers unchanged by training, the rest trains', async () => {
  await initBackend();
  const out = path.join(tempDir(), 'new-model');
  const report = await convert({
    source: path.join(dir, 'model.safetensors'),
    target: path.join(dir, 'target_new.json'),
    from: 'torch',
    include: ['^hidden[123]/'],
    freeze: ['^hidden[12]$'],
    out,
  });
  assert.deepEqual(
    report.assigned.map((a) => a.target).sort(),
    ['hidden1/bias', 'hidden1/kernel', 'hidden2/bias', 'hidden2/kernel', 'hidden3/bias', 'hidden3/kernel'],
  );
  assert.deepEqual(report.unused.sort(), ['hidden4.bias', 'hidden4.weight', 'output.bias', 'output.weight']);
  assert.deepEqual(report.skipped.sort(), ['hidden4/bias', 'hidden4/kernel', 'output/bias', 'output/kernel']);
  assert.deepEqual(report.missing, []);
  assert.deepEqual(report.frozen, ['hidden1', 'hidden2']);

  const json = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
  const layers = json.modelTopology.config.layers as { config: { name: string; trainable?: boolean } }[];
  assert.deepEqual(layers.filter((l) => l.config.trainable === false).map((l) => l.config.name), ['hidden1', 'hidden2']);

  const model = await loadLayersModelFromDir(out);
  // The restored kernels are PyTorch's weights transposed.
  const src = readNpy(path.join(dir, 'digits_5_9_train_x.npy'));
  const before = new Map(model.weights.map((w) => [w.originalName, Float32Array.from(w.read().dataSync() as Float32Array)]));
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy' });
  const x = tf.tensor(src.data, src.shape);
  const yArr = readNpy(path.join(dir, 'digits_5_9_train_y.npy'), 'int32');
  const y = tf.tensor(yArr.data, yArr.shape, 'float32');
  await model.fit(x, y, { epochs: 3, batchSize: 32, verbose: 0 });
  for (const w of model.weights) {
    const after = w.read().dataSync() as Float32Array;
    const old = before.get(w.originalName)!;
    const same = after.every((v, i) => v === old[i]);
    if (/^hidden[12]\//.test(w.originalName)) assert.ok(same, `${w.originalName} changed although frozen`);
    else assert.ok(!same, `${w.originalName} did not train`);
  }
  tf.dispose([x, y]);
});

test('restoring everything into the mismatched layers fails, naming the layer and both shapes, writing nothing', async () => {
  await initBackend();
  const parent = tempDir();
  const out = path.join(parent, 'new-model');
  await assert.rejects(
    convert({ source: path.join(dir, 'model.npz'), target: path.join(dir, 'target_new.json'), from: 'torch', out }),
    (e: unknown) => {
      assert.ok(e instanceof GraftError);
      assert.equal(e.code, 'SHAPE_MISMATCH');
      assert.match(e.message, /layer 'hidden4'/);
      assert.match(e.message, /\[24, 32\]/); // PyTorch's hidden4.weight
      assert.match(e.message, /\[32, 16\]/); // the target's hidden4/kernel
      return true;
    },
  );
  assert.equal(fs.existsSync(out), false);
  assert.deepEqual(fs.readdirSync(parent), [], 'no temporary folder left behind');
});
