/**
 * The Keras layers tfjs lacks, added by `tfjs-graft/layers`: parity with independent NumPy
 * implementations of Keras' formulas (fixtures/layers/keras, scripts/make_keras_layer_fixtures.py),
 * training-time dropout semantics, serialization round trips, trainability, and the real Keras
 * files that need them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import * as layers from '../src/layers';
import { initBackend } from '../src/backend';
import { convert } from '../src/convert';
import { fixture, realworld } from './helpers/realworld';
import { tempDir } from './helpers/models';

interface ArrayJson { shape: number[]; values: number[] }
interface KerasCase {
  description: string;
  topology: object;
  weights: Array<ArrayJson & { name: string }>;
  inputs: ArrayJson[];
  output: ArrayJson;
  tolerance: number;
}

const CASE_DIR = fixture('layers/keras');
const readCase = (name: string): KerasCase => JSON.parse(fs.readFileSync(path.join(CASE_DIR, `${name}.json`), 'utf8')) as KerasCase;
const toTensor = (a: ArrayJson): tf.Tensor => tf.tensor(a.values, a.shape, 'float32');

function maxAbsDiff(actual: tf.Tensor, expected: ArrayJson): number {
  assert.deepEqual(actual.shape, expected.shape);
  const got = actual.dataSync();
  let worst = 0;
  expected.values.forEach((v, i) => { worst = Math.max(worst, Math.abs(got[i] - v)); });
  return worst;
}

async function modelFromCase(c: KerasCase): Promise<tf.LayersModel> {
  const model = await tf.models.modelFromJSON({ modelTopology: c.topology } as tf.io.ModelJSON);
  assert.deepEqual(model.getWeights().map((w) => w.shape), c.weights.map((w) => w.shape), 'weights in Keras order and shapes');
  model.setWeights(c.weights.map(toTensor));
  return model;
}

function predict(model: tf.LayersModel, c: KerasCase): tf.Tensor {
  const xs = c.inputs.map(toTensor);
  return model.predict(xs.length === 1 ? xs[0] : xs) as tf.Tensor;
}

const CASES: Record<string, string[]> = {
  LocallyConnected2D: ['lc2d_last_impl1_stride', 'lc2d_first_impl1', 'lc2d_last_impl2_same', 'lc2d_first_impl2_valid'],
  LocallyConnected1D: ['lc1d_last_impl1', 'lc1d_first_impl1_nobias', 'lc1d_last_impl2_same'],
  Attention: ['attention_dot', 'attention_dot_scale_key', 'attention_concat_scale', 'attention_dot_causal', 'attention_rank2_batch', 'attention_self_masked'],
  AdditiveAttention: ['additive_attention_scale', 'additive_attention_noscale_key_causal'],
  MultiHeadAttention: ['mha_self', 'mha_cross_key_valuedim_outshape', 'mha_causal_nobias', 'mha_rank4'],
  UnitNormalization: ['unit_norm_last', 'unit_norm_two_axes'],
  GroupNormalization: ['group_norm_last', 'group_norm_axis1', 'group_norm_instance_noaffine'],
  Cropping3D: ['cropping3d_last', 'cropping3d_first'],
  // Keras has no grouped Conv2DTranspose: these outputs come from PyTorch's ConvTranspose2d.
  Conv2DTranspose: ['conv2d_transpose_g2_valid', 'conv2d_transpose_g3_same', 'conv2d_transpose_depthwise_same'],
};

/** Largest error per class, reported as a diagnostic. */
const worstByClass: Record<string, number> = {};

for (const [cls, names] of Object.entries(CASES)) {
  for (const name of names) {
    test(`${cls} matches the NumPy implementation of Keras' formula: ${name}`, async () => {
      await initBackend();
      const c = readCase(name);
      const model = await modelFromCase(c);
      const layer = model.layers.find((l) => l.getClassName() === cls)!;
      assert.ok(layer, `the model holds a ${cls}`);
      assert.ok(Object.prototype.hasOwnProperty.call(layer.constructor, 'graftExtension'), `${cls} is graft's class`);
      const diff = maxAbsDiff(predict(model, c), c.output);
      worstByClass[cls] = Math.max(worstByClass[cls] ?? 0, diff);
      assert.ok(diff <= c.tolerance, `${c.description}: max |tfjs - numpy| = ${diff}`);
      model.dispose();
    });
  }
}

test('parity summary', { skip: false }, (t) => {
  t.diagnostic(`max |tfjs - numpy| per class: ${JSON.stringify(worstByClass)}`);
});

// ------------------------------------------------------------------ serialization

async function saveAndLoad(model: tf.LayersModel): Promise<{ loaded: tf.LayersModel; json: { config: { layers: Array<{ class_name: string; config: Record<string, unknown> }> } } }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const text = JSON.stringify(artifacts!.modelTopology);
  const loaded = await tf.loadLayersModel(tf.io.fromMemory({ ...artifacts!, modelTopology: JSON.parse(text) }));
  return { loaded, json: JSON.parse(text) };
}

test('every new layer survives model.json save -> tf.loadLayersModel with its config and outputs', async () => {
  await initBackend();
  const expectedKeys: Record<string, Record<string, unknown>> = {
    lc2d_first_impl2_valid: { data_format: 'channels_first', implementation: 2, filters: 3, kernel_size: [2, 3], strides: [2, 1] },
    lc1d_last_impl2_same: { padding: 'same', implementation: 2 },
    attention_concat_scale: { score_mode: 'concat', use_scale: true },
    attention_dot_causal: { causal: true },
    additive_attention_scale: { use_scale: true },
    mha_cross_key_valuedim_outshape: { num_heads: 3, key_dim: 2, value_dim: 4, output_shape: 8 },
    mha_causal_nobias: { use_causal_mask: true, use_bias: false },
    conv2d_transpose_g3_same: { groups: 3, padding: 'same' },
    unit_norm_two_axes: { axis: [1, 2] },
    group_norm_axis1: { groups: 2, axis: 1, epsilon: 1e-5 },
  };
  for (const [name, keys] of Object.entries(expectedKeys)) {
    const c = readCase(name);
    const model = await modelFromCase(c);
    const { loaded, json } = await saveAndLoad(model);
    const layerJson = json.config.layers.at(-1)!;
    for (const [k, v] of Object.entries(keys)) assert.deepEqual(layerJson.config[k], v, `${name}: ${k} in model.json`);
    const diff = maxAbsDiff(predict(loaded, c), c.output);
    assert.ok(diff <= c.tolerance, `${name} after save/load: ${diff}`);
    model.dispose();
    loaded.dispose();
  }
});

test('SpatialDropout2D/3D and Cropping3D round-trip through model.json with data_format and cropping', async () => {
  await initBackend();
  const model = tf.sequential({
    layers: [
      new layers.GraftSpatialDropout3D({ rate: 0.3, dataFormat: 'channelsFirst', inputShape: [2, 4, 5, 6] }),
      new layers.GraftCropping3D({ cropping: [[1, 0], 1, [0, 2]], dataFormat: 'channelsFirst' }),
      tf.layers.reshape({ targetShape: [6, 3, 4] }),
      new layers.GraftSpatialDropout2D({ rate: 0.25 }),
    ],
  });
  const { loaded, json } = await saveAndLoad(model);
  const [sd3, crop, , sd2] = json.config.layers;
  assert.equal(sd3.class_name, 'SpatialDropout3D');
  assert.deepEqual([sd3.config.rate, sd3.config.data_format], [0.3, 'channels_first']);
  assert.deepEqual(crop.config.cropping, [[1, 0], [1, 1], [0, 2]]);
  assert.deepEqual([sd2.config.rate, sd2.config.data_format], [0.25, 'channels_last']);
  const x = tf.randomNormal([2, 2, 4, 5, 6], 0, 1, 'float32', 1);
  const want = x.slice([0, 0, 1, 1, 0], [2, 2, 3, 3, 4]).reshape([2, 6, 3, 4]);
  assert.equal(maxAbsDiff(loaded.predict(x) as tf.Tensor, { shape: want.shape, values: Array.from(want.dataSync()) }), 0);
});

// ------------------------------------------------------------------ training-time behaviour

/** Per (sample, channel), the values of a map: all must be equal in a spatially dropped output. */
function channelMaps(y: tf.Tensor, channelsFirst: boolean): number[][] {
  const t = channelsFirst ? y : tf.transpose(y, [0, y.rank - 1, ...Array.from({ length: y.rank - 2 }, (_, i) => i + 1)]);
  const [n, c] = t.shape;
  const flat = t.reshape([n * c, -1]).arraySync() as number[][];
  return flat;
}

for (const { cls, shape, channelsFirst, make } of [
  { cls: 'SpatialDropout2D (channels_last)', shape: [64, 3, 4, 16], channelsFirst: false, make: () => new layers.GraftSpatialDropout2D({ rate: 0.4 }) },
  { cls: 'SpatialDropout2D (channels_first)', shape: [64, 16, 3, 4], channelsFirst: true, make: () => new layers.GraftSpatialDropout2D({ rate: 0.4, dataFormat: 'channelsFirst' }) },
  { cls: 'SpatialDropout3D (channels_last)', shape: [64, 2, 3, 2, 16], channelsFirst: false, make: () => new layers.GraftSpatialDropout3D({ rate: 0.4 }) },
  { cls: 'SpatialDropout3D (channels_first)', shape: [64, 16, 2, 3, 2], channelsFirst: true, make: () => new layers.GraftSpatialDropout3D({ rate: 0.4, dataFormat: 'channelsFirst' }) },
  { cls: "SpatialDropout1D (tfjs's own)", shape: [64, 5, 16], channelsFirst: false, make: () => tf.layers.spatialDropout1d({ rate: 0.4 }) },
]) {
  test(`${cls}: in training whole channels drop, kept ones scale by 1/(1-rate); identity at inference`, async () => {
    await initBackend();
    const layer = make();
    const x = tf.add(tf.abs(tf.randomNormal(shape, 0, 1, 'float32', 3)), 0.5);
    const inference = layer.apply(x, { training: false }) as tf.Tensor;
    assert.equal(maxAbsDiff(inference, { shape, values: Array.from(x.dataSync()) }), 0, 'identity at inference');
    const y = layer.apply(x, { training: true }) as tf.Tensor;
    const ratio = channelMaps(tf.div(y, x), channelsFirst);
    let dropped = 0;
    for (const map of ratio) {
      const first = map[0];
      // Each map is all zeros or all scaled by 1/(1-rate) = 1/0.6.
      assert.ok(map.every((r) => Math.abs(r - first) < 1e-5), 'a channel map was partly dropped');
      if (first === 0) dropped++;
      else assert.ok(Math.abs(first - 1 / 0.6) < 1e-5, `kept values scaled by ${first}, not 1/(1-rate)`);
    }
    // 1024 independent (sample, channel) draws at rate 0.4: the dropped share lies within ±6σ.
    const share = dropped / ratio.length;
    assert.ok(Math.abs(share - 0.4) < 6 * Math.sqrt(0.4 * 0.6 / ratio.length), `dropped share ${share}`);
  });
}

test('Attention dropout (training): attention weights dropped element-wise and rescaled; none at inference', async () => {
  await initBackend();
  const tv = 8;
  const layer = new layers.GraftAttention({ dropout: 0.5 });
  // Equal scores make every weight 1/tv; with value = 1 the output counts the kept weights.
  const q = tf.zeros([200, 1, 3]);
  const v = tf.ones([200, tv, 1]);
  const k = tf.zeros([200, tv, 3]);
  const inference = (layer.apply([q, v, k], { training: false }) as tf.Tensor).dataSync();
  assert.ok(inference.every((o) => Math.abs(o - 1) < 1e-6));
  const kept = Array.from((layer.apply([q, v, k], { training: true }) as tf.Tensor).dataSync()).map((o) => o * tv * 0.5);
  assert.ok(kept.every((k) => Math.abs(k - Math.round(k)) < 1e-4 && k >= -1e-6 && k <= tv + 1e-6), 'output = kept weights × 1/(1-rate)');
  const mean = kept.reduce((a, b) => a + b, 0) / kept.length;
  // Binomial(8, 0.5) per row: mean 4, σ of the mean = sqrt(2/200).
  assert.ok(Math.abs(mean - 4) < 6 * Math.sqrt(2 / 200), `mean kept ${mean}`);
});

test('MultiHeadAttention dropout (training) changes outputs and keeps inference deterministic', async () => {
  await initBackend();
  const c = readCase('mha_self');
  const topology = JSON.parse(JSON.stringify(c.topology)) as { config: { layers: Array<{ config: Record<string, unknown> }> } };
  topology.config.layers.at(-1)!.config.dropout = 0.5;
  const model = await modelFromCase({ ...c, topology });
  const layer = model.layers.at(-1)!;
  const xs = c.inputs.map(toTensor);
  assert.ok(maxAbsDiff(layer.apply(xs, { training: false }) as tf.Tensor, c.output) <= c.tolerance);
  const a = layer.apply(xs, { training: true }) as tf.Tensor;
  assert.ok(tf.any(tf.greater(tf.abs(tf.sub(a, toTensor(c.output))), 1e-3)).dataSync()[0], 'dropout had no effect in training');
});

// ------------------------------------------------------------------ trainability

test('gradients reach every weight of every new layer (one SGD step changes them all)', async () => {
  await initBackend();
  const names = ['lc2d_first_impl1', 'lc2d_last_impl2_same', 'lc1d_last_impl1', 'attention_concat_scale',
    'additive_attention_scale', 'mha_cross_key_valuedim_outshape', 'group_norm_last', 'conv2d_transpose_g3_same'];
  for (const name of names) {
    // tfjs's wasm backend has no Conv2DBackpropFilter (tfjs's own Conv2DTranspose cannot train
    // there either): the transposed convolution trains on the cpu backend.
    const backend = tf.getBackend();
    if (name.startsWith('conv2d_transpose')) await tf.setBackend('cpu');
    const c = readCase(name);
    const model = await modelFromCase(c);
    assert.equal(model.trainableWeights.length, c.weights.length, `${name}: every weight is trainable`);
    const before = model.getWeights().map((w) => w.clone());
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
    const xs = c.inputs.map(toTensor);
    const target = tf.add(toTensor(c.output), tf.randomNormal(c.output.shape, 0, 1, 'float32', 9));
    await model.fit(xs.length === 1 ? xs[0] : xs, target, { epochs: 1, batchSize: c.inputs[0].shape[0], verbose: 0, shuffle: false });
    model.getWeights().forEach((w, i) => {
      // Softmax ignores a shift shared by all keys of a query, and q·b_key is one: Keras' key
      // bias gets no gradient either.
      if (c.weights[i].name.endsWith('key/bias')) return;
      const moved = tf.max(tf.abs(tf.sub(w, before[i]))).dataSync()[0];
      assert.ok(moved > 0, `${name}: weight ${c.weights[i].name} did not change`);
    });
    model.dispose();
    await tf.setBackend(backend);
  }
});

test('LocallyConnected2D implementation 2: the kernel outside the receptive field gets no gradient', async () => {
  await initBackend();
  const c = readCase('lc2d_last_impl2_same');
  const model = await modelFromCase(c);
  const layer = model.layers[0] as unknown as { kernel: { read(): tf.Tensor } };
  const xs = toTensor(c.inputs[0]);
  const kernelVar = model.trainableWeights[0];
  const { grads } = tf.variableGrads(() => tf.sum(tf.square(model.apply(xs) as tf.Tensor)) as tf.Scalar, [kernelVar.read() as tf.Variable]);
  const g = Object.values(grads)[0];
  const k = layer.kernel.read();
  // Keras multiplies the kernel by its connectivity mask: where the mask is 0, nothing flows.
  const [h, w, , oh, ow] = k.shape;
  const gv = g.arraySync() as number[][][][][][];
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) for (let r = 0; r < oh; r++) for (let q = 0; q < ow; q++) {
    const connected = Math.abs(i - r) <= 1 && Math.abs(j - 2 * q) <= 1;
    if (!connected) assert.ok(gv[i][j].every((cv) => cv[r][q].every((x) => x === 0)), `gradient at unconnected (${i},${j})->(${r},${q})`);
  }
});

// ------------------------------------------------------------------ refusals

test('configurations graft does not implement are refused with clear messages', async () => {
  await initBackend();
  assert.throws(() => new layers.GraftLocallyConnected2D({ filters: 2, kernelSize: 3, implementation: 3 }), /implementation 3 is not supported/);
  assert.throws(() => new layers.GraftLocallyConnected2D({ filters: 2, kernelSize: 3, padding: 'same' }), /needs implementation 2/);
  assert.throws(() => new layers.GraftAttention({ scoreMode: 'general' }), /score_mode/);
  const gn = new layers.GraftGroupNormalization({ groups: 4 });
  assert.throws(() => gn.apply(tf.zeros([1, 3, 6])), /channels \(6\) must be a multiple of groups \(4\)/);
  const mha = new layers.GraftMultiHeadAttention({ numHeads: 2, keyDim: 2, attentionAxes: [2] });
  assert.throws(() => mha.apply([tf.zeros([1, 3, 4, 5]), tf.zeros([1, 3, 4, 5])]), /attention_axes \[2\] for rank-4 inputs is not supported/);
});

// ------------------------------------------------------------------ real Keras files

const REAL_FILES = [
  { rel: 'keras2_h5/dl4j/tfkeras/cnn2d_100.h5', uses: 'SpatialDropout2D', oracle: 'realworld_cnn2d_100' },
  { rel: 'keras2_h5/dl4j/tfkeras/cnn2d_112.h5', uses: 'SpatialDropout2D', oracle: 'realworld_cnn2d_112' },
  { rel: 'keras2_h5/dl4j/tfkeras/cnn3d_16.h5', uses: 'SpatialDropout3D', oracle: 'realworld_cnn3d_16' },
  { rel: 'keras2_h5/dl4j/tfkeras/cnn2d_32.h5', uses: 'LocallyConnected2D', oracle: 'realworld_cnn2d_32' },
  { rel: 'keras2_h5/dl4j/weights/keras-attention.h5', uses: 'Attention', oracle: 'realworld_keras_attention' },
];

test("the five real Keras files convert with no target and load in plain tfjs after require('tfjs-graft/layers')", async (t) => {
  if (!realworld(REAL_FILES[0].rel)) return t.skip('realworld folder absent');
  await initBackend();
  const outs: { out: string; oracle?: string; rel: string; uses: string }[] = [];
  for (const f of REAL_FILES) {
    const out = path.join(tempDir(), 'model');
    const report = await convert({ source: realworld(f.rel)!, out });
    assert.equal(report.missing.length, 0, `${f.rel}: every variable restored`);
    assert.ok(report.assigned.length > 0);
    assert.equal(report.needsLayers, true, `${f.rel} is marked as needing tfjs-graft/layers`);
    outs.push({ out, oracle: f.oracle ? path.join(CASE_DIR, `${f.oracle}.json`) : undefined, rel: f.rel, uses: f.uses });
  }
  // A separate process that knows only the published entry points, as a user's script would.
  const script = `
    const tf = require('@tensorflow/tfjs');
    require('tfjs-graft/layers');
    const { loadModelArtifacts } = require('tfjs-graft');
    const fs = require('fs');
    (async () => {
      await tf.setBackend('cpu');
      const results = [];
      for (const { out, oracle, uses } of ${JSON.stringify(outs)}) {
        const model = await tf.loadLayersModel(tf.io.fromMemory(loadModelArtifacts(out)));
        const classes = model.layers.map((l) => l.getClassName());
        let diff = null;
        if (oracle) {
          const c = JSON.parse(fs.readFileSync(oracle, 'utf8'));
          const y = model.predict(tf.tensor(c.inputs[0].values, c.inputs[0].shape));
          diff = tf.max(tf.abs(tf.sub(y, tf.tensor(c.output.values, c.output.shape)))).dataSync()[0];
        }
        results.push({ uses: classes.includes(uses), diff });
      }
      console.log(JSON.stringify(results));
    })().catch((e) => { console.error(e.stack); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: path.resolve(__dirname, '..'), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const results = JSON.parse(r.stdout.trim().split('\n').pop()!) as { uses: boolean; diff: number | null }[];
  results.forEach((res, i) => {
    assert.ok(res.uses, `${REAL_FILES[i].rel}: the loaded model holds a ${REAL_FILES[i].uses}`);
    if (res.diff !== null) {
      t.diagnostic(`${REAL_FILES[i].rel}: max |tfjs - numpy forward| = ${res.diff}`);
      assert.ok(res.diff <= 1e-5, `${REAL_FILES[i].rel}: max |tfjs - numpy| = ${res.diff}`);
    }
  });
});

// ------------------------------------------------------------------ Keras topology translation

test('attention calls: Keras 2 and 3 value/key arguments become positional inputs, use_causal_mask moves to the config', async () => {
  const { attentionInboundNodes } = await import('../src/topology/keras-attention-calls');
  const refuse = (why: string): never => { throw new Error(why); };
  const shift = (r: [string, number, number]): [string, number, number] => r;
  const k3 = (layer: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 2, 3], keras_history: [layer, 0, 0] } });

  // Keras 2 mha(q, value=v, key=k, use_causal_mask=True)
  let config: Record<string, unknown> = {};
  let nodes = attentionInboundNodes('MultiHeadAttention', [[['q', 0, 0, { value: ['v', 0, 0], key: ['k', 0, 0], use_causal_mask: true }]]], config, refuse, shift);
  assert.deepEqual(nodes, [[['q', 0, 0, {}], ['v', 0, 0, {}], ['k', 0, 0, {}]]]);
  assert.equal(config.use_causal_mask, true);
  // Keras 3 mha(q, v, key=k) and self-attention mha(x, x): repeated tensors are passed once.
  config = {};
  nodes = attentionInboundNodes('MultiHeadAttention', [{ args: [k3('q'), k3('v')], kwargs: { key: k3('k'), use_causal_mask: false } }], config, refuse, shift);
  assert.deepEqual(nodes, [[['q', 0, 0, {}], ['v', 0, 0, {}], ['k', 0, 0, {}]]]);
  assert.equal(config.use_causal_mask, undefined);
  nodes = attentionInboundNodes('MultiHeadAttention', [{ args: [k3('x'), k3('x')], kwargs: {} }], {}, refuse, shift);
  assert.deepEqual(nodes, [[['x', 0, 0, {}]]]);
  // Keras 2 Attention([q, v, v], use_causal_mask=True) -> [q, v] with causal in the config.
  config = {};
  nodes = attentionInboundNodes('Attention', [[['q', 0, 0, { use_causal_mask: true }], ['v', 0, 0, { use_causal_mask: true }], ['v', 0, 0, { use_causal_mask: true }]]], config, refuse, shift);
  assert.deepEqual(nodes, [[['q', 0, 0, {}], ['v', 0, 0, {}]]]);
  assert.equal(config.causal, true);
  // Keras 3 Attention([q, v]) with a nested-model shift applied to the references.
  nodes = attentionInboundNodes('AdditiveAttention', [{ args: [[k3('q'), k3('v')]], kwargs: { mask: [null, null] } }], {}, refuse,
    ([l, n, t]) => [l, n + 1, t]);
  assert.deepEqual(nodes, [[['q', 1, 0, {}], ['v', 1, 0, {}]]]);

  assert.throws(() => attentionInboundNodes('MultiHeadAttention', [{ args: [k3('q'), k3('v')], kwargs: { attention_mask: k3('m') } }], {}, refuse, shift),
    /tensor argument 'attention_mask'/);
  assert.throws(() => attentionInboundNodes('Attention', [[['q', 0, 0, { return_attention_scores: true }], ['v', 0, 0, {}]]], {}, refuse, shift),
    /attention scores/);
  assert.throws(() => attentionInboundNodes('MultiHeadAttention', [[['q', 0, 0, { value: ['v', 0, 0] }]], [['q', 0, 0, { value: ['v', 0, 0], use_causal_mask: true }]]], {}, refuse, shift),
    /shared between calls with and without use_causal_mask/);
});

const FILE_CASES = ['keras2_mha.h5', 'keras3_mha.keras', 'keras2_self_attention_groupnorm.h5', 'keras3_additive_groupnorm_unitnorm.keras'];
for (const file of FILE_CASES) {
  test(`Keras file ${file} converts with no target and matches NumPy`, async () => {
    await initBackend();
    const dir = path.join(CASE_DIR, 'files');
    const out = path.join(tempDir(), 'model');
    const report = await convert({ source: path.join(dir, file), out });
    assert.equal(report.missing.length, 0, `unrestored: ${report.missing.join(', ')}`);
    assert.equal(report.needsLayers, true);
    const expected = JSON.parse(fs.readFileSync(path.join(dir, file.replace(/\.(h5|keras)$/, '.expected.json')), 'utf8')) as { inputs: ArrayJson[]; output: ArrayJson };
    const artifacts = (await import('../src/topology/model-json')).loadModelArtifacts(out);
    const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    const xs = expected.inputs.map(toTensor);
    const diff = maxAbsDiff(model.predict(xs.length === 1 ? xs[0] : xs) as tf.Tensor, expected.output);
    assert.ok(diff <= 1e-5, `${file}: max |tfjs - numpy| = ${diff}`);
    model.dispose();
  });
}

test('graft sizes the new layers without tfjs exactly as tfjs builds them (variables and save order)', async () => {
  await initBackend();
  const { analyzeTopology } = await import('../src/topology/weight-specs');
  const { modelFromTopology, targetVariables } = await import('../src/topology/live-model');
  const { openWeights } = await import('../src/formats');
  const topologies: [string, Record<string, unknown>][] = Object.values(CASES).flat().map((n) => [n, readCase(n).topology as Record<string, unknown>]);
  for (const file of FILE_CASES) {
    const reader = await openWeights(path.join(CASE_DIR, 'files', file));
    topologies.push([file, reader.topology!]);
    await reader.close();
  }
  for (const [label, topology] of topologies) {
    const analysis = analyzeTopology(topology);
    assert.ok(!('reason' in analysis), `${label}: ${'reason' in analysis ? analysis.reason : ''}`);
    const model = await modelFromTopology(topology);
    assert.deepStrictEqual(analysis.variables, targetVariables(model), `${label}: variables`);
    assert.deepStrictEqual(analysis.saveOrder, model.weights.map((w) => w.originalName), `${label}: save order`);
    model.dispose();
  }
});

test('a PyTorch grouped ConvTranspose2d converts onto Conv2DTranspose(groups) and matches PyTorch', async () => {
  await initBackend();
  const { readNpy, predictArray, maxAbsDiff: maxDiff } = await import('./helpers/models');
  const { loadLayersModelFromDir } = await import('../src/output/load');
  const dir = path.join(CASE_DIR, 'torch_grouped_conv_transpose');
  const out = path.join(tempDir(), 'model');
  const report = await convert({ source: path.join(dir, 'model.pt'), target: path.join(dir, 'target.json'), out, from: 'torch' });
  assert.deepEqual(report.missing, []);
  assert.equal(report.needsLayers, true);
  assert.deepEqual(report.assigned.map((a) => [a.source, a.target]), [['up.weight', 'up/kernel'], ['up.bias', 'up/bias']]);
  const model = await loadLayersModelFromDir(out);
  assert.ok(model.layers[0] instanceof layers.GraftConv2DTranspose);
  const err = maxDiff(predictArray(model, readNpy(path.join(dir, 'input_nhwc.npy'))).data, readNpy(path.join(dir, 'output_nhwc.npy')).data);
  assert.ok(err <= 1e-5, `max |tfjs - torch| = ${err}`);
});

test('grouped Conv2DTranspose refuses what it does not implement; without groups it is tfjs\'s layer', async () => {
  await initBackend();
  assert.throws(() => new layers.GraftConv2DTranspose({ filters: 6, kernelSize: 3, groups: 4 }), /filters \(6\) must be divisible by groups \(4\)/);
  assert.throws(() => new layers.GraftConv2DTranspose({ filters: 6, kernelSize: 3, groups: 2, dataFormat: 'channelsFirst' }), /channels_last/);
  const ct = new layers.GraftConv2DTranspose({ filters: 6, kernelSize: 3, groups: 3 });
  assert.throws(() => ct.apply(tf.zeros([1, 4, 4, 4])), /input channels \(4\) must be divisible by groups \(3\)/);
  const plain = new layers.GraftConv2DTranspose({ filters: 2, kernelSize: 3, strides: 2, padding: 'same' });
  const own = tf.layers.conv2dTranspose({ filters: 2, kernelSize: 3, strides: 2, padding: 'same' });
  const x = tf.randomNormal([1, 3, 3, 2], 0, 1, 'float32', 4);
  plain.apply(x);
  own.apply(x);
  own.setWeights(plain.getWeights());
  assert.deepEqual(Array.from((plain.apply(x) as tf.Tensor).dataSync()), Array.from((own.apply(x) as tf.Tensor).dataSync()));
  assert.equal('groups' in plain.getConfig(), false);
});

test("masked queries and values in separate inputs, which tfjs's execution cannot pass on, are refused, not ignored", async () => {
  await initBackend();
  const q = tf.input({ shape: [3] });
  const v = tf.input({ shape: [4] });
  const eq = tf.layers.embedding({ inputDim: 5, outputDim: 2, maskZero: true }).apply(q) as tf.SymbolicTensor;
  const ev = tf.layers.embedding({ inputDim: 5, outputDim: 2, maskZero: true }).apply(v) as tf.SymbolicTensor;
  const model = tf.model({ inputs: [q, v], outputs: new layers.GraftAttention({}).apply([eq, ev]) as tf.SymbolicTensor });
  const xs = [tf.tensor([[1, 2, 0]]), tf.tensor([[3, 0, 4, 0]])];
  assert.throws(() => model.predict(xs), /tfjs passes a multi-input layer only its first input's mask/);
  // Called directly with one mask per input, padded value positions get no weight and the padded
  // query is zeroed: the same as attending over the unpadded values only.
  const embQ = (model.layers[2] as tf.layers.Layer).apply(xs[0]) as tf.Tensor;
  const embV = (model.layers[3] as tf.layers.Layer).apply(xs[1]) as tf.Tensor;
  const layer = new layers.GraftAttention({});
  const masked = layer.apply([embQ, embV], { mask: [tf.tensor([[1, 1, 0]], undefined, 'bool'), tf.tensor([[1, 0, 1, 0]], undefined, 'bool')] }) as tf.Tensor;
  const want = tf.mul(layer.apply([embQ, tf.gather(embV, [0, 2], 1)]) as tf.Tensor, tf.tensor([[[1], [1], [0]]]));
  assert.ok(tf.max(tf.abs(tf.sub(masked, want))).dataSync()[0] < 1e-6);
});

test("a Keras 2 MultiHeadAttention node left untranslated (value as a call argument) is refused, not run as self-attention", async () => {
  await initBackend();
  const c = readCase('mha_cross_key_valuedim_outshape');
  const topology = JSON.parse(JSON.stringify(c.topology)) as { config: { layers: Array<{ inbound_nodes: unknown[] }> } };
  topology.config.layers.at(-1)!.inbound_nodes = [[['in0', 0, 0, { value: ['in1', 0, 0], key: ['in2', 0, 0] }]]];
  await assert.rejects(tf.models.modelFromJSON({ modelTopology: topology } as unknown as tf.io.ModelJSON), /called with 'value' as a keyword argument/);
});
