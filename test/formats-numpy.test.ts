import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { GraftError } from '../src/errors';
import { fixture, realworld } from './helpers/realworld';

const expected = JSON.parse(fs.readFileSync(fixture('formats/expected.json'), 'utf8'));

function tmpFile(name: string, bytes: Uint8Array): string {
  const dir = tempDir('graft-fmt-');
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

// ------------------------------------------------------------------ npy / npz

import { parse as npyjsParse, float16ToFloat32 } from 'npyjs';
import { NpyHandler, encodeNpy, parseNpy, parsePyLiteral, PyTuple } from '../src/formats/numpy/npy';
import { NpzHandler } from '../src/formats/numpy/npz';
import type { RawTensor, ReadsStrided } from '../src/formats/types';
import { tempDir } from './helpers/temp';

type Expected = { dtype: string; shape: number[]; values: (number | string | boolean)[] };

/** Flat values of a raw tensor in the same JSON-safe form the fixture script wrote. */
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

function assertMatches(t: RawTensor, exp: Expected, label: string): void {
  assert.equal(t.dtype, exp.dtype, `${label} dtype`);
  assert.deepEqual(t.shape, exp.shape, `${label} shape`);
  assert.equal(t.byteSize, t.data.length, `${label} byteSize`);
  assert.deepEqual(valuesOf(t), exp.values, `${label} values`);
}

const npyCases = Object.keys(expected).filter((k) => k.startsWith('npy/')).map((k) => k.slice(4));

test('npy: fixture set covers every dtype, big-endian, Fortran order, 0-d, empty, v2 and v3', () => {
  for (const c of ['le_f2', 'le_f4', 'le_f8', 'le_i1', 'le_i2', 'le_i4', 'le_i8', 'le_u1', 'le_u2', 'le_u4', 'le_u8', 'le_b1',
    'be_f4', 'be_i8', 'fortran_f4', 'fortran_be_i4', 'scalar_f8', 'empty_f4', 'v2_f4', 'v3_f4']) {
    assert.ok(npyCases.includes(c), c);
  }
});

for (const c of npyCases) {
  test(`npy: ${c} reads back as numpy wrote it`, async () => {
    const file = fixture(`formats/npy/${c}.npy`);
    const head = fs.readFileSync(file);
    assert.ok(NpyHandler.sniff(head.subarray(0, 64), file));
    const reader = await NpyHandler.open(file);
    try {
      assert.equal(reader.format, 'npy');
      const [info] = reader.list();
      assert.equal(info.name, c);
      const t = await reader.read(c);
      assertMatches(t, expected[`npy/${c}`], c);
      // Same result from the in-memory parser.
      assert.deepEqual(valuesOf(parseNpy(new Uint8Array(head), c, file)), expected[`npy/${c}`].values);
    } finally {
      await reader.close();
    }
  });
}

test('npy: agrees with npyjs on little-endian C-order files', async () => {
  for (const c of ['le_f4', 'le_f8', 'le_i4', 'le_u2', 'v2_f4']) {
    const file = fixture(`formats/npy/${c}.npy`);
    const bytes = fs.readFileSync(file);
    const theirs = npyjsParse(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const ours = parseNpy(new Uint8Array(bytes), c, file);
    assert.deepEqual(ours.shape, theirs.shape);
    assert.deepEqual(valuesOf(ours), Array.from(theirs.data as unknown as ArrayLike<number>));
  }
});

test('npy: encodeNpy output is read back by our parser and by npyjs, header 64-byte aligned', () => {
  const f32 = new Float32Array([1.5, -2, 3.25, 0, 7, 8]);
  const enc = encodeNpy({ dtype: 'float32', shape: [2, 3], data: f32 });
  assert.equal((enc.length - f32.byteLength) % 64, 0);
  const back = parseNpy(enc, 'x', 'mem');
  assert.deepEqual(back.shape, [2, 3]);
  assert.deepEqual(valuesOf(back), Array.from(f32));
  const theirs = npyjsParse(enc.buffer.slice(enc.byteOffset, enc.byteOffset + enc.byteLength) as ArrayBuffer);
  assert.deepEqual(Array.from(theirs.data as Float32Array), Array.from(f32));
  const i64 = encodeNpy({ dtype: 'int64', shape: [3], data: new BigInt64Array([1n, -(2n ** 62n), 5n]) });
  assert.deepEqual(valuesOf(parseNpy(i64, 'y', 'mem')), ['1', String(-(2n ** 62n)), '5']);
  const scalar = encodeNpy({ dtype: 'uint8', shape: [], data: new Uint8Array([9]) });
  assert.deepEqual(parseNpy(scalar, 'z', 'mem').shape, []);
  assert.match(new TextDecoder().decode(i64.subarray(10, 70)), /'shape': \(3,\)/);
});

test('npy: header literal parser is strict and never evaluates', () => {
  const d = parsePyLiteral("{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4), }") as Map<string, unknown>;
  assert.equal(d.get('descr'), '<f4');
  assert.equal(d.get('fortran_order'), false);
  assert.deepEqual((d.get('shape') as PyTuple).items, [3, 4]);
  assert.deepEqual((parsePyLiteral('()') as PyTuple).items, []);
  assert.equal(parsePyLiteral('(5)'), 5);
  for (const bad of ["{'a': __import__('os')}", "{'a': 1", "{'a' 1}", "{'a': 1} x", "{'a': 1, 'a': 2}", '{1: 2}']) {
    assert.throws(() => parsePyLiteral(bad), Error, bad);
  }
});

test('npy: bad headers and truncated data are GraftErrors naming the file', async () => {
  const good = new Uint8Array(fs.readFileSync(fixture('formats/npy/le_f4.npy')));
  const truncated = tmpFile('trunc.npy', good.subarray(0, good.length - 5));
  await assert.rejects(NpyHandler.open(truncated), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && e.message.includes(truncated) && /truncated/.test(e.message));
  const headerCut = tmpFile('headercut.npy', good.subarray(0, 40));
  await assert.rejects(NpyHandler.open(headerCut), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && e.message.includes(headerCut));

  const withHeader = (h: string) => {
    const text = h + ' '.repeat(Math.max(0, 118 - h.length)) + '\n';
    const out = new Uint8Array(10 + text.length + 16);
    out.set(good.subarray(0, 8));
    out[8] = text.length & 0xff;
    out[9] = text.length >> 8;
    out.set(new TextEncoder().encode(text), 10);
    return out;
  };
  const huge = withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 1000000), }");
  assert.throws(() => parseNpy(huge, 'h', 'huge.npy'), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && e.message.includes('huge.npy'));
  const bigClaim = withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 1000), }");
  const bigPath = tmpFile('big.npy', bigClaim);
  await assert.rejects(NpyHandler.open(bigPath), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && e.message.includes(bigPath) && /needs 4000000 bytes/.test(e.message));
  const extraKey = withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'evil': 1}");
  assert.throws(() => parseNpy(extraKey, 'k', 'k.npy'), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT');
  const obj = withHeader("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }");
  assert.throws(() => parseNpy(obj, 'o', 'o.npy'), (e: unknown) => e instanceof GraftError && e.code === 'UNSAFE');
  const complex = withHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }");
  assert.throws(() => parseNpy(complex, 'c', 'c.npy'), (e: unknown) => e instanceof GraftError && e.code === 'UNSUPPORTED' && /c8/.test(e.message));
  const lenLie = good.slice();
  lenLie[8] = 0xff;
  lenLie[9] = 0xff;
  assert.throws(() => parseNpy(lenLie, 'l', 'lie.npy'), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && e.message.includes('lie.npy'));
});

for (const kind of ['stored', 'deflated', 'zip64']) {
  test(`npz: ${kind} archive lists and reads every array as numpy wrote it`, async () => {
    const file = fixture(`formats/npz/${kind}.npz`);
    assert.ok(NpzHandler.sniff(new Uint8Array(fs.readFileSync(file)).subarray(0, 512), file));
    const reader = await NpzHandler.open(file);
    try {
      assert.equal(reader.format, 'npz');
      assert.deepEqual(reader.list().map((t) => t.name), expected.npz_order);
      for (const info of reader.list()) {
        const exp = expected[`npz/${info.name}`] as Expected;
        assert.equal(info.dtype, exp.dtype);
        assert.deepEqual(info.shape, exp.shape);
        assertMatches(await reader.read(info.name), exp, `${kind}:${info.name}`);
      }
      await assert.rejects(reader.read('missing'), (e: unknown) => e instanceof GraftError && e.code === 'NOT_FOUND');
      // Strided reads (the streaming engine's path) give the same bytes as the checked whole reads:
      // the whole array in two pieces, and for 2-D arrays its last column.
      const strided = reader as unknown as ReadsStrided;
      for (const info of reader.list()) {
        const whole = (await reader.read(info.name)).data;
        const half = Math.floor(whole.length / 2);
        const got = new Uint8Array(whole.length);
        await strided.readStrided(info.name, { start: 0, runBytes: half, stride: half, count: 1 }, got);
        await strided.readStrided(info.name, { start: half, runBytes: whole.length - half, stride: 0, count: 1 }, got.subarray(half));
        assert.deepEqual(got, whole, `${kind}:${info.name} strided`);
        if (info.shape.length === 2 && whole.length > 0) {
          const [rows, cols] = info.shape;
          const width = whole.length / (rows * cols);
          const column = new Uint8Array(rows * width);
          await strided.readStrided(info.name, { start: (cols - 1) * width, runBytes: width, stride: cols * width, count: rows }, column);
          for (let r = 0; r < rows; r++) assert.deepEqual(column.subarray(r * width, (r + 1) * width), whole.subarray((r * cols + cols - 1) * width, (r * cols + cols) * width), `${kind}:${info.name} column row ${r}`);
        }
        await assert.rejects(strided.readStrided(info.name, { start: 0, runBytes: whole.length + 1, stride: 0, count: 1 }, new Uint8Array(whole.length + 1)), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT');
      }
      await assert.rejects(strided.readStrided('missing', { start: 0, runBytes: 0, stride: 0, count: 0 }, new Uint8Array(0)), (e: unknown) => e instanceof GraftError && e.code === 'NOT_FOUND');
    } finally {
      await reader.close();
    }
  });
}

test('npz: sniff claims numpy zips only, not PyTorch or Keras zips', () => {
  const npz = new Uint8Array(fs.readFileSync(fixture('formats/npz/stored.npz'))).subarray(0, 512);
  assert.ok(NpzHandler.sniff(npz, 'weights.bin'));
  const pt = realworld('pytorch/matthieu_mnist_dwconv/best_model.pt');
  if (pt) assert.equal(NpzHandler.sniff(new Uint8Array(fs.readFileSync(pt)).subarray(0, 512), pt), false);
  const keras = realworld('keras3/aman21k_fashion_cnn/model.keras');
  if (keras) assert.equal(NpzHandler.sniff(new Uint8Array(fs.readFileSync(keras)).subarray(0, 512), keras), false);
  assert.equal(NpzHandler.sniff(new Uint8Array(fs.readFileSync(fixture('formats/npy/le_f4.npy'))), 'x.npz'), false);
});

test('npz: a member whose data is cut short, or whose header lies, is CORRUPT naming the file', async () => {
  const good = fs.readFileSync(fixture('formats/npz/stored.npz'));
  const truncated = tmpFile('trunc.npz', good.subarray(0, good.length - 200));
  await assert.rejects(NpzHandler.open(truncated), (e: unknown) => e instanceof GraftError && (e.code === 'CORRUPT' || e.code === 'UNKNOWN_FORMAT') && e.message.includes(truncated));
  // Rewrite the first member's shape to claim far more data than the member holds.
  const lying = Buffer.from(good);
  const at = lying.indexOf(Buffer.from("'shape': (4, 3)"));
  assert.ok(at > 0);
  lying.write("'shape': (9, 9)", at, 'latin1');
  const lyingPath = tmpFile('lying.npz', lying);
  await assert.rejects(NpzHandler.open(lyingPath), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && e.message.includes(lyingPath) && /dense\.kernel/.test(e.message));
});

test('npz: a bit flip in a stored member\'s data fails its CRC-32 on a strided read, naming file and array', async () => {
  const good = Buffer.from(fs.readFileSync(fixture('formats/npz/stored.npz')));
  const reader0 = await NpzHandler.open(fixture('formats/npz/stored.npz'));
  const first = reader0.list().find((i) => i.byteSize > 0)!;
  await reader0.close();
  // The first member's data ends where its local header's name for the next member begins; flip
  // a byte just after the first npy header's newline-terminated dict.
  const headerEnd = good.indexOf(0x0a, good.indexOf(Buffer.from('\x93NUMPY', 'latin1'))) + 1;
  good[headerEnd] ^= 0x01;
  const damaged = tmpFile('flip.npz', good);
  const reader = await NpzHandler.open(damaged);
  try {
    await assert.rejects((reader as unknown as ReadsStrided).readStrided(first.name, { start: 0, runBytes: 1, stride: 1, count: 1 }, new Uint8Array(1)),
      (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && /CRC-32/.test(e.message) && e.message.includes(damaged) && e.message.includes(first.name));
  } finally {
    await reader.close();
  }
});

test('npz: a sweep (front-to-back reads) checks a stored member\'s CRC-32 on the way: the read reaching its end fails on a bit flip', async () => {
  const good = Buffer.from(fs.readFileSync(fixture('formats/npz/stored.npz')));
  const reader0 = await NpzHandler.open(fixture('formats/npz/stored.npz'));
  const first = reader0.list().find((i) => i.byteSize >= 8)!;
  const whole = (await reader0.read(first.name)).data;
  // A sweep of a sound member reads the same bytes as a whole read.
  const swept = new Uint8Array(first.byteSize);
  const half = Math.floor(first.byteSize / 2);
  const strided = reader0 as unknown as ReadsStrided;
  await strided.readStrided(first.name, { start: 0, runBytes: half, stride: half, count: 1, sweep: true }, swept.subarray(0, half));
  await strided.readStrided(first.name, { start: half, runBytes: first.byteSize - half, stride: first.byteSize - half, count: 1, sweep: true }, swept.subarray(half));
  assert.deepEqual(swept, whole);
  await reader0.close();
  const headerEnd = good.indexOf(0x0a, good.indexOf(Buffer.from('\x93NUMPY', 'latin1'))) + 1;
  good[headerEnd] ^= 0x01;
  const damaged = tmpFile('flip-sweep.npz', good);
  const reader = await NpzHandler.open(damaged);
  try {
    const r = reader as unknown as ReadsStrided;
    const target = new Uint8Array(first.byteSize);
    // The first half is handed over unchecked: a sweep's caller uses nothing before its last read returns.
    await r.readStrided(first.name, { start: 0, runBytes: half, stride: half, count: 1, sweep: true }, target.subarray(0, half));
    await assert.rejects(r.readStrided(first.name, { start: half, runBytes: first.byteSize - half, stride: first.byteSize - half, count: 1, sweep: true }, target.subarray(half)),
      (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && /CRC-32/.test(e.message) && e.message.includes(damaged) && e.message.includes(first.name));
    // Reads out of order are checked up front, sweep or not.
    await assert.rejects(r.readStrided(first.name, { start: half, runBytes: 1, stride: 1, count: 1, sweep: true }, new Uint8Array(1)), /CRC-32/);
  } finally {
    await reader.close();
  }
});

const DL4J_DTYPES = ['float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8'];

for (const dt of DL4J_DTYPES) {
  const p = realworld(`npz/dl4j/numpy_arrays/npz/${dt}.npz`);
  test(`npz (real, dl4j): ${dt}.npz holds firstArr 3x4 ${dt} and secondArr (3,) float32`, { skip: p ? false : 'realworld folder absent' }, async () => {
    const reader = await NpzHandler.open(p!);
    try {
      const infos = reader.list();
      assert.deepEqual(infos.map((i) => [i.name, i.dtype, i.shape]).sort(), [['firstArr', dt, [3, 4]], ['secondArr', 'float32', [3]]]);
      // dl4j wrote np.arange(12).reshape(3, 4) and np.arange(0, 30, 10) (checked with numpy).
      assert.deepEqual(valuesOf(await reader.read('firstArr')).map(Number), Array.from({ length: 12 }, (_, i) => i));
      assert.deepEqual(valuesOf(await reader.read('secondArr')), [0, 10, 20]);
    } finally {
      await reader.close();
    }
  });
}

const jax = realworld('npz/erees1_jax_dqn/params.npz');
test('npz (real, JAX DQN): params.0..5 and target_params.0..5 float32, params.0 is (32, 4)', { skip: jax ? false : 'realworld folder absent' }, async () => {
  const reader = await NpzHandler.open(jax!);
  try {
    const infos = reader.list();
    assert.equal(infos.length, 12);
    assert.ok(infos.every((i) => i.dtype === 'float32'));
    const byName = new Map(infos.map((i) => [i.name, i]));
    assert.deepEqual(byName.get('params.0')?.shape, [32, 4]);
    assert.deepEqual(byName.get('params.1')?.shape, [32]);
    assert.deepEqual(byName.get('params.2')?.shape, [32, 32]);
    for (let i = 0; i < 6; i++) assert.ok(byName.has(`params.${i}`) && byName.has(`target_params.${i}`));
    const t = await reader.read('params.0');
    assert.ok(valuesOf(t).every((x) => Number.isFinite(x as number)));
  } finally {
    await reader.close();
  }
});

const lenet = realworld('npz/obdwinston_numpy_lenet_f64/params.npz');
test('npz (real, numpy LeNet): float64, W_c1 is (5, 5, 1, 6), costs (9280,)', { skip: lenet ? false : 'realworld folder absent' }, async () => {
  const reader = await NpzHandler.open(lenet!);
  try {
    const byName = new Map(reader.list().map((i) => [i.name, i]));
    assert.equal(byName.size, 12);
    assert.deepEqual(byName.get('W_c1')?.shape, [5, 5, 1, 6]);
    assert.deepEqual(byName.get('costs')?.shape, [9280]);
    assert.ok([...byName.values()].every((i) => i.dtype === 'float64'));
    const costs = valuesOf(await reader.read('costs')) as number[];
    assert.equal(costs.length, 9280);
    assert.ok(costs.every(Number.isFinite));
  } finally {
    await reader.close();
  }
});

test('npy/npz: randomly damaged or truncated files fail only with GraftError', async (t) => {
  const dir = tempDir('graft-fuzz-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const cases: Array<[typeof NpyHandler, string]> = [
    [NpyHandler, 'formats/npy/fortran_be_i4.npy'],
    [NpzHandler, 'formats/npz/deflated.npz'],
    [NpzHandler, 'formats/npz/zip64.npz'],
    [NpzHandler, 'formats/npz/stored.npz'],
  ];
  let failures = 0;
  for (const [handler, rel] of cases) {
    const good = fs.readFileSync(fixture(rel));
    for (let i = 0; i < 150; i++) {
      let bytes = Buffer.from(good);
      if (i % 3 === 0) bytes = bytes.subarray(0, Math.floor(rnd() * bytes.length));
      else for (let k = 0; k < 3; k++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
      const p = path.join(dir, path.basename(rel));
      fs.writeFileSync(p, bytes);
      try {
        const r = await handler.open(p);
        for (const t of r.list()) await r.read(t.name);
        await r.close();
      } catch (e) {
        failures++;
        assert.ok(e instanceof GraftError, `${rel} case ${i}: ${(e as Error)?.stack}`);
      }
    }
  }
  assert.ok(failures > 100, `damage should usually be detected (${failures} failures)`);
});
