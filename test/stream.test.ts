/**
 * The streaming engine: weight specs derived from topologies alone must equal what tfjs builds,
 * and streaming conversions must write exactly the bytes the tfjs engine writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import '../src/layers';
import { initBackend } from '../src/backend';
import { convert, ConvertOptions } from '../src/convert';
import { loadLayersModelFromDir } from '../src/output/load';
import { readModelJson } from '../src/topology/model-json';
import { analyzeTopology, weightSpecsFromTopology } from '../src/topology/weight-specs';
import { GraftError } from '../src/errors';
import { openWeights, registerFormat } from '../src/formats';
import { SafetensorsHandler } from '../src/formats/safetensors/reader';
import type { FormatHandler, RawTensor, WeightReader } from '../src/formats/types';
import { progressBar } from '../src/cli/progress';
import { bandColumns, BAND_BYTES, StridedRange } from '../src/convert/stream';
import { modelFromTopology, normalizeTopology, targetVariables } from '../src/topology/live-model';
import { fixture, realworld, REALWORLD_DIR } from './helpers/realworld';
import { maxAbsDiff, predictArray, tempDir } from './helpers/models';

type Json = Record<string, unknown>;

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

// ---------------------------------------------------------------------------------------------
// Topologies written the way Keras and tfjs write them (configs abbreviated: tfjs fills defaults).

const L = (className: string, name: string, config: Json = {}): Json => ({ class_name: className, config: { name, ...config } });
const seq = (name: string, layers: Json[]): Json => ({ class_name: 'Sequential', config: { name, layers }, keras_version: '2.15.0', backend: 'tensorflow' });
const node = (entry: Json, ...inputs: (string | [string, number, number])[]): Json => ({
  ...entry,
  name: (entry.config as Json).name,
  inbound_nodes: inputs.length ? [inputs.map((i) => (typeof i === 'string' ? [i, 0, 0, {}] : [...i, {}]))] : [],
});
const functional = (name: string, layers: Json[], inputs: string[], outputs: (string | [string, number, number])[]): Json => ({
  class_name: 'Model',
  config: { name, layers, input_layers: inputs.map((i) => [i, 0, 0]), output_layers: outputs.map((o) => (typeof o === 'string' ? [o, 0, 0] : o)) },
  keras_version: '2.15.0',
  backend: 'tensorflow',
});
const input = (name: string, shape: (number | null)[]): Json => node(L('InputLayer', name, { batch_input_shape: shape, dtype: 'float32' }));

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
  for (const f of fs.readdirSync(fixture('layers'))) {
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
// Streaming vs tfjs engine

/** A safetensors reader that can read parts of tensors, standing in for readers with readStrided. */
const STRIDED_SUFFIX = '.strided.safetensors';
const stridedCalls: StridedRange[] = [];
const StridedSafetensors: FormatHandler = {
  format: 'safetensors-strided-test',
  extensions: [STRIDED_SUFFIX],
  sniff: (_head, p) => p.endsWith(STRIDED_SUFFIX),
  async open(p) {
    const inner = await SafetensorsHandler.open(p);
    return Object.assign(Object.create(inner) as WeightReader, {
      async readStrided(name: string, r: StridedRange, target: Uint8Array): Promise<void> {
        stridedCalls.push(r);
        const raw: RawTensor = await inner.read(name);
        assert.ok(r.start + (r.count - 1) * r.stride + r.runBytes <= raw.byteSize, 'strided read within the tensor');
        for (let i = 0; i < r.count; i++) target.set(raw.data.subarray(r.start + i * r.stride, r.start + i * r.stride + r.runBytes), i * r.runBytes);
      },
    });
  },
};
registerFormat(StridedSafetensors);

/** Every file of an output folder, by name. */
function folderBytes(dir: string): Map<string, Buffer> {
  return new Map(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f))]));
}

async function bothEngines(options: Omit<ConvertOptions, 'out' | 'engine'>): Promise<{ stream: string; tfjs: string }> {
  const parent = tempDir();
  const stream = path.join(parent, 'stream');
  const tfjsOut = path.join(parent, 'tfjs');
  const s = await convert({ ...options, out: stream, engine: 'stream' });
  assert.equal(s.engine, 'stream');
  assert.equal(s.backend, 'none (streaming)');
  const t = await convert({ ...options, out: tfjsOut, engine: 'tfjs' });
  assert.equal(t.engine, 'tfjs');
  assert.deepEqual(s.assigned, t.assigned);
  return { stream, tfjs: tfjsOut };
}

function assertSameFolders(a: string, b: string, label: string): void {
  const x = folderBytes(a);
  const y = folderBytes(b);
  assert.deepEqual([...x.keys()], [...y.keys()], `${label}: files`);
  for (const [f, bytes] of x) assert.ok(bytes.equals(y.get(f)!), `${label}: ${f} differs`);
}

test('streaming writes the same model.json and shards as the tfjs engine, on every fixtures/torch case', async () => {
  await initBackend();
  const torch = fixture('torch');
  const cases = fs.readdirSync(torch).filter((c) => fs.existsSync(path.join(torch, c, 'case.json')) && c !== 'onnx_numbers');
  assert.ok(cases.length >= 15);
  for (const c of cases) {
    const dir = path.join(torch, c);
    for (const file of ['model.safetensors', 'model.npz']) {
      const source = path.join(dir, file);
      if (!fs.existsSync(source)) continue;
      const { stream, tfjs: t } = await bothEngines({ source, target: path.join(dir, 'target.json'), from: 'torch' });
      assertSameFolders(stream, t, `${c}/${file}`);
    }
    // The same through partial reads (column bands and contiguous pieces).
    const copy = path.join(tempDir(), `model${STRIDED_SUFFIX}`);
    fs.copyFileSync(path.join(dir, 'model.safetensors'), copy);
    stridedCalls.length = 0;
    const { stream, tfjs: t } = await bothEngines({ source: copy, target: path.join(dir, 'target.json'), from: 'torch' });
    assertSameFolders(stream, t, `${c} (strided reads)`);
    assert.ok(stridedCalls.length > 0, `${c}: read through readStrided`);
  }
});

/** A safetensors file of float32 tensors. */
function writeSafetensors(file: string, tensors: [string, number[], Float32Array][]): void {
  const header: Json = {};
  let at = 0;
  for (const [name, shape, data] of tensors) {
    header[name] = { dtype: 'F32', shape, data_offsets: [at, at + data.byteLength] };
    at += data.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, ...tensors.map(([, , d]) => Buffer.from(d.buffer, d.byteOffset, d.byteLength))]));
}

function denseTarget(file: string, layers: { name: string; units: number }[], inputDim: number): void {
  const config = layers.map((l, i) => L('Dense', l.name, { units: l.units, ...(i === 0 ? { batch_input_shape: [null, inputDim] } : {}) }));
  fs.writeFileSync(file, JSON.stringify({ format: 'layers-model', modelTopology: seq('big', config) }));
}

function randomFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 0.2;
  }
  return out;
}

test('a kernel larger than one read band streams in column bands with odd edges, identical to tfjs', async () => {
  await initBackend();
  // [out=1030, in=1101]: rows not a multiple of 4, more than 4 MiB, last band 1101 - 1016 = 85 columns.
  const [out, inDim] = [1030, 1101];
  assert.ok(out * inDim * 4 > BAND_BYTES);
  const width = bandColumns(out, inDim);
  assert.ok(width < inDim && (inDim - width) % 4 !== 0, `band of ${width} columns`);
  const dir = tempDir();
  const source = path.join(dir, `big${STRIDED_SUFFIX}`);
  writeSafetensors(source, [
    ['fc.weight', [out, inDim], randomFloats(out * inDim, 1)],
    ['fc.bias', [out], randomFloats(out, 2)],
    ['head.weight', [3, out], randomFloats(3 * out, 3)],
    ['head.bias', [3], randomFloats(3, 4)],
  ]);
  const target = path.join(dir, 'target.json');
  denseTarget(target, [{ name: 'fc', units: out }, { name: 'head', units: 3 }], inDim);
  stridedCalls.length = 0;
  const { stream, tfjs: t } = await bothEngines({ source, target, from: 'torch' });
  assertSameFolders(stream, t, 'banded');
  assert.ok(stridedCalls.some((r) => r.count === out && r.runBytes === width * 4 && r.stride === inDim * 4), 'the kernel was read in column bands');
  assert.ok(stridedCalls.some((r) => r.count === out && r.runBytes === (inDim - width) * 4), 'with a narrower last band');
});

test('an output of many small shards loads and predicts like a single-shard one', async () => {
  await initBackend();
  const dir = fixture('torch/conv_bn');
  const parent = tempDir();
  const one = path.join(parent, 'one');
  const many = path.join(parent, 'many');
  await convert({ source: path.join(dir, 'model.safetensors'), target: path.join(dir, 'target.json'), from: 'torch', out: one, shardBytes: 64 * 1024 * 1024 });
  const r = await convert({ source: path.join(dir, 'model.safetensors'), target: path.join(dir, 'target.json'), from: 'torch', out: many, shardBytes: 100 });
  assert.equal(r.engine, 'stream');
  const shards = (JSON.parse(fs.readFileSync(path.join(many, 'model.json'), 'utf8')).weightsManifest[0].paths as string[]);
  assert.ok(shards.length > 20, `${shards.length} shards`);
  for (const s of shards) assert.ok(fs.statSync(path.join(many, s)).size <= 100);
  const concat = Buffer.concat(shards.map((s) => fs.readFileSync(path.join(many, s))));
  assert.ok(concat.equals(fs.readFileSync(path.join(one, 'group1-shard1of1.bin'))), 'the shards hold the single shard\'s bytes');
  const a = await loadLayersModelFromDir(one);
  const b = await loadLayersModelFromDir(many);
  const x = { shape: [2, 9, 9, 3], data: randomFloats(2 * 9 * 9 * 3, 5) };
  assert.equal(maxAbsDiff(predictArray(a, x).data, predictArray(b, x).data), 0);
  a.dispose();
  b.dispose();
});

test('unrestored variables: streamed from a target with weights, else the tfjs engine initialises them', async () => {
  await initBackend();
  const dir = fixture('torch/seed_mlp');
  const source = path.join(dir, 'model.safetensors');
  // A target without weights: hidden4/output must get tfjs's initial values, which only tfjs has.
  const auto = await convert({ source, target: path.join(dir, 'target_new.json'), from: 'torch', include: ['^hidden[123]/'], out: path.join(tempDir(), 'o') });
  assert.equal(auto.engine, 'tfjs');
  assert.match(auto.engineReason ?? '', /initial values/);
  await assert.rejects(
    convert({ source, target: path.join(dir, 'target_new.json'), from: 'torch', include: ['^hidden[123]/'], engine: 'stream', out: path.join(tempDir(), 'o') }),
    (e: unknown) => e instanceof GraftError && e.code === 'UNSUPPORTED' && /cannot stream/.test(e.message),
  );
  // That output has weights of its own: used as the target, it streams, keeping hidden4/output.
  const withWeights = auto.out!;
  const { stream, tfjs: t } = await bothEngines({ source, target: withWeights, from: 'torch', include: ['^hidden[12]/'] });
  assertSameFolders(stream, t, 'target with weights');
  const kept = await loadLayersModelFromDir(withWeights);
  const streamed = await loadLayersModelFromDir(stream);
  for (const name of ['hidden3/kernel', 'hidden4/kernel', 'output/bias']) {
    const w0 = kept.weights.find((w) => w.originalName === name)!.read().dataSync();
    const w1 = streamed.weights.find((w) => w.originalName === name)!.read().dataSync();
    assert.equal(maxAbsDiff(w0, w1), 0, `${name} kept from the target`);
  }
  kept.dispose();
  streamed.dispose();
});

test('backends: forced tfjs backend shows in the report; the streaming engine uses none', async () => {
  const dir = fixture('torch/mlp');
  const base = { source: path.join(dir, 'model.safetensors'), target: path.join(dir, 'target.json'), from: 'torch' as const };
  const s = await convert({ ...base, out: path.join(tempDir(), 'o') });
  assert.equal(s.backend, 'none (streaming)');
  const c = await convert({ ...base, backend: 'cpu', out: path.join(tempDir(), 'o') });
  assert.equal(c.engine, 'tfjs');
  assert.equal(c.backend, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  await assert.rejects(convert({ ...base, backend: 'cpu', engine: 'stream', dryRun: true }), (e: unknown) => e instanceof GraftError && e.code === 'USAGE');
  await assert.rejects(convert({ ...base, backend: 'metal' as never, dryRun: true }), (e: unknown) => e instanceof GraftError && e.code === 'USAGE');
});

/** The @tensorflow modules loaded by requiring `modules` in a fresh process. */
function tfjsLoadedBy(modules: string[]): string[] {
  const script = `${modules.map((m) => `require(${JSON.stringify(m)});`).join(' ')}
    process.stdout.write(JSON.stringify(Object.keys(require.cache).filter((k) => k.includes('@tensorflow'))));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: path.resolve(__dirname, '..'), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

test('the streaming modules load no tfjs', () => {
  assert.deepEqual(tfjsLoadedBy(['./src/convert/stream', './src/topology/weight-specs', './src/output/quantize', './src/output/writer', './src/backend', './src/cli/progress']), []);
});

test('convert() and its CLI command load no tfjs until the tfjs engine runs', () => {
  assert.deepEqual(tfjsLoadedBy(['./src/convert', './src/cli/commands/convert']), []);
});

test('progress bar: on a terminal only, after the delay, throttled, cleared at the end; never when quiet or piped', () => {
  let now = 0;
  const writes: string[] = [];
  const terminal = { isTTY: true, columns: 60, write: (s: string) => writes.push(s) > 0 };
  const bar = progressBar({ stream: terminal, now: () => now, delayMs: 1000, intervalMs: 100 });
  bar.update({ done: 1, total: 10 });
  now = 999;
  bar.update({ done: 2, total: 10 });
  assert.equal(writes.length, 0, 'nothing for short work');
  now = 1000;
  bar.update({ done: 3, total: 10, detail: '3/10 weights' });
  now = 1050;
  bar.update({ done: 4, total: 10 });
  now = 1100;
  bar.update({ done: 5, total: 10 });
  assert.equal(writes.length, 2, 'redrawn at most every 100 ms');
  assert.match(writes[0], /^\r\[#+-+\]  30% .*3\/10 weights/);
  assert.match(writes[1], /50%/);
  assert.ok(writes.every((w) => w.replace(/\r|\x1b\[K/g, '').length < 60), 'fits the terminal');
  bar.stop();
  assert.equal(writes[writes.length - 1], '\r\x1b[K');
  for (const options of [{ stream: { ...terminal, isTTY: false } }, { stream: terminal, quiet: true }]) {
    const count: number = writes.length;
    const other = progressBar({ ...options, now: () => now, delayMs: 0 });
    other.update({ done: 1, total: 2 });
    other.stop();
    assert.equal(writes.length, count);
  }
});
