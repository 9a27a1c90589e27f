import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { GraftError } from '../src/errors';
import { TfjsHandler } from '../src/formats/tfjs/reader';
import type { RawTensor } from '../src/formats/types';
import { fixture, realworld } from './helpers/realworld';
import { tempDir } from './helpers/temp';

const expected = JSON.parse(fs.readFileSync(fixture('formats/expected.json'), 'utf8'));

function valuesOf(t: RawTensor): (number | boolean)[] {
  const buf = t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength);
  if (t.dtype === 'float32') return Array.from(new Float32Array(buf));
  if (t.dtype === 'int32') return Array.from(new Int32Array(buf));
  if (t.dtype === 'bool') return Array.from(new Uint8Array(buf), (b) => b !== 0);
  throw new Error(`unexpected dtype ${t.dtype}`);
}

/** Copies the quantized fixture model into a temp folder so a test can damage it. */
function copyFixtureModel(): string {
  const dir = tempDir('graft-tfjs-');
  for (const f of fs.readdirSync(fixture('formats/tfjs/quantized'))) {
    fs.copyFileSync(path.join(fixture('formats/tfjs/quantized'), f), path.join(dir, f));
  }
  return dir;
}

test('tfjs: quantized (uint8, uint16, float16), int32 and bool weights across two shards read as tfjs would decode them', async () => {
  const file = fixture('formats/tfjs/quantized/model.json');
  const reader = await TfjsHandler.open(file);
  try {
    assert.equal(reader.format, 'tfjs');
    assert.equal(reader.convention, 'keras');
    assert.deepEqual(reader.topology, expected.tfjs_topology);
    assert.deepEqual(reader.list().map((t) => t.name), ['dense/kernel', 'dense/bias', 'dense_1/kernel', 'counts', 'mask', 'half']);
    for (const info of reader.list()) {
      const exp = expected[`tfjs/${info.name}`];
      const t = await reader.read(info.name);
      assert.equal(t.dtype, exp.dtype, info.name);
      assert.deepEqual(t.shape, exp.shape, info.name);
      assert.equal(t.data.length, t.byteSize, info.name);
      assert.deepEqual(valuesOf(t), exp.values, info.name);
    }
  } finally {
    await reader.close();
  }
});

test('tfjs: sniff by name or by manifest keys near the start', () => {
  assert.ok(TfjsHandler.sniff(new Uint8Array(0), '/a/b/model.json'));
  const enc = new TextEncoder();
  assert.ok(TfjsHandler.sniff(enc.encode('{"format": "layers-model", "modelTopology": {}'), 'x.json'));
  assert.ok(TfjsHandler.sniff(enc.encode(' {"weightsManifest": []}'), 'weights.json'));
  assert.equal(TfjsHandler.sniff(enc.encode('{"weight_map": {}}'), 'model.safetensors.index.json'), false);
  assert.equal(TfjsHandler.sniff(enc.encode('\x93NUMPY modelTopology'), 'x.npy'), false);
});

test('tfjs: shard paths that leave the model folder are refused', async () => {
  const dir = copyFixtureModel();
  const file = path.join(dir, 'model.json');
  const model = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const bad of ['../group1-shard1of2.bin', '/etc/passwd', 'a\\b.bin']) {
    model.weightsManifest[0].paths = [bad, 'group1-shard2of2.bin'];
    fs.writeFileSync(file, JSON.stringify(model));
    await assert.rejects(TfjsHandler.open(file), (e: unknown) => e instanceof GraftError && e.code === 'UNSAFE' && e.message.includes(file), bad);
  }
});

test('tfjs: a truncated shard, a missing shard, or bad manifest entries are GraftErrors naming the file', async () => {
  const dir = copyFixtureModel();
  const file = path.join(dir, 'model.json');
  const shard2 = path.join(dir, 'group1-shard2of2.bin');
  const original = fs.readFileSync(shard2);
  fs.writeFileSync(shard2, original.subarray(0, original.length - 3));
  await assert.rejects(TfjsHandler.open(file), (e: unknown) =>
    e instanceof GraftError && e.code === 'CORRUPT' && e.message.includes(file) && e.tensor === 'half' && /runs past the end/.test(e.message));
  fs.rmSync(shard2);
  await assert.rejects(TfjsHandler.open(file), (e: unknown) => e instanceof GraftError && e.code === 'NOT_FOUND' && e.message.includes('group1-shard2of2.bin'));
  fs.writeFileSync(shard2, original);

  const model = JSON.parse(fs.readFileSync(file, 'utf8'));
  const huge = structuredClone(model);
  huge.weightsManifest[0].weights[0].shape = [2 ** 30, 2 ** 20];
  fs.writeFileSync(file, JSON.stringify(huge));
  await assert.rejects(TfjsHandler.open(file), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && e.message.includes(file));
  const negative = structuredClone(model);
  negative.weightsManifest[0].weights[1].shape = [-3];
  fs.writeFileSync(file, JSON.stringify(negative));
  await assert.rejects(TfjsHandler.open(file), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && e.tensor === 'dense/bias');
  const complex = structuredClone(model);
  complex.weightsManifest[0].weights[1].dtype = 'complex64';
  fs.writeFileSync(file, JSON.stringify(complex));
  await assert.rejects(TfjsHandler.open(file), (e: unknown) => e instanceof GraftError && e.code === 'UNSUPPORTED' && /complex64/.test(e.message));
  fs.writeFileSync(file, '{"modelTopology": {}, "weightsManifest": [');
  await assert.rejects(TfjsHandler.open(file), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && e.message.includes(file));
});

test('tfjs: string weights are skipped in the listing and refused on read', async () => {
  const dir = tempDir('graft-tfjs-');
  // Two strings ("ab", "xyz") then a float32 [1.5]: each string is a u32 length + bytes.
  const bin = Buffer.concat([
    Buffer.from([2, 0, 0, 0]), Buffer.from('ab'), Buffer.from([3, 0, 0, 0]), Buffer.from('xyz'),
    Buffer.from(new Float32Array([1.5]).buffer),
  ]);
  fs.writeFileSync(path.join(dir, 'w.bin'), bin);
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, JSON.stringify({
    format: 'graph-model', modelTopology: { node: [] },
    weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'vocab', shape: [2], dtype: 'string' }, { name: 'w', shape: [1], dtype: 'float32' }] }],
  }));
  const reader = await TfjsHandler.open(file);
  try {
    assert.deepEqual(reader.list().map((t) => t.name), ['w']);
    assert.deepEqual(valuesOf(await reader.read('w')), [1.5]);
    await assert.rejects(reader.read('vocab'), (e: unknown) => e instanceof GraftError && e.code === 'UNSUPPORTED' && e.tensor === 'vocab');
    assert.equal(reader.topology, undefined);
  } finally {
    await reader.close();
  }
});

interface RealCase {
  rel: string;
  weights: Array<[string, number[]]>;
  shardBytes: number;
  kerasVersion?: string;
}

const REAL: RealCase[] = [
  {
    rel: 'tfjs/1skyzor_mlp/model.json', shardBytes: 2248, kerasVersion: '2.5.0',
    weights: [['dense_41/kernel', [13, 17]], ['dense_41/bias', [17]], ['dense_42/kernel', [17, 17]], ['dense_42/bias', [17]], ['dense_43/kernel', [17, 1]], ['dense_43/bias', [1]]],
  },
  {
    rel: 'tfjs/anirban_mlp_tfjs1.2.6/model.json', shardBytes: 884,
    weights: [['dense_1/kernel', [8, 12]], ['dense_1/bias', [12]], ['dense_2/kernel', [12, 8]], ['dense_2/bias', [8]], ['dense_3/kernel', [8, 1]], ['dense_3/bias', [1]]],
  },
  {
    rel: 'tfjs/dlmit_tfjs_saved/chap_8/occupancy/export/model.json', shardBytes: 1364,
    weights: [['dense_Dense1/kernel', [5, 20]], ['dense_Dense1/bias', [20]], ['dense_Dense2/kernel', [20, 10]], ['dense_Dense2/bias', [10]], ['dense_Dense3/kernel', [10, 1]], ['dense_Dense3/bias', [1]]],
  },
  {
    rel: 'tfjs/aksha117_stock_lstm_keras3/model.json', shardBytes: 82180, kerasVersion: '3.8.0',
    weights: [['sequential_4/dense_8/kernel', [64, 32]], ['sequential_4/dense_8/bias', [32]], ['sequential_4/dense_9/kernel', [32, 1]], ['sequential_4/dense_9/bias', [1]],
      ['sequential_4/lstm_8/lstm_cell/kernel', [7, 256]], ['sequential_4/lstm_8/lstm_cell/recurrent_kernel', [64, 256]], ['sequential_4/lstm_8/lstm_cell/bias', [256]]],
  },
];

for (const c of REAL) {
  const file = realworld(c.rel);
  test(`tfjs (real): ${c.rel} lists its manifest and reads the shard bytes in order`, { skip: file ? false : 'realworld folder absent' }, async () => {
    const head = new Uint8Array(fs.readFileSync(file!)).subarray(0, 512);
    assert.ok(TfjsHandler.sniff(head, file!));
    assert.ok(TfjsHandler.sniff(head, 'renamed.json'), 'sniffs by content too');
    const reader = await TfjsHandler.open(file!);
    try {
      assert.equal(reader.convention, 'keras');
      assert.deepEqual(reader.list().map((t) => [t.name, t.shape]), c.weights);
      assert.ok(reader.list().every((t) => t.dtype === 'float32'));
      const raw = JSON.parse(fs.readFileSync(file!, 'utf8'));
      assert.deepEqual(reader.topology, raw.modelTopology);
      if (c.kerasVersion) assert.match(JSON.stringify(reader.topology), new RegExp(`"keras_version":\\s*"${c.kerasVersion.replace(/\./g, '\\.')}`));
      // Weights laid end to end reproduce the shard file byte for byte.
      const parts: Uint8Array[] = [];
      for (const info of reader.list()) parts.push((await reader.read(info.name)).data);
      const shardPath = path.join(path.dirname(file!), raw.weightsManifest[0].paths[0]);
      const shard = fs.readFileSync(shardPath);
      assert.equal(shard.length, c.shardBytes);
      assert.ok(Buffer.concat(parts).equals(shard));
    } finally {
      await reader.close();
    }
  });
}

const graph = realworld('tfjs/patlevin_graphmodel/prelu/model.json');
test('tfjs (real graph-model): weights readable by name, no layers topology', { skip: graph ? false : 'realworld folder absent' }, async () => {
  const reader = await TfjsHandler.open(graph!);
  try {
    assert.equal(reader.format, 'tfjs');
    assert.equal(reader.topology, undefined);
    assert.equal((reader.metadata as Record<string, unknown>).format, 'graph-model');
    const infos = reader.list();
    assert.deepEqual(infos.map((t) => [t.name, t.shape]), [
      ['StatefulPartitionedCall/point_in_sphere/Prelu/Neg', [3]],
      ['StatefulPartitionedCall/point_in_sphere/Dense/MatMul/ReadVariableOp', [7, 3]],
      ['StatefulPartitionedCall/point_in_sphere/Dense/BiasAdd/ReadVariableOp', [3]],
      ['StatefulPartitionedCall/point_in_sphere/Output/MatMul/ReadVariableOp', [3, 1]],
      ['StatefulPartitionedCall/point_in_sphere/Output/BiasAdd/ReadVariableOp', [1]],
    ]);
    const total = (await Promise.all(infos.map((t) => reader.read(t.name)))).reduce((n, t) => n + t.data.length, 0);
    assert.equal(total, 124);
  } finally {
    await reader.close();
  }
});

const skyzor = realworld('tfjs/1skyzor_mlp/model.json');
test('tfjs (real): 1skyzor weights are bit-equal to the Keras .h5 they were converted from', { skip: skyzor ? false : 'realworld folder absent' }, async () => {
  // Digests of the h5 datasets, computed with h5py by scripts/make_format_fixtures.py.
  const digests = expected.realworld_1skyzor_h5_sha256 as Record<string, string>;
  assert.equal(Object.keys(digests).length, 6);
  const reader = await TfjsHandler.open(skyzor!);
  try {
    for (const [name, sha] of Object.entries(digests)) {
      const t = await reader.read(name);
      assert.equal(crypto.createHash('sha256').update(t.data).digest('hex'), sha, name);
    }
  } finally {
    await reader.close();
  }
});
