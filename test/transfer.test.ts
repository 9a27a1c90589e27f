/**
 * Transfer learning library: split at the frozen bottom, cache its outputs, train the head
 * with the lean loop, splice back, save.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { loadLayersModelFromDir } from '../src/output/load';
import { GraftError } from '../src/errors';
import { parseNpy } from '../src/formats/numpy/npy';
import { toFloat32 } from '../src/transforms/dtype';
import { FlatAdam } from '../src/transfer/adam';
import { cacheFrozenOutputs } from '../src/transfer/cache';
import { denseChainOf, denseChainStep } from '../src/transfer/dense-head';
import { transferTrain } from '../src/transfer/finetune';
import { saveLayersModel } from '../src/transfer/save';
import { freezeMatching, splitAtFrozen } from '../src/transfer/split';
import { classTargets, seededRandom, trainHeadOnCache, trainThroughFrozen } from '../src/transfer/train';
import { toChannelsFirst, toChannelsLast } from '../src/transfer/verify';
import { maxAbsDiff, tempDir } from './helpers/models';

const seeded = (seed: number) => tf.initializers.glorotUniform({ seed });

/** 20-16-12 frozen, then a 3-layer trainable head to 4 classes. */
function mlp(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({ name: 'base1', units: 16, activation: 'relu', inputShape: [20], kernelInitializer: seeded(1), trainable: false }),
      tf.layers.dense({ name: 'base2', units: 12, activation: 'relu', kernelInitializer: seeded(2), trainable: false }),
      tf.layers.dense({ name: 'top1', units: 10, activation: 'relu', kernelInitializer: seeded(3) }),
      tf.layers.dense({ name: 'top2', units: 8, activation: 'tanh', kernelInitializer: seeded(4) }),
      tf.layers.dense({ name: 'out', units: 4, activation: 'softmax', kernelInitializer: seeded(5) }),
    ],
  });
}

const random = seededRandom;

/** Learnable data: the class is the argmax of a fixed projection of the input. */
function dataset(count: number, width: number, classes: number, seed = 3): { x: { data: Float32Array; shape: number[] }; ids: Int32Array } {
  const next = random(seed);
  const x = Float32Array.from({ length: count * width }, () => next() * 2 - 1);
  const proj = Float32Array.from({ length: width * classes }, () => next() * 2 - 1);
  const ids = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    let best = 0;
    let bestScore = -Infinity;
    for (let c = 0; c < classes; c++) {
      let s = 0;
      for (let j = 0; j < width; j++) s += x[i * width + j] * proj[j * classes + c];
      if (s > bestScore) {
        bestScore = s;
        best = c;
      }
    }
    ids[i] = best;
  }
  return { x: { data: x, shape: [count, width] }, ids };
}

function weightsOf(model: tf.LayersModel): Map<string, Float32Array> {
  return new Map(model.weights.map((w) => [w.originalName, Float32Array.from(w.read().dataSync() as Float32Array)]));
}

test('splitAtFrozen cuts after the frozen layers and the weightless layers above them, not across dropout', async () => {
  await initBackend();
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ name: 'c1', filters: 4, kernelSize: 3, inputShape: [8, 8, 1], trainable: false }),
      tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dropout({ name: 'drop', rate: 0.5 }),
      tf.layers.dense({ name: 'head', units: 3, activation: 'softmax' }),
    ],
  });
  const split = splitAtFrozen(model);
  assert.deepEqual(split.frozen, ['c1']);
  assert.equal(split.topFrozen, 'c1');
  assert.equal(split.boundary, 'flat');
  assert.deepEqual(split.featureShape, [36]);
  assert.deepEqual(split.headLayers.map((l) => l.name), ['drop', 'head']);
  assert.deepEqual(split.head.outputs[0].shape, [null, 3]);
});

test('splitAtFrozen accepts a linear functional model and refuses branches, nothing frozen, or nothing left to train', async () => {
  await initBackend();
  const input = tf.input({ shape: [6] });
  const a = tf.layers.dense({ name: 'fa', units: 5, trainable: false }).apply(input) as tf.SymbolicTensor;
  const b = tf.layers.dense({ name: 'fb', units: 3, activation: 'softmax' }).apply(a) as tf.SymbolicTensor;
  const split = splitAtFrozen(tf.model({ inputs: input, outputs: b }));
  assert.equal(split.boundary, 'fa');
  assert.deepEqual(split.headLayers.map((l) => l.name), ['fb']);

  const i2 = tf.input({ shape: [6] });
  const left = tf.layers.dense({ units: 4, trainable: false }).apply(i2) as tf.SymbolicTensor;
  const right = tf.layers.dense({ units: 4 }).apply(i2) as tf.SymbolicTensor;
  const sum = tf.layers.add().apply([left, right]) as tf.SymbolicTensor;
  assert.throws(() => splitAtFrozen(tf.model({ inputs: i2, outputs: sum })), (e: unknown) => e instanceof GraftError && e.code === 'UNSUPPORTED' && /linear stack/.test(e.message));

  const unfrozen = tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [4] })] });
  assert.throws(() => splitAtFrozen(unfrozen), (e: unknown) => e instanceof GraftError && e.code === 'USAGE' && /no frozen layers/.test(e.message));
  const allFrozen = tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [4], trainable: false })] });
  assert.throws(() => splitAtFrozen(allFrozen), (e: unknown) => e instanceof GraftError && e.code === 'USAGE' && /nothing is left to train/.test(e.message));
});

test('freezeMatching freezes by regex and rejects a regex that matches no layer', async () => {
  await initBackend();
  const model = mlp();
  model.layers.forEach((l) => (l.trainable = true));
  assert.deepEqual(freezeMatching(model, [/^base/]), ['base1', 'base2']);
  assert.equal(model.layers[0].trainableWeights.length, 0);
  assert.equal(model.layers[2].trainableWeights.length, 2);
  assert.throws(() => freezeMatching(model, [/^nope$/]), (e: unknown) => e instanceof GraftError && e.code === 'USAGE' && /'\^nope\$' matches no layer/.test(e.message));
});

test('frozen layers stay bit-identical while the head trains, on both paths; the head changes', async () => {
  await initBackend();
  const { x, ids } = dataset(96, 20, 4);
  for (const cache of [true, false]) {
    const model = mlp();
    const before = weightsOf(model);
    await transferTrain(model, x, { data: ids, shape: [96] }, { cache, epochs: 3, batchSize: 16, learningRate: 0.01 });
    for (const [name, after] of weightsOf(model)) {
      const same = after.every((v, i) => Object.is(v, before.get(name)![i]));
      if (name.startsWith('base')) assert.ok(same, `${name} changed although frozen (cache ${cache})`);
      else assert.ok(!same, `${name} did not train (cache ${cache})`);
    }
    model.dispose();
  }
});

test('cached and uncached training follow the same trajectory, and the spliced full model predicts as head-on-cache', async () => {
  await initBackend();
  const { x, ids } = dataset(120, 20, 4);
  const labels = { data: ids, shape: [120] };
  const a = mlp();
  const b = mlp();
  const splitA = splitAtFrozen(a);
  const cache = await cacheFrozenOutputs(splitA, x, { batchSize: 32 });
  const withCache = await trainHeadOnCache(splitA, cache, labels, { epochs: 4, batchSize: 16, learningRate: 0.01, validationSplit: 0.25 });
  const without = await trainThroughFrozen(splitAtFrozen(b), x, labels, { epochs: 4, batchSize: 16, learningRate: 0.01, validationSplit: 0.25 });
  assert.equal(withCache.history.length, 4);
  for (let e = 0; e < 4; e++) {
    assert.ok(Math.abs(withCache.history[e].loss - without.history[e].loss) < 1e-5, `epoch ${e + 1}: ${withCache.history[e].loss} vs ${without.history[e].loss}`);
    assert.equal(withCache.history[e].accuracy, without.history[e].accuracy);
    assert.ok(withCache.history[e].valLoss !== undefined && Math.abs(withCache.history[e].valLoss! - without.history[e].valLoss!) < 1e-5);
  }
  assert.ok(withCache.history[3].loss < withCache.history[0].loss, 'loss went down');

  const full = tf.tidy(() => (a.predict(tf.tensor(x.data, x.shape)) as tf.Tensor).dataSync() as Float32Array);
  const head = tf.tidy(() => (splitA.head.predict(tf.tensor(cache.data!, [cache.count, ...cache.featureShape])) as tf.Tensor).dataSync() as Float32Array);
  assert.equal(full.length, 120 * 4);
  assert.ok(maxAbsDiff(full, head) <= 1e-5, `full model vs head-on-cache: ${maxAbsDiff(full, head)}`);
  splitA.head.dispose();
  a.dispose();
  b.dispose();
});

test('the disk cache holds exactly the memory cache, as a .npy, and trains identically', async () => {
  await initBackend();
  const { x, ids } = dataset(70, 20, 4);
  const dir = tempDir();
  const a = mlp();
  const b = mlp();
  const memory = await cacheFrozenOutputs(a, x, { batchSize: 16 });
  const disk = await cacheFrozenOutputs(splitAtFrozen(b), x, { batchSize: 16, toDisk: dir });
  assert.equal(disk.data, undefined);
  assert.equal(disk.file, path.join(dir, 'base2_outputs.npy'));
  const raw = parseNpy(new Uint8Array(fs.readFileSync(disk.file!)), 'cache', disk.file!);
  assert.deepEqual(raw.shape, [70, 12]);
  assert.equal(raw.dtype, 'float32');
  const fromDisk = toFloat32(raw);
  assert.ok(fromDisk.every((v, i) => Object.is(v, memory.data![i])), 'disk and memory caches differ');
  const labels = { data: ids, shape: [70] };
  const ra = await trainHeadOnCache(splitAtFrozen(a), memory, labels, { epochs: 2, batchSize: 8, learningRate: 0.01 });
  const rb = await trainHeadOnCache(splitAtFrozen(b), disk, labels, { epochs: 2, batchSize: 8, learningRate: 0.01 });
  assert.deepEqual(rb.history.map((h) => h.loss), ra.history.map((h) => h.loss));
});

test('caching runs in batches: backend memory stays far below the dataset and returns to where it was', async () => {
  await initBackend();
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ name: 'wide', units: 64, inputShape: [256], trainable: false, kernelInitializer: seeded(9) }),
      tf.layers.dense({ name: 'cls', units: 2, activation: 'softmax' }),
    ],
  });
  const count = 4000;
  const x = { data: new Float32Array(count * 256).fill(0.5), shape: [count, 256] };
  const before = tf.memory();
  let peak = 0;
  let batches = 0;
  const cache = await cacheFrozenOutputs(model, x, {
    batchSize: 100,
    onBatch: (done, total) => {
      batches++;
      assert.equal(total, count);
      peak = Math.max(peak, tf.memory().numBytes - before.numBytes);
    },
  });
  assert.equal(batches, 40);
  assert.equal(cache.data!.length, count * 64);
  // One batch of input and output is ~128 KB; the dataset alone is 4 MB.
  assert.ok(peak < 1_000_000, `backend memory grew by ${peak} bytes during caching`);
  assert.equal(tf.memory().numTensors, before.numTensors, 'tensors leaked');
});

test('integer ids and one-hot rows train the same; the loss is named after the labels', async () => {
  await initBackend();
  const { x, ids } = dataset(64, 20, 4);
  const onehot = new Float32Array(64 * 4);
  ids.forEach((c, i) => (onehot[i * 4 + c] = 1));
  const sparse = await transferTrain(mlp(), x, { data: ids, shape: [64, 1] }, { epochs: 2, batchSize: 16 });
  const dense = await transferTrain(mlp(), x, { data: onehot, shape: [64, 4] }, { epochs: 2, batchSize: 16 });
  assert.equal(sparse.loss, 'sparseCategoricalCrossentropy');
  assert.equal(dense.loss, 'categoricalCrossentropy');
  assert.deepEqual(dense.history.map((h) => h.loss), sparse.history.map((h) => h.loss));
});

test('labels that do not fit are refused with SHAPE_MISMATCH', () => {
  assert.throws(() => classTargets({ data: new Int32Array([0, 1]), shape: [2] }, 3, 4), (e: unknown) => e instanceof GraftError && e.code === 'SHAPE_MISMATCH' && /2 samples/.test(e.message));
  assert.throws(() => classTargets({ data: new Int32Array([0, 7]), shape: [2] }, 2, 4), (e: unknown) => e instanceof GraftError && /label 1 is 7/.test(e.message));
  assert.throws(() => classTargets({ data: new Float32Array(6), shape: [2, 3] }, 2, 4), (e: unknown) => e instanceof GraftError && /\[2, 4\]/.test(e.message));
});

test('a dense-chain step equals tfjs autodiff + tf.train.adam on the same batch', async () => {
  await initBackend();
  const { x, ids } = dataset(32, 20, 4);
  const make = () => {
    const m = mlp();
    return { m, head: splitAtFrozen(m) };
  };
  const ours = make();
  const theirs = make();
  const features = tf.tidy(() => ours.head.bottom.predict(tf.tensor(x.data, x.shape)) as tf.Tensor);
  const targets = classTargets({ data: ids, shape: [32] }, 32, 4);
  const y = tf.tensor2d(targets.rows, [32, 4]);

  const chain = denseChainOf(ours.head.headLayers)!;
  assert.ok(chain, 'the head qualifies for the dense-chain path');
  const adam = new FlatAdam(chain.variables, 0.01);
  const optimizer = tf.train.adam(0.01);
  const theirVars = theirs.head.headLayers.flatMap((l) => l.trainableWeights.map((w) => w.read() as tf.Variable));
  for (let step = 0; step < 3; step++) {
    const probs = denseChainStep(chain, features, y, true, adam);
    const reference = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, tf.log(theirs.head.head.apply(features) as tf.Tensor)) as tf.Scalar, true, theirVars)!;
    const loss = tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(probs)), -1))).dataSync()[0]);
    assert.ok(Math.abs(loss - reference.dataSync()[0]) < 1e-5, `step ${step}: loss ${loss} vs ${reference.dataSync()[0]}`);
    tf.dispose([probs, reference]);
  }
  const a = weightsOf(ours.m);
  for (const [name, w] of weightsOf(theirs.m)) assert.ok(maxAbsDiff(a.get(name)!, w) < 1e-5, `${name}: ${maxAbsDiff(a.get(name)!, w)}`);
  adam.dispose();
  optimizer.dispose();
  tf.dispose([features, y]);
});

test('a head that is not a dense chain trains on the general path and matches tfjs autodiff too', async () => {
  await initBackend();
  const build = () =>
    tf.sequential({
      layers: [
        tf.layers.dense({ name: 'b', units: 6, inputShape: [5], trainable: false, kernelInitializer: seeded(1) }),
        tf.layers.dense({ name: 'h', units: 6, kernelInitializer: seeded(2) }),
        tf.layers.activation({ name: 'act', activation: 'relu' }),
        tf.layers.dense({ name: 'o', units: 3, kernelInitializer: seeded(3) }),
      ],
    });
  const { x, ids } = dataset(16, 5, 3);
  const model = build();
  const split = splitAtFrozen(model);
  assert.equal(denseChainOf(split.headLayers), undefined);
  const result = await trainThroughFrozen(split, x, { data: ids, shape: [16] }, { epochs: 1, batchSize: 16, learningRate: 0.05, shuffle: false });
  assert.equal(result.fromLogits, true);

  const reference = build();
  const refSplit = splitAtFrozen(reference);
  const optimizer = tf.train.adam(0.05);
  const vars = refSplit.headLayers.flatMap((l) => l.trainableWeights.map((w) => w.read() as tf.Variable));
  const referenceLoss = tf.tidy(() => {
    const y = tf.oneHot(tf.tensor1d(ids, 'int32'), 3);
    return optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, reference.apply(tf.tensor(x.data, x.shape)) as tf.Tensor) as tf.Scalar, true, vars)!.dataSync()[0];
  });
  // The reported loss (computed in JS from the logits) is the crossentropy before the step.
  assert.ok(Math.abs(result.history[0].loss - referenceLoss) < 1e-5, `${result.history[0].loss} vs ${referenceLoss}`);
  const ours = weightsOf(model);
  for (const [name, w] of weightsOf(reference)) assert.ok(maxAbsDiff(ours.get(name)!, w) < 1e-5, `${name}: ${maxAbsDiff(ours.get(name)!, w)}`);
  optimizer.dispose();
});

test('saveLayersModel writes a folder that loads with the same predictions and the frozen flags', async () => {
  await initBackend();
  const { x, ids } = dataset(40, 20, 4);
  const model = mlp();
  await transferTrain(model, x, { data: ids, shape: [40] }, { epochs: 2, batchSize: 8 });
  const out = path.join(tempDir(), 'model');
  await saveLayersModel(model, out);
  const json = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
  const layers = json.modelTopology.config.layers as { config: { name: string; trainable: boolean } }[];
  assert.deepEqual(layers.filter((l) => l.config.trainable === false).map((l) => l.config.name), ['base1', 'base2']);
  const loaded = await loadLayersModelFromDir(out);
  const input = tf.tensor(x.data, x.shape);
  const p1 = (model.predict(input) as tf.Tensor).dataSync();
  const p2 = (loaded.predict(input) as tf.Tensor).dataSync();
  assert.equal(maxAbsDiff(p1, p2), 0);
  assert.deepEqual(splitAtFrozen(loaded).frozen, ['base1', 'base2']);
});

test('channels-first permutations move the channel axis for rank 3 and up only', () => {
  assert.deepEqual(toChannelsLast(4), [0, 2, 3, 1]);
  assert.deepEqual(toChannelsFirst(4), [0, 3, 1, 2]);
  assert.deepEqual(toChannelsLast(3), [0, 2, 1]);
  assert.deepEqual(toChannelsLast(5), [0, 2, 3, 4, 1]);
  assert.deepEqual(toChannelsFirst(5), [0, 4, 1, 2, 3]);
  assert.deepEqual(toChannelsLast(2), [0, 1]);
});

test('training leaves no tensors behind', async () => {
  await initBackend();
  const { x, ids } = dataset(50, 20, 4);
  const before = tf.memory().numTensors;
  for (const cache of [true, false]) {
    const model = mlp();
    await transferTrain(model, x, { data: ids, shape: [50] }, { cache, epochs: 2, batchSize: 16, validationSplit: 0.2 });
    model.dispose();
  }
  assert.equal(tf.memory().numTensors, before);
});

test('a wide flattened head (batch × features ≥ 65,536) trains the same cached and uncached', async () => {
  await initBackend();
  // 64 rows × 1,100 cached features takes the transposed-batch gradient path on wasm.
  const wide = (): tf.Sequential => tf.sequential({
    layers: [
      tf.layers.dense({ name: 'base', units: 1100, activation: 'relu', inputShape: [20], kernelInitializer: seeded(11), trainable: false }),
      tf.layers.dense({ name: 'out', units: 4, activation: 'softmax', kernelInitializer: seeded(12) }),
    ],
  });
  const { x, ids } = dataset(200, 20, 4, 9);
  const labels = { data: ids, shape: [200] };
  const a = wide();
  const b = wide();
  const splitA = splitAtFrozen(a);
  const cache = await cacheFrozenOutputs(splitA, x, { batchSize: 64 });
  const withCache = await trainHeadOnCache(splitA, cache, labels, { epochs: 3, batchSize: 64, learningRate: 0.01 });
  const without = await trainThroughFrozen(splitAtFrozen(b), x, labels, { epochs: 3, batchSize: 64, learningRate: 0.01 });
  for (let e = 0; e < 3; e++) assert.ok(Math.abs(withCache.history[e].loss - without.history[e].loss) < 1e-5, `epoch ${e + 1}`);
  const wa = weightsOf(a).get('out/kernel')!;
  const wb = weightsOf(b).get('out/kernel')!;
  assert.ok(maxAbsDiff(wa, wb) <= 1e-6, `head kernels differ by ${maxAbsDiff(wa, wb)}`);
  assert.ok(withCache.history[2].loss < withCache.history[0].loss, 'loss went down');
  splitA.head.dispose();
  a.dispose();
  b.dispose();
});
