/**
 * Keras files through the whole pipeline (`convert()` with no --target: the file's own topology),
 * checked against what TensorFlow.js's own converter and Keras itself produced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import '../src/layers';
import { initBackend } from '../src/backend';
import { convert } from '../src/convert';
import { loadLayersModelFromDir } from '../src/output/load';
import { Hdf5File } from '../src/io/hdf5';
import { realworld } from './helpers/realworld';
import { maxAbsDiff, tempDir } from './helpers/models';

/** name → bytes of every weight in a layers-model folder, per its manifest. */
function weightBytes(dir: string): Map<string, Buffer> {
  const doc = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const out = new Map<string, Buffer>();
  for (const g of doc.weightsManifest) {
    const all = Buffer.concat(g.paths.map((p: string) => fs.readFileSync(path.join(dir, p))));
    let off = 0;
    for (const w of g.weights) {
      const n = w.shape.reduce((a: number, b: number) => a * b, 1) * 4;
      out.set(w.name, all.subarray(off, off + n));
      off += n;
    }
  }
  return out;
}

const skyzor = realworld('tfjs/1skyzor_mlp');
test('1skyzor Keras 2.5 .h5 → bit-identical weights to tensorflowjs_converter, same predictions', { skip: !skyzor && 'realworld folder absent' }, async () => {
  await initBackend();
  const out = path.join(tempDir(), 'model');
  const report = await convert({ source: path.join(skyzor!, 'model.hdf5'), out });
  assert.equal(report.format, 'keras-h5');
  const ours = weightBytes(out);
  const theirs = weightBytes(skyzor!);
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
  for (const [name, bytes] of theirs) assert.ok(bytes.equals(ours.get(name)!), `${name} differs`);
  const a = await loadLayersModelFromDir(out);
  const b = await loadLayersModelFromDir(skyzor!);
  const inputShape = (a.inputs[0].shape as number[]).slice(1);
  const x = tf.randomNormal([16, ...inputShape], 0, 1, 'float32', 7);
  assert.equal(maxAbsDiff((a.predict(x) as tf.Tensor).dataSync(), (b.predict(x) as tf.Tensor).dataSync()), 0);
});

const DL4J = ['activations/LeakyReLU_0', 'simple_rnn/simple_rnn_tf_keras_2', 'simple_sparse_xent/simple_sparse_xent_mlp_keras_2'];
for (const stem of DL4J) {
  const model = realworld(`keras2_h5/dl4j/examples/${stem}_model.h5`);
  const io = realworld(`keras2_h5/dl4j/examples/${stem}_inputs_and_outputs.h5`);
  test(`dl4j ${stem}: graft convert reproduces Keras' predictions within 1e-5`, { skip: (!model || !io) && 'realworld file absent' }, async () => {
    await initBackend();
    const out = path.join(tempDir(), 'model');
    await convert({ source: model!, out });
    const converted = await loadLayersModelFromDir(out);
    const h5 = await Hdf5File.open(io!);
    try {
      const [inputName] = h5.keys('inputs');
      const [predName] = h5.keys('predictions');
      const shape = h5.datasetInfo(`inputs/${inputName}`).shape;
      const x = tf.tensor(new Float32Array(h5.readRaw(`inputs/${inputName}`).slice().buffer), shape);
      const expected = new Float32Array(h5.readRaw(`predictions/${predName}`).slice().buffer);
      const got = (converted.predict(x) as tf.Tensor).dataSync();
      const err = maxAbsDiff(got, expected);
      assert.ok(err <= 1e-5, `max abs difference ${err}`);
    } finally {
      h5.close();
    }
  });
}

/** Weights-only Keras files take their topology from a JSON config given as --target. */
const WEIGHTS_WITH_CONFIG: [weights: string, config: string][] = [
  ['kotlindl/toyresnet/weights.h5', 'kotlindl/toyresnet/modelConfig.json'],
  ['dl4j/examples/simple_rnn/simple_rnn_tf_keras_2_weights.h5', 'dl4j/examples/simple_rnn/simple_rnn_tf_keras_2_config.json'],
  ['dlmit_book/chap_6/addition_weights.h5', 'dlmit_book/chap_6/addition_model.json'],
];
for (const [weightsRel, configRel] of WEIGHTS_WITH_CONFIG) {
  const weights = realworld(`keras2_h5/${weightsRel}`);
  const config = realworld(`keras2_h5/${configRel}`);
  test(`weights-only ${weightsRel} converts with its config as --target, every variable restored`, { skip: (!weights || !config) && 'realworld file absent' }, async () => {
    await initBackend();
    const out = path.join(tempDir(), 'model');
    const report = await convert({ source: weights!, target: config!, out });
    assert.deepEqual(report.missing, []);
    assert.deepEqual(report.unused, []);
    assert.ok(report.assigned.length > 0);
    (await loadLayersModelFromDir(out)).dispose();
  });
}

const rnnWeights = realworld('keras2_h5/dl4j/examples/simple_rnn/simple_rnn_tf_keras_2_weights.h5');
const rnnIo = realworld('keras2_h5/dl4j/examples/simple_rnn/simple_rnn_tf_keras_2_inputs_and_outputs.h5');
test('weights-only simple_rnn + its config reproduces Keras predictions within 1e-5', { skip: (!rnnWeights || !rnnIo) && 'realworld file absent' }, async () => {
  await initBackend();
  const out = path.join(tempDir(), 'model');
  await convert({ source: rnnWeights!, target: realworld('keras2_h5/dl4j/examples/simple_rnn/simple_rnn_tf_keras_2_config.json')!, out });
  const model = await loadLayersModelFromDir(out);
  const h5 = await Hdf5File.open(rnnIo!);
  try {
    const [inputName] = h5.keys('inputs');
    const [predName] = h5.keys('predictions');
    const x = tf.tensor(new Float32Array(h5.readRaw(`inputs/${inputName}`).slice().buffer), h5.datasetInfo(`inputs/${inputName}`).shape);
    const err = maxAbsDiff((model.predict(x) as tf.Tensor).dataSync(), new Float32Array(h5.readRaw(`predictions/${predName}`).slice().buffer));
    assert.ok(err <= 1e-5, `max abs difference ${err}`);
  } finally {
    h5.close();
  }
});

const kotlinLstm = realworld('keras2_h5/kotlindl/lstm/weights.h5');
test('weights saved under other layer names (kotlindl lstm_9… vs config lstm_3…) convert with --match order', { skip: !kotlinLstm && 'realworld file absent' }, async () => {
  await initBackend();
  const target = realworld('keras2_h5/kotlindl/lstm/model.json')!;
  const byName = await convert({ source: kotlinLstm!, target, dryRun: true });
  assert.equal(byName.assigned.length, 0);
  const out = path.join(tempDir(), 'model');
  const report = await convert({ source: kotlinLstm!, target, out, match: 'order' });
  assert.equal(report.assigned.length, 11);
  assert.deepEqual(report.assigned[0], { source: 'lstm_9/kernel', target: 'lstm_3/kernel', transform: 'identity' });
  assert.deepEqual(report.unused, []);
});
