import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { GraftError } from '../src/errors';
import { readHead } from '../src/io/bytes';
import { looksLikeOnnx, onnxFormat, openOnnx } from '../src/formats/onnx/reader';
import { openPyTorch } from '../src/formats/pytorch/reader';
import type { WeightReader } from '../src/formats/types';
import { fixture, realworld } from './helpers/realworld';
import { mutateAndRead } from './helpers/mutate';
import { tempDir } from './helpers/temp';

type Expected = Record<string, { dtype: string; shape: number[]; data: string }>;

const onnxFixture = (name: string) => fixture(path.join('pytorch-edge', 'onnx', name));
const expected = (name: string): Expected => JSON.parse(fs.readFileSync(onnxFixture(name), 'utf8'));

/** Every listed tensor equals what onnx.numpy_helper read from the same file, in order. */
async function assertMatches(reader: WeightReader, want: Expected): Promise<void> {
  assert.deepEqual(reader.list().map((t) => t.name), Object.keys(want));
  for (const info of reader.list()) {
    const raw = await reader.read(info.name);
    assert.equal(raw.dtype, want[info.name].dtype, info.name);
    assert.deepEqual(raw.shape, want[info.name].shape, info.name);
    assert.deepEqual(Buffer.from(raw.data), Buffer.from(want[info.name].data, 'base64'), `${info.name} bytes`);
  }
}

async function rejectsWith(p: Promise<unknown>, code: string, ...fragments: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof GraftError, String(e));
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `message '${e.message}' lacks '${f}'`);
    return true;
  });
}

test('torch-exported conv/BN/PReLU/Gemm/MatMul model: initializers equal onnx, op order with roles', async () => {
  const r = await openOnnx(onnxFixture('convnet.onnx'));
  try {
    assert.equal(r.format, 'onnx');
    assert.equal(r.convention, 'torch');
    assert.equal(r.metadata?.opset, 13);
    await assertMatches(r, expected('convnet.expected.json'));
    const ops = r.opOrder!;
    assert.deepEqual(ops.map((o) => o.type), ['Conv', 'BatchNormalization', 'Conv', 'PRelu', 'Gemm', 'MatMul']);
    assert.deepEqual(ops[0].params, { weight: 'conv.weight', bias: 'conv.bias' });
    assert.deepEqual(ops[1].params, { scale: 'bn.weight', bias: 'bn.bias', mean: 'bn.running_mean', var: 'bn.running_var' });
    assert.equal(ops[2].attributes?.group, 4);
    assert.deepEqual(ops[3].params, { slope: 'prelu.weight' });
    assert.deepEqual(ops[4].params, { weight: 'fc1.weight', bias: 'fc1.bias' });
    assert.equal(ops[4].attributes?.transB, 1);
    // fc2 on a 3-D input: MatMul(x, Transpose(fc2.weight)) + Add(fc2.bias).
    assert.deepEqual(ops[5].params, { weight: 'fc2.weight', bias: 'fc2.bias' });
    assert.equal(ops[5].attributes?.weightLayout, 'out,in');
    assert.deepEqual(ops[5].attributes?.via, { weight: [{ op: 'Transpose', perm: [1, 0] }] });
  } finally {
    await r.close();
  }
});

test('ONNX initializers equal the PyTorch state dict they were exported from', async () => {
  const onnx = await openOnnx(onnxFixture('convnet.onnx'));
  const pt = await openPyTorch(onnxFixture('convnet_state_dict.pt'));
  try {
    const ptNames = new Set(pt.list().map((t) => t.name));
    for (const info of onnx.list()) {
      assert.ok(ptNames.has(info.name), info.name);
      assert.deepEqual(Buffer.from((await onnx.read(info.name)).data), Buffer.from((await pt.read(info.name)).data), info.name);
    }
  } finally {
    await onnx.close();
    await pt.close();
  }
});

test('constant-folded export: pre-transposed MatMul initializer is in,out; BN folded into conv', async () => {
  const r = await openOnnx(onnxFixture('convnet_folded.onnx'));
  try {
    await assertMatches(r, expected('convnet_folded.expected.json'));
    const mm = r.opOrder!.find((o) => o.type === 'MatMul')!;
    assert.match(mm.params.weight, /^onnx::MatMul_/);
    assert.equal(mm.attributes?.weightLayout, 'in,out');
    assert.equal(mm.params.bias, 'fc2.bias');
    assert.equal(r.opOrder!.some((o) => o.type === 'BatchNormalization'), false);
  } finally {
    await r.close();
  }
});

test('numbered initializers keep their numeric names and roles', async () => {
  const r = await openOnnx(onnxFixture('convnet_numbered.onnx'));
  try {
    await assertMatches(r, expected('convnet_numbered.expected.json'));
    assert.deepEqual(r.opOrder![0].params, { weight: '1', bias: '2' });
  } finally {
    await r.close();
  }
});

test('sequence model: Gather embedding, LSTM and GRU W/R/B; non-weight constants left out', async () => {
  const r = await openOnnx(onnxFixture('seqnet.onnx'));
  try {
    await assertMatches(r, expected('seqnet.expected.json'));
    const ops = r.opOrder!;
    assert.deepEqual(ops.map((o) => o.type), ['Gather', 'LSTM', 'GRU']);
    assert.deepEqual(ops[0].params, { weight: 'emb.weight' });
    assert.deepEqual(Object.keys(ops[1].params), ['W', 'R', 'B']);
    assert.equal(ops[1].attributes?.hidden_size, 5);
    assert.equal(ops[2].attributes?.linear_before_reset, 1);
  } finally {
    await r.close();
  }
});

test('typed fields (float/double/int64/uint64/int32 and 8/16-bit in int32_data) and Constant weights', async () => {
  const r = await openOnnx(onnxFixture('typed.onnx'));
  try {
    await assertMatches(r, expected('typed.expected.json'));
    assert.deepEqual(r.opOrder, [{ type: 'MatMul', params: { weight: 'const_w' }, attributes: { weightLayout: 'in,out' } }]);
  } finally {
    await r.close();
  }
});

test('external data in a side file is read lazily and equals onnx', async () => {
  const r = await openOnnx(onnxFixture('external/model.onnx'));
  try {
    assert.equal(r.metadata?.externalData, true);
    await assertMatches(r, expected('external/model.expected.json'));
  } finally {
    await r.close();
  }
});

test('external data escaping the model folder is UNSAFE: "..", absolute, symlink', async () => {
  await rejectsWith(openOnnx(onnxFixture('escape_dotdot.onnx')), 'UNSAFE', "tensor 'w'", '../../etc/passwd');
  await rejectsWith(openOnnx(onnxFixture('escape_absolute.onnx')), 'UNSAFE', "tensor 'w'", '/etc/passwd');
  const dir = tempDir('graft-onnx-');
  try {
    const modelDir = path.join(dir, 'model');
    const outside = path.join(dir, 'outside');
    fs.mkdirSync(modelDir);
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'weights.bin'), Buffer.from(new Float32Array([1, 2]).buffer));
    fs.copyFileSync(onnxFixture('escape_symlink.onnx'), path.join(modelDir, 'model.onnx'));
    fs.symlinkSync(outside, path.join(modelDir, 'link'));
    await rejectsWith(openOnnx(path.join(modelDir, 'model.onnx')), 'UNSAFE', "tensor 'w'", 'link/weights.bin', 'symlink');
    // The same reference through a symlink that stays inside the folder is fine.
    fs.unlinkSync(path.join(modelDir, 'link'));
    fs.mkdirSync(path.join(modelDir, 'real'));
    fs.writeFileSync(path.join(modelDir, 'real', 'weights.bin'), Buffer.from(new Float32Array([1, 2]).buffer));
    fs.symlinkSync(path.join(modelDir, 'real'), path.join(modelDir, 'link'));
    const r = await openOnnx(path.join(modelDir, 'model.onnx'));
    assert.deepEqual([...new Float32Array((await r.read('w')).data.slice().buffer)], [1, 2]);
    await r.close();
    // Too short a side file: CORRUPT, checked against its real size.
    fs.writeFileSync(path.join(modelDir, 'real', 'weights.bin'), Buffer.alloc(4));
    await rejectsWith(openOnnx(path.join(modelDir, 'model.onnx')), 'CORRUPT', "tensor 'w'", 'size 4');
    // Missing side file.
    fs.rmSync(path.join(modelDir, 'real'), { recursive: true });
    await rejectsWith(openOnnx(path.join(modelDir, 'model.onnx')), 'NOT_FOUND', 'link/weights.bin');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('sniff: ONNX heads are recognised without the extension; other protobufs are not', () => {
  for (const f of ['convnet.onnx', 'typed.onnx', 'external/model.onnx']) {
    assert.equal(looksLikeOnnx(readHead(onnxFixture(f))), true, f);
  }
  assert.equal(onnxFormat.sniff(new Uint8Array(0), 'm.onnx'), true);
  assert.equal(looksLikeOnnx(readHead(fixture('pytorch-edge/my_custom_folder.pt'))), false);
  // A SavedModel-like head: field 1 = 1, then field 2 holding a binary message, not text.
  assert.equal(looksLikeOnnx(Uint8Array.from([0x08, 0x01, 0x12, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0x00])), false);
  // A GraphDef starts with field 1 as a message.
  assert.equal(looksLikeOnnx(Uint8Array.from([0x0a, 0x10, 0x0a, 0x01, 0x78])), false);
});

test('damaged ONNX files raise CORRUPT naming the file', async () => {
  const dir = tempDir('graft-onnx-');
  try {
    const bytes = fs.readFileSync(onnxFixture('convnet.onnx'));
    const cut = path.join(dir, 'cut.onnx');
    fs.writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
    await rejectsWith(openOnnx(cut), 'CORRUPT', cut);
    const junk = path.join(dir, 'junk.onnx');
    fs.writeFileSync(junk, Buffer.from([0x08, 0x07, 0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    await rejectsWith(openOnnx(junk), 'CORRUPT', junk);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('randomly damaged ONNX files fail only with GraftError (seeded mutations)', async () => {
  const refused = await mutateAndRead(['convnet.onnx', 'typed.onnx', 'seqnet.onnx'].map(onnxFixture), openOnnx, 977);
  assert.ok(refused > 50, `only ${refused} mutations were refused`);
});

// ---------------------------------------------------------------------------------------------

const REAL_ONNX = 'pytorch/matthieu_mnist_dwconv/onnx_model.onnx';
const REAL_PT = 'pytorch/matthieu_mnist_dwconv/best_model.pt';

test('real: onnx_model.onnx holds the same 26 tensors as best_model.pt, bit-equal', { skip: !(realworld(REAL_ONNX) && realworld(REAL_PT)) && 'realworld folder absent' }, async () => {
  const digests = JSON.parse(fs.readFileSync(fixture('pytorch-edge/realworld.expected.json'), 'utf8'))[REAL_ONNX];
  const onnx = await openOnnx(realworld(REAL_ONNX)!);
  const pt = await openPyTorch(realworld(REAL_PT)!);
  try {
    assert.equal(onnxFormat.sniff(readHead(realworld(REAL_ONNX)!), 'model.bin'), true);
    assert.equal(onnx.list().length, 26);
    assert.deepEqual(onnx.list().map((t) => t.name), pt.list().map((t) => t.name));
    for (const info of onnx.list()) {
      const a = await onnx.read(info.name);
      const b = await pt.read(info.name);
      assert.deepEqual(a.shape, b.shape, info.name);
      assert.deepEqual(Buffer.from(a.data), Buffer.from(b.data), info.name);
      assert.equal(crypto.createHash('sha256').update(a.data).digest('hex'), digests[info.name].sha256, info.name);
    }
    const types = onnx.opOrder!.map((o) => o.type);
    assert.equal(types.filter((t) => t === 'Conv').length, 12);
    assert.equal(types[types.length - 1], 'Gemm');
  } finally {
    await onnx.close();
    await pt.close();
  }
});

/** Protobuf wire encoding, enough to hand-write a ModelProto. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 128) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const lenField = (field: number, body: Uint8Array): Buffer => Buffer.concat([Buffer.from([...varint(field * 8 + 2), ...varint(body.length)]), body]);
const intField = (field: number, v: number): Buffer => Buffer.from([...varint(field * 8), ...varint(v)]);

test('large raw_data initializers are read from the file on demand, whole and strided, equal to the bytes written', async () => {
  const dir = tempDir('graft-onnx-stream-');
  try {
    const rows = 300, cols = 1000; // 1.2 MB: beyond what the graph builder keeps inline
    const big = crypto.randomBytes(rows * cols * 4);
    const small = crypto.randomBytes(16);
    const tensor = (name: string, dims: number[], raw: Buffer) =>
      lenField(5, Buffer.concat([...dims.map((d) => intField(1, d)), intField(2, 1), lenField(8, Buffer.from(name)), lenField(9, raw)]));
    const graph = Buffer.concat([lenField(2, Buffer.from('g')), tensor('big', [rows, cols], big), tensor('small', [4], small)]);
    const model = Buffer.concat([intField(1, 8), lenField(2, Buffer.from('hand')), lenField(7, graph), lenField(8, intField(2, 17))]);
    const file = path.join(dir, 'm.onnx');
    fs.writeFileSync(file, model);
    const reader = await openOnnx(file);
    try {
      assert.deepEqual(reader.list().map((t) => [t.name, t.shape]), [['big', [rows, cols]], ['small', [4]]]);
      assert.deepEqual(Buffer.from((await reader.read('big')).data), big);
      assert.deepEqual(Buffer.from((await reader.read('small')).data), small);
      // Where the big one lies in the file (the engine places its read buffers by it); the small one is inline.
      const at = reader.dataOffset('big');
      assert.ok(at !== undefined && model.subarray(at, at + big.length).equals(big), `dataOffset ${at}`);
      assert.equal(reader.dataOffset('small'), undefined);
      // Columns 10..19 of every row, as a transpose streams them.
      const strided = reader as unknown as { readStrided(n: string, r: object, t: Uint8Array): Promise<void> };
      const band = new Uint8Array(rows * 40);
      await strided.readStrided('big', { start: 40, runBytes: 40, stride: cols * 4, count: rows }, band);
      for (const r of [0, 1, 150, rows - 1]) assert.deepEqual(Buffer.from(band.subarray(r * 40, r * 40 + 40)), big.subarray(r * cols * 4 + 40, r * cols * 4 + 80));
      await rejectsWith(strided.readStrided('big', { start: 0, runBytes: 8, stride: cols * 4, count: rows + 1 }, new Uint8Array(8 * (rows + 1))), 'CORRUPT', 'strided read');
    } finally {
      await reader.close();
    }
    // Two raw_data fields in one tensor: the last one counts, as in any protobuf decoder.
    const twice = lenField(5, Buffer.concat([intField(1, rows), intField(1, cols), intField(2, 1), lenField(8, Buffer.from('big')), lenField(9, small), lenField(9, big)]));
    fs.writeFileSync(file, Buffer.concat([intField(1, 8), lenField(7, Buffer.concat([lenField(2, Buffer.from('g')), twice]))]));
    const again = await openOnnx(file);
    try {
      assert.deepEqual(Buffer.from((await again.read('big')).data), big);
    } finally {
      await again.close();
    }
    // raw_data shorter than its dims need is refused at open, naming the tensor, as before.
    const short = Buffer.concat([intField(1, 8), lenField(7, Buffer.concat([lenField(2, Buffer.from('g')), tensor('big', [rows, cols + 1], big)]))]);
    fs.writeFileSync(file, short);
    await rejectsWith(openOnnx(file), 'CORRUPT', 'raw_data holds 1200000 bytes', 'need 1201200');
    // A length running past the end of the file: decoded whole, the protobuf error as before.
    fs.writeFileSync(file, model.subarray(0, model.length - 200_000));
    await rejectsWith(openOnnx(file), 'CORRUPT', 'is not a valid ONNX model');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
