import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { strToU8, zipSync } from 'fflate';
import { initBackend } from '../src/backend';
import '../src/layers';
import { GraftError } from '../src/errors';
import { Hdf5File } from '../src/io/hdf5';
import { flipLeadingAxes, layerWeightName, nestedWeightName } from '../src/formats/keras/h5';
import { keras3Format, kerasH5Format } from '../src/formats/keras/dispatch';
import { toSnakeCase } from '../src/formats/keras/keras3';
import { toTfjsTopology } from '../src/topology/keras-config';
import { openWeights, registerFormat } from '../src/formats/registry';
import type { RawTensor, ReadsStrided, WeightReader } from '../src/formats/types';
import { fixture, realworld, REALWORLD_DIR } from './helpers/realworld';
import { tempDir } from './helpers/temp';

registerFormat(kerasH5Format);
registerFormat(keras3Format);

function float32Of(t: RawTensor): Float32Array {
  if (t.dtype === 'float32') return new Float32Array(t.data.slice().buffer);
  if (t.dtype === 'float16') {
    const half = new Uint16Array(t.data.slice().buffer);
    return Float32Array.from(half, halfToFloat);
  }
  throw new Error(`test helper cannot convert ${t.dtype}`);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/**
 * Builds the tfjs model from the reader's topology and assigns every weight whose tfjs
 * `originalName` equals a tensor name. Returns the model and the names left unassigned.
 */
async function buildAndAssign(reader: WeightReader): Promise<{ model: tf.LayersModel; unmatched: string[] }> {
  const model = await tf.models.modelFromJSON({ modelTopology: reader.topology } as unknown as tf.io.ModelJSON);
  const names = new Set(reader.list().map((t) => t.name));
  const unmatched: string[] = [];
  const values: tf.Tensor[] = [];
  for (const w of model.weights) {
    if (!names.has(w.originalName)) {
      unmatched.push(w.originalName);
      values.push(w.read());
      continue;
    }
    const raw = await reader.read(w.originalName);
    assert.deepEqual(raw.shape, w.shape, `shape of ${w.originalName}`);
    values.push(tf.tensor(float32Of(raw), raw.shape, 'float32'));
  }
  model.setWeights(values);
  return { model, unmatched };
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (/\.(h5|hdf5|keras)$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

type Outcome =
  | { kind: 'model' } // topology translates, tfjs builds it, every tfjs weight is matched by name
  | { kind: 'weights' } // weights-only file: tensors readable, no topology
  | { kind: 'topology-refused'; pattern: RegExp } // weights readable; topology is a clear UNSUPPORTED error
  | { kind: 'error'; code: string; pattern: RegExp }; // open() itself refuses

/** What each real file must give; files not listed must be 'model'. */
const EXPECTED: Record<string, Outcome> = {
  'keras2_h5/dl4j/examples/activations/LeakyReLU_0_inputs_and_outputs.h5': { kind: 'error', code: 'UNKNOWN_FORMAT', pattern: /not a Keras one/ },
  'keras2_h5/dl4j/examples/simple_rnn/simple_rnn_tf_keras_2_inputs_and_outputs.h5': { kind: 'error', code: 'UNKNOWN_FORMAT', pattern: /not a Keras one/ },
  'keras2_h5/dl4j/examples/simple_sparse_xent/simple_sparse_xent_mlp_keras_2_inputs_and_outputs.h5': { kind: 'error', code: 'UNKNOWN_FORMAT', pattern: /not a Keras one/ },
  'keras2_h5/dl4j/weights/dense_tensorflow_1.h5': { kind: 'error', code: 'UNSUPPORTED', pattern: /Keras 1 file.*re-save/ },
  'keras2_h5/dl4j/weights/lstm_tensorflow_1.h5': { kind: 'error', code: 'UNSUPPORTED', pattern: /Keras 1 file.*re-save/ },
  'keras2_h5/dl4j/examples/lambda/sequential_lambda.h5': { kind: 'topology-refused', pattern: /lambda_1' \(Lambda\)/ },
  'keras3/edge_cases/rohitkr8527_subclassed/cifar10_model.keras': { kind: 'topology-refused', pattern: /CIFAR10Model.*subclassed/ },
  'keras3/nested/luciesvc/siamese_model.keras': { kind: 'topology-refused', pattern: /lambda_3' \(Lambda\)/ },
  'keras3/nested/mmoffatt2_siamese_seq/siamese_model_0.7.keras': { kind: 'topology-refused', pattern: /lambda' \(Lambda\)/ },
  'keras2_h5/dl4j/examples/activations/LeakyReLU_0_weights.h5': { kind: 'weights' },
  'keras2_h5/dl4j/examples/simple_rnn/simple_rnn_tf_keras_2_weights.h5': { kind: 'weights' },
  'keras2_h5/dl4j/examples/simple_sparse_xent/simple_sparse_xent_mlp_keras_2_weights.h5': { kind: 'weights' },
  'keras2_h5/dlmit_book/chap_6/addition_weights.h5': { kind: 'weights' },
  'keras2_h5/kotlindl/lstm/weights.h5': { kind: 'weights' },
  'keras2_h5/kotlindl/toyresnet/weights.h5': { kind: 'weights' },
  'keras2_h5/nested/mhmdsmdi_vae/vae_mlp_arrhythmia.h5': { kind: 'weights' },
  'keras2_h5/nested/yokoponzoo_vae/vae.h5': { kind: 'weights' },
};

/** Temp folders present before this file's tests ran (other processes may own them). */
const started = Date.now();
const leftovers = new Set(fs.readdirSync(os.tmpdir()));

const realFiles = fs.existsSync(REALWORLD_DIR)
  ? ['keras2_h5', 'keras3'].filter((d) => realworld(d)).flatMap((d) => walk(path.join(REALWORLD_DIR, d)))
  : [];

test('real Keras files: open, list, translate, build in tfjs and assign by name', { skip: realFiles.length === 0 && 'realworld folder absent' }, async (t) => {
  await initBackend();
  for (const file of realFiles) {
    const rel = path.relative(REALWORLD_DIR, file);
    const expected = EXPECTED[rel] ?? { kind: 'model' };
    await t.test(rel, async () => {
      if (expected.kind === 'error') {
        await assert.rejects(openWeights(file), (e: unknown) => {
          assert.ok(e instanceof GraftError, `GraftError expected, got ${String(e)}`);
          assert.equal(e.code, expected.code);
          assert.match(e.message, expected.pattern);
          assert.ok(e.message.includes(file), 'message names the file');
          return true;
        });
        return;
      }
      const reader = await openWeights(file);
      try {
        assert.ok(['keras-h5', 'keras3'].includes(reader.format));
        assert.equal(reader.convention, 'keras');
        const list = reader.list();
        assert.ok(list.length > 0, 'has tensors');
        assert.equal(new Set(list.map((x) => x.name)).size, list.length, 'names are unique');
        for (const info of list) {
          assert.doesNotMatch(info.name, /:\d+$/, 'no :0 suffix');
          const raw = await reader.read(info.name);
          assert.equal(raw.data.length, info.byteSize);
        }
        if (expected.kind === 'weights') {
          assert.equal(reader.topology, undefined);
        } else if (expected.kind === 'topology-refused') {
          assert.throws(() => reader.topology, (e: unknown) => e instanceof GraftError && e.code === 'UNSUPPORTED' && expected.pattern.test(e.message));
        } else {
          const { model, unmatched } = await buildAndAssign(reader);
          assert.deepEqual(unmatched, [], 'every tfjs weight found by name');
          assert.equal(model.weights.length, list.length, 'every tensor used');
          model.dispose();
        }
      } finally {
        await reader.close();
      }
    });
  }
});

test('parity: model.hdf5 weights are bit-identical to tensorflowjs_converter output, predictions equal', { skip: !realworld('tfjs/1skyzor_mlp/model.hdf5') && 'realworld file absent' }, async () => {
  await initBackend();
  const dir = realworld('tfjs/1skyzor_mlp')!;
  const modelJson = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const bin = fs.readFileSync(path.join(dir, 'group1-shard1of1.bin'));
  const reader = await openWeights(path.join(dir, 'model.hdf5'));
  try {
    let offset = 0;
    const converted: tf.Tensor[] = [];
    for (const spec of modelJson.weightsManifest[0].weights as { name: string; shape: number[]; dtype: string }[]) {
      const bytes = spec.shape.reduce((a, b) => a * b, 1) * 4;
      const expectedBytes = new Uint8Array(bin.buffer, bin.byteOffset + offset, bytes);
      offset += bytes;
      const ours = await reader.read(spec.name);
      assert.deepEqual(ours.shape, spec.shape);
      assert.ok(Buffer.from(ours.data).equals(Buffer.from(expectedBytes)), `${spec.name} bit-identical`);
      converted.push(tf.tensor(new Float32Array(expectedBytes.slice().buffer), spec.shape));
    }
    assert.equal(offset, bin.length);
    const { model: ours, unmatched } = await buildAndAssign(reader);
    assert.deepEqual(unmatched, []);
    const reference = await tf.models.modelFromJSON({ modelTopology: modelJson.modelTopology } as unknown as tf.io.ModelJSON);
    reference.setWeights(converted);
    const x = tf.randomUniform([8, 13], -2, 2, 'float32', 1);
    const a = (ours.predict(x) as tf.Tensor).dataSync();
    const b = (reference.predict(x) as tf.Tensor).dataSync();
    assert.deepEqual(Array.from(a), Array.from(b));
  } finally {
    await reader.close();
  }
});

const DL4J_PAIRS = [
  ['activations/LeakyReLU_0_model.h5', 'activations/LeakyReLU_0_inputs_and_outputs.h5'],
  ['simple_rnn/simple_rnn_tf_keras_2_model.h5', 'simple_rnn/simple_rnn_tf_keras_2_inputs_and_outputs.h5'],
  ['simple_sparse_xent/simple_sparse_xent_mlp_keras_2_model.h5', 'simple_sparse_xent/simple_sparse_xent_mlp_keras_2_inputs_and_outputs.h5'],
];

for (const [modelRel, ioRel] of DL4J_PAIRS) {
  const modelPath = realworld(`keras2_h5/dl4j/examples/${modelRel}`);
  const ioPath = realworld(`keras2_h5/dl4j/examples/${ioRel}`);
  test(`parity: ${modelRel} reproduces Keras' predictions within 1e-5`, { skip: (!modelPath || !ioPath) && 'realworld file absent' }, async () => {
    await initBackend();
    const reader = await openWeights(modelPath!);
    const io = await Hdf5File.open(ioPath!);
    try {
      const { model, unmatched } = await buildAndAssign(reader);
      assert.deepEqual(unmatched, []);
      const [inputName] = io.keys('inputs');
      const [predName] = io.keys('predictions');
      const inInfo = io.datasetInfo(`inputs/${inputName}`);
      const input = tf.tensor(new Float32Array(io.readRaw(`inputs/${inputName}`).buffer), inInfo.shape);
      const expected = new Float32Array(io.readRaw(`predictions/${predName}`).buffer);
      const got = (model.predict(input) as tf.Tensor).dataSync();
      assert.equal(got.length, expected.length);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
      assert.ok(worst <= 1e-5, `max abs difference ${worst}`);
    } finally {
      io.close();
      await reader.close();
    }
  });
}

test('theano backend: conv kernels are flipped as Keras convert_kernel does; biases and LSTMs untouched', { skip: !realworld('keras2_h5/dl4j/weights/conv2d_theano_2.h5') && 'realworld file absent' }, async () => {
  const tfPath = realworld('keras2_h5/dl4j/weights/conv2d_tensorflow_2.h5')!;
  const thPath = realworld('keras2_h5/dl4j/weights/conv2d_theano_2.h5')!;
  const tfReader = await openWeights(tfPath);
  const thReader = await openWeights(thPath);
  try {
    assert.equal(thReader.metadata?.backend, 'theano');
    assert.deepEqual(thReader.metadata?.theano_kernels_flipped, ['conv2d_1/kernel']);
    const tfKernel = float32Of(await tfReader.read('conv2d_1/kernel'));
    const thKernel = float32Of(await thReader.read('conv2d_1/kernel'));
    // The generating script set kernel = np.arange(270).reshape(3, 3, 5, 6) under both backends.
    assert.deepEqual(Array.from(tfKernel), Array.from({ length: 270 }, (_, i) => i));
    // Under Theano that array is a true convolution kernel: TF needs it with rows and columns reversed.
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        for (let k = 0; k < 30; k++) {
          assert.equal(thKernel[(i * 3 + j) * 30 + k], tfKernel[((2 - i) * 3 + (2 - j)) * 30 + k]);
        }
      }
    }
    assert.deepEqual(Array.from(float32Of(await thReader.read('conv2d_1/bias'))), Array.from(float32Of(await tfReader.read('conv2d_1/bias'))));
    await checkStridedReads(thReader, 'theano');
  } finally {
    await tfReader.close();
    await thReader.close();
  }
  const lstm = await openWeights(realworld('keras2_h5/dl4j/weights/lstm_theano_2.h5')!);
  const lstmTf = await openWeights(realworld('keras2_h5/dl4j/weights/lstm_tensorflow_2.h5')!);
  try {
    assert.deepEqual(lstm.metadata?.theano_kernels_flipped, []);
    assert.deepEqual(lstm.list().map((x) => [x.name, x.shape]), lstmTf.list().map((x) => [x.name, x.shape]));
    const h5 = await Hdf5File.open(realworld('keras2_h5/dl4j/weights/lstm_theano_2.h5')!);
    const stored = h5.readRaw('model_weights/lstm_1/lstm_1/kernel');
    h5.close();
    assert.ok(Buffer.from((await lstm.read('lstm_1/kernel')).data).equals(Buffer.from(stored)), 'LSTM kernel passes through');
  } finally {
    await lstm.close();
    await lstmTf.close();
  }
});

/**
 * Strided reads (the streaming engine's path: hyperslabs, or a whole decode for other selections)
 * give the bytes of the checked whole reads: row-aligned halves, one element off row alignment,
 * and for 2-D tensors the last column.
 */
async function checkStridedReads(reader: WeightReader, label: string): Promise<void> {
  const strided = reader as unknown as ReadsStrided;
  for (const info of reader.list()) {
    const whole = (await reader.read(info.name)).data;
    if (whole.length === 0) continue;
    const rows = info.shape[0] ?? 1;
    const rowBytes = whole.length / rows;
    const element = rowBytes / (info.shape.slice(1).reduce((a, b) => a * b, 1));
    for (const cut of [Math.floor(rows / 2) * rowBytes, element]) {
      const got = new Uint8Array(whole.length);
      await strided.readStrided(info.name, { start: 0, runBytes: cut, stride: cut, count: 1 }, got);
      await strided.readStrided(info.name, { start: cut, runBytes: whole.length - cut, stride: whole.length - cut, count: 1 }, got.subarray(cut));
      assert.deepEqual(got, whole, `${label}:${info.name} strided at ${cut}`);
    }
    if (info.shape.length === 2) {
      const column = new Uint8Array(rows * element);
      await strided.readStrided(info.name, { start: rowBytes - element, runBytes: element, stride: rowBytes, count: rows }, column);
      for (let r = 0; r < rows; r++) assert.deepEqual(column.subarray(r * element, (r + 1) * element), whole.subarray((r + 1) * rowBytes - element, (r + 1) * rowBytes), `${label}:${info.name} column row ${r}`);
    }
    await assert.rejects(strided.readStrided(info.name, { start: 0, runBytes: whole.length + 1, stride: 0, count: 1 }, new Uint8Array(whole.length + 1)), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT');
  }
}

const expectedFixtures = JSON.parse(fs.readFileSync(fixture('keras/expected.json'), 'utf8')) as Record<string, Record<string, { dtype: string; shape: number[]; values: number[] }>>;

for (const name of ['chunked_fp16.h5', 'userblock.h5']) {
  test(`fixture ${name}: chunked layer_names/weight_names, float16, big-endian, scoped names`, async () => {
    const reader = await openWeights(fixture(`keras/${name}`));
    try {
      assert.equal(reader.format, 'keras-h5');
      assert.equal(reader.metadata?.kind, 'weights');
      const want = expectedFixtures[name];
      assert.deepEqual(reader.list().map((x) => x.name), Object.keys(want));
      for (const [tensor, spec] of Object.entries(want)) {
        const raw = await reader.read(tensor);
        assert.equal(raw.dtype, spec.dtype);
        assert.deepEqual(raw.shape, spec.shape);
        const got = Array.from(float32Of(raw));
        spec.values.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= Math.abs(v) * 1e-6, `${tensor}[${i}] ${got[i]} vs ${v}`));
      }
      await checkStridedReads(reader, name);
    } finally {
      await reader.close();
    }
  });
}

test('fixture keras3_nested.weights.h5: no config → <layer path>/<index>, indices in numeric order, optimizer skipped', async () => {
  const reader = await openWeights(fixture('keras/keras3_nested.weights.h5'));
  try {
    assert.equal(reader.format, 'keras3');
    assert.equal(reader.topology, undefined);
    const want = expectedFixtures['keras3_nested.weights.h5'];
    const expectedNames = Object.keys(want).map((p) => p.replace(/^layers\//, '').replace('/layers/', '/').replace('/vars/', '/'));
    assert.deepEqual(reader.list().map((x) => x.name), expectedNames);
    const paths = Object.keys(want);
    for (let i = 0; i < paths.length; i++) {
      const raw = await reader.read(expectedNames[i]);
      assert.deepEqual(Array.from(float32Of(raw)), want[paths[i]].values.map((v) => Math.fround(v)));
    }
  } finally {
    await reader.close();
  }
});

test('Keras 3 .keras: names follow the class weight order and config names; temp file removed on close', { skip: !realworld('keras3/nested/luciesvc/ae_model.keras') && 'realworld file absent' }, async () => {
  const reader = await openWeights(realworld('keras3/nested/luciesvc/ae_model.keras')!);
  const tempDir = (reader as unknown as { tempDir?: string }).tempDir;
  try {
    const names = reader.list().map((x) => x.name);
    // Stored as layers/functional_1/layers/conv2d/vars/0: the decoder's only Conv2D, named conv2d_3.
    assert.ok(names.includes('conv2d_3/kernel'));
    assert.deepEqual(reader.list().find((x) => x.name === 'conv2d_3/kernel')?.shape, [3, 3, 8, 1]);
    assert.ok(names.includes('conv2d_transpose_2/bias'));
    assert.equal(reader.metadata?.keras_version, '3.5.0');
    assert.ok(tempDir && fs.existsSync(path.join(tempDir, 'model.weights.h5')), 'weights extracted to a private file');
  } finally {
    await reader.close();
  }
  assert.equal(fs.existsSync(tempDir!), false, 'temp dir removed');
});

test('errors: missing file, directory, truncated HDF5, non-HDF5 bytes, .keras zip without weights or with bad JSON', async () => {
  const tmp = tempDir('graft-keras-test-');
  try {
    await assert.rejects(kerasH5Format.open(path.join(tmp, 'absent.h5')), { name: 'GraftError', code: 'NOT_FOUND' });
    await assert.rejects(kerasH5Format.open(tmp), { name: 'GraftError', code: 'NOT_FOUND' });
    const whole = fs.readFileSync(fixture('keras/chunked_fp16.h5'));
    const truncated = path.join(tmp, 'truncated.h5');
    fs.writeFileSync(truncated, whole.subarray(0, 3000));
    await assert.rejects(kerasH5Format.open(truncated), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && /truncated/.test(e.message) && e.message.includes(truncated));
    const garbage = path.join(tmp, 'garbage.h5');
    fs.writeFileSync(garbage, 'this is not hdf5'.repeat(64));
    await assert.rejects(kerasH5Format.open(garbage), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && /not a readable HDF5 file/.test(e.message));
    await assert.rejects(keras3Format.open(path.join(tmp, 'absent.keras')), { name: 'GraftError', code: 'NOT_FOUND' });
    const noWeights = path.join(tmp, 'no_weights.keras');
    fs.writeFileSync(noWeights, zipSync({ 'metadata.json': strToU8('{}'), 'config.json': strToU8('{"class_name": "Sequential", "config": {"layers": []}}') }, { level: 0 }));
    await assert.rejects(openWeights(noWeights), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && /no 'model\.weights\.h5'/.test(e.message));
    const badJson = path.join(tmp, 'bad_json.keras');
    fs.writeFileSync(badJson, zipSync({ 'metadata.json': strToU8('{}'), 'config.json': strToU8('{not json'), 'model.weights.h5': whole }, { level: 0 }));
    await assert.rejects(openWeights(badJson), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && /'config\.json' is not valid JSON/.test(e.message));
    // No temp folder is left behind by a failed open.
    assert.deepEqual(fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith('graft-keras-') && !d.startsWith('graft-keras-test-') && leftovers.has(d) === false && fs.statSync(path.join(os.tmpdir(), d)).mtimeMs > started), []);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('sniffing: by magic bytes, not by extension', () => {
  const hdf5Head = new Uint8Array(512);
  hdf5Head.set([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(kerasH5Format.sniff(hdf5Head, 'model.keras'), true);
  assert.equal(kerasH5Format.sniff(hdf5Head, 'x.weights.h5'), false);
  assert.equal(keras3Format.sniff(hdf5Head, 'x.weights.h5'), true);
  const zipHead = new Uint8Array(64);
  zipHead.set([0x50, 0x4b, 0x03, 0x04]);
  zipHead[26] = 13;
  zipHead.set(new TextEncoder().encode('metadata.json'), 30);
  assert.equal(keras3Format.sniff(zipHead, 'anything.bin'), true);
  assert.equal(kerasH5Format.sniff(zipHead, 'model.h5'), false);
  const npzHead = new Uint8Array(64);
  npzHead.set([0x50, 0x4b, 0x03, 0x04]);
  npzHead[26] = 5;
  npzHead.set(new TextEncoder().encode('a.npy'), 30);
  assert.equal(keras3Format.sniff(npzHead, 'weights.npz'), false);
});

test('weight naming rules', () => {
  assert.deepEqual(layerWeightName('conv1', 'conv1_1/kernel:0').name, 'conv1/kernel');
  assert.deepEqual(layerWeightName('dense', 'sequential/dense/bias').name, 'dense/bias');
  assert.deepEqual(layerWeightName('lstm_9', 'lstm_9/lstm_cell_9/recurrent_kernel:0').name, 'lstm_9/recurrent_kernel');
  assert.deepEqual(layerWeightName('gru', 'sequential/gru/gru_cell/bias').name, 'gru/bias');
  assert.deepEqual(layerWeightName('bidirectional_1', 'bidirectional_1/forward_lstm_1/kernel:0').name, 'bidirectional_1/forward_lstm_1/kernel');
  assert.deepEqual(nestedWeightName('dense_1/kernel:0'), { name: 'dense_1/kernel', innerLayer: 'dense_1' });
  assert.equal(toSnakeCase('Conv2DTranspose'), 'conv2d_transpose');
  assert.equal(toSnakeCase('LeakyReLU'), 'leaky_re_lu');
  assert.equal(toSnakeCase('BatchNormalization'), 'batch_normalization');
  assert.equal(toSnakeCase('LSTM'), 'lstm');
});

test('flipLeadingAxes reverses only the spatial axes', () => {
  // shape [2, 2, 1, 2] of uint8: element value = its C-order index.
  const data = Uint8Array.from({ length: 8 }, (_, i) => i);
  const out = flipLeadingAxes(data, [2, 2, 1, 2], 1, 2);
  assert.deepEqual(Array.from(out), [6, 7, 4, 5, 2, 3, 0, 1]);
});

test('topology: Keras 3 functional config becomes a tfjs-loadable Keras 2 one', async () => {
  await initBackend();
  const kt = (layer: string, node = 0) => ({ class_name: '__keras_tensor__', config: { shape: [null, 3], dtype: 'float32', keras_history: [layer, node, 0] } });
  const policy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
  const config = {
    module: 'keras.src.models.functional',
    class_name: 'Functional',
    config: {
      name: 'f',
      layers: [
        { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 3], dtype: 'float32', sparse: false, name: 'in' }, registered_name: null, name: 'in', inbound_nodes: [] },
        {
          module: 'keras.layers', class_name: 'Dense', registered_name: null, name: 'd1', build_config: { input_shape: [null, 3] },
          config: { name: 'd1', dtype: policy, units: 3, activation: 'relu', use_bias: true, kernel_initializer: { module: 'keras.initializers', class_name: 'OrthogonalInitializer', config: { gain: 1, seed: null }, registered_name: null }, bias_initializer: { module: 'keras.initializers', class_name: 'Zeros', config: {}, registered_name: null }, kernel_regularizer: { module: 'keras.regularizers', class_name: 'L2', config: { l2: 0.01 }, registered_name: null } },
          inbound_nodes: [{ args: [kt('in')], kwargs: {} }],
        },
        { module: 'keras.layers', class_name: 'Add', registered_name: null, name: 'add', config: { name: 'add', dtype: policy }, inbound_nodes: [{ args: [[kt('d1'), kt('in')]], kwargs: {} }] },
      ],
      input_layers: ['in', 0, 0],
      output_layers: [['add', 0, 0]],
    },
  };
  const topo = toTfjsTopology(config, '3.5.0');
  assert.equal(topo.class_name, 'Model');
  const layers = (topo.config as { layers: { inbound_nodes: unknown[]; config: Record<string, unknown> }[] }).layers;
  assert.deepEqual(layers[2].inbound_nodes, [[['d1', 0, 0, {}], ['in', 0, 0, {}]]]);
  assert.deepEqual(layers[0].config.batch_input_shape, [null, 3]);
  assert.equal(layers[1].config.dtype, 'float32');
  assert.equal(JSON.stringify(topo).includes('registered_name'), false);
  const model = await tf.models.modelFromJSON({ modelTopology: topo } as unknown as tf.io.ModelJSON);
  assert.deepEqual(model.outputs[0].shape, [null, 3]);
  assert.deepEqual(model.weights.map((w) => w.originalName), ['d1/kernel', 'd1/bias']);
  model.dispose();
  assert.throws(() => toTfjsTopology({ class_name: 'MyNet', config: { name: 'x' } }, '3.1.0'), { name: 'GraftError', code: 'UNSUPPORTED' });
  const custom = structuredClone(config);
  custom.config.layers[1].class_name = 'MyDense';
  assert.throws(() => toTfjsTopology(custom, '3.1.0'), (e: unknown) => e instanceof GraftError && e.code === 'UNSUPPORTED' && /'f\/d1' \(MyDense\)/.test(e.message));
});
