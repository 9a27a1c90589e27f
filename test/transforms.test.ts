import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyTransform, parseTransformName, transformedShape, TransformSpec } from '../src/transforms';
import { convPermutation, denseAfterFlatten, permute, transpose2d } from '../src/transforms/layout';
import { floatToHalfBits, toFloat32, toInt32 } from '../src/transforms/dtype';
import { GraftError } from '../src/errors';
import type { DType, RawTensor } from '../src/formats/types';

/** Reference permutation by explicit multi-index arithmetic (slow, obviously right). */
function naivePermute(src: Float32Array, shape: number[], perm: number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]);
  const n = src.length;
  const out = new Float32Array(n);
  const inStrides = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1));
  for (let o = 0; o < n; o++) {
    let rem = o;
    let inOff = 0;
    for (let k = outShape.length - 1; k >= 0; k--) {
      const i = rem % outShape[k];
      rem = Math.floor(rem / outShape[k]);
      inOff += i * inStrides[perm[k]];
    }
    out[o] = src[inOff];
  }
  return out;
}

const iota = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => i + 0.5);

test('transpose2d matches the reference on sizes straddling the 64-tile', () => {
  for (const [r, c] of [[1, 1], [3, 5], [64, 64], [65, 130], [200, 7]]) {
    const src = iota(r * c);
    assert.deepEqual(transpose2d(src, r, c), naivePermute(src, [r, c], [1, 0]), `${r}x${c}`);
  }
});

test('permute matches the reference for every permutation of a rank-4 shape', () => {
  const shape = [2, 3, 4, 5];
  const src = iota(120);
  const perms: number[][] = [];
  const gen = (p: number[]): void => {
    if (p.length === 4) perms.push(p);
    for (let k = 0; k < 4; k++) if (!p.includes(k)) gen([...p, k]);
  };
  gen([]);
  for (const perm of perms) assert.deepEqual(permute(src, shape, perm), naivePermute(src, shape, perm), `perm ${perm}`);
});

test('conv kernel [out,in,kh,kw] → [kh,kw,in,out] puts W[o][i][y][x] at K[y][x][i][o]', () => {
  const [O, I, H, W] = [3, 2, 2, 4];
  const src = iota(O * I * H * W);
  const out = permute(src, [O, I, H, W], convPermutation(4));
  for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    assert.equal(out[((y * W + x) * I + i) * O + o], src[((o * I + i) * H + y) * W + x]);
  }
  assert.deepEqual(transformedShape({ kind: 'conv' }, [[O, I, H, W]], []), [H, W, I, O]);
  assert.deepEqual(transformedShape({ kind: 'conv' }, [[5, 3, 7]], []), [7, 3, 5]);
});

test('depthwise [in·m,1,kh,kw] → [kh,kw,in,m]', () => {
  const [I, M, H, W] = [3, 2, 2, 2];
  const src = iota(I * M * H * W);
  const spec: TransformSpec = { kind: 'depthwise' };
  assert.deepEqual(transformedShape(spec, [[I * M, 1, H, W]], [H, W, I, M]), [H, W, I, M]);
  const out = applyTransform(spec, [src], [[I * M, 1, H, W]], [H, W, I, M]);
  for (let i = 0; i < I; i++) for (let m = 0; m < M; m++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    assert.equal(out[((y * W + x) * I + i) * M + m], src[((i * M + m) * H + y) * W + x]);
  }
});

test('dense after flatten reorders rows from (C,H,W) to (H,W,C) order', () => {
  const [out, C, S] = [2, 3, 4];
  const src = iota(out * C * S);
  const got = denseAfterFlatten(src, out, C, S);
  for (let o = 0; o < out; o++) for (let c = 0; c < C; c++) for (let s = 0; s < S; s++) {
    assert.equal(got[(s * C + c) * out + o], src[o * C * S + c * S + s]);
  }
  const spec: TransformSpec = { kind: 'dense-after-flatten', channels: C, spatial: [2, 2] };
  assert.deepEqual(transformedShape(spec, [[out, C * S]], [C * S, out]), [C * S, out]);
  assert.match(String(transformedShape(spec, [[out, 7]], [7, out])), /expects 12 input features/);
});

test('sum adds sources and refuses unequal shapes', () => {
  const out = applyTransform({ kind: 'sum' }, [Float32Array.of(1, 2), Float32Array.of(10, 20)], [[2], [2]], [2]);
  assert.deepEqual(Array.from(out), [11, 22]);
  assert.equal(typeof transformedShape({ kind: 'sum' }, [[2], [3]], [2]), 'string');
});

test('broadcast fills PReLU alpha from one shared value or one per channel', () => {
  assert.deepEqual(Array.from(applyTransform({ kind: 'broadcast' }, [Float32Array.of(0.25)], [[1]], [3])), [0.25, 0.25, 0.25]);
  assert.deepEqual(Array.from(applyTransform({ kind: 'broadcast' }, [Float32Array.of(1, 2)], [[2]], [2, 2, 2])), [1, 2, 1, 2, 1, 2, 1, 2]);
  assert.deepEqual(transformedShape({ kind: 'broadcast' }, [[4]], [1, 1, 4]), [1, 1, 4]);
  assert.equal(typeof transformedShape({ kind: 'broadcast' }, [[3]], [2, 2]), 'string');
});

test('GRU kernel and bias reorder PyTorch gates r,z,n into Keras z,r,h', () => {
  const units = 2;
  const inF = 1;
  // Rows tagged by gate: r rows = 1, z rows = 2, n rows = 3.
  const w = Float32Array.of(1, 1, 2, 2, 3, 3);
  const k = applyTransform({ kind: 'gru-kernel' }, [w], [[3 * units, inF]], [inF, 3 * units]);
  assert.deepEqual(Array.from(k), [2, 2, 1, 1, 3, 3]);
  const b = applyTransform({ kind: 'gru-bias' }, [w, Float32Array.of(4, 4, 5, 5, 6, 6)], [[6], [6]], [2, 6]);
  assert.deepEqual(Array.from(b), [2, 2, 1, 1, 3, 3, 5, 5, 4, 4, 6, 6]);
});

test('table transform names parse; unknown ones do not', () => {
  assert.deepEqual(parseTransformName('transpose'), { kind: 'transpose' });
  assert.deepEqual(parseTransformName('none'), { kind: 'identity' });
  assert.equal(parseTransformName('flip'), undefined);
});

function raw(dtype: DType, bytes: number[] | Uint8Array, shape: number[]): RawTensor {
  const data = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
  return { name: 't', dtype, shape, byteSize: data.length, data };
}

test('dtype casts: f16, bf16, f64, ints to float32', () => {
  // float16 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 0x0001.
  assert.deepEqual(Array.from(toFloat32(raw('float16', [0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00], [4]))), [1, -2, 65504, 2 ** -24]);
  // bfloat16 1.0 = 0x3f80, -0.5 = 0xbf00
  assert.deepEqual(Array.from(toFloat32(raw('bfloat16', [0x80, 0x3f, 0x00, 0xbf], [2]))), [1, -0.5]);
  assert.deepEqual(Array.from(toFloat32(raw('float64', new Uint8Array(Float64Array.of(0.1, 3).buffer), [2]))), [Math.fround(0.1), 3]);
  assert.deepEqual(Array.from(toFloat32(raw('int8', [0xff, 0x7f], [2]))), [-1, 127]);
  assert.deepEqual(Array.from(toFloat32(raw('int64', new Uint8Array(BigInt64Array.of(-5n, 1n << 40n).buffer), [2]))), [-5, 2 ** 40]);
});

test('an unaligned float32 slice is read correctly', () => {
  const buf = new Uint8Array(9);
  buf.set(new Uint8Array(Float32Array.of(1.5, -2).buffer), 1);
  assert.deepEqual(Array.from(toFloat32(raw('float32', buf.subarray(1), [2]))), [1.5, -2]);
});

test('int64 → int32 checks the range', () => {
  assert.deepEqual(Array.from(toInt32(raw('int64', new Uint8Array(BigInt64Array.of(7n, -3n).buffer), [2]))), [7, -3]);
  assert.throws(() => toInt32(raw('int64', new Uint8Array(BigInt64Array.of(1n << 33n).buffer), [1])), (e: unknown) => e instanceof GraftError && /does not fit in int32/.test(e.message));
});

test('float → half bits round to nearest even and round-trip through the reader', () => {
  for (const v of [0, 1, -2, 0.1, 65504, 1e-7, 3.14159]) {
    const bits = floatToHalfBits(v);
    const back = toFloat32(raw('float16', [bits & 0xff, bits >> 8], [1]))[0];
    assert.ok(Math.abs(back - v) <= Math.max(Math.abs(v) * 2 ** -11, 2 ** -25), `${v} → ${back}`);
  }
  assert.equal(floatToHalfBits(1e6), 0x7c00); // overflow → +inf
});
