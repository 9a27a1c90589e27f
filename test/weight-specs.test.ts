/**
 * topology/catalogue.ts and topology/weight-specs.ts: the variables, shapes and save order graft
 * derives from a topology alone must equal what tfjs builds (tfjs is the oracle), for every class
 * the catalogue sizes; the catalogue's views of a class (weights, build, torch rules) agree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import '../src/layers';
import { initBackend } from '../src/backend';
import { GraftError } from '../src/errors';
import { openWeights } from '../src/formats';
import type { WeightReader } from '../src/formats/types';
import { GRAFT_LAYER_CLASSES, LAYER_CLASSES, layerClass } from '../src/topology/catalogue';
import { modelFromTopology, normalizeTopology, targetVariables } from '../src/topology/live-model';
import { readModelJson } from '../src/topology/model-json';
import type { TargetVariable } from '../src/topology/variables';
import { analyzeTopology, weightSpecsFromTopology } from '../src/topology/weight-specs';
import { fixture, realworld, REALWORLD_DIR } from './helpers/realworld';
import { functional, input, Json, L, node, seq } from './helpers/topologies';

/** The weight specs of a topology against the live tfjs model built from it. */
async function assertSpecsMatchTfjs(topology: Json, label: string): Promise<void> {
  const analysis = analyzeTopology(topology);
  assert.ok(!('reason' in analysis), `${label}: ${'reason' in analysis ? analysis.reason : ''}`);
  const model = await modelFromTopology(topology);
  try {
    assert.deepStrictEqual(analysis.variables, targetVariables(model), `${label}: variables`);
    assert.deepStrictEqual(analysis.saveOrder, model.weights.map((w) => w.originalName), `${label}: save order`);
  } finally {
    model.dispose();
  }
}

const SYNTHETIC: [string, Json][] = [
  ['conv stack with every 2-D shape changer', seq('convs', [
    L('Conv2D', 'c1', { batch_input_shape: [null, 17, 15, 3], filters: 4, kernel_size: [3, 3], strides: [2, 2], padding: 'same' }),
    L('DepthwiseConv2D', 'dw', { kernel_size: 3, depth_multiplier: 2, padding: 'valid', dilation_rate: 1 }),
    L('SeparableConv2D', 'sep', { filters: 5, kernel_size: [3, 3], depth_multiplier: 2, padding: 'same' }),
    L('BatchNormalization', 'bn', { axis: -1 }),
    L('MaxPooling2D', 'mp', { pool_size: [2, 2], padding: 'same' }),
    L('ZeroPadding2D', 'zp', { padding: [[1, 2], [0, 1]] }),
    L('Cropping2D', 'cr', { cropping: [[1, 0], [0, 1]] }),
    L('UpSampling2D', 'up', { size: [2, 3] }),
    L('AveragePooling2D', 'ap', { pool_size: 3, strides: 2, padding: 'valid' }),
    L('Conv2DTranspose', 'ct', { filters: 3, kernel_size: [3, 2], strides: [2, 2], padding: 'valid' }),
    L('Activation', 'act', { activation: 'relu' }),
    L('Dropout', 'drop', { rate: 0.5 }),
    L('Flatten', 'flat'),
    L('Dense', 'd1', { units: 7 }),
    L('Reshape', 'rs', { target_shape: [7, 1] }),
    L('Conv1D', 'c1d', { filters: 6, kernel_size: 2, dilation_rate: 1, padding: 'valid' }),
    L('MaxPooling1D', 'mp1', { pool_size: 2, padding: 'same' }),
    L('AveragePooling1D', 'ap1', { pool_size: 1 }),
    L('GlobalMaxPooling1D', 'gmp'),
    L('Dense', 'nobias', { units: 4, use_bias: false }),
    L('RepeatVector', 'rep', { n: 3 }),
    L('Permute', 'perm', { dims: [2, 1] }),
    L('LayerNormalization', 'ln', { axis: [1, 2] }),
    L('Flatten', 'flat2'),
    L('Dense', 'out', { units: 2 }),
  ])],
  ['recurrent stack', seq('rnns', [
    L('Bidirectional', 'bi1', { batch_input_shape: [null, 5, 4], merge_mode: 'sum', layer: L('LSTM', 'lstm', { units: 3, return_sequences: true }) }),
    L('Bidirectional', 'bi2', { layer: L('SimpleRNN', 'rnn', { units: 2, return_sequences: true }) }),
    L('Bidirectional', 'bi3', { merge_mode: 'ave', layer: L('GRU', 'gru_ra', { units: 3, return_sequences: true, reset_after: true }) }),
    L('TimeDistributed', 'td', { layer: L('Dense', 'inner', { units: 3 }) }),
    L('GRU', 'gru_classic', { units: 4, return_sequences: true, reset_after: false }),
    L('GRU', 'gru_after', { units: 5, return_sequences: true, reset_after: true }),
    L('LSTM', 'lstm2', { units: 2, use_bias: false, return_sequences: true }),
    L('Masking', 'mask'),
    L('SimpleRNN', 'last', { units: 3 }),
    L('Dense', 'head', { units: 1 }),
  ])],
  ['embedding, causal dilated conv, PReLU', seq('emb', [
    L('Embedding', 'emb', { batch_input_shape: [null, 6], input_dim: 10, output_dim: 4, input_length: 6 }),
    L('Conv1D', 'causal', { filters: 5, kernel_size: 3, padding: 'causal', dilation_rate: 2 }),
    L('SpatialDropout1D', 'sd', { rate: 0.1 }),
    L('PReLU', 'pr1', { shared_axes: [1] }),
    L('GlobalAveragePooling1D', 'gap'),
    L('Dense', 'd', { units: 3 }),
    L('PReLU', 'pr2'),
  ])],
  ['grouped convolutions (tfjs-graft/layers)', seq('grouped', [
    L('Conv1D', 'g1', { batch_input_shape: [null, 9, 4], filters: 6, kernel_size: 3, groups: 2 }),
    L('Reshape', 'r', { target_shape: [7, 6, 1] }),
    L('Conv2D', 'g2', { filters: 4, kernel_size: 1, groups: 1 }),
    L('Conv2D', 'g4', { filters: 8, kernel_size: [3, 3], groups: 4, padding: 'same' }),
  ])],
  ['3-D convolutions and pooling', seq('vol', [
    L('Conv3D', 'c3', { batch_input_shape: [null, 6, 7, 8, 2], filters: 3, kernel_size: [3, 2, 2], strides: [1, 2, 1], groups: 1 }),
    L('MaxPooling3D', 'mp3', { pool_size: [2, 2, 2], padding: 'same' }),
    L('AveragePooling3D', 'ap3', { pool_size: 1 }),
    L('Flatten', 'f'),
    L('Dense', 'd', { units: 2 }),
  ])],
  ['channels_first convolutions, flatten, frozen layers and odd normalizations', seq('cf', [
    L('InputLayer', 'x', { batch_input_shape: [null, 3, 10, 12] }),
    L('Conv2D', 'c', { filters: 4, kernel_size: 3, data_format: 'channels_first', trainable: false }),
    L('BatchNormalization', 'bn1', { axis: 1, center: false }),
    L('BatchNormalization', 'bn2', { axis: [3], scale: false, trainable: false }),
    L('MaxPooling2D', 'mp', { data_format: 'channels_first' }),
    L('GlobalAveragePooling2D', 'gap', { data_format: 'channels_first' }),
    L('Dense', 'd0', { units: 4, trainable: false }),
    L('Reshape', 'r', { target_shape: [2, 2, 1] }),
    L('PReLU', 'pr', { shared_axes: [1, 2] }),
    L('Flatten', 'f', { data_format: 'channels_first' }),
    L('Dense', 'd', { units: 3 }),
  ])],
  ['functional: shared layer, merges, unused branch, flatten feeding dense', functional('merges', [
    input('a', [null, 8]),
    input('b', [null, 8]),
    input('img', [null, 4, 5, 2]),
    { ...L('Dense', 'shared', { units: 6 }), name: 'shared', inbound_nodes: [[['a', 0, 0, {}]], [['b', 0, 0, {}]]] },
    node(L('Concatenate', 'cat', { axis: -1 }), ['shared', 0, 0], ['shared', 1, 0]),
    node(L('Add', 'add'), ['shared', 0, 0], ['shared', 1, 0]),
    node(L('Multiply', 'mul'), 'add', ['shared', 1, 0]),
    node(L('Average', 'avg'), 'mul', 'add'),
    node(L('Maximum', 'max'), 'avg', 'mul'),
    node(L('Minimum', 'min'), 'max', 'avg'),
    node(L('Dense', 'unused', { units: 9 }), 'min'),
    node(L('Flatten', 'flat'), 'img'),
    node(L('Dense', 'after_flat', { units: 6 }), 'flat'),
    node(L('Concatenate', 'cat2'), 'cat', 'min', 'after_flat'),
    node(L('BatchNormalization', 'bn'), 'cat2'),
    node(L('Dense', 'out', { units: 2 }), 'bn'),
  ], ['a', 'b', 'img'], ['out'])],
  ['functional: LSTM states, layers listed in reverse', functional('states', [
    node(L('Dense', 'out', { units: 2 }), 'cat'),
    node(L('Concatenate', 'cat'), ['lstm', 0, 1], ['lstm', 0, 2], 'pooled'),
    node(L('GlobalAveragePooling1D', 'pooled'), ['lstm', 0, 0]),
    node(L('LSTM', 'lstm', { units: 4, return_sequences: true, return_state: true }), 'seq_in'),
    input('seq_in', [null, 5, 3]),
  ], ['seq_in'], ['out', ['lstm', 0, 1]])],
  ['nested models: a Sequential inside a functional model inside a Sequential', seq('outer', [
    { class_name: 'Model', config: {
      name: 'mid',
      layers: [
        input('mid_in', [null, 6]),
        { ...seq('inner', [L('Dense', 'in1', { batch_input_shape: [null, 6], units: 5 }), L('BatchNormalization', 'in_bn')]), name: 'inner', inbound_nodes: [[['mid_in', 0, 0, {}]]] },
        node(L('Dense', 'mid_d', { units: 3 }), ['inner', 1, 0]),
      ],
      input_layers: [['mid_in', 0, 0]],
      output_layers: [['mid_d', 0, 0]],
    } },
    L('Dense', 'top', { units: 2 }),
  ])],
  ['the remaining classes: transposed 3-D convolution, global max pooling, activations and noise', seq('rest', [
    L('Conv3DTranspose', 'ct3', { batch_input_shape: [null, 3, 4, 5, 2], filters: 3, kernel_size: [2, 2, 2], strides: [2, 1, 2], padding: 'same' }),
    L('Reshape', 'r', { target_shape: [6, 20, 3] }),
    L('GaussianNoise', 'gn', { stddev: 0.1 }),
    L('GaussianDropout', 'gd', { rate: 0.1 }),
    L('AlphaDropout', 'ad', { rate: 0.1 }),
    L('ReLU', 'relu'),
    L('LeakyReLU', 'lrelu', { alpha: 0.2 }),
    L('ELU', 'elu'),
    L('ThresholdedReLU', 'trelu', { theta: 0.5 }),
    L('Softmax', 'sm'),
    L('Rescaling', 'rescale', { scale: 0.5, offset: 0 }),
    L('GlobalMaxPooling2D', 'gmp'),
    L('Dense', 'd', { units: 2 }),
  ])],
  ['the classes tfjs-graft/layers adds (and grouped Conv2DTranspose)', functional('graft_layers', [
    input('img', [null, 6, 7, 4]),
    node(L('Conv2DTranspose', 'gct', { filters: 6, kernel_size: [3, 2], strides: [2, 1], padding: 'same', groups: 2 }), 'img'),
    node(L('SpatialDropout2D', 'sd2', { rate: 0.2 }), 'gct'),
    node(L('LocallyConnected2D', 'lc2', { filters: 4, kernel_size: [3, 3], strides: [2, 2], data_format: 'channels_first', implementation: 1 }), 'sd2'),
    node(L('GroupNormalization', 'gnorm', { groups: 2, axis: 1 }), 'lc2'),
    node(L('Reshape', 'to3d', { target_shape: [2, 3, 4, 1] }), 'gnorm'),
    node(L('Cropping3D', 'crop3', { cropping: [[1, 0], 1, [0, 1]] }), 'to3d'),
    node(L('SpatialDropout3D', 'sd3', { rate: 0.2 }), 'crop3'),
    node(L('Reshape', 'to_seq', { target_shape: [3, 1] }), 'sd3'),
    node(L('LocallyConnected1D', 'lc1', { filters: 4, kernel_size: [1], padding: 'same', implementation: 2 }), 'to_seq'),
    node(L('UnitNormalization', 'unorm', { axis: -1 }), 'lc1'),
    input('seq', [null, 5, 4]),
    node(L('Attention', 'att', { use_scale: true, score_mode: 'concat' }), 'unorm', 'seq'),
    node(L('AdditiveAttention', 'add_att', { use_scale: true }), 'seq', 'unorm', 'unorm'),
    node(L('MultiHeadAttention', 'mha', { num_heads: 2, key_dim: 3, value_dim: 5, output_shape: 6 }), 'att', 'seq'),
  ], ['img', 'seq'], ['mha', 'add_att'])],
  ['the layers of models built from ONNX graphs (tfjs-graft/layers Graft*)', functional('onnx_layers', [
    input('x', [null, 6, 7, 4]),
    node(L('GraftUnary', 'hswish', { op: 'hardSwish' }), 'x'),
    node(L('GraftPad', 'pad', { paddings: [[1, 2], [0, 1], [0, 0]], mode: 'constant', value: 0 }), 'hswish'),
    node(L('GraftPool2D', 'pool', { mode: 'avg', pool: [3, 3], strides: [2, 2], pads: [1, 0, 1, 1], extra: [1, 0], inclusive: false }), 'pad'),
    node(L('GraftInstanceNorm', 'inorm', { epsilon: 1e-5 }), 'pool'),
    node(L('GraftConstant', 'scale', { op: 'mul', shape: [1, 1, 4], left: false }), 'inorm'),
    node(L('GraftConstant', 'shift', { op: 'sub', shape: [], values: [0.5], left: true }), 'scale'),
    node(L('GraftResize', 'resize', { mode: 'bilinear', size: [10, 8], coordinates: 'halfPixel' }), 'shift'),
    node(L('GraftSplit', 'split', { axis: 3, sizes: [1, 3] }), 'resize'),
    node(L('GraftBinary', 'sub', { op: 'sub' }), ['split', 0, 1], ['split', 0, 0]),
    node(L('GraftSlice', 'slice', { begin: [9, 0, 0], end: [-1, 8, 3], strides: [-2, 2, 1], squeeze: [] }), 'sub'),
    node(L('GraftReduce', 'reduce', { op: 'mean', axes: [2], keepdims: false }), 'slice'),
    node(L('Reshape', 'col', { target_shape: [5, 3, 1] }), 'reduce'),
    node(L('Reshape', 'row', { target_shape: [5, 1, 3] }), 'reduce'),
    node(L('GraftMatMul', 'outer'), 'col', 'row'),
    node(L('Flatten', 'flat'), 'outer'),
    node(L('Dense', 'head', { units: 2 }), 'flat'),
  ], ['x'], ['head'])],
];

test('weight specs equal tfjs targetVariables and model.weights order: synthetic topologies over every supported class', async () => {
  await initBackend();
  for (const [label, topology] of SYNTHETIC) await assertSpecsMatchTfjs(topology, label);
});

test('weight specs equal tfjs on every fixtures/torch target and fixtures/layers topology', async () => {
  await initBackend();
  const torch = fixture('torch');
  let n = 0;
  for (const c of fs.readdirSync(torch)) {
    for (const f of ['target.json', 'target_new.json']) {
      const file = path.join(torch, c, f);
      if (!fs.existsSync(file)) continue;
      await assertSpecsMatchTfjs(readModelJson(file).modelTopology, `${c}/${f}`);
      n++;
    }
  }
  for (const f of fs.readdirSync(fixture('layers')).filter((name) => name.endsWith('.json'))) {
    const doc = JSON.parse(fs.readFileSync(fixture(path.join('layers', f)), 'utf8')) as { topology?: Json };
    if (!doc.topology) continue;
    await assertSpecsMatchTfjs(doc.topology, f);
    n++;
  }
  assert.ok(n >= 25, `only ${n} topologies checked`);
});

test('weight specs equal tfjs on real-world tfjs model.json files and Keras files', { skip: !fs.existsSync(REALWORLD_DIR) && 'shared/realworld is absent' }, async () => {
  await initBackend();
  const jsons = ['tfjs/1skyzor_mlp/model.json', 'tfjs/anirban_mlp_tfjs1.2.6/model.json', 'tfjs/dlmit_tfjs_saved/chap_8/occupancy/export/model.json',
    'tfjs/aksha117_stock_lstm_keras3/model.json', 'keras2_h5/kotlindl/toyresnet/modelConfig.json', 'keras2_h5/kotlindl/lstm/model.json'];
  let n = 0;
  for (const rel of jsons) {
    const file = realworld(rel);
    if (!file) continue;
    await assertSpecsMatchTfjs(normalizeTopology(readModelJson(file).modelTopology, file), rel);
    n++;
  }
  // Keras files carry their own topology (nested GANs and autoencoders among them).
  const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : /\.(h5|hdf5|keras)$/.test(e.name) ? [path.join(dir, e.name)] : []));
  for (const file of [...walk(path.join(REALWORLD_DIR, 'keras2_h5')), ...walk(path.join(REALWORLD_DIR, 'keras3'))]) {
    let reader: WeightReader;
    let topology: Json | undefined;
    try {
      reader = await openWeights(file);
      topology = reader.topology;
      await reader.close();
    } catch (e) {
      if (e instanceof GraftError) continue; // not a model file, or a Lambda layer graft refuses
      throw e;
    }
    if (!topology) continue;
    if ('reason' in analyzeTopology(topology)) {
      // Only layer classes graft does not size (ConvLSTM2D, attention) may fall back to tfjs.
      assert.match((analyzeTopology(topology) as { reason: string }).reason, /is not one graft can size/, file);
      continue;
    }
    await assertSpecsMatchTfjs(topology, file);
    n++;
  }
  assert.ok(n >= 20, `only ${n} real-world topologies checked`);
});

test('weight specs give up (undefined) where only tfjs knows the answer', () => {
  const dense = L('Dense', 'd', { units: 2 });
  const cases: [string, Json][] = [
    ['unknown layer class', seq('m', [L('Dense', 'a', { batch_input_shape: [null, 3], units: 2 }), L('ConvLSTM2D', 'x', { filters: 2 })])],
    ['unnamed layer (tfjs invents names)', seq('m', [{ class_name: 'Dense', config: { batch_input_shape: [null, 3], units: 2 } }])],
    ['Sequential without an input shape', seq('m', [dense])],
    ['Flatten of an unknown dimension', seq('m', [L('Flatten', 'f', { batch_input_shape: [null, null, 3] }), dense])],
    ['a channel count hidden by Reshape -1 (tfjs leaves it unknown)', seq('m', [L('Reshape', 'r', { batch_input_shape: [null, 6], target_shape: [3, -1] }), L('Conv1D', 'c', { filters: 2, kernel_size: 1 })])],
    ['Keras 3 functional nodes', functional('m', [input('i', [null, 3]), { ...L('Dense', 'd', { units: 2 }), name: 'd', inbound_nodes: [{ args: [], kwargs: {} }] }], ['i'], ['d'])],
  ];
  for (const [label, topology] of cases) assert.equal(weightSpecsFromTopology(topology), undefined, label);
  // And a supported one is defined (the helper is not simply always undefined).
  assert.equal(weightSpecsFromTopology(seq('m', [L('Dense', 'a', { batch_input_shape: [null, 3], units: 2 })]))?.length, 2);
});

// ---------------------------------------------------------------------------------------------
// The catalogue itself

/** Every class name a topology mentions, wrapped layers and nested models included. */
function classesIn(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) value.forEach((v) => classesIn(v, out));
  else if (value && typeof value === 'object') {
    const o = value as Json;
    if (typeof o.class_name === 'string') out.add(o.class_name);
    Object.values(o).forEach((v) => classesIn(v, out));
  }
  return out;
}

test('every class the catalogue sizes without tfjs is checked against tfjs above', () => {
  const covered = new Set<string>();
  for (const [, topology] of SYNTHETIC) classesIn(topology, covered);
  const sized = Object.keys(LAYER_CLASSES).filter((c) => LAYER_CLASSES[c].build);
  assert.deepEqual(sized.filter((c) => !covered.has(c)), []);
  assert.ok(sized.length >= 50, `${sized.length} classes`);
});

test('catalogue entries: a class that builds weights lists them; wrappers list none and build through their inner layer', () => {
  for (const [cls, entry] of Object.entries(LAYER_CLASSES)) {
    assert.ok(entry.weights || entry.build, `${cls} says nothing`);
    if (!entry.weights) assert.ok(['Bidirectional', 'TimeDistributed'].includes(cls), `${cls} builds without listing its weights`);
    for (const n of entry.nonTrainable ?? []) assert.ok(entry.weights!({}).includes(n), `${cls}: non-trainable ${n} is not one of its weights`);
  }
  // Weight lists follow the config: bias with use_bias, gamma/beta with scale/center.
  assert.deepEqual(layerClass('Conv2D')!.weights!({ use_bias: false }), ['kernel']);
  assert.deepEqual(layerClass('SeparableConv2D')!.weights!({}), ['depthwise_kernel', 'pointwise_kernel', 'bias']);
  assert.deepEqual(layerClass('BatchNormalization')!.weights!({ scale: false }), ['beta', 'moving_mean', 'moving_variance']);
  assert.deepEqual(layerClass('LayerNormalization')!.weights!({ center: false, scale: false }), []);
  assert.deepEqual(layerClass('GRU')!.weights!({}), ['kernel', 'recurrent_kernel', 'bias']);
  assert.equal(layerClass('constructor'), undefined);
  assert.equal(layerClass('toString'), undefined);
});

test('catalogue torch rules cover every weight of their class, one source list per transform input', () => {
  const variable = (className: string, weight: string): TargetVariable => ({
    name: `l/${weight}`, layer: 'l', className, weight, shape: [1], dtype: 'float32', indexInLayer: 0, layerIndex: 0,
  });
  let classes = 0;
  for (const [cls, entry] of Object.entries(LAYER_CLASSES)) {
    if (!entry.torch) continue;
    classes++;
    for (const w of entry.weights!({})) {
      const rule = entry.torch(variable(cls, w), 0)[w];
      assert.ok(rule, `${cls}/${w} has no torch rule`);
      assert.ok(rule.params.length >= 1 && rule.params.every((alts) => alts.length >= 1), `${cls}/${w}`);
      assert.equal(rule.params.length > 1, ['sum', 'gru-bias'].includes(rule.transform.kind), `${cls}/${w}: ${rule.params.length} inputs for ${rule.transform.kind}`);
    }
  }
  assert.ok(classes >= 18, `${classes} classes with torch rules`);
  // Stacked and reversed PyTorch RNN parameters.
  const back = { ...variable('LSTM', 'kernel'), direction: 'backward' as const };
  assert.deepEqual(layerClass('LSTM')!.torch!(back, 2).kernel.params, [['weight_ih_l2_reverse']]);
});

test('the classes needing tfjs-graft/layers are exactly those with a needsGraftLayers rule', () => {
  assert.deepEqual([...GRAFT_LAYER_CLASSES].sort(), ['Conv1D', 'Conv2D', 'Conv2DTranspose', 'GRU']);
  assert.equal(layerClass('Conv2DTranspose')!.needsGraftLayers!({ groups: 2 }), true);
  assert.equal(layerClass('Conv3DTranspose')!.needsGraftLayers, undefined);
  // Classes tfjs lacks always need the module.
  assert.equal(layerClass('MultiHeadAttention')!.needsGraftLayers!({}), true);
  assert.equal(layerClass('GRU')!.needsGraftLayers!({ reset_after: true }), true);
  assert.equal(layerClass('GRU')!.needsGraftLayers!({ reset_after: false }), false);
  assert.equal(layerClass('Conv2D')!.needsGraftLayers!({ groups: 2 }), true);
  assert.equal(layerClass('Conv3D')!.needsGraftLayers, undefined);
});
