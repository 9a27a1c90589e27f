import { GraftError } from '../errors';
import { halfBits, halfTable } from '../transforms/dtype';

/**
 * Weight quantization as tensorflowjs_converter writes it (`--quantize_float16`, `--quantize_uint8`,
 * `--quantize_uint16`): float32 weights stored as 16- or 8-bit codes, described in the manifest by
 * `quantization: {dtype, min, scale, original_dtype}` so plain `tf.loadLayersModel` restores
 * float32 values on load. Encoders work chunk by chunk, so a weight never needs a second full copy.
 */

export type QuantizeDType = 'float16' | 'uint8' | 'uint16';
export const QUANTIZE_DTYPES: readonly QuantizeDType[] = ['float16', 'uint8', 'uint16'];

/** The `quantization` object of a manifest entry. */
export interface QuantizationSpec {
  dtype: QuantizeDType;
  min?: number;
  scale?: number;
  original_dtype: 'float32';
}

/** Bytes per stored element. */
export function quantizedBytes(dtype: QuantizeDType): number {
  return dtype === 'uint8' ? 1 : 2;
}

/**
 * A `--quantize-weights` pattern over weight names: `/regex/` (optionally with flags), or a glob
 * where `*` matches any run of characters (slashes included, as in tensorflowjs_converter), `?` one
 * character and `[…]` a class. Globs match whole names.
 */
export function weightPattern(text: string): RegExp {
  const re = /^\/(.*)\/([a-z]*)$/s.exec(text);
  if (re) {
    try {
      return new RegExp(re[1], re[2]);
    } catch (e) {
      throw new GraftError('USAGE', `--quantize-weights ${JSON.stringify(text)} is not a valid regex (${(e as Error).message})`);
    }
  }
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const end = text.indexOf(']', i + 2);
      if (end < 0) throw new GraftError('USAGE', `--quantize-weights ${JSON.stringify(text)} has an unclosed [`);
      let body = text.slice(i + 1, end);
      if (body.startsWith('!')) body = `^${body.slice(1)}`;
      out += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 's');
}

/**
 * Smallest and largest value, continuing from `before` (the range of earlier parts of the same
 * weight); min > max when there are no values, NaN when any value is NaN.
 */
export function minMax(data: Float32Array, before = { min: Infinity, max: -Infinity }): { min: number; max: number } {
  let { min, max } = before;
  if (min !== min) return before;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < min) min = v;
    if (v > max) max = v;
    if (v !== v) return { min: NaN, max: NaN };
  }
  return { min, max };
}

/**
 * tensorflowjs_converter's affine range: scale spreads [min, max] over the codes, and when the range
 * holds 0 it is nudged so that 0 is exactly representable (zero padding and ReLU outputs stay exact).
 * A constant weight gets scale 1 and all-zero codes.
 */
export function affineParams(min: number, max: number, dtype: 'uint8' | 'uint16'): { min: number; max: number; scale: number } {
  if (min === max) return { min, max, scale: 1 };
  const codes = dtype === 'uint8' ? 255 : 65535;
  const scale = (max - min) / codes;
  if (min <= 0 && max >= 0) {
    const zero = roundHalfEven(-min / scale);
    const nudgedMin = -zero * scale;
    return { min: nudgedMin, max: codes * scale + nudgedMin, scale };
  }
  return { min, max, scale };
}

/** NumPy's np.round: halves go to the even neighbour. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Encodes one weight, chunk by chunk, into its stored codes, remembering the largest absolute error
 * between a value and what tfjs will decode from its code.
 */
export class WeightQuantizer {
  readonly spec: QuantizationSpec;
  /** Largest |decoded - original| seen so far. */
  maxError = 0;
  private out: Uint8Array = new Uint8Array(0);
  private readonly range?: { min: number; max: number; scale: number };

  /**
   * uint8/uint16 codes need the weight's range (smallest and largest value) before the first chunk;
   * float16 needs nothing.
   */
  constructor(dtype: QuantizeDType, range: { min: number; max: number } | undefined, context: { name: string }) {
    if (dtype === 'float16') {
      this.spec = { dtype, original_dtype: 'float32' };
      return;
    }
    if (!range) throw new Error(`internal: ${dtype} quantization of ${context.name} needs its range`);
    const { min, max } = range;
    if (min > max) {
      // An empty weight: nothing to encode.
      this.range = { min: 0, max: 0, scale: 1 };
    } else {
      if (!Number.isFinite(min) || !Number.isFinite(max)) {
        throw new GraftError('UNSUPPORTED', `holds NaN or infinite values, which ${dtype} quantization cannot represent; leave it out with --quantize-weights`, { tensor: context.name });
      }
      this.range = affineParams(min, max, dtype);
    }
    this.spec = { dtype, min: this.range.min, scale: this.range.scale, original_dtype: 'float32' };
  }

  /** Codes of the next chunk of values; the returned bytes are reused by the next call. */
  encode(chunk: Float32Array, name: string): Uint8Array {
    const bytes = chunk.length * quantizedBytes(this.spec.dtype);
    if (this.out.byteLength < bytes) this.out = new Uint8Array(Math.max(bytes, this.out.byteLength * 2));
    const view = this.out.subarray(0, bytes);
    let err: number;
    if (this.spec.dtype === 'float16') {
      err = encodeHalf(chunk, new Uint16Array(view.buffer, 0, chunk.length), name);
    } else if (this.spec.dtype === 'uint8') {
      err = encodeAffine(chunk, view, this.range!);
    } else {
      err = encodeAffine(chunk, new Uint16Array(view.buffer, 0, chunk.length), this.range!);
    }
    if (err > this.maxError) this.maxError = err;
    return view;
  }
}

/** q = round((clip(x) - min) / scale); tfjs decodes q·scale + min (in float64, stored as float32). */
function encodeAffine(src: Float32Array, dst: Uint8Array | Uint16Array, r: { min: number; max: number; scale: number }): number {
  const { min, max, scale } = r;
  let worst = 0;
  if (min === max) {
    dst.fill(0);
    for (let i = 0; i < src.length; i++) {
      const e = Math.abs(Math.fround(min) - src[i]);
      if (e > worst) worst = e;
    }
    return worst;
  }
  for (let i = 0; i < src.length; i++) {
    const x = src[i];
    const clipped = x < min ? min : x > max ? max : x;
    const q = roundHalfEven((clipped - min) / scale);
    dst[i] = q;
    const e = Math.abs(Math.fround(q * scale + min) - x);
    if (e > worst) worst = e;
  }
  return worst;
}

/** Half-precision codes, round-to-nearest-even like NumPy's astype(float16). */
function encodeHalf(src: Float32Array, dst: Uint16Array, name: string): number {
  const bitsOf = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const table = halfTable();
  let worst = 0;
  for (let i = 0; i < src.length; i++) {
    const h = halfBits(bitsOf[i]);
    const x = src[i];
    const decoded = table[h];
    if (decoded === Infinity || decoded === -Infinity) {
      if (x !== decoded) throw new GraftError('UNSUPPORTED', `value ${x} lies beyond float16's range (±65504); use --quantize uint16 or leave this weight out with --quantize-weights`, { tensor: name });
    }
    dst[i] = h;
    const e = Math.abs(decoded - x);
    if (e > worst) worst = e;
  }
  return worst;
}

export { halfBits, halfTable };
