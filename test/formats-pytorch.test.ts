import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { GraftError } from '../src/errors';
import { readHead } from '../src/io/bytes';
import { TorchStorage, TorchStorageType, TorchTensor } from '../src/io/pickle';
import { openPyTorch, pytorchFormat, readStrided } from '../src/formats/pytorch/reader';
import type { ReadsStrided, WeightReader } from '../src/formats/types';
import { fixture, realworld } from './helpers/realworld';
import { mutateAndRead } from './helpers/mutate';
import { tempDir } from './helpers/temp';

type Expected = Record<string, { dtype: string; shape: number[]; data: string }>;
type Digests = Record<string, Record<string, { dtype: string; shape: number[]; sha256: string }>>;

const edge = (name: string) => fixture(path.join('pytorch-edge', name));
const expected = (name: string): Expected => JSON.parse(fs.readFileSync(edge(name), 'utf8'));
const PWNED = '/tmp/graft-pwned';

/** Every tensor the reader lists equals (dtype, shape, bytes) what PyTorch wrote, in order. */
async function assertMatches(reader: WeightReader, want: Expected): Promise<void> {
  assert.deepEqual(reader.list().map((t) => t.name), Object.keys(want));
  for (const info of reader.list()) {
    const e = want[info.name];
    const raw = await reader.read(info.name);
    assert.equal(raw.dtype, e.dtype, info.name);
    assert.deepEqual(raw.shape, e.shape, info.name);
    assert.deepEqual(Buffer.from(raw.data), Buffer.from(e.data, 'base64'), `${info.name} bytes`);
  }
  await assertStridedMatches(reader as WeightReader & ReadsStrided, want);
}

/**
 * Strided reads give the bytes PyTorch wrote: a sweep in two halves, and a column of a 2-D tensor
 * (one element per row), for stored, legacy, big-endian, shared and strided-view tensors alike.
 */
async function assertStridedMatches(reader: WeightReader & ReadsStrided, want: Expected): Promise<void> {
  for (const info of reader.list()) {
    const bytes = Buffer.from(want[info.name].data, 'base64');
    if (bytes.length === 0) continue;
    const got = new Uint8Array(bytes.length);
    const half = Math.floor(bytes.length / 2);
    await reader.readStrided(info.name, { start: 0, runBytes: half, stride: half, count: 1, sweep: true }, got.subarray(0, half));
    reader.readStridedSync!(info.name, { start: half, runBytes: bytes.length - half, stride: bytes.length - half, count: 1, sweep: true }, got.subarray(half));
    assert.deepEqual(Buffer.from(got), bytes, `${info.name} swept`);
    if (info.shape.length === 2 && info.shape[0] > 1 && info.shape[1] > 1) {
      const es = bytes.length / (info.shape[0] * info.shape[1]);
      const column = new Uint8Array(info.shape[0] * es);
      await reader.readStrided(info.name, { start: es, runBytes: es, stride: info.shape[1] * es, count: info.shape[0] }, column);
      const want1 = Buffer.concat(Array.from({ length: info.shape[0] }, (_, r) => bytes.subarray((r * info.shape[1] + 1) * es, (r * info.shape[1] + 2) * es)));
      assert.deepEqual(Buffer.from(column), want1, `${info.name} column 1`);
    }
  }
}

async function rejectsWith(p: Promise<unknown>, code: string, ...fragments: string[]): Promise<GraftError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof GraftError, `expected GraftError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `message '${e.message}' lacks '${f}'`);
    return e;
  }
  assert.fail(`expected a GraftError ${code}`);
}

test('zip checkpoint under a custom top folder: dtypes, shared storages and strided views equal PyTorch', async () => {
  const r = await openPyTorch(edge('my_custom_folder.pt'));
  try {
    assert.equal(r.format, 'pytorch');
    assert.equal(r.convention, 'torch');
    assert.equal(r.metadata?.container, 'zip');
    assert.equal(r.metadata?.prefix, 'my_custom_folder');
    assert.equal(r.metadata?.byteorder, 'little');
    await assertMatches(r, expected('edge.expected.json'));
  } finally {
    await r.close();
  }
});

test('a flipped byte in a stored storage record fails its CRC-32: up front, or at the end of a sweep', async () => {
  const good = Buffer.from(fs.readFileSync(edge('my_custom_folder.pt')));
  const r0 = await openPyTorch(edge('my_custom_folder.pt'));
  const names = r0.list().filter((i) => i.byteSize >= 8 && i.shape.length >= 1).map((i) => i.name);
  await r0.close();
  // Flip one byte inside the first storage record: the local header of '<prefix>/data/0'.
  const at = good.indexOf(Buffer.from('my_custom_folder/data/0'));
  assert.ok(at > 30);
  const nameLength = good.readUInt16LE(at - 4);
  const extraLength = good.readUInt16LE(at - 2);
  good[at + nameLength + extraLength] ^= 0x01;
  const damaged = path.join(tempDir('graft-pt-'), 'flip.pt');
  fs.writeFileSync(damaged, good);
  let failed = 0;
  for (const name of names) {
    const r = (await openPyTorch(damaged)) as WeightReader & ReadsStrided;
    try {
      const info = r.list().find((i) => i.name === name)!;
      const target = new Uint8Array(info.byteSize);
      try {
        await r.readStrided(name, { start: 0, runBytes: info.byteSize, stride: info.byteSize, count: 1, sweep: true }, target);
      } catch (e) {
        assert.ok(e instanceof GraftError && e.code === 'CORRUPT' && /CRC-32/.test(e.message) && e.message.includes(damaged), String(e));
        failed++;
        await assert.rejects(r.readStrided(name, { start: 0, runBytes: 1, stride: 1, count: 1 }, new Uint8Array(1)), /CRC-32/);
      }
    } finally {
      await r.close();
    }
  }
  assert.ok(failed > 0, 'a tensor of the damaged storage failed');
});

test('legacy (pre-1.6) checkpoint holds the same tensors', async () => {
  const r = await openPyTorch(edge('edge_legacy.pt'));
  try {
    assert.equal(r.metadata?.container, 'legacy');
    await assertMatches(r, expected('edge.expected.json'));
  } finally {
    await r.close();
    await r.close(); // safe twice
  }
});

test('big-endian storages (byteorder record "big") are swapped', async () => {
  const r = await openPyTorch(edge('big_endian.pt'));
  try {
    assert.equal(r.metadata?.byteorder, 'big');
    await assertMatches(r, expected('big_endian.expected.json'));
  } finally {
    await r.close();
  }
});

test('nested checkpoints: state_dict / model / model_state_dict found, module. prefix stripped', async () => {
  const tiny = expected('tiny.expected.json');
  for (const [file, key] of [
    ['nested_state_dict.pt', 'state_dict'],
    ['nested_model_dataparallel.pt', 'model'],
    ['nested_legacy.pt', 'model_state_dict'],
  ]) {
    const r = await openPyTorch(edge(file));
    try {
      assert.equal(r.metadata?.key, key, file);
      await assertMatches(r, tiny);
    } finally {
      await r.close();
    }
  }
  const dp = await openPyTorch(edge('nested_model_dataparallel.pt'));
  assert.equal(dp.metadata?.strippedPrefix, 'module.');
  await dp.close();
});

test('options.key picks a dict (dotted paths allowed); a wrong key is a USAGE error', async () => {
  const ema = await openPyTorch(edge('two_candidates.pt'), { key: 'ema' });
  await assertMatches(ema, expected('tiny.expected.json'));
  await ema.close();
  const auto = await openPyTorch(edge('two_candidates.pt'));
  assert.equal(auto.metadata?.key, 'net');
  assert.deepEqual(auto.metadata?.otherCandidates, ['ema']);
  await auto.close();
  const momentum = await openPyTorch(edge('nested_state_dict.pt'), { key: 'optimizer.state.0' });
  assert.deepEqual(momentum.list().map((t) => t.name), ['momentum_buffer']);
  assert.deepEqual(momentum.list()[0].shape, [4, 3, 3, 3]);
  await momentum.close();
  await rejectsWith(openPyTorch(edge('two_candidates.pt'), { key: 'nope' }), 'USAGE', "'nope'", 'ema');
});

test('malicious pickles are refused with UNSAFE naming the global, and nothing runs', async () => {
  const existedBefore = fs.existsSync(PWNED);
  await rejectsWith(openPyTorch(edge('evil_os_system.pt')), 'UNSAFE', 'posix.system');
  await rejectsWith(openPyTorch(edge('evil_os_system_legacy.pt')), 'UNSAFE', 'posix.system');
  await rejectsWith(openPyTorch(edge('evil_eval.pt')), 'UNSAFE', 'eval');
  await rejectsWith(openPyTorch(edge('evil_load_from_bytes.pt')), 'UNSAFE', 'torch.storage._load_from_bytes');
  if (!existedBefore) assert.equal(fs.existsSync(PWNED), false);
});

test('a whole pickled nn.Module is refused, telling the user to save state_dict()', async () => {
  const e1 = await rejectsWith(openPyTorch(edge('whole_module_main.pt')), 'UNSAFE', '__main__.Tiny', 'whole pickled model', 'state_dict()');
  assert.ok(e1.message.includes('whole_module_main.pt'));
  await rejectsWith(openPyTorch(edge('whole_module_sequential.pt')), 'UNSAFE', 'torch.nn.modules.container.Sequential', 'state_dict()');
});

test('sniff recognises zip and legacy checkpoints and nothing else', () => {
  for (const f of ['my_custom_folder.pt', 'edge_legacy.pt', 'big_endian.pt', 'nested_legacy.pt']) {
    assert.equal(pytorchFormat.sniff(readHead(edge(f)), f), true, f);
  }
  assert.equal(pytorchFormat.sniff(readHead(edge('onnx/convnet.onnx')), 'x.pt'), false);
  // A zip whose first entry is not a torch record (npz, .keras) is not claimed.
  const npzLike = Buffer.alloc(64);
  npzLike.writeUInt32LE(0x04034b50, 0);
  npzLike.writeUInt16LE(5, 26);
  npzLike.write('a.npy', 30, 'latin1');
  assert.equal(pytorchFormat.sniff(npzLike, 'x.npz'), false);
  assert.equal(pytorchFormat.sniff(new Uint8Array(0), 'x.pt'), false);
});

test('truncated and damaged checkpoints raise CORRUPT naming the file', async () => {
  const dir = tempDir('graft-pt-');
  try {
    const legacy = fs.readFileSync(edge('edge_legacy.pt'));
    for (const cut of [20, 200, legacy.length - 10]) {
      const p = path.join(dir, `cut${cut}.pt`);
      fs.writeFileSync(p, legacy.subarray(0, cut));
      await rejectsWith(openPyTorch(p), 'CORRUPT', p);
    }
    // A zip storage record shorter than its tensor: listing works, reading that tensor fails.
    const short = await openPyTorch(edge('corrupt_short_storage.pt'));
    await rejectsWith(short.read('f32'), 'CORRUPT', "tensor 'f32'", 'record holds 10');
    await short.close();
    // torch < 0.4 tar container: recognised, then refused as UNSUPPORTED.
    const tar = Buffer.alloc(1024);
    tar.write('sys_info', 0, 'latin1');
    tar.write('ustar', 257, 'latin1');
    const tarPath = path.join(dir, 'old.tar');
    fs.writeFileSync(tarPath, tar);
    assert.equal(pytorchFormat.sniff(readHead(tarPath), tarPath), true);
    await rejectsWith(openPyTorch(tarPath), 'UNSUPPORTED', 'tar-format');
    tar.write('other\0\0\0', 0, 'latin1');
    assert.equal(pytorchFormat.sniff(tar, 'x.tar'), false);
    const notTorch = path.join(dir, 'x.pt');
    fs.writeFileSync(notTorch, 'hello world, this is not a checkpoint');
    await rejectsWith(openPyTorch(notTorch), 'UNKNOWN_FORMAT', notTorch);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('strided views reaching outside their storage are refused', () => {
  const type = new TorchStorageType('FloatStorage', 'float32', 4);
  const storage = new TorchStorage('0', type, 6, 'cpu');
  const blob = { byteLength: 24, read: (o: number, n: number) => new Uint8Array(24).subarray(o, o + n) };
  const info = (shape: number[]) => ({ name: 't', dtype: 'float32' as const, shape, byteSize: shape.reduce((a, b) => a * b, 1) * 4 });
  // In range: a 2x3 transposed view of 6 elements.
  assert.equal(readStrided(new TorchTensor(storage, 0, [3, 2], [1, 3], false), info([3, 2]), blob, 'f').length, 24);
  assert.throws(() => readStrided(new TorchTensor(storage, 1, [2, 3], [3, 1], false), info([2, 3]), blob, 'f'), (e: GraftError) => e.code === 'CORRUPT' && /reaches element 6/.test(e.message));
  assert.throws(() => readStrided(new TorchTensor(storage, 0, [7], [1], false), info([7]), blob, 'f'), (e: GraftError) => e.code === 'CORRUPT');
  // Storage larger than its record.
  const big = new TorchStorage('0', type, 100, 'cpu');
  assert.throws(() => readStrided(new TorchTensor(big, 0, [2], [1], false), info([2]), blob, 'f'), (e: GraftError) => e.code === 'CORRUPT' && /record holds 24/.test(e.message));
});

test('strided gather matches a straightforward index computation', () => {
  const type = new TorchStorageType('ShortStorage', 'int16', 2);
  const n = 60;
  const bytes = new Uint8Array(n * 2);
  for (let i = 0; i < n; i++) new DataView(bytes.buffer).setInt16(i * 2, i * 7 - 100, true);
  const storage = new TorchStorage('0', type, n, 'cpu');
  const blob = { byteLength: bytes.length, read: (o: number, l: number) => bytes.slice(o, o + l) };
  const cases: [number, number[], number[]][] = [[3, [2, 3, 4], [1, 8, 2]], [0, [4, 5], [0, 1]], [5, [3], [17]], [2, [2, 1, 3], [20, 99, 3]], [7, [], []]];
  for (const [offset, shape, stride] of cases) {
    const count = shape.reduce((a, b) => a * b, 1);
    const got = readStrided(new TorchTensor(storage, offset, shape, stride, false), { name: 't', dtype: 'int16', shape, byteSize: count * 2 }, blob, 'f');
    const view = new DataView(got.buffer, got.byteOffset, got.byteLength);
    for (let flat = 0; flat < count; flat++) {
      let rem = flat;
      let idx = offset;
      for (let k = shape.length - 1; k >= 0; k--) {
        idx += (rem % shape[k]) * stride[k];
        rem = Math.floor(rem / shape[k]);
      }
      assert.equal(view.getInt16(flat * 2, true), idx * 7 - 100, `case ${shape}/${stride} element ${flat}`);
    }
  }
});

test('randomly damaged checkpoints fail only with GraftError (seeded mutations)', async () => {
  const existedBefore = fs.existsSync(PWNED);
  const refused = await mutateAndRead(['edge_legacy.pt', 'my_custom_folder.pt', 'nested_legacy.pt', 'evil_os_system_legacy.pt'].map(edge), openPyTorch, 20240611);
  assert.ok(refused > 100, `only ${refused} mutations were refused`);
  if (!existedBefore) assert.equal(fs.existsSync(PWNED), false);
});

// ---------------------------------------------------------------------------------------------
// Real files written by real PyTorch.

const digests = (): Digests => JSON.parse(fs.readFileSync(edge('realworld.expected.json'), 'utf8'));

async function assertDigests(rel: string): Promise<number> {
  const file = realworld(rel)!;
  const want = digests()[rel];
  const r = await openPyTorch(file);
  try {
    assert.deepEqual(r.list().map((t) => t.name), Object.keys(want));
    for (const info of r.list()) {
      const raw = await r.read(info.name);
      assert.equal(raw.dtype, want[info.name].dtype);
      assert.deepEqual(raw.shape, want[info.name].shape);
      assert.equal(crypto.createHash('sha256').update(raw.data).digest('hex'), want[info.name].sha256, info.name);
    }
    return r.list().length;
  } finally {
    await r.close();
  }
}

const CIFAR = 'pytorch/camron_cifar_net_legacy/cifar_net.pth';
const BEST = 'pytorch/matthieu_mnist_dwconv/best_model.pt';
const LORA = 'pytorch/thesotti_peft_lora_bin/adapter_model.bin';
const TORCHSCRIPT = 'pytorch/matthieu_mnist_dwconv/mnist_cnn.pt';

test('real: legacy cifar_net.pth reads 10 tensors equal to torch.load', { skip: !realworld(CIFAR) && 'realworld folder absent' }, async () => {
  assert.equal(pytorchFormat.sniff(readHead(realworld(CIFAR)!), CIFAR), true);
  assert.equal(await assertDigests(CIFAR), 10);
});

test('real: best_model.pt (zip state dict) reads 26 tensors equal to torch.load', { skip: !realworld(BEST) && 'realworld folder absent' }, async () => {
  assert.equal(await assertDigests(BEST), 26);
});

test('real: PEFT adapter_model.bin reads 49 LoRA tensors equal to torch.load', { skip: !realworld(LORA) && 'realworld folder absent' }, async () => {
  assert.equal(pytorchFormat.sniff(readHead(realworld(LORA)!), LORA), true);
  assert.equal(await assertDigests(LORA), 49);
});

test('real: mnist_cnn.pt is a TorchScript whole model and is refused clearly', { skip: !realworld(TORCHSCRIPT) && 'realworld folder absent' }, async () => {
  await rejectsWith(openPyTorch(realworld(TORCHSCRIPT)!), 'UNSAFE', '__torch__.mnist.MnistModelCNN', 'TorchScript', 'state_dict()');
});
