import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { GraftError } from '../src/errors';
import { isNonWeightKey, objectGraphKey, openTfCheckpoint, parseCheckpointState, tfCheckpointFormat } from '../src/formats/tf-checkpoint/reader';
import { openWeights, registerFormat } from '../src/formats/registry';
import type { WeightReader } from '../src/formats/types';
import { fixture, realworld } from './helpers/realworld';
import { tempDir } from './helpers/temp';

// ------------------------------------------------------------------------------------ helpers

/** Minimal .npy reader for the fixture generator's expected values (always little-endian). */
function loadNpy(file: string): { descr: string; shape: number[]; data: Uint8Array } {
  const buf = fs.readFileSync(file);
  assert.equal(buf.subarray(0, 6).toString('latin1'), '\x93NUMPY');
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.subarray(start, start + headerLen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)![1];
  assert.match(header, /'fortran_order':\s*False/);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)![1];
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  return { descr, shape, data: new Uint8Array(buf.subarray(start + headerLen)) };
}

const expectedName = (tensor: string) => `${tensor.replace(/\//g, '__')}.npy`;

/** Copies a fixture folder somewhere writable so a test can damage it. */
function scratchCopy(rel: string): string {
  const dir = tempDir('graft-tfckpt-');
  for (const f of fs.readdirSync(fixture(rel))) {
    const src = path.join(fixture(rel), f);
    if (fs.statSync(src).isFile()) fs.copyFileSync(src, path.join(dir, f));
  }
  return dir;
}

async function rejectsWith(p: Promise<unknown>, code: string, pattern: RegExp, file?: string, tensor?: string): Promise<GraftError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof GraftError, `expected a GraftError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, pattern);
  if (file !== undefined) assert.equal(caught.file, file);
  if (tensor !== undefined) assert.equal(caught.tensor, tensor);
  return caught;
}

async function readAll(r: WeightReader): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const t of r.list()) {
    const raw = await r.read(t.name);
    assert.equal(raw.data.length, t.byteSize, t.name);
    out.set(t.name, raw.data);
  }
  return out;
}

// ------------------------------------------------------------------------------------ names

test('objectGraphKey parses TF2 object-based keys', () => {
  assert.deepEqual(objectGraphKey('layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE'), {
    path: [0], steps: [{ kind: 'layer_with_weights', index: 0 }], layerIndex: 0, weight: 'kernel', weightPath: 'kernel',
  });
  const inModel = objectGraphKey('model/layer_with_weights-2/bias/.ATTRIBUTES/VARIABLE_VALUE');
  assert.deepEqual(inModel && [inModel.path, inModel.layerIndex, inModel.weight], [[2], 2, 'bias']);
  const nested = objectGraphKey('layer-1/layer_with_weights-10/moving_mean/.ATTRIBUTES/VARIABLE_VALUE');
  assert.deepEqual(nested?.path, [1, 10]);
  assert.deepEqual(nested?.steps.map((s) => s.kind), ['layer', 'layer_with_weights']);
  assert.equal(nested?.layerIndex, 10);
  assert.equal(nested?.weight, 'moving_mean');
  const rnn = objectGraphKey('layer_with_weights-0/cell/recurrent_kernel/.ATTRIBUTES/VARIABLE_VALUE');
  assert.equal(rnn?.weight, 'recurrent_kernel');
  assert.equal(rnn?.weightPath, 'cell/recurrent_kernel');
  const wrapped = objectGraphKey('layer_with_weights-3/forward_layer/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE');
  assert.deepEqual([wrapped?.path, wrapped?.weight, wrapped?.weightPath], [[3], 'kernel', 'forward_layer/cell/kernel']);
  // A layer step below a non-layer attribute would make the indices ambiguous:
  assert.equal(objectGraphKey('layer_with_weights-0/cell/layer-0/kernel/.ATTRIBUTES/VARIABLE_VALUE'), undefined);
  // Not variables under numbered layers:
  assert.equal(objectGraphKey('hidden1/weights'), undefined);
  assert.equal(objectGraphKey('dense1/kernel/.ATTRIBUTES/VARIABLE_VALUE'), undefined);
  assert.equal(objectGraphKey('save_counter/.ATTRIBUTES/VARIABLE_VALUE'), undefined);
  assert.equal(objectGraphKey('layer_with_weights-0/.ATTRIBUTES/VARIABLE_VALUE'), undefined);
  assert.equal(objectGraphKey('layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE'), undefined);
});

test('isNonWeightKey recognises bookkeeping and optimizer slots but keeps weights', () => {
  for (const k of ['_CHECKPOINTABLE_OBJECT_GRAPH', 'global_step', 'save_counter/.ATTRIBUTES/VARIABLE_VALUE',
    'optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE', 'model/layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE',
    'Variable/Adam', 'Variable_3/Adam_1', 'dense/kernel/Momentum', 'w/RMSProp', 'w/RMSProp_1', 'w/Adagrad', 'beta1_power', 'beta2_power']) {
    assert.equal(isNonWeightKey(k), true, k);
  }
  for (const k of ['Variable', 'hidden1/weights', 'Adam/kernel', 'layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE', 'beta1', 'optimizer_head/w']) {
    assert.equal(isNonWeightKey(k), false, k);
  }
});

test('parseCheckpointState reads model_checkpoint_path, not the all_ list', () => {
  assert.equal(parseCheckpointState('all_model_checkpoint_paths: "a"\nmodel_checkpoint_path: "b\\"c"\n'), 'b"c');
  assert.equal(parseCheckpointState('all_model_checkpoint_paths: "a"\n'), undefined);
});

// ------------------------------------------------------------------------------------ self-made fixtures

const SEED_NAMES = ['hidden1/biases', 'hidden1/weights', 'hidden2/biases', 'hidden2/weights', 'hidden3/biases', 'hidden3/weights',
  'hidden4/biases', 'hidden4/weights', 'outputs/biases', 'outputs/weights'];
const SMALL_NAMES = ['hidden1/biases', 'hidden1/weights', 'hidden2/biases', 'hidden2/weights', 'outputs/biases', 'outputs/weights'];

for (const [label, where, names] of [
  ['prefix', 'saver/model.ckpt', SEED_NAMES],
  ['folder with checkpoint file', 'saver', SEED_NAMES],
  ['.index path', 'saver/model.ckpt.index', SEED_NAMES],
  ['.data path', 'saver/model.ckpt.data-00000-of-00001', SEED_NAMES],
  ['two shards', 'sharded/model.ckpt', SMALL_NAMES],
] as const) {
  test(`TF1 Saver fixture via ${label}: weights match the generator's values, slots skipped`, async () => {
    const r = await openTfCheckpoint(fixture(`tf-ckpt/${where}`));
    try {
      assert.equal(r.format, 'tf-checkpoint');
      assert.equal(r.convention, 'tf');
      assert.deepEqual(r.list().map((t) => t.name), names);
      const expectedDir = fixture(`tf-ckpt/${where.split('/')[0]}/expected`);
      for (const t of r.list()) {
        const exp = loadNpy(path.join(expectedDir, expectedName(t.name)));
        assert.equal(exp.descr, '<f4');
        assert.deepEqual(t.shape, exp.shape, t.name);
        assert.equal(t.dtype, 'float32');
        assert.deepEqual((await r.read(t.name)).data, exp.data, t.name);
      }
      if (where.startsWith('saver')) {
        assert.deepEqual([...(r.metadata!.skipped as string[])].sort(), ['beta1_power', 'beta2_power', 'global_step', 'outputs/weights/Adam', 'outputs/weights/Adam_1']);
      } else {
        assert.equal((r.metadata!.shards as string[]).length, 2);
      }
      await rejectsWith(r.read(where.startsWith('saver') ? 'global_step' : 'nope'), 'NOT_FOUND', where.startsWith('saver') ? /is not a weight/ : /no such tensor/);
    } finally {
      await r.close();
      await r.close(); // twice is safe
    }
  });
}

test("the Saver fixture holds the seed network's trained weights (tfjs reference values)", async () => {
  const reference = JSON.parse(fs.readFileSync(fixture('torch/seed_mlp/reference_tfjs_weights.json'), 'utf8')) as Record<string, { shape: number[]; values: number[] }>;
  const r = await openTfCheckpoint(fixture('tf-ckpt/saver'));
  for (const t of r.list()) {
    const [layer, kind] = t.name.split('/');
    const ref = reference[`${layer === 'outputs' ? 'output' : layer}/${kind === 'weights' ? 'kernel' : 'bias'}`];
    assert.deepEqual(t.shape, ref.shape, t.name);
    const raw = await r.read(t.name);
    const values = new Float32Array(raw.data.buffer.slice(raw.data.byteOffset, raw.data.byteOffset + raw.data.byteLength));
    assert.deepEqual(Array.from(values), ref.values.map(Math.fround), t.name);
  }
  await r.close();
});

test('every weight dtype reads back bit-exact; strings left out; complex and partitioned refused by name', async () => {
  const r = await openTfCheckpoint(fixture('tf-ckpt/dtypes/model.ckpt'));
  const dtypes = Object.fromEntries(r.list().map((t) => [t.name, t.dtype]));
  assert.deepEqual(dtypes, {
    bf16: 'bfloat16', empty: 'float32', f16: 'float16', f32: 'float32', f64: 'float64', flags: 'bool', i16: 'int16', i32: 'int32',
    i64: 'int64', i8: 'int8', part: 'float32', u16: 'uint16', u32: 'uint32', u64: 'uint64', u8: 'uint8',
  });
  for (const t of r.list()) {
    if (t.name === 'part') continue;
    const exp = loadNpy(fixture(`tf-ckpt/dtypes/expected/${t.name}.npy`));
    assert.deepEqual(t.shape, exp.shape, t.name);
    assert.deepEqual((await r.read(t.name)).data, exp.data, t.name);
  }
  assert.deepEqual(r.metadata!.skipped, ['labels']);
  await rejectsWith(r.read('part'), 'UNSUPPORTED', /partitioned variable saved as 2 slices/, undefined, 'part');
  await rejectsWith(r.read('z'), 'UNSUPPORTED', /DT_COMPLEX64/, undefined, 'z');
  await r.close();
});

test('a big-endian bundle is byte-swapped to little-endian after its CRC is checked', async () => {
  const r = await openTfCheckpoint(fixture('tf-ckpt/bigendian/model.ckpt'));
  assert.equal(r.metadata!.endianness, 'big');
  for (const t of r.list()) {
    const exp = loadNpy(fixture(`tf-ckpt/bigendian/expected/${t.name}.npy`));
    assert.deepEqual((await r.read(t.name)).data, exp.data, t.name);
  }
  const w = await r.read('w');
  const values = new Float32Array(w.data.buffer, w.data.byteOffset, 6);
  assert.ok(values.every((v) => Number.isFinite(v) && Math.abs(v) < 10), 'swapped floats look like N(0,1) samples');
  await r.close();
});

test('TF2 object-based fixture: optimizer slots, counters and the object graph are skipped', async () => {
  // The folder has no `checkpoint` file but exactly one .index.
  const r = await openTfCheckpoint(fixture('tf-ckpt/tf2'));
  assert.deepEqual(r.list().map((t) => t.name), ['model/layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE', 'model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE']);
  assert.deepEqual([...(r.metadata!.skipped as string[])].sort(), [
    '_CHECKPOINTABLE_OBJECT_GRAPH',
    'model/layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE',
    'optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE',
    'save_counter/.ATTRIBUTES/VARIABLE_VALUE',
  ]);
  assert.equal(r.metadata!.objectBased, true);
  for (const t of r.list()) {
    assert.deepEqual((await r.read(t.name)).data, loadNpy(fixture(`tf-ckpt/tf2/expected/${expectedName(t.name)}`)).data);
  }
  await r.close();
});

// ------------------------------------------------------------------------------------ sniffing and the registry

test('sniff claims prefixes, .index, .data and checkpoint folders, and nothing else', () => {
  const empty = new Uint8Array(0);
  const head = new Uint8Array(64);
  assert.equal(tfCheckpointFormat.sniff(empty, fixture('tf-ckpt/saver/model.ckpt')), true);
  assert.equal(tfCheckpointFormat.sniff(head, fixture('tf-ckpt/saver/model.ckpt.index')), true);
  assert.equal(tfCheckpointFormat.sniff(head, fixture('tf-ckpt/sharded/model.ckpt.data-00001-of-00002')), true);
  assert.equal(tfCheckpointFormat.sniff(empty, fixture('tf-ckpt/saver')), true);
  assert.equal(tfCheckpointFormat.sniff(empty, fixture('tf-ckpt/saver/nothing.ckpt')), false);
  assert.equal(tfCheckpointFormat.sniff(head, fixture('tf-ckpt/saver/checkpoint')), false);
  assert.equal(tfCheckpointFormat.sniff(head, fixture('tf-ckpt/saver/expected/hidden1__biases.npy')), false);
  const dir = tempDir('graft-tfckpt-');
  fs.writeFileSync(path.join(dir, 'notes.index'), 'an index of my notes, not a table at all, long enough to have a footer');
  assert.equal(tfCheckpointFormat.sniff(head, path.join(dir, 'notes.index')), false);
});

test('openWeights finds a checkpoint by its prefix through the registry', async () => {
  registerFormat(tfCheckpointFormat);
  const r = await openWeights(fixture('tf-ckpt/saver/model.ckpt'));
  assert.equal(r.format, 'tf-checkpoint');
  assert.equal(r.list().length, 10);
  await r.close();
  const viaFolder = await openWeights(fixture('tf-ckpt/saver'));
  assert.equal(viaFolder.format, 'tf-checkpoint');
  assert.equal((viaFolder.metadata!.prefix as string), fixture('tf-ckpt/saver/model.ckpt'));
  await viaFolder.close();
});

// ------------------------------------------------------------------------------------ damaged and odd inputs

test('a missing checkpoint is NOT_FOUND naming what was looked for', async () => {
  await rejectsWith(openTfCheckpoint(fixture('tf-ckpt/saver/nope.ckpt')), 'NOT_FOUND', /nope\.ckpt\.index/);
  const dir = tempDir('graft-tfckpt-');
  await rejectsWith(openTfCheckpoint(dir), 'NOT_FOUND', /no 'checkpoint' file/, dir);
});

test('a checkpoint state file pointing outside its folder is refused', async () => {
  const dir = scratchCopy('tf-ckpt/saver');
  fs.writeFileSync(path.join(dir, 'checkpoint'), 'model_checkpoint_path: "../elsewhere/model.ckpt"\n');
  await rejectsWith(openTfCheckpoint(dir), 'UNSAFE', /outside the checkpoint folder/, path.join(dir, 'checkpoint'));
});

test('an absolute model_checkpoint_path from another machine resolves inside the folder', async () => {
  const dir = scratchCopy('tf-ckpt/saver');
  fs.writeFileSync(path.join(dir, 'checkpoint'), 'model_checkpoint_path: "/home/someone/run7/model.ckpt"\n');
  const r = await openTfCheckpoint(dir);
  assert.equal(r.list().length, 10);
  await r.close();
});

test('a truncated index is CORRUPT naming the index file', async () => {
  const dir = scratchCopy('tf-ckpt/saver');
  const indexPath = path.join(dir, 'model.ckpt.index');
  const bytes = fs.readFileSync(indexPath);
  fs.writeFileSync(indexPath, bytes.subarray(0, bytes.length - 10));
  await rejectsWith(openTfCheckpoint(path.join(dir, 'model.ckpt')), 'CORRUPT', /footer magic/, indexPath);
  fs.writeFileSync(indexPath, bytes.subarray(0, 20));
  await rejectsWith(openTfCheckpoint(path.join(dir, 'model.ckpt')), 'CORRUPT', /too short/, indexPath);
  // Blocks cut out of the middle: the footer survives but its handles point past the table.
  fs.writeFileSync(indexPath, Buffer.concat([bytes.subarray(0, 30), bytes.subarray(bytes.length - 48)]));
  await rejectsWith(openTfCheckpoint(path.join(dir, 'model.ckpt')), 'CORRUPT', /lies outside the table/, indexPath);
});

test('a bad footer magic is CORRUPT', async () => {
  const dir = scratchCopy('tf-ckpt/saver');
  const indexPath = path.join(dir, 'model.ckpt.index');
  const bytes = fs.readFileSync(indexPath);
  bytes[bytes.length - 1] ^= 0xff;
  fs.writeFileSync(indexPath, bytes);
  await rejectsWith(openTfCheckpoint(indexPath), 'CORRUPT', /magic/, indexPath);
});

test('a flipped byte in an index block fails its block CRC', async () => {
  const dir = scratchCopy('tf-ckpt/saver');
  const indexPath = path.join(dir, 'model.ckpt.index');
  const bytes = fs.readFileSync(indexPath);
  bytes[12] ^= 0x01; // inside the first data block
  fs.writeFileSync(indexPath, bytes);
  await rejectsWith(openTfCheckpoint(indexPath), 'CORRUPT', /data block 0 at offset 0 fails its CRC-32C/, indexPath);
});

test('an entry reaching past the end of its shard is CORRUPT naming shard and tensor', async () => {
  const dir = scratchCopy('tf-ckpt/sharded');
  const shard = path.join(dir, 'model.ckpt.data-00001-of-00002');
  const bytes = fs.readFileSync(shard);
  fs.writeFileSync(shard, bytes.subarray(0, bytes.length - 4));
  // Shard 1 holds the biases, outputs/biases last.
  await rejectsWith(openTfCheckpoint(path.join(dir, 'model.ckpt')), 'CORRUPT', /beyond the end of its data shard/, shard, 'outputs/biases');
});

test('a missing shard is NOT_FOUND naming the shard', async () => {
  const dir = scratchCopy('tf-ckpt/sharded');
  const shard = path.join(dir, 'model.ckpt.data-00000-of-00002');
  fs.unlinkSync(shard);
  await rejectsWith(openTfCheckpoint(path.join(dir, 'model.ckpt')), 'NOT_FOUND', /data shard 0 of 2/, shard);
});

test('damaged tensor data fails its CRC on read, naming shard and tensor; other tensors still read', async () => {
  const dir = scratchCopy('tf-ckpt/saver');
  const shard = path.join(dir, 'model.ckpt.data-00000-of-00001');
  const r0 = await openTfCheckpoint(path.join(dir, 'model.ckpt'));
  const before = await readAll(r0);
  await r0.close();
  // The generator writes global_step (8 bytes), outputs/weights/Adam (24*5*4), then hidden1/weights.
  const bytes = fs.readFileSync(shard);
  bytes[8 + 480 + 5] ^= 0x40;
  fs.writeFileSync(shard, bytes);
  const r = await openTfCheckpoint(path.join(dir, 'model.ckpt'));
  await rejectsWith(r.read('hidden1/weights'), 'CORRUPT', /fails its CRC-32C check/, shard, 'hidden1/weights');
  assert.deepEqual((await r.read('outputs/weights')).data, before.get('outputs/weights'));
  await r.close();
});

test('an index entry whose size contradicts its shape is CORRUPT', async () => {
  const indexPath = fixture('tf-ckpt/badsize/model.ckpt.index');
  await rejectsWith(openTfCheckpoint(indexPath), 'CORRUPT', /stores 31 bytes where shape \[8\] of float32 needs 32/, indexPath, 'w');
});

test('Snappy-compressed index blocks are UNSUPPORTED, not misread', async () => {
  const indexPath = fixture('tf-ckpt/snappy/model.ckpt.index');
  await rejectsWith(openTfCheckpoint(indexPath), 'UNSUPPORTED', /Snappy/, indexPath);
});

// ------------------------------------------------------------------------------------ real checkpoints

interface RealCase {
  label: string;
  /** A real file or folder (the helper can only check paths that exist). */
  rel: string;
  /** Appended to `rel` to form a checkpoint prefix, which is not a file itself. */
  prefix?: string;
  /** Expected weights: name -> [dtype, shape], from the graph stored beside the checkpoint. */
  weights: Record<string, [string, number[]]>;
  skipped: number;
  check?: (r: WeightReader, data: Map<string, Uint8Array>) => void;
}

// Shapes below come from the VariableV2 / VarHandleOp nodes of the `.meta`, `model.txt` or
// `saved_model.pb` files beside each checkpoint (decoded separately), not from the index.
const mattchubbShapes: Record<string, number[]> = {
  Variable: [8, 100], Variable_1: [100], Variable_2: [100, 5], Variable_3: [5], Variable_4: [5, 5], Variable_5: [5],
  Variable_6: [5, 10], Variable_7: [10], Variable_8: [10, 1], Variable_9: [1], Variable_10: [1], Variable_11: [1],
};
const REAL: RealCase[] = [
  {
    label: 'TF1 Saver with Adam (mattchubb)',
    rel: 'tf_ckpt/mattchubb_tf1_saver',
    weights: Object.fromEntries(Object.entries(mattchubbShapes).map(([k, s]) => [k, ['float32', s]])),
    skipped: 22, // Variable..Variable_9 each with /Adam and /Adam_1, plus beta1_power and beta2_power
  },
  {
    label: 'Keras save_weights TF format (nighthawks)',
    rel: 'tf_ckpt/nighthawks_keras_save_weights_tf',
    prefix: 'cp-0000.ckpt',
    // The TF2 tutorial model: Dense(512, input 784) then Dense(10).
    weights: {
      'layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE': ['float32', [512]],
      'layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE': ['float32', [784, 512]],
      'layer_with_weights-1/bias/.ATTRIBUTES/VARIABLE_VALUE': ['float32', [10]],
      'layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE': ['float32', [512, 10]],
    },
    skipped: 1,
    check: (r) => {
      assert.equal(r.metadata!.objectBased, true);
      const keys = r.list().map((t) => objectGraphKey(t.name));
      assert.deepEqual(keys.map((k) => k && `${k.layerIndex}:${k.weight}`), ['0:bias', '0:kernel', '1:bias', '1:kernel']);
    },
  },
  {
    label: 'dl4j simple_graph (folder with absolute checkpoint path)',
    rel: 'tf_ckpt/dl4j/tf_graphs/nd4j_convert/simple_graph',
    weights: { Variable: ['float32', [4]] },
    skipped: 0,
  },
  {
    label: 'SavedModel variables (dl4j counter)',
    rel: 'tf_ckpt/dl4j/tf_saved_models/saved_model_counter/00000123/variables/variables.index',
    weights: { counter: ['float32', []] },
    skipped: 0,
  },
  {
    label: 'SavedModel variables int64 (tfjs-node)',
    rel: 'tf_ckpt/tfjs_node_saved_models/saved_model/int64_multiply/variables',
    weights: { 'v1/.ATTRIBUTES/VARIABLE_VALUE': ['int64', []], 'v2/.ATTRIBUTES/VARIABLE_VALUE': ['int64', []] },
    skipped: 1,
  },
  {
    label: 'SavedModel variables float32+int32 (tfjs-node)',
    rel: 'tf_ckpt/tfjs_node_saved_models/saved_model/model_multi_output/variables/variables.data-00000-of-00001',
    weights: { 'two/.ATTRIBUTES/VARIABLE_VALUE': ['int32', []], 'v/.ATTRIBUTES/VARIABLE_VALUE': ['float32', []] },
    skipped: 1,
  },
];

for (const c of REAL) {
  const p = realworld(c.rel);
  test(`real checkpoint: ${c.label}: every tensor reads with its CRC verified`, { skip: p ? false : 'realworld folder absent' }, async () => {
    const r = await openTfCheckpoint(c.prefix ? path.join(p!, c.prefix) : p!);
    try {
      const got = Object.fromEntries(r.list().map((t) => [t.name, [t.dtype, t.shape]]));
      assert.deepEqual(got, c.weights);
      assert.equal((r.metadata!.skipped as string[]).length, c.skipped);
      const data = await readAll(r);
      assert.equal(data.size, Object.keys(c.weights).length);
      c.check?.(r, data);
    } finally {
      await r.close();
    }
  });
}

test('real checkpoint: TF1 Saver prefix, .index and .data paths all open the same bundle', { skip: realworld('tf_ckpt/mattchubb_tf1_saver') ? false : 'realworld folder absent' }, async () => {
  const dir = realworld('tf_ckpt/mattchubb_tf1_saver')!;
  const names: string[][] = [];
  for (const p of ['model.ckpt', 'model.ckpt.index', 'model.ckpt.data-00000-of-00001']) {
    assert.equal(tfCheckpointFormat.sniff(p === 'model.ckpt' ? new Uint8Array(0) : new Uint8Array(64), path.join(dir, p)), true, p);
    const r = await openTfCheckpoint(path.join(dir, p));
    names.push(r.list().map((t) => t.name));
    await r.close();
  }
  assert.deepEqual(names[1], names[0]);
  assert.deepEqual(names[2], names[0]);
  // Adam slots would double-count: only the 12 variables remain.
  assert.equal(names[0].length, 12);
});
