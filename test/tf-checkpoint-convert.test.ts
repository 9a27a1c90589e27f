/**
 * The seed's own example: a TF1 Saver checkpoint (`saver.restore(sess, "./model.ckpt")`) of the
 * five-layer network, restored into a tfjs model. `outputs/` is remapped onto the target's
 * `output` layer with a scope remap, as tf.train.init_from_checkpoint's assignment map does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '../src/backend';
import { convert } from '../src/convert';
import { loadLayersModelFromDir } from '../src/output/load';
import { parseMappingTable } from '../src/mapping/table';
import { fixture, realworld } from './helpers/realworld';
import { openWeights } from '../src/formats';
import { maxAbsDiff, predictArray, readNpy, tempDir } from './helpers/models';

test('TF1 Saver checkpoint (prefix path) converts into a given target and predicts as PyTorch did', async () => {
  await initBackend();
  const out = path.join(tempDir(), 'model');
  const report = await convert({
    source: fixture('tf-ckpt/saver/model.ckpt'),
    target: fixture('torch/seed_mlp/target.json'),
    map: parseMappingTable('scopes:\n  outputs/: output/\n'),
    out,
  });
  assert.equal(report.format, 'tf-checkpoint');
  assert.equal(report.convention, 'tf');
  assert.equal(report.assigned.length, 10);
  assert.deepEqual(report.missing, []);
  assert.deepEqual(report.unused, []);
  assert.deepEqual(report.assigned.find((a) => a.target === 'output/kernel'), { source: 'outputs/weights', target: 'output/kernel', transform: 'identity' });
  // The checkpoint holds the seed_mlp weights PyTorch trained (TF layout); its outputs must match.
  const model = await loadLayersModelFromDir(out);
  const got = predictArray(model, readNpy(fixture('torch/seed_mlp/input.npy')));
  const want = readNpy(fixture('torch/seed_mlp/output.npy'));
  assert.ok(maxAbsDiff(got.data, want.data) <= 1e-5);
  assert.ok(fs.existsSync(path.join(out, 'model.json')));
});

test('restoring only hidden1-3 from the checkpoint, as the seed does with a Saver over scope "hidden[123]"', async () => {
  await initBackend();
  const report = await convert({
    source: fixture('tf-ckpt/saver'),
    target: fixture('torch/seed_mlp/target_new.json'),
    include: ['^hidden[123]/'],
    dryRun: true,
  });
  assert.deepEqual(report.assigned.map((a) => a.source).sort(), ['hidden1/biases', 'hidden1/weights', 'hidden2/biases', 'hidden2/weights', 'hidden3/biases', 'hidden3/weights']);
  assert.deepEqual(report.unused.sort(), ['hidden4/biases', 'hidden4/weights', 'outputs/biases', 'outputs/weights']);
});

const nighthawks = realworld('tf_ckpt/nighthawks_keras_save_weights_tf/cp-0000.ckpt.index')?.replace(/\.index$/, '');
test('real TF2 Keras save_weights checkpoint: object-graph keys map onto layers in order', { skip: !nighthawks && 'realworld folder absent' }, async () => {
  await initBackend();
  const dir = tempDir();
  const target = path.join(dir, 'target.json');
  const dense = (name: string, units: number, extra: Record<string, unknown> = {}) => ({ class_name: 'Dense', config: { name, units, ...extra } });
  fs.writeFileSync(target, JSON.stringify({ modelTopology: { class_name: 'Sequential', config: { name: 'mnist', layers: [dense('hidden', 512, { activation: 'relu', batch_input_shape: [null, 784] }), dense('logits', 10)] } } }));
  const out = path.join(dir, 'model');
  const report = await convert({ source: nighthawks!, target, out });
  assert.equal(report.convention, 'tf');
  assert.deepEqual(report.assigned.map((a) => [a.source, a.target]), [
    ['layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE', 'hidden/kernel'],
    ['layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE', 'hidden/bias'],
    ['layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE', 'logits/kernel'],
    ['layer_with_weights-1/bias/.ATTRIBUTES/VARIABLE_VALUE', 'logits/bias'],
  ]);
  // The written kernel is the checkpoint's tensor, bit for bit.
  const reader = await openWeights(nighthawks!);
  const raw = await reader.read('layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE');
  await reader.close();
  const model = await loadLayersModelFromDir(out);
  const written = model.weights.find((w) => w.originalName === 'logits/kernel')!.read().dataSync() as Float32Array;
  assert.ok(Buffer.from(written.buffer, written.byteOffset, written.byteLength).equals(Buffer.from(raw.data)));
});
