import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { float16ToFloat32 } from 'npyjs';
import { GraftError } from '../src/errors';
import { SafetensorsHandler } from '../src/formats/safetensors/reader';
import type { RawTensor } from '../src/formats/types';
import { fixture, realworld } from './helpers/realworld';
import { tempDir } from './helpers/temp';

const expected = JSON.parse(fs.readFileSync(fixture('formats/expected.json'), 'utf8'));

function valuesOf(t: RawTensor): (number | string | boolean)[] {
  const buf = t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength);
  switch (t.dtype) {
    case 'float16': return Array.from(new Uint16Array(buf), float16ToFloat32);
    case 'bfloat16': return Array.from(new Uint16Array(buf), (h) => new Float32Array(new Uint32Array([h << 16]).buffer)[0]);
    case 'float32': return Array.from(new Float32Array(buf));
    case 'float64': return Array.from(new Float64Array(buf));
    case 'int8': return Array.from(new Int8Array(buf));
    case 'uint8': return Array.from(new Uint8Array(buf));
    case 'int16': return Array.from(new Int16Array(buf));
    case 'uint16': return Array.from(new Uint16Array(buf));
    case 'int32': return Array.from(new Int32Array(buf));
    case 'uint32': return Array.from(new Uint32Array(buf));
    case 'int64': return Array.from(new BigInt64Array(buf), String);
    case 'uint64': return Array.from(new BigUint64Array(buf), String);
    case 'bool': return Array.from(new Uint8Array(buf), (b) => b !== 0);
  }
}

function tmpDir(): string {
  return tempDir('graft-st-');
}

/** Builds a safetensors file from a header object and data bytes (for damaged-file tests). */
function build(header: unknown, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function isCorrupt(file: string, reason?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof GraftError, String(e));
    assert.equal(e.code, 'CORRUPT', e.message);
    assert.ok(e.message.includes(file), e.message);
    if (reason) assert.match(e.message, reason);
    return true;
  };
}

test('safetensors: every dtype (incl. BF16, BOOL, 0-d, empty) reads back as numpy wrote it', async () => {
  const file = fixture('formats/safetensors/all_dtypes.safetensors');
  assert.ok(SafetensorsHandler.sniff(new Uint8Array(fs.readFileSync(file)).subarray(0, 64), file));
  const reader = await SafetensorsHandler.open(file);
  try {
    assert.equal(reader.format, 'safetensors');
    assert.deepEqual(reader.metadata, expected.safetensors_metadata);
    assert.deepEqual(reader.list().map((t) => t.name), expected.safetensors_order);
    for (const info of reader.list()) {
      const exp = expected[`safetensors/${info.name}`];
      const t = await reader.read(info.name);
      assert.equal(t.dtype, exp.dtype, info.name);
      assert.deepEqual(t.shape, exp.shape, info.name);
      assert.equal(t.data.length, t.byteSize);
      assert.deepEqual(valuesOf(t), exp.values, info.name);
    }
    await assert.rejects(reader.read('nope'), (e: unknown) => e instanceof GraftError && e.code === 'NOT_FOUND');
  } finally {
    await reader.close();
    await reader.close(); // twice is safe
  }
});

test('safetensors: F8 tensors are UNSUPPORTED, naming the tensor', async () => {
  const file = fixture('formats/safetensors/f8.safetensors');
  await assert.rejects(SafetensorsHandler.open(file), (e: unknown) =>
    e instanceof GraftError && e.code === 'UNSUPPORTED' && e.tensor === 'fp8' && e.message.includes(file) && /F8_E4M3/.test(e.message));
});

test('safetensors: a sharded checkpoint opens as one reader through its index', async () => {
  const index = fixture('formats/safetensors/sharded/model.safetensors.index.json');
  assert.ok(SafetensorsHandler.sniff(new Uint8Array(0), index));
  const reader = await SafetensorsHandler.open(index);
  try {
    const names = reader.list().map((t) => t.name);
    assert.deepEqual(names.slice().sort(), ['decoder.bias', 'decoder.weight', 'encoder.bias', 'encoder.weight']);
    for (const name of names) {
      const exp = expected[`sharded/${name}`];
      const t = await reader.read(name);
      assert.equal(t.dtype, exp.dtype);
      assert.deepEqual(t.shape, exp.shape);
      assert.deepEqual(valuesOf(t), exp.values, name);
    }
    assert.deepEqual((reader.metadata as { shards: string[] }).shards, ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  } finally {
    await reader.close();
  }
});

test('safetensors: index entries escaping the folder are refused (.., absolute, symlink out)', async () => {
  const outside = tmpDir();
  const inside = path.join(outside, 'ckpt');
  fs.mkdirSync(inside);
  fs.copyFileSync(fixture('formats/safetensors/sharded/model-00001-of-00002.safetensors'), path.join(outside, 'secret.safetensors'));
  fs.symlinkSync(path.join(outside, 'secret.safetensors'), path.join(inside, 'link.safetensors'));
  for (const shard of ['../secret.safetensors', path.join(outside, 'secret.safetensors'), 'link.safetensors', 'sub\\x.safetensors']) {
    const idx = path.join(inside, 'model.safetensors.index.json');
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { 'encoder.weight': shard } }));
    await assert.rejects(SafetensorsHandler.open(idx), (e: unknown) => e instanceof GraftError && e.code === 'UNSAFE' && e.message.includes(idx), shard);
  }
  // A symlink that stays inside the folder is fine.
  fs.copyFileSync(fixture('formats/safetensors/sharded/model-00001-of-00002.safetensors'), path.join(inside, 'real.safetensors'));
  fs.symlinkSync(path.join(inside, 'real.safetensors'), path.join(inside, 'alias.safetensors'));
  const idx = path.join(inside, 'model.safetensors.index.json');
  fs.writeFileSync(idx, JSON.stringify({ weight_map: { 'encoder.weight': 'alias.safetensors' } }));
  const reader = await SafetensorsHandler.open(idx);
  assert.deepEqual(reader.list().map((t) => t.name), ['encoder.weight']);
  await reader.close();
  // weight_map naming a tensor its shard lacks.
  fs.writeFileSync(idx, JSON.stringify({ weight_map: { 'ghost': 'real.safetensors' } }));
  await assert.rejects(SafetensorsHandler.open(idx), isCorrupt(idx, /ghost/));
});

test('safetensors: truncated files, huge header claims, bad offsets and overlaps are CORRUPT naming the file', async () => {
  const dir = tmpDir();
  const write = (name: string, bytes: Uint8Array) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, bytes);
    return p;
  };
  const good = new Uint8Array(fs.readFileSync(fixture('formats/safetensors/all_dtypes.safetensors')));
  const truncated = write('trunc.safetensors', good.subarray(0, good.length - 10));
  await assert.rejects(SafetensorsHandler.open(truncated), isCorrupt(truncated, /beyond the data section/));
  const tiny = write('tiny.safetensors', good.subarray(0, 5));
  await assert.rejects(SafetensorsHandler.open(tiny), isCorrupt(tiny));

  const data = new Uint8Array(32);
  const hugeLen = write('hugelen.safetensors', build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, data, 2n ** 40n));
  await assert.rejects(SafetensorsHandler.open(hugeLen), isCorrupt(hugeLen, /header claims/));
  const hugeShape = write('hugeshape.safetensors', build({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 20], data_offsets: [0, 8] } }, data));
  await assert.rejects(SafetensorsHandler.open(hugeShape), isCorrupt(hugeShape));
  const beyond = write('beyond.safetensors', build({ a: { dtype: 'F32', shape: [4], data_offsets: [1000, 1016] } }, data));
  await assert.rejects(SafetensorsHandler.open(beyond), isCorrupt(beyond, /beyond/));
  const wrongSpan = write('span.safetensors', build({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 12] } }, data));
  await assert.rejects(SafetensorsHandler.open(wrongSpan), isCorrupt(wrongSpan, /needs 16/));
  const overlap = write('overlap.safetensors', build({
    a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
    b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
  }, data));
  await assert.rejects(SafetensorsHandler.open(overlap), isCorrupt(overlap, /overlaps/));
  const negative = write('neg.safetensors', build({ a: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }, data));
  await assert.rejects(SafetensorsHandler.open(negative), isCorrupt(negative));
  const badMeta = write('meta.safetensors', build({ __metadata__: { n: 3 }, a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, data));
  await assert.rejects(SafetensorsHandler.open(badMeta), isCorrupt(badMeta, /__metadata__/));
  const notJson = write('notjson.safetensors', (() => {
    const b = build({}, data);
    b.set(new TextEncoder().encode('{x'), 8);
    return b;
  })());
  await assert.rejects(SafetensorsHandler.open(notJson), isCorrupt(notJson, /JSON/));
});

test('safetensors: sniff accepts the length+{ prefix only', () => {
  const good = new Uint8Array(fs.readFileSync(fixture('formats/safetensors/all_dtypes.safetensors'))).subarray(0, 64);
  assert.ok(SafetensorsHandler.sniff(good, 'x.bin'));
  assert.equal(SafetensorsHandler.sniff(new TextEncoder().encode('{"weightsManifest": []}    '), 'model.json'), false);
  const npy = new Uint8Array(fs.readFileSync(fixture('formats/npy/le_f4.npy'))).subarray(0, 64);
  assert.equal(SafetensorsHandler.sniff(npy, 'a.npy'), false);
  assert.equal(SafetensorsHandler.sniff(good.subarray(0, 8), 'x'), false);
});

test('safetensors: listing a 256 MiB file reads only its header', async () => {
  const dir = tmpDir();
  const p = path.join(dir, 'big.safetensors');
  const bytes = 256 * 1024 * 1024;
  const header = new TextEncoder().encode(JSON.stringify({ big: { dtype: 'F32', shape: [bytes / 4], data_offsets: [0, bytes] } }));
  const fd = fs.openSync(p, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  fs.writeSync(fd, len);
  fs.writeSync(fd, header);
  fs.ftruncateSync(fd, 8 + header.length + bytes); // sparse: no 256 MiB actually written
  fs.closeSync(fd);
  try {
    const t0 = process.hrtime.bigint();
    const reader = await SafetensorsHandler.open(p);
    const infos = reader.list();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    await reader.close();
    assert.deepEqual(infos[0].shape, [bytes / 4]);
    assert.ok(ms < 200, `open+list took ${ms} ms`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const hf = realworld('safetensors/hf_safetensors_samples/overall.safetensors');
test('safetensors (real, huggingface samples): overall has one 6-element tensor per dtype, metadata test=a', { skip: hf ? false : 'realworld folder absent' }, async () => {
  const reader = await SafetensorsHandler.open(hf!);
  try {
    assert.deepEqual(reader.metadata, { test: 'a' });
    const byDtype = new Map(reader.list().map((t) => [t.dtype, t]));
    for (const dt of ['uint8', 'uint16', 'uint32', 'int8', 'int16', 'int32', 'float16', 'float32', 'float64']) {
      assert.deepEqual(byDtype.get(dt as never)?.shape, [6], dt);
    }
    assert.equal(reader.list().length, 9);
    for (const info of reader.list()) {
      const t = await reader.read(info.name);
      assert.equal(t.data.length, info.byteSize);
    }
  } finally {
    await reader.close();
  }
  // The single-dtype samples agree with the same-named tensor of overall.safetensors.
  for (const name of ['B', 'd', 'e', 'f']) {
    const single = realworld(`safetensors/hf_safetensors_samples/${name}.safetensors`);
    if (!single) continue;
    const a = await SafetensorsHandler.open(single);
    const b = await SafetensorsHandler.open(hf!);
    try {
      const [info] = a.list();
      assert.equal(info.name, name);
      assert.deepEqual(valuesOf(await a.read(name)), valuesOf(await b.read(name)));
    } finally {
      await a.close();
      await b.close();
    }
  }
});

const denograd = realworld('safetensors/denograd_mnist_cnn_bn/mnist.safetensors');
test('safetensors (real, tinygrad CNN): 20 tensors, F32 + I64 num_batches_tracked, no metadata', { skip: denograd ? false : 'realworld folder absent' }, async () => {
  const reader = await SafetensorsHandler.open(denograd!);
  try {
    const infos = reader.list();
    assert.equal(infos.length, 20);
    assert.equal(reader.metadata, undefined);
    const byName = new Map(infos.map((t) => [t.name, t]));
    assert.deepEqual(byName.get('layers.0.weight')?.shape, [32, 1, 5, 5]);
    assert.deepEqual(byName.get('layers.0.bias')?.shape, [32]);
    assert.deepEqual(byName.get('layers.2.weight')?.shape, [32, 32, 5, 5]);
    assert.deepEqual(new Set(infos.map((t) => t.dtype)), new Set(['float32', 'int64']));
    for (const info of infos.filter((t) => t.dtype === 'int64')) {
      const [count] = valuesOf(await reader.read(info.name));
      assert.ok(BigInt(count as string) >= 0n, `${info.name} = ${count}`);
    }
  } finally {
    await reader.close();
  }
});

const tinygrad = realworld('safetensors/tinygrad_mnist_mlp/model.safetensors');
test('safetensors (real, tinygrad MLP): l1.weight (128, 784), l2.weight (10, 128)', { skip: tinygrad ? false : 'realworld folder absent' }, async () => {
  const reader = await SafetensorsHandler.open(tinygrad!);
  try {
    assert.deepEqual(reader.list().map((t) => [t.name, t.dtype, t.shape]), [['l1.weight', 'float32', [128, 784]], ['l2.weight', 'float32', [10, 128]]]);
    const w = valuesOf(await reader.read('l2.weight')) as number[];
    assert.equal(w.length, 1280);
    assert.ok(w.every(Number.isFinite) && w.some((x) => x !== 0));
  } finally {
    await reader.close();
  }
});

const peft = realworld('safetensors/peft_gpt2_lora/adapter_model.safetensors');
test('safetensors (real, PEFT LoRA): 25 F32 tensors, metadata format=pt', { skip: peft ? false : 'realworld folder absent' }, async () => {
  const reader = await SafetensorsHandler.open(peft!);
  try {
    assert.deepEqual(reader.metadata, { format: 'pt' });
    const byName = new Map(reader.list().map((t) => [t.name, t]));
    assert.equal(byName.size, 25);
    assert.deepEqual(byName.get('base_model.model.score.weight')?.shape, [6, 768]);
    assert.deepEqual(byName.get('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight')?.shape, [8, 768]);
    assert.deepEqual(byName.get('base_model.model.transformer.h.0.attn.c_attn.lora_B.weight')?.shape, [2304, 8]);
  } finally {
    await reader.close();
  }
});
