import { GraftError } from '../errors';
import type { RawTensor } from '../formats/types';

/** The dtypes a tfjs layers-model stores. */
export type TargetDType = 'float32' | 'int32';

/** Every float16 code decoded to float32 (256 KiB, built once); also what tfjs reads back. */
let halfDecode: Float32Array | undefined;
export function halfTable(): Float32Array {
  if (halfDecode) return halfDecode;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac ? NaN : sign * Infinity;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  halfDecode = table;
  return table;
}

/** float32 bit pattern → float16 bit pattern, rounding to nearest even; NaN stays NaN. */
export function halfBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** float32 value → IEEE half bits, round-to-nearest-even. */
export function floatToHalfBits(value: number): number {
  return halfBits(new Uint32Array(Float32Array.of(value).buffer)[0]);
}

/** A view of `bytes` as T when aligned, else an aligned copy (readers may hand out unaligned slices). */
function aligned<T>(bytes: Uint8Array, ctor: { new (b: ArrayBuffer, o: number, l: number): T; BYTES_PER_ELEMENT: number }): T {
  const n = bytes.byteLength / ctor.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % ctor.BYTES_PER_ELEMENT === 0) return new ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new ctor(copy.buffer, 0, n);
}

/** Any source dtype → float32 (the dtype of every trainable tfjs layer weight). */
export function toFloat32(t: RawTensor, file?: string): Float32Array {
  const b = t.data;
  switch (t.dtype) {
    case 'float32': {
      const v = aligned(b, Float32Array);
      // Own the data: the reader's buffer may be shared with other tensors or a file mapping.
      return v.buffer === b.buffer && v.byteLength === b.buffer.byteLength ? v : new Float32Array(v);
    }
    case 'float64': return Float32Array.from(aligned(b, Float64Array));
    case 'float16': {
      const table = halfTable();
      const h = aligned(b, Uint16Array);
      const out = new Float32Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = table[h[i]];
      return out;
    }
    case 'bfloat16': {
      const h = aligned(b, Uint16Array);
      const bits = new Uint32Array(h.length);
      for (let i = 0; i < h.length; i++) bits[i] = h[i] << 16;
      return new Float32Array(bits.buffer);
    }
    case 'int8': return Float32Array.from(aligned(b, Int8Array));
    case 'uint8': case 'bool': return Float32Array.from(b);
    case 'int16': return Float32Array.from(aligned(b, Int16Array));
    case 'uint16': return Float32Array.from(aligned(b, Uint16Array));
    case 'int32': return Float32Array.from(aligned(b, Int32Array));
    case 'uint32': return Float32Array.from(aligned(b, Uint32Array));
    case 'int64': case 'uint64': {
      const v = t.dtype === 'int64' ? aligned(b, BigInt64Array) : aligned(b, BigUint64Array);
      const out = new Float32Array(v.length);
      for (let i = 0; i < v.length; i++) out[i] = Number(v[i]);
      return out;
    }
    default:
      throw new GraftError('UNSUPPORTED', `dtype ${String(t.dtype)} cannot be converted to float32`, { file, tensor: t.name });
  }
}

/** Integer source dtypes → int32, refusing values that do not fit (int64 ids, uint32 counts). */
export function toInt32(t: RawTensor, file?: string): Int32Array {
  const b = t.data;
  const check = (v: number | bigint, i: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < -2147483648 || n > 2147483647) {
      throw new GraftError('UNSUPPORTED', `element ${i} (${String(v)}) does not fit in int32`, { file, tensor: t.name });
    }
    return n;
  };
  switch (t.dtype) {
    case 'int32': return new Int32Array(aligned(b, Int32Array));
    case 'int8': return Int32Array.from(aligned(b, Int8Array));
    case 'uint8': case 'bool': return Int32Array.from(b);
    case 'int16': return Int32Array.from(aligned(b, Int16Array));
    case 'uint16': return Int32Array.from(aligned(b, Uint16Array));
    case 'uint32': case 'int64': case 'uint64': {
      const v = t.dtype === 'uint32' ? aligned(b, Uint32Array) : t.dtype === 'int64' ? aligned(b, BigInt64Array) : aligned(b, BigUint64Array);
      const out = new Int32Array(v.length);
      for (let i = 0; i < v.length; i++) out[i] = check(v[i], i);
      return out;
    }
    default: {
      const f = toFloat32(t, file);
      const out = new Int32Array(f.length);
      for (let i = 0; i < f.length; i++) out[i] = check(f[i], i);
      return out;
    }
  }
}
