/**
 * Hostile inputs, round two: small files built to exhaust time or memory. Each is built here (too
 * large to commit, or trivially small) and must end within the bound in a one-line GraftError
 * naming the file and the budget, or — for the legitimate controls — succeed quickly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GraftError } from '../src/errors';
import { openWeights } from '../src/formats';
import { tempDir } from './helpers/models';
import { PickleWriter, deflated, npyHeader, zerosDeflated, zipArchive } from './helpers/hostile-build';
import { crc32c } from '../src/io/crc32c';
import { weightSpecsFromTopology } from '../src/topology/weight-specs';
import { fixture } from './helpers/realworld';

/** Generous for a loaded 2-core machine; these cases take milliseconds to a second when bounded. */
const BOUND_MS = 10_000;

async function attempt(file: string): Promise<{ stage: 'open' | 'read' | 'done'; error?: unknown; ms: number; tensors: number }> {
  const t0 = Date.now();
  let reader;
  try {
    reader = await openWeights(file);
  } catch (error) {
    return { stage: 'open', error, ms: Date.now() - t0, tensors: 0 };
  }
  let tensors = 0;
  try {
    for (const t of reader.list()) {
      try {
        await reader.read(t.name);
        tensors++;
      } catch (error) {
        return { stage: 'read', error, ms: Date.now() - t0, tensors };
      }
    }
    return { stage: 'done', ms: Date.now() - t0, tensors };
  } finally {
    await reader.close();
  }
}

function assertBudget(r: Awaited<ReturnType<typeof attempt>>, file: string, says: RegExp): void {
  assert.ok(r.ms < BOUND_MS, `took ${r.ms} ms`);
  assert.ok(r.error instanceof GraftError, `expected a GraftError, got ${r.stage === 'done' ? 'success' : String(r.error)}`);
  assert.ok(r.error.message.startsWith(file), r.error.message);
  assert.match(r.error.message, says);
  assert.doesNotMatch(r.error.message, /\n/);
}

const dir = tempDir('graft-budgets-');
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const write = (name: string, bytes: Uint8Array): string => {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  return file;
};

/** A torch.save zip around `pkl` and the storages given (stored or deflated). */
function torchZip(pkl: Uint8Array | { deflate: ReturnType<typeof zerosDeflated> }, storages: Parameters<typeof zipArchive>[0] = []): Buffer {
  const first = pkl instanceof Uint8Array ? { name: 'archive/data.pkl', stored: pkl } : { name: 'archive/data.pkl', deflate: pkl.deflate };
  return zipArchive([first, ...storages]);
}

// ------------------------------------------------------------------------------------ pickles

/** A list of `n` ints memoised once, then given to `call` `times` times. */
function amplifyingPickle(times: number, call: (w: PickleWriter) => void, item: 'ints' | 'pairs' | 'text' = 'ints'): Buffer {
  const w = new PickleWriter();
  const n = 100_000;
  if (item === 'text') w.str('x'.repeat(n));
  else {
    w.mark();
    for (let i = 0; i < n; i++) {
      if (item === 'pairs') w.op(0x4b, i & 0xff, 0x4b, 1, 0x86); // BININT1 k, BININT1 v, TUPLE2
      else w.op(0x4b, i & 0xff);
    }
    w.op(0x6c); // LIST
  }
  w.put(0).op(0x30); // memo 0, POP
  w.op(0x5d); // EMPTY_LIST: the container the results go into
  for (let i = 0; i < times; i++) {
    call(w);
    w.op(0x61); // APPEND
  }
  return w.bytes();
}

const PICKLE_AMPLIFIERS: Record<string, Buffer> = {
  set: amplifyingPickle(10_000, (w) => w.global('builtins', 'set').get(0).op(0x85, 0x52)),
  frozenset: amplifyingPickle(10_000, (w) => w.global('builtins', 'frozenset').get(0).op(0x85, 0x52)),
  dict: amplifyingPickle(10_000, (w) => w.global('builtins', 'dict').get(0).op(0x85, 0x52), 'pairs'),
  OrderedDict: amplifyingPickle(10_000, (w) => w.global('collections', 'OrderedDict').get(0).op(0x85, 0x52), 'pairs'),
  'torch.Size': amplifyingPickle(10_000, (w) => w.global('torch', 'Size').get(0).op(0x85, 0x52)),
  '_codecs.encode': amplifyingPickle(10_000, (w) => w.global('_codecs', 'encode').get(0).str('latin1').op(0x86, 0x52), 'text'),
};

for (const [name, pkl] of Object.entries(PICKLE_AMPLIFIERS)) {
  test(`pickle budget: ${name} copying one memoised argument 10,000 times stops at the work budget`, async () => {
    const file = write(`amplify-${name}.pt`, torchZip(pkl));
    const r = await attempt(file);
    assertBudget(r, file, /pickle data makes more than \d+ units of work .* budget of 16 units per pickle byte/);
  });
}

test('pickle budget: an honest state dict of 2,000 tensors unpickles well inside the budget', async () => {
  const w = new PickleWriter().op(0x7d).mark();
  for (let i = 0; i < 2000; i++) w.str(`layer${i}.weight`).tensor('0', 4, 0, [2, 2]);
  w.op(0x75); // SETITEMS
  const values = new Float32Array([1, 2, 3, 4]);
  const file = write('honest.pt', torchZip(w.bytes(), [{ name: 'archive/data/0', stored: new Uint8Array(values.buffer) }]));
  const r = await attempt(file);
  assert.equal(r.stage, 'done', String(r.error));
  assert.equal(r.tensors, 2000);
});

test('pickle: deep lists as state-dict keys and storage locations are refused without String() recursion', async () => {
  const deep = (w: PickleWriter) => {
    for (let i = 0; i < 100_000; i++) w.op(0x5d); // EMPTY_LIST × n …
    for (let i = 0; i < 100_000 - 1; i++) w.op(0x61); // … each appended into the one below
  };
  const asKey = new PickleWriter().op(0x7d);
  deep(asKey);
  asKey.tensor('0', 4, 0, [4]).op(0x73); // SETITEM
  const values = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
  const file = write('deep-key.pt', torchZip(asKey.bytes(), [{ name: 'archive/data/0', stored: values }]));
  const r = await attempt(file);
  assert.ok(r.error instanceof GraftError, String(r.error));
  assert.match(r.error.message, /key that is a list\/tuple, not a name/);

  // The location (4th item of the persistent id) as a deep list: kept as a placeholder.
  const w = new PickleWriter().op(0x7d).str('w');
  w.global('torch._utils', '_rebuild_tensor_v2').mark();
  w.mark().str('storage').global('torch', 'FloatStorage').str('0');
  deep(w);
  w.int(4).tuple().op(0x51).int(0).mark().int(4).tuple().mark().int(1).tuple().op(0x89, 0x7d).tuple().op(0x52, 0x73);
  const file2 = write('deep-location.pt', torchZip(w.bytes(), [{ name: 'archive/data/0', stored: values }]));
  const r2 = await attempt(file2);
  assert.equal(r2.stage, 'done', String(r2.error));
});

// ------------------------------------------------------------------------------------ zip

test('zip budget: a deflated data.pkl inflating to 800 MiB is refused by its size before inflating', async () => {
  const file = write('big-pickle.pt', torchZip({ deflate: zerosDeflated(800 << 20) }));
  const r = await attempt(file);
  assertBudget(r, file, /pickle 'archive\/data\.pkl' is 800 MiB uncompressed, beyond graft's budget of 64 MiB/);
});

test('zip budget: a 1 GiB deflated .npz array is refused at the archive budget without inflating it', async () => {
  const zeros = zerosDeflated(1 << 30);
  const header = npyHeader([1 << 28]);
  // header, flushed, then the zeros: a member of header + 1 GiB.
  const head = zlibFlushed(header);
  const member = { data: Buffer.concat([head, zeros.data]), size: header.length + zeros.size, crc: 0 };
  const file = write('gib.npz', zipArchive([{ name: 'w.npy', deflate: member }]));
  const before = process.memoryUsage().rss;
  const r = await attempt(file);
  assertBudget(r, file, /would inflate to more than 64 MiB .* budget of 64 MiB inflated per archive/);
  assert.equal(r.stage, 'read');
  assert.ok(process.memoryUsage().rss - before < 256 << 20, 'the member was inflated anyway');
});

function zlibFlushed(bytes: Uint8Array): Buffer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const zlib = require('zlib') as typeof import('zlib');
  return zlib.deflateRawSync(bytes, { finishFlush: zlib.constants.Z_FULL_FLUSH });
}

test('zip: listing an np.savez_compressed-style .npz of 200 zero arrays reads each header without inflating its data', async () => {
  const members = [];
  const zeros = zerosDeflated(16 << 20);
  for (let i = 0; i < 200; i++) {
    const header = npyHeader([4 << 20]);
    members.push({ name: `arr_${i}.npy`, deflate: { data: Buffer.concat([zlibFlushed(header), zeros.data]), size: header.length + zeros.size, crc: 0 } });
  }
  const file = write('zeros200.npz', zipArchive(members));
  const t0 = Date.now();
  const reader = await openWeights(file);
  try {
    assert.equal(reader.list().length, 200);
  } finally {
    await reader.close();
  }
  const ms = Date.now() - t0;
  assert.ok(ms < 3000, `listing took ${ms} ms`);
});

test('zip: one deflated .pt storage read through 200 views is inflated once, not once per view', async () => {
  // A 32 MiB storage: inflating it once per view would be 6.4 GB, far past the 64 MiB budget.
  const numel = 8 << 20;
  const w = new PickleWriter().op(0x7d).mark();
  for (let i = 0; i < 200; i++) w.str(`v${i}`).tensor('0', numel, numel - 1024 * (i + 1), [1024]);
  w.op(0x75);
  const file = write('views.pt', torchZip(w.bytes(), [{ name: 'archive/data/0', deflate: zerosDeflated(numel * 4) }]));
  const r = await attempt(file);
  assert.equal(r.stage, 'done', String(r.error));
  assert.equal(r.tensors, 200);
  assert.ok(r.ms < BOUND_MS, `took ${r.ms} ms`);
});

test('zip: a small deflated member still round-trips (control)', async () => {
  const header = npyHeader([4]);
  const body = Buffer.concat([header, Buffer.from(new Float32Array([1, 2, 3, 4]).buffer)]);
  const file = write('ok.npz', zipArchive([{ name: 'w.npy', deflate: deflated(body) }]));
  const reader = await openWeights(file);
  try {
    const t = await reader.read('w');
    assert.deepEqual([...new Float32Array(t.data.slice().buffer)], [1, 2, 3, 4]);
  } finally {
    await reader.close();
  }
});

// ------------------------------------------------------------------------------------ TF checkpoints

function varint(n: number): Buffer {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) out.push(b | 0x80);
    else {
      out.push(b);
      return Buffer.from(out);
    }
  }
}

/** A LevelDB table whose data blocks are given whole; the index block points at each. */
function tableOf(blocks: Buffer[], lastKeys: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  const put = (block: Buffer): Buffer => {
    const offset = at;
    const crc = crc32c(Buffer.concat([block, Buffer.from([0])]));
    const masked = ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
    const trailer = Buffer.alloc(5);
    trailer.writeUInt32LE(masked, 1);
    parts.push(block, trailer);
    at += block.length + 5;
    return Buffer.concat([varint(offset), varint(block.length)]);
  };
  const handles = blocks.map(put);
  const restarts = Buffer.alloc(8);
  restarts.writeUInt32LE(1, 4);
  const meta = put(restarts);
  const indexBody = Buffer.concat(handles.map((h, i) => Buffer.concat([varint(0), varint(lastKeys[i].length), varint(h.length), lastKeys[i], h])));
  const index = put(Buffer.concat([indexBody, restarts]));
  const footer = Buffer.alloc(48);
  Buffer.concat([meta, index]).copy(footer);
  Buffer.from([0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb]).copy(footer, 40);
  return Buffer.concat([...parts, footer]);
}

test('TF checkpoint: an 800 KB index whose prefix-compressed keys rebuild to 6 GB stops at the key budget', async () => {
  const header = Buffer.concat([Buffer.from([0x08, 0x01]), Buffer.from([0x1a, 0x02, 0x08, 0x01])]); // num_shards 1, version {producer 1}
  const headerBlock = Buffer.concat([varint(0), varint(0), varint(header.length), header, Buffer.from([0, 0, 0, 0, 1, 0, 0, 0])]);
  const parts: Buffer[] = [];
  const first = Buffer.alloc(60000, 0x61);
  parts.push(varint(0), varint(first.length), varint(0), first);
  let keyLength = first.length;
  // Each entry: shared = the whole previous key, 1 new byte ('b'), an empty value.
  const oneMore = Buffer.from([0x01, 0x00, 0x62]);
  for (let i = 0; i < 100_000; i++) {
    parts.push(varint(keyLength), oneMore);
    keyLength++;
  }
  parts.push(Buffer.from([0, 0, 0, 0, 1, 0, 0, 0]));
  const lastKey = Buffer.concat([first, Buffer.alloc(100_000, 0x62)]);
  const index = tableOf([headerBlock, Buffer.concat(parts)], [Buffer.alloc(0), lastKey]);
  const folder = path.join(dir, 'prefix-bomb');
  write('prefix-bomb/model.ckpt.data-00000-of-00001', new Uint8Array(0));
  const file = write('prefix-bomb/model.ckpt.index', index);
  const r = await attempt(path.join(folder, 'model.ckpt'));
  assertBudget(r, file, /checkpoint index keys rebuild to more than \d+ bytes .* budget of 16 key bytes per index byte/);
});

test('TF checkpoint: a data shard that is a symlink leaving the folder is refused before any outside byte is read', async () => {
  const prefix = fixture('hostile/tf-ckpt/escape/inner/model.ckpt');
  const r = await attempt(prefix);
  assert.ok(r.error instanceof GraftError && r.error.code === 'UNSAFE', String(r.error));
  assert.match(r.error.message, /resolves \(through a symlink\) outside the folder/);
  assert.doesNotMatch(r.error.message, /0x[0-9a-f]{8}/, 'a digest of the outside file was printed');
  assert.equal(r.stage, 'open');
});

// ------------------------------------------------------------------------------------ ONNX

function pbField(num: number, payload: Buffer | number): Buffer {
  if (typeof payload === 'number') return Buffer.concat([varint(num << 3), varint(payload)]);
  return Buffer.concat([varint((num << 3) | 2), varint(payload.length), payload]);
}

function onnxModel(initializers: Buffer[], nodes: Buffer[]): Buffer {
  const graph = Buffer.concat([...nodes.map((n) => pbField(1, n)), ...initializers.map((t) => pbField(5, t))]);
  return Buffer.concat([pbField(1, 7), pbField(7, graph)]);
}

test('ONNX: a node with 40,000 inputs is indexed in linear time', async () => {
  const w = Buffer.concat([pbField(1, Buffer.from([1])), pbField(2, 1), pbField(8, Buffer.from('w')), pbField(9, Buffer.from(new Float32Array([3]).buffer))]);
  const inputs = Buffer.concat(Array.from({ length: 40_000 }, () => pbField(1, Buffer.from('w'))));
  const node = Buffer.concat([inputs, pbField(2, Buffer.from('y')), pbField(4, Buffer.from('Sum'))]);
  const file = write('wide-node.onnx', onnxModel([w], [node]));
  const r = await attempt(file);
  assert.equal(r.stage, 'done', String(r.error));
  assert.ok(r.ms < 2000, `took ${r.ms} ms`);
});

test('ONNX: 5 MB of packed int64_data (5 M values) is refused before decoding builds an object per value', async () => {
  const n = 5_000_000;
  const t = Buffer.concat([pbField(1, Buffer.from(varint(n))), pbField(2, 7), pbField(7, Buffer.alloc(n, 1)), pbField(8, Buffer.from('ids'))]);
  const file = write('int64.onnx', onnxModel([t], []));
  const before = process.memoryUsage().rss;
  const r = await attempt(file);
  assertBudget(r, file, /more than 4194304 64-bit integers outside raw_data .* budget of 4194304 such values/);
  assert.ok(process.memoryUsage().rss - before < 200 << 20, 'the values were decoded anyway');
});

// ------------------------------------------------------------------------------------ safetensors, tfjs, HDF5

function safetensorsBytes(header: Record<string, unknown>, data: Uint8Array): Buffer {
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  return Buffer.concat([len, Buffer.from(text), data]);
}

test('safetensors index: one shard spelt 6,000 ways is resolved by real path and opened once', async () => {
  const n = 6000;
  const header: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) header[`t${i}`] = { dtype: 'F32', shape: [1], data_offsets: [i * 4, i * 4 + 4] };
  write('spelt/s.safetensors', safetensorsBytes(header, new Uint8Array(n * 4)));
  fs.symlinkSync('s.safetensors', path.join(dir, 'spelt', 'link.safetensors'));
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < n; i++) weightMap[`t${i}`] = i % 2 ? `.${'/.'.repeat(i % 50)}/s.safetensors` : `${'./'.repeat(i % 40)}link.safetensors`;
  const file = write('spelt/model.safetensors.index.json', Buffer.from(JSON.stringify({ weight_map: weightMap })));
  const t0 = Date.now();
  const reader = await openWeights(file);
  try {
    assert.equal(reader.list().length, n);
    // One file, opened once (under the first spelling met).
    assert.equal((reader.metadata?.shards as string[]).length, 1);
  } finally {
    await reader.close();
  }
  assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
});

test("safetensors: dtype '__proto__' (a prototype key) is an unsupported dtype, not an internal error", async () => {
  const file = write('proto.safetensors', safetensorsBytes({ w: { dtype: '__proto__', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)));
  const r = await attempt(file);
  assert.ok(r.error instanceof GraftError && r.error.code === 'UNSUPPORTED', String(r.error));
  assert.match(r.error.message, /dtype '__proto__' is not supported/);
});

function tfjsModel(folder: string, paths: string[], weights: unknown[]): string {
  return write(`${folder}/model.json`, Buffer.from(JSON.stringify({ format: 'layers-model', modelTopology: {}, weightsManifest: [{ paths, weights }] })));
}

test('tfjs: a manifest listing one 64 KiB shard 16,384 times to back a 1 GiB tensor is refused', async () => {
  write('repeat/s.bin', new Uint8Array(64 << 10));
  const paths = Array.from({ length: 16_384 }, (_, i) => (i % 2 ? 's.bin' : './s.bin'));
  const file = tfjsModel('repeat', paths, [{ name: 'w', shape: [1 << 28], dtype: 'float32' }]);
  const r = await attempt(file);
  assert.ok(r.error instanceof GraftError && r.error.code === 'CORRUPT', String(r.error));
  assert.match(r.error.message, /lists the shard 's\.bin' more than once/);
  assert.ok(r.ms < BOUND_MS);
});

test("tfjs: weight dtype 'constructor' is an unsupported dtype, not an internal error", async () => {
  write('ctor/s.bin', new Uint8Array(4));
  const file = tfjsModel('ctor', ['s.bin'], [{ name: 'w', shape: [1], dtype: 'constructor' }]);
  const r = await attempt(file);
  assert.ok(r.error instanceof GraftError && r.error.code === 'UNSUPPORTED', String(r.error));
  assert.match(r.error.message, /dtype 'constructor' is not supported/);
});

test('(warm-up: loads the HDF5 reader once, so the bounds below time the files, not wasm start-up)', async () => {
  await attempt(fixture('hostile/h5/outside.h5'));
});

test('HDF5: a dataset stored in 1 GiB chunks is refused from its metadata, before HDF5 allocates the chunk', async () => {
  const file = fixture('hostile/h5/big_chunk.h5');
  const r = await attempt(file);
  assertBudget(r, file, /stored in chunks of 1024 MiB, which HDF5 decodes whole, beyond graft's budget of 64 MiB per HDF5 chunk/);
  assert.equal(r.stage, 'open');
});

test('Keras 2 .h5 repeating layer_names and weight_names 2,000 times is refused at once (no 4 M lookups)', async () => {
  const file = fixture('hostile/h5/repeated_names.h5');
  const r = await attempt(file);
  assert.ok(r.error instanceof GraftError && r.error.code === 'CORRUPT', String(r.error));
  assert.match(r.error.message, /lists '.*' more than once|more than once in weight_names/);
  assert.ok(r.ms < BOUND_MS, `took ${r.ms} ms`);
});

test(".keras: config.json inflating to 240 MiB is refused by its size before inflating or parsing", async () => {
  const weights = fs.readFileSync(fixture('hostile/h5/hardlink_cycle.weights.h5'));
  const file = write('big-config.keras', zipArchive([
    { name: 'metadata.json', stored: Buffer.from('{"keras_version": "3.3.3"}') },
    { name: 'config.json', deflate: zerosDeflated(240 << 20) },
    { name: 'model.weights.h5', stored: weights },
  ]));
  const r = await attempt(file);
  assertBudget(r, file, /JSON member 'config\.json' is 240 MiB uncompressed, beyond graft's budget of 64 MiB/);
});

test('.keras: a weights member that is not HDF5 is refused from its first bytes, before 1 GiB is inflated or written', async () => {
  const file = write('not-hdf5.keras', zipArchive([
    { name: 'metadata.json', stored: Buffer.from('{"keras_version": "3.3.3"}') },
    { name: 'config.json', stored: Buffer.from('{"class_name": "Sequential", "config": {"name": "s", "layers": []}}') },
    { name: 'model.weights.h5', deflate: zerosDeflated(1 << 30) },
  ]));
  const r = await attempt(file);
  assert.ok(r.error instanceof GraftError && r.error.code === 'CORRUPT', String(r.error));
  assert.match(r.error.message, /member 'model\.weights\.h5' is not an HDF5 file/);
  assert.ok(r.ms < 2000, `took ${r.ms} ms`);
});

// ------------------------------------------------------------------------------------ topology

test('topology: a 20,000-layer functional chain listed in reverse order is walked in linear time, without recursion', () => {
  const n = 20_000;
  const layers: unknown[] = [{ class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 2] }, inbound_nodes: [] }];
  for (let i = 0; i < n; i++) {
    layers.push({ class_name: 'Dense', config: { name: `d${i}`, units: 2, use_bias: true }, inbound_nodes: [[[i === 0 ? 'in' : `d${i - 1}`, 0, 0, {}]]] });
  }
  const topology = (list: unknown[]) => ({
    class_name: 'Model',
    config: { name: 'chain', layers: list, input_layers: [['in', 0, 0]], output_layers: [[`d${n - 1}`, 0, 0]] },
  });
  const t0 = Date.now();
  const reversed = weightSpecsFromTopology(topology([...layers].reverse()));
  const ms = Date.now() - t0;
  assert.ok(reversed, 'the topology was not analysed');
  assert.equal(reversed.length, 2 * n);
  // The same variables, in the same order, as when the config lists the layers forward.
  const forward = weightSpecsFromTopology(topology(layers))!;
  assert.deepEqual(reversed.map((v) => v.name), forward.map((v) => v.name));
  assert.equal(forward[0].name, 'd0/kernel');
  assert.ok(ms < 5000, `took ${ms} ms`);
});

test('HDF5: an 80 KB file whose gzip chunks decode to 80 MiB is refused at the decode budget, before the dataset is allocated', async () => {
  const file = fixture('hostile/h5/zeros_80mib.h5');
  const r = await attempt(file);
  assertBudget(r, file, /datasets would decode to more than 64 MiB .* budget of 64 MiB decoded per HDF5 file/);
  assert.equal(r.stage, 'read');
});

test('.keras: an HDF5-signed weights member deflated to 100 MiB is refused at the budget before anything is written to disk', async () => {
  const magic = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
  const zeros = zerosDeflated(100 << 20);
  const member = { data: Buffer.concat([zlibFlushed(magic), zeros.data]), size: magic.length + zeros.size, crc: 0 };
  const file = write('big-weights.keras', zipArchive([
    { name: 'metadata.json', stored: Buffer.from('{"keras_version": "3.3.3"}') },
    { name: 'config.json', stored: Buffer.from('{"class_name": "Sequential", "config": {"name": "s", "layers": []}}') },
    { name: 'model.weights.h5', deflate: member },
  ]));
  const before = new Set(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(`graft-keras-${process.pid}-`)));
  const r = await attempt(file);
  assertBudget(r, file, /would inflate to more than 64 MiB .* budget of 64 MiB inflated per archive/);
  const after = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(`graft-keras-${process.pid}-`) && !before.has(n));
  assert.deepEqual(after, [], 'a temporary extraction was left behind');
});
