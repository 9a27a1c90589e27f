import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { fixture, realworld } from './helpers/realworld';

// Snapshot the registry before src/layers is imported (dynamically, below), to check that the
// import replaces exactly GRU, Conv1D and Conv2D and that tfjs's own classes stay reachable.
const registry = tf.serialization.SerializationMap.getMap().classNameMap;
const registryBefore = new Map(Object.entries(registry).map(([name, entry]) => [name, entry[0]]));
type AnyClass = new (...args: never[]) => unknown;
const TfjsGRU = registryBefore.get('GRU') as unknown as AnyClass;
const TfjsGRUCell = registryBefore.get('GRUCell') as unknown as AnyClass;
const TfjsConv2D = registryBefore.get('Conv2D') as unknown as AnyClass;

const LAYERS_MODULE = path.resolve(__dirname, '..', 'src', 'layers', 'index.ts');
type LayersModule = typeof import('../src/layers');
let layersModule: Promise<LayersModule> | undefined;
async function setup(): Promise<LayersModule> {
  await initBackend();
  layersModule ??= import(LAYERS_MODULE) as Promise<LayersModule>;
  return layersModule;
}

interface ArrayJson { shape: number[]; values: number[] }
interface ParityCase {
  description: string;
  topology: object;
  weights: Array<ArrayJson & { name: string }>;
  input: ArrayJson;
  output: ArrayJson;
}

const PARITY_DIR = fixture('layers');
function readCase(name: string): ParityCase {
  return JSON.parse(fs.readFileSync(path.join(PARITY_DIR, `${name}.json`), 'utf8')) as ParityCase;
}
const toTensor = (a: ArrayJson): tf.Tensor => tf.tensor(a.values, a.shape, 'float32');

function maxAbsDiff(actual: tf.Tensor, expected: ArrayJson): number {
  assert.deepEqual(actual.shape, expected.shape);
  const got = actual.dataSync();
  let worst = 0;
  expected.values.forEach((v, i) => { worst = Math.max(worst, Math.abs(got[i] - v)); });
  return worst;
}

async function modelFromCase(c: ParityCase): Promise<tf.LayersModel> {
  const model = await tf.models.modelFromJSON({ modelTopology: c.topology } as tf.io.ModelJSON);
  model.setWeights(c.weights.map(toTensor));
  return model;
}

function predictOne(model: tf.LayersModel, x: tf.Tensor): tf.Tensor {
  return model.predict(x) as tf.Tensor;
}

// ------------------------------------------------------------------ registration

test('importing registers graft classes for GRU, Conv1D and Conv2D, adds the Keras classes tfjs lacks, and changes no other class', async () => {
  const mod = await setup();
  assert.equal(registry['GRU'][0], mod.GraftGRU);
  assert.equal(registry['Conv1D'][0], mod.GraftConv1D);
  assert.equal(registry['Conv2D'][0], mod.GraftConv2D);
  assert.equal(Object.getPrototypeOf(mod.GraftGRU), TfjsGRU, 'GraftGRU must subclass tfjs GRU');
  assert.equal(Object.getPrototypeOf(mod.GraftConv2D), TfjsConv2D);
  for (const [name, cls] of registryBefore) {
    if (mod.GRAFT_LAYER_CLASSES.includes(name)) continue;
    assert.equal(registry[name]?.[0], cls, `${name} must be left as tfjs registered it`);
  }
  // The classes tfjs lacks are added, none of them shadowing a tfjs class.
  for (const name of mod.GRAFT_ADDED_CLASSES) assert.ok(!registryBefore.has(name), `tfjs already has ${name}`);
  assert.equal(Object.keys(registry).length, registryBefore.size + mod.GRAFT_ADDED_CLASSES.length);
  assert.deepEqual([...mod.GRAFT_LAYER_CLASSES].sort(), ['Conv1D', 'Conv2D', 'Conv2DTranspose', 'GRU']);
  // Among them the layers of models built from ONNX graphs.
  for (const name of ['GraftBinary', 'GraftConstant', 'GraftInstanceNorm', 'GraftMatMul', 'GraftPad', 'GraftPool2D', 'GraftReduce', 'GraftResize', 'GraftSlice', 'GraftSplit', 'GraftUnary']) {
    assert.ok(mod.GRAFT_ADDED_CLASSES.includes(name), name);
  }
});

test('a second copy of the module (fresh require) neither fails nor re-registers', async () => {
  const mod = await setup();
  const cached = Object.keys(require.cache).filter((k) => k.includes(`${path.sep}src${path.sep}layers${path.sep}`));
  assert.ok(cached.length > 0, 'src/layers should be in the require cache');
  const saved = cached.map((k) => [k, require.cache[k]] as const);
  try {
    for (const k of cached) delete require.cache[k];
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const copy = require(LAYERS_MODULE) as LayersModule;
    assert.notEqual(copy.GraftGRU, mod.GraftGRU, 'the fresh require should be a distinct module instance');
    assert.equal(registry['GRU'][0], mod.GraftGRU, 'the first registration must stay in place');
    // The copy's classes still extend tfjs's own, not the first copy's.
    assert.equal(Object.getPrototypeOf(copy.GraftGRU), TfjsGRU);
    copy.registerGraftLayers();
    mod.registerGraftLayers();
    assert.equal(registry['GRU'][0], mod.GraftGRU);
    assert.equal(registry['Attention'][0], mod.GraftAttention);
    assert.equal(Object.keys(registry).length, registryBefore.size + mod.GRAFT_ADDED_CLASSES.length);
  } finally {
    for (const [k, m] of saved) require.cache[k] = m;
  }
});

// ------------------------------------------------------------------ PyTorch parity

const GRU_CASES = ['gru_sequences', 'gru_backwards_last', 'gru_bidirectional'];
const CONV_CASES = [
  'conv1d_g2_valid', 'conv1d_g4_stride2_same', 'conv1d_g2_dilated_causal',
  'conv2d_g2_valid', 'conv2d_g4_stride2_same', 'conv2d_g4_dilated_same',
  'conv2d_depthwise_mult2_valid', 'conv2d_depthwise_stride2_same',
];

for (const name of [...GRU_CASES, ...CONV_CASES]) {
  test(`parity with PyTorch: ${name}`, async () => {
    const mod = await setup();
    const c = readCase(name);
    const model = await modelFromCase(c);
    const layer = model.layers[0];
    if (name.startsWith('gru_bidirectional')) {
      const wrapped = layer as unknown as { forwardLayer: unknown; backwardLayer: unknown };
      assert.ok(wrapped.forwardLayer instanceof mod.GraftGRU);
      assert.ok(wrapped.backwardLayer instanceof mod.GraftGRU);
    } else if (name.startsWith('gru')) {
      assert.ok(layer instanceof mod.GraftGRU);
      assert.equal(layer.resetAfter, true);
    } else {
      assert.ok(layer instanceof mod.GraftConv1D || layer instanceof mod.GraftConv2D);
      assert.ok((layer as InstanceType<typeof mod.GraftConv2D>).groups > 1);
    }
    const y = predictOne(model, toTensor(c.input));
    const diff = maxAbsDiff(y, c.output);
    assert.ok(diff < 1e-4, `${c.description}: max |tfjs - torch| = ${diff}`);
    model.dispose();
  });
}

test('toJSON -> modelFromJSON round-trips reset_after and groups and reproduces the outputs', async () => {
  await setup();
  for (const name of ['gru_sequences', 'gru_bidirectional', 'conv1d_g2_dilated_causal', 'conv2d_g4_stride2_same']) {
    const c = readCase(name);
    const model = await modelFromCase(c);
    const json = model.toJSON(null, false) as unknown as { config: { layers: Array<{ config: Record<string, unknown> }> } };
    const layerConfig = json.config.layers.at(-1)!.config;
    if (name.startsWith('gru_bidirectional')) {
      assert.equal((layerConfig['layer'] as { config: Record<string, unknown> }).config['reset_after'], true);
    } else if (name.startsWith('gru')) {
      assert.equal(layerConfig['reset_after'], true);
    } else {
      assert.ok((layerConfig['groups'] as number) > 1, `${name}: groups missing from ${JSON.stringify(layerConfig)}`);
    }
    const reloaded = await tf.models.modelFromJSON({ modelTopology: json } as unknown as tf.io.ModelJSON);
    reloaded.setWeights(c.weights.map(toTensor));
    const diff = maxAbsDiff(predictOne(reloaded, toTensor(c.input)), c.output);
    assert.ok(diff < 1e-4, `${name} after round trip: ${diff}`);
    model.dispose();
    reloaded.dispose();
  }
});

test('tf.loadLayersModel loads saved reset_after GRU and grouped-conv models (model.json + weights)', async () => {
  await setup();
  for (const name of ['gru_bidirectional', 'conv2d_g4_dilated_same']) {
    const c = readCase(name);
    const model = await modelFromCase(c);
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
    const diff = maxAbsDiff(predictOne(loaded, toTensor(c.input)), c.output);
    assert.ok(diff < 1e-4, `${name} through save/loadLayersModel: ${diff}`);
    model.dispose();
    loaded.dispose();
  }
});

test('TimeDistributed deserializes a grouped Conv2D through the registry', async () => {
  const mod = await setup();
  const c = readCase('conv2d_g2_valid');
  const conv = (c.topology as { config: { layers: LayerJson[] } }).config.layers[0];
  const [batch, ...image] = c.input.shape;
  const { batch_input_shape: _unused, ...innerConfig } = conv.config;
  const timeDistributed = {
    class_name: 'TimeDistributed',
    config: { name: 'td', batch_input_shape: [null, batch, ...image], layer: { class_name: 'Conv2D', config: innerConfig } },
  };
  const model = await tf.models.modelFromJSON({
    modelTopology: { class_name: 'Sequential', config: { name: 's', layers: [timeDistributed] } },
  } as unknown as tf.io.ModelJSON);
  assert.ok((model.layers[0] as unknown as { layer: unknown }).layer instanceof mod.GraftConv2D);
  model.setWeights(c.weights.map(toTensor));
  // The fixture's batch becomes the time axis of a single sequence.
  const y = predictOne(model, toTensor(c.input).reshape([1, ...c.input.shape]));
  const diff = maxAbsDiff(y.reshape(c.output.shape), c.output);
  assert.ok(diff < 1e-4, `TimeDistributed grouped Conv2D: ${diff}`);
});

// ------------------------------------------------------------------ unchanged tfjs behaviour

function seededWeights(shapes: number[][], seed: number): tf.Tensor[] {
  return shapes.map((shape, i) => tf.randomUniform(shape, -0.5, 0.5, 'float32', seed + i));
}

test('GRU without reset_after (absent or false) is bit-identical to tfjs\'s own GRU', async () => {
  const mod = await setup();
  for (const resetAfter of [undefined, false]) {
    for (const goBackwards of [false, true]) {
      const own = tf.sequential({
        layers: [tf.layers.gru({
          units: 5, returnSequences: true, goBackwards, recurrentActivation: 'hardSigmoid', inputShape: [4, 3],
        })],
      });
      assert.equal(own.layers[0].constructor, TfjsGRU, 'tf.layers.gru must still build tfjs\'s class');
      const config: Record<string, unknown> = {
        units: 5, return_sequences: true, go_backwards: goBackwards, recurrent_activation: 'hard_sigmoid',
        batch_input_shape: [null, 4, 3],
      };
      if (resetAfter !== undefined) config['reset_after'] = resetAfter;
      const ours = await tf.models.modelFromJSON({
        modelTopology: { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'GRU', config }] } },
      } as unknown as tf.io.ModelJSON);
      const layer = ours.layers[0] as InstanceType<typeof mod.GraftGRU>;
      assert.ok(layer instanceof mod.GraftGRU);
      assert.equal(layer.cell.constructor, TfjsGRUCell, 'without reset_after the cell is tfjs\'s own');
      assert.deepEqual(ours.getWeights().map((w) => w.shape), own.getWeights().map((w) => w.shape));
      const weights = seededWeights(own.getWeights().map((w) => w.shape), 7);
      own.setWeights(weights);
      ours.setWeights(weights);
      const x = tf.randomNormal([2, 4, 3], 0, 1, 'float32', 3);
      assert.deepEqual(Array.from(predictOne(ours, x).dataSync()), Array.from(predictOne(own, x).dataSync()));
      assert.equal(layer.getConfig()['resetAfter'], false);
    }
  }
});

test('Conv1D/Conv2D with groups 1 or absent are bit-identical to tfjs\'s own layers', async () => {
  const mod = await setup();
  const cases = [
    { cls: 'Conv2D', own: tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', inputShape: [7, 7, 4] }),
      config: { filters: 6, kernel_size: [3, 3], strides: [2, 2], padding: 'same', activation: 'relu', batch_input_shape: [null, 7, 7, 4] }, input: [2, 7, 7, 4] },
    { cls: 'Conv1D', own: tf.layers.conv1d({ filters: 6, kernelSize: 3, dilationRate: 2, inputShape: [9, 4] }),
      config: { filters: 6, kernel_size: [3], dilation_rate: [2], batch_input_shape: [null, 9, 4] }, input: [2, 9, 4] },
  ];
  for (const { cls, own, config, input } of cases) {
    for (const groups of [undefined, 1]) {
      const ownModel = tf.sequential({ layers: [own] });
      const ours = await tf.models.modelFromJSON({
        modelTopology: { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: cls, config: groups === undefined ? config : { ...config, groups } }] } },
      } as unknown as tf.io.ModelJSON);
      assert.ok(ours.layers[0] instanceof (cls === 'Conv2D' ? mod.GraftConv2D : mod.GraftConv1D));
      const weights = seededWeights(ownModel.getWeights().map((w) => w.shape), 11);
      ownModel.setWeights(weights);
      ours.setWeights(weights);
      const x = tf.randomNormal(input, 0, 1, 'float32', 5);
      assert.deepEqual(Array.from(predictOne(ours, x).dataSync()), Array.from(predictOne(ownModel, x).dataSync()));
      assert.equal('groups' in ours.layers[0].getConfig(), groups !== undefined,
        'getConfig writes groups back only when the config carried it');
    }
  }
});

// ------------------------------------------------------------------ refusals

test('grouped convolutions refuse configurations Keras refuses, with clear messages', async () => {
  const mod = await setup();
  assert.throws(() => new mod.GraftConv2D({ filters: 6, kernelSize: 3, groups: 4 }), /filters \(6\) must be divisible by groups \(4\)/);
  assert.throws(() => new mod.GraftConv2D({ filters: 8, kernelSize: 3, groups: 0 }), /groups must be a positive integer/);
  assert.throws(() => new mod.GraftConv2D({ filters: 8, kernelSize: 3, groups: 2, dataFormat: 'channelsFirst' }),
    /supports only data_format 'channels_last'/);
  const layer = new mod.GraftConv2D({ filters: 8, kernelSize: 3, groups: 4 });
  assert.throws(() => layer.apply(tf.zeros([1, 5, 5, 6])), /input channels \(6\) must be divisible by groups \(4\)/);
});

test('a reset_after GRU cell has a [2, 3*units] bias and tfjs\'s own GRU still refuses reset_after', async () => {
  const mod = await setup();
  const gru = new mod.GraftGRU({ units: 4, resetAfter: true, returnSequences: false });
  gru.apply(tf.zeros([1, 3, 2]));
  assert.deepEqual(gru.getWeights().map((w) => w.shape), [[2, 12], [4, 12], [2, 12]]);
  const noBias = new mod.GraftGRU({ units: 4, resetAfter: true, useBias: false });
  noBias.apply(tf.zeros([1, 3, 2]));
  assert.deepEqual(noBias.getWeights().map((w) => w.shape), [[2, 12], [4, 12]]);
  assert.throws(() => tf.layers.gru({ units: 4, resetAfter: true } as Parameters<typeof tf.layers.gru>[0]),
    /reset_after/);
});

test('dropout settings survive serialization and do not change inference', async () => {
  await setup();
  const c = readCase('gru_sequences');
  const topology = JSON.parse(JSON.stringify(c.topology)) as { config: { layers: Array<{ config: Record<string, unknown> }> } };
  Object.assign(topology.config.layers[0].config, { dropout: 0.3, recurrent_dropout: 0.2 });
  const model = await modelFromCase({ ...c, topology });
  const diff = maxAbsDiff(predictOne(model, toTensor(c.input)), c.output);
  assert.ok(diff < 1e-4, `inference with dropout configured: ${diff}`);
  const saved = (model.toJSON(null, false) as unknown as { config: { layers: Array<{ config: Record<string, unknown> }> } })
    .config.layers.at(-1)!.config;
  assert.equal(saved['dropout'], 0.3);
  assert.equal(saved['recurrent_dropout'], 0.2);

  // In training the per-sequence masks are drawn once, kept across steps, and change the output.
  const layer = model.layers[0];
  const x = toTensor(c.input);
  const inference = layer.apply(x, { training: false }) as tf.Tensor;
  const trainingA = layer.apply(x, { training: true }) as tf.Tensor;
  const trainingB = layer.apply(x, { training: true }) as tf.Tensor;
  assert.ok(maxAbsDiff(inference, c.output) < 1e-4);
  assert.ok(tf.any(tf.notEqual(trainingA, inference)).dataSync()[0], 'dropout had no effect in training');
  assert.ok(tf.any(tf.notEqual(trainingA, trainingB)).dataSync()[0], 'masks must be redrawn per call');
});

// ------------------------------------------------------------------ needsGraftLayers

test('needsGraftLayers finds reset_after GRUs and grouped convolutions at any depth', async () => {
  const { needsGraftLayers } = await setup();
  const gru = (resetAfter: boolean) => ({ class_name: 'GRU', config: { name: 'g', units: 3, reset_after: resetAfter } });
  const conv = (cls: string, groups: number) => ({ class_name: cls, config: { name: 'c', filters: 4, kernel_size: [3], groups } });
  const sequential = (...layers: object[]) => ({ class_name: 'Sequential', config: { name: 's', layers } });
  const functional = (...layers: object[]) => ({ class_name: 'Functional', config: { name: 'f', layers, input_layers: [], output_layers: [] } });

  assert.equal(needsGraftLayers(sequential(gru(false), conv('Conv2D', 1), conv('Conv1D', 1))), false);
  assert.equal(needsGraftLayers(sequential({ class_name: 'Dense', config: { units: 2, groups: 4 } })), false);
  assert.equal(needsGraftLayers(sequential(gru(true))), true);
  assert.equal(needsGraftLayers(sequential(conv('Conv1D', 2))), true);
  assert.equal(needsGraftLayers(sequential(conv('Conv2D', 4))), true);
  // tfjs converter layout: modelTopology = {keras_version, backend, model_config}
  assert.equal(needsGraftLayers({ keras_version: '2.10.0', model_config: sequential(gru(true)) }), true);
  assert.equal(needsGraftLayers({ keras_version: '2.10.0', model_config: sequential(gru(false)) }), false);
  // wrappers and nested models
  const bidirectional = { class_name: 'Bidirectional', config: { name: 'b', merge_mode: 'concat', layer: gru(true) } };
  const timeDistributed = { class_name: 'TimeDistributed', config: { name: 't', layer: conv('Conv2D', 2) } };
  assert.equal(needsGraftLayers(functional(sequential(bidirectional))), true);
  assert.equal(needsGraftLayers({ model_config: functional(functional(timeDistributed)) }), true);
  assert.equal(needsGraftLayers(functional({ class_name: 'Bidirectional', config: { layer: gru(false) } })), false);
  // Keras 3 registered names and camelCase tfjs configs
  assert.equal(needsGraftLayers(sequential({ class_name: 'keras.layers>GRU', config: { reset_after: true } })), true);
  assert.equal(needsGraftLayers(sequential({ className: 'GRU', config: { resetAfter: true } })), true);
  // model_config kept as HDF5 attribute text
  assert.equal(needsGraftLayers({ model_config: JSON.stringify(sequential(conv('Conv1D', 3))) }), true);
});

// ------------------------------------------------------------------ real Keras files

interface H5Dataset { shape: number[]; value: unknown }
interface H5File {
  attrs: Record<string, { value: unknown }>;
  get(path: string): H5Dataset | undefined;
  close(): void;
}
interface H5Module { ready: Promise<unknown>; File: new (path: string, mode: string) => H5File }

async function openH5(file: string): Promise<H5File> {
  // h5wasm ships ESM only (its types resolve only under node16 resolution); a dynamic import of a
  // non-literal specifier lets this CommonJS test load it.
  const specifier = 'h5wasm/node';
  const mod = (await import(specifier)) as { default?: H5Module } & H5Module;
  const h5wasm = mod.default ?? mod;
  await h5wasm.ready;
  return new h5wasm.File(file, 'r');
}

type LayerJson = { class_name: string; config: Record<string, unknown> };

test('benedict_gru (Keras 2.10, reset_after): loads through GraftGRU and matches PyTorch on its own weights', async (t) => {
  const file = realworld('keras2_h5/benedict_gru/gru_model.h5');
  if (!file) return t.skip('realworld files absent');
  const mod = await setup();
  const h5 = await openH5(file);
  try {
    const topology = JSON.parse(String(h5.attrs['model_config'].value)) as { config: { layers: LayerJson[] } };
    assert.equal(mod.needsGraftLayers(topology), true);
    const model = await tf.models.modelFromJSON({ modelTopology: topology } as unknown as tf.io.ModelJSON);
    const gru = model.layers.find((l) => l.getClassName() === 'GRU') as InstanceType<typeof mod.GraftGRU>;
    assert.ok(gru instanceof mod.GraftGRU);
    assert.equal(gru.resetAfter, true);
    assert.deepEqual(gru.getWeights().map((w) => w.shape), [[20, 240], [80, 240], [2, 240]]);

    // Keras' weight order per layer: kernel, recurrent_kernel, bias (GRU); kernel, bias (Dense).
    const datasets = [
      'gru/gru/gru_cell/kernel:0', 'gru/gru/gru_cell/recurrent_kernel:0', 'gru/gru/gru_cell/bias:0',
      'dense_2/dense_2/kernel:0', 'dense_2/dense_2/bias:0', 'dense_3/dense_3/kernel:0', 'dense_3/dense_3/bias:0',
    ].map((p) => h5.get(`model_weights/${p}`)!);
    model.setWeights(datasets.map((d) => tf.tensor(d.value as Float32Array, d.shape, 'float32')));

    const oracle = readCase('realworld_benedict_gru');
    const diff = maxAbsDiff(predictOne(model, toTensor(oracle.input)), oracle.output);
    assert.ok(diff < 1e-4, `benedict_gru vs PyTorch on the file's weights: ${diff}`);
  } finally {
    h5.close();
  }
});

/** Keras 3 writes dtype as a DTypePolicy object tfjs does not read; the other GRU/Dense keys are as Keras 2's. */
function withPlainDtype(layer: LayerJson, extra: Record<string, unknown> = {}): LayerJson {
  return { class_name: layer.class_name, config: { ...layer.config, dtype: 'float32', ...extra } };
}

test('satwikk908_gru (Keras 3, reset_after): GRU -> Dense from its own config and weights matches PyTorch', async (t) => {
  const file = realworld('keras2_h5/keras3_written_legacy_h5/satwikk908_gru/gru_model.h5');
  if (!file) return t.skip('realworld files absent');
  const mod = await setup();
  const h5 = await openH5(file);
  try {
    const topology = JSON.parse(String(h5.attrs['model_config'].value)) as { config: { layers: LayerJson[] } };
    const [input, gruJson, denseJson] = topology.config.layers;
    assert.deepEqual([input.class_name, gruJson.class_name, denseJson.class_name], ['InputLayer', 'GRU', 'Dense']);
    const layers = [withPlainDtype(gruJson, { batch_input_shape: input.config['batch_shape'] }), withPlainDtype(denseJson)];
    const model = await tf.models.modelFromJSON({
      modelTopology: { class_name: 'Sequential', config: { name: 'satwikk908', layers } },
    } as unknown as tf.io.ModelJSON);
    assert.ok(model.layers[0] instanceof mod.GraftGRU);
    const datasets = [
      'gru/sequential/gru/gru_cell/kernel', 'gru/sequential/gru/gru_cell/recurrent_kernel', 'gru/sequential/gru/gru_cell/bias',
      'dense/sequential/dense/kernel', 'dense/sequential/dense/bias',
    ].map((p) => h5.get(`model_weights/${p}`)!);
    model.setWeights(datasets.map((d) => tf.tensor(d.value as Float32Array, d.shape, 'float32')));
    const oracle = readCase('realworld_satwikk908_gru');
    const diff = maxAbsDiff(predictOne(model, toTensor(oracle.input)), oracle.output);
    assert.ok(diff < 1e-4, `satwikk908_gru vs PyTorch on the file's weights: ${diff}`);
  } finally {
    h5.close();
  }
});

for (const dir of ['nayani_embedding_gru', 'satwikk908_gru']) {
  test(`Keras 3 legacy-h5 GRU (${dir}): its GRU config deserializes through GraftGRU`, async (t) => {
    const file = realworld(`keras2_h5/keras3_written_legacy_h5/${dir}/gru_model.h5`);
    if (!file) return t.skip('realworld files absent');
    const mod = await setup();
    const h5 = await openH5(file);
    try {
      const topology = JSON.parse(String(h5.attrs['model_config'].value)) as { config: { layers: LayerJson[] } };
      assert.equal(mod.needsGraftLayers(topology), true);
      const gruJson = topology.config.layers.find((l) => l.class_name === 'GRU')!;
      const units = gruJson.config['units'] as number;
      const probe = withPlainDtype(gruJson, { batch_input_shape: [null, 3, 7] });
      const model = await tf.models.modelFromJSON({
        modelTopology: { class_name: 'Sequential', config: { name: 'probe', layers: [probe] } },
      } as unknown as tf.io.ModelJSON);
      const gru = model.layers[0] as InstanceType<typeof mod.GraftGRU>;
      assert.ok(gru instanceof mod.GraftGRU);
      assert.equal(gru.resetAfter, true);
      assert.deepEqual(gru.getWeights().map((w) => w.shape), [[7, 3 * units], [units, 3 * units], [2, 3 * units]]);
      // The file's own bias has the shape this layer builds.
      const biasPath = dir === 'satwikk908_gru' ? 'gru/sequential/gru/gru_cell/bias' : 'gru_4/gru_4/gru_cell/bias';
      assert.deepEqual(h5.get(`model_weights/${biasPath}`)!.shape, [2, 3 * units]);
    } finally {
      h5.close();
    }
  });
}
