/**
 * Pure layout functions over row-major float data. Hot paths for large checkpoints:
 * the 2-D transpose is cache-blocked, the general permutation walks the output linearly.
 */

export function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Tile edge of the blocked transposes: 64 rows of a source column stay in L1 across a tile. */
const TILE = 64;

/**
 * [rows, cols] → [cols, rows], in tiles so both sides stay in cache. Elements move as 32-bit
 * patterns: float NaN payloads survive, and the interpreter never boxes a float before the loop is
 * optimised.
 */
export function transpose2d<T extends Float32Array | Int32Array>(src: T, rows: number, cols: number, out?: T): T {
  const dst = out ?? (new (src.constructor as { new (n: number): T })(rows * cols));
  transposeBand(bits(src), rows, cols, 0, cols, bits(dst));
  return dst;
}

/** The same memory as 32-bit integers. */
export function bits(a: Float32Array | Int32Array): Int32Array {
  return a instanceof Int32Array ? a : new Int32Array(a.buffer, a.byteOffset, a.length);
}

/**
 * Rows [c0, c1) of the transpose of a [rows, cols] matrix (= source columns c0…c1-1), written to
 * `dst` from index 0: dst[(c - c0)·rows + r] = src[r·cols + c]. Lets a large transpose be written
 * out band by band through a small buffer. Within a tile the destination is walked linearly.
 */
export function transposeBand(src: Int32Array, rows: number, cols: number, c0: number, c1: number, dst: Int32Array): void {
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(r0 + TILE, rows);
    for (let c = c0; c < c1; c++) {
      let d = (c - c0) * rows + r0;
      let s = r0 * cols + c;
      for (let r = r0; r < r1; r++, d++, s += cols) dst[d] = src[s];
    }
  }
}

/**
 * Source rows [r0, r0 + k) of a [rows, cols] matrix, given as a [k, cols] block, into their place
 * in rows [c0, c1) of its transpose, held in `dst` from index 0: dst[(c - c0)·rows + r0 + i] =
 * block[i·cols + c]. Lets a transpose read its source in whole rows while building an output band.
 */
export function transposeRowsInto(block: Int32Array, k: number, cols: number, c0: number, c1: number, dst: Int32Array, rows: number, r0: number): void {
  for (let i0 = 0; i0 < k; i0 += TILE) {
    const i1 = Math.min(i0 + TILE, k);
    for (let c = c0; c < c1; c++) {
      let d = (c - c0) * rows + r0 + i0;
      let s = i0 * cols + c;
      for (let i = i0; i < i1; i++, d++, s += cols) dst[d] = block[s];
    }
  }
}

/** Shape after permuting axes: out[i] = shape[perm[i]]. */
export function permutedShape(shape: readonly number[], perm: readonly number[]): number[] {
  return perm.map((p) => shape[p]);
}

/**
 * General axis permutation (numpy's `transpose(perm)` followed by a contiguous copy).
 * Axes that stay in place at the end are copied as whole runs.
 */
export function permute<T extends Float32Array | Int32Array>(src: T, shape: readonly number[], perm: readonly number[]): T {
  const rank = shape.length;
  if (perm.length !== rank) throw new Error(`permutation of rank ${perm.length} for shape of rank ${rank}`);
  if (perm.every((p, i) => p === i)) return src.slice() as T;
  if (rank === 2) return transpose2d(src, shape[0], shape[1]);
  // Collapse a trailing run of axes that keep their order: they are copied as contiguous blocks.
  let tail = 0;
  while (tail < rank && perm[rank - 1 - tail] === rank - 1 - tail) tail++;
  const run = product(shape.slice(rank - tail));
  const outerPerm = perm.slice(0, rank - tail);
  const outerShape = shape.slice(0, rank - tail);
  const inStrides = new Array(rank - tail);
  let s = run;
  for (let k = rank - tail - 1; k >= 0; k--) {
    inStrides[k] = s;
    s *= outerShape[k];
  }
  const outShape = outerPerm.map((p) => outerShape[p]);
  const stepIn = outerPerm.map((p) => inStrides[p]);
  const dst = new (src.constructor as { new (n: number): T })(src.length);
  const n = product(outShape);
  const idx = new Array(outShape.length).fill(0);
  let inOff = 0;
  let outOff = 0;
  const last = outShape.length - 1;
  for (let i = 0; i < n; i++) {
    if (run === 1) dst[outOff] = src[inOff];
    else dst.set(src.subarray(inOff, inOff + run), outOff);
    outOff += run;
    // Odometer increment over the output index, updating the input offset incrementally.
    for (let k = last; k >= 0; k--) {
      idx[k]++;
      inOff += stepIn[k];
      if (idx[k] < outShape[k]) break;
      inOff -= stepIn[k] * outShape[k];
      idx[k] = 0;
    }
  }
  return dst;
}

/** PyTorch conv weights [out, in, k…] → Keras/tfjs [k…, in, out]; the same axes move for transposed convs' [in, out, k…] → [k…, out, in]. */
export function convPermutation(rank: number): number[] {
  const perm: number[] = [];
  for (let k = 2; k < rank; k++) perm.push(k);
  perm.push(1, 0);
  return perm;
}

/**
 * Rows of a Dense kernel that follows a Flatten: PyTorch flattens a feature map as (C, spatial…),
 * tfjs as (spatial…, C). Input `src` is PyTorch's [out, C·S]; result is tfjs [S·C, out].
 */
export function denseAfterFlatten(src: Float32Array, out: number, channels: number, spatial: number): Float32Array {
  const dst = new Float32Array(src.length);
  const inFeatures = channels * spatial;
  for (let o = 0; o < out; o++) {
    const row = o * inFeatures;
    for (let c = 0; c < channels; c++) {
      const base = row + c * spatial;
      for (let s = 0; s < spatial; s++) dst[(s * channels + c) * out + o] = src[base + s];
    }
  }
  return dst;
}

/**
 * The same reordering for a kernel already in [in, out] layout (an ONNX MatMul weight): row
 * c·S + s (channels-first flatten) moves to row s·C + c (channels-last flatten).
 */
export function flattenedRowsToChannelsLast(src: Float32Array, out: number, channels: number, spatial: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let c = 0; c < channels; c++) {
    for (let s = 0; s < spatial; s++) dst.set(src.subarray((c * spatial + s) * out, (c * spatial + s + 1) * out), (s * channels + c) * out);
  }
  return dst;
}

/** Reorders equal-sized gate blocks along axis 0 of a [gates·units, …] matrix. */
export function reorderGateRows(src: Float32Array, units: number, rowLength: number, order: readonly number[]): Float32Array {
  const dst = new Float32Array(src.length);
  const block = units * rowLength;
  order.forEach((from, to) => dst.set(src.subarray(from * block, (from + 1) * block), to * block));
  return dst;
}

// ---------------------------------------------------------------------------------------------
// WebAssembly SIMD band transpose: 4×4 blocks moved with two rounds of lane shuffles, about four
// times the speed of the scalar loop above. It works inside its own linear memory, which callers
// use as their read buffer so the source needs no copy.

/** The few WebAssembly declarations used here (the DOM typings that declare them are not loaded). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmGlobal {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports?: object) => { exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
}

const WASM_PAGE = 65536;
/** Addresses stay below 2^31 so the kernel's 32-bit offset arithmetic cannot wrap. */
export const SIMD_MAX_BYTES = 2 ** 31 - WASM_PAGE;

/**
 * A band transpose over a WebAssembly memory: `band(src, rows, cols, c0, c1, dst)` does what
 * transposeBand does, with src and dst as byte offsets into `buffer`.
 */
export class SimdTransposer {
  private constructor(
    private readonly memory: WasmMemory,
    private readonly kernel: (src: number, rowsDone: number, cols: number, c0: number, c1: number, dst: number, rows: number) => void,
  ) {}

  /** Undefined where WebAssembly SIMD is unavailable (callers use transposeBand). */
  static create(): SimdTransposer | undefined {
    const wasm = (globalThis as { WebAssembly?: WasmGlobal }).WebAssembly;
    if (!wasm) return undefined;
    const bytes = bandKernelModule();
    try {
      if (!wasm.validate(bytes)) return undefined;
      const { exports } = new wasm.Instance(new wasm.Module(bytes));
      return new SimdTransposer(exports.mem as WasmMemory, exports.band as SimdTransposer['kernel']);
    } catch {
      return undefined;
    }
  }

  /** The memory; a `reserve` that grows it replaces this buffer (older views become detached). */
  get buffer(): ArrayBuffer {
    return this.memory.buffer;
  }

  /** Grows the memory to hold at least `bytes` (≤ SIMD_MAX_BYTES). */
  reserve(bytes: number): void {
    if (bytes > SIMD_MAX_BYTES) throw new RangeError(`${bytes} bytes exceed the SIMD transposer's memory`);
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / WASM_PAGE));
  }

  /** Rows [c0, c1) of the transpose of the [rows, cols] int32/float32 matrix at byte `src`, to byte `dst`. */
  band(src: number, rows: number, cols: number, c0: number, c1: number, dst: number): void {
    if (src % 4 !== 0 || dst % 4 !== 0) throw new RangeError('SimdTransposer offsets must be 4-byte aligned');
    // The kernel moves whole 4×4 blocks; leftover rows and columns go through the scalar loop.
    const rows4 = rows - (rows % 4);
    const c4 = c1 - ((c1 - c0) % 4);
    if (rows4 > 0 && c4 > c0) this.kernel(src, rows4, cols, c0, c4, dst, rows);
    if (rows4 === rows && c4 === c1) return;
    const s = new Int32Array(this.memory.buffer, src, rows * cols);
    const d = new Int32Array(this.memory.buffer, dst, (c1 - c0) * rows);
    for (let c = c0; c < c1; c++) {
      const from = c < c4 ? rows4 : 0;
      for (let r = from; r < rows; r++) d[(c - c0) * rows + r] = s[r * cols + c];
    }
  }

  /**
   * transposeRowsInto over this memory: the [k, cols] block of source rows [r0, r0 + k) at byte
   * `src` into rows [c0, c1) of the transpose of a [rows, cols] matrix held at byte `dst`.
   */
  rowsInto(src: number, k: number, cols: number, c0: number, c1: number, dst: number, rows: number, r0: number): void {
    if (src % 4 !== 0 || dst % 4 !== 0) throw new RangeError('SimdTransposer offsets must be 4-byte aligned');
    const k4 = k - (k % 4);
    const c4 = c1 - ((c1 - c0) % 4);
    // The kernel's output row length is `rows`; starting at dst + r0·4 puts the block at column r0.
    if (k4 > 0 && c4 > c0) this.kernel(src, k4, cols, c0, c4, dst + r0 * 4, rows);
    if (k4 === k && c4 === c1) return;
    const s = new Int32Array(this.memory.buffer, src, k * cols);
    const d = new Int32Array(this.memory.buffer, dst, (c1 - c0) * rows);
    for (let c = c0; c < c1; c++) {
      const from = c < c4 ? k4 : 0;
      for (let i = from; i < k; i++) d[(c - c0) * rows + r0 + i] = s[i * cols + c];
    }
  }
}

/**
 * The kernel's module, assembled here (a few hundred bytes, no build step):
 * band(src, rowsDone, cols, c0, c1, dst, rows) transposes rows [0, rowsDone) × columns [c0, c1),
 * both multiples of 4, in tiles of 64 rows, writing each destination row linearly.
 */
function bandKernelModule(): Uint8Array {
  const uleb = (n: number): number[] => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      out.push(b);
    } while (n);
    return out;
  };
  const sleb = (n: number): number[] => {
    const out: number[] = [];
    for (;;) {
      const b = n & 0x7f;
      n >>= 7;
      if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
      out.push(b | 0x80);
    }
  };
  const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
  const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
  const name = (s: string): number[] => [...uleb(s.length), ...[...s].map((ch) => ch.charCodeAt(0))];
  const I32 = 0x7f;
  const V128 = 0x7b;
  const get = (i: number): number[] => [0x20, ...uleb(i)];
  const set = (i: number): number[] => [0x21, ...uleb(i)];
  const int = (n: number): number[] => [0x41, ...sleb(n)];
  const [ADD, SUB, MUL, SHL, GE_U, LT_U, SELECT] = [[0x6a], [0x6b], [0x6c], [0x74], [0x4f], [0x49], [0x1b]];
  /** `while (!(a >= b)) { body }` as block/loop/br_if/br. */
  const until = (a: number, b: number, ...body: number[][]): number[] =>
    [0x02, 0x40, 0x03, 0x40, ...get(a), ...get(b), ...GE_U, 0x0d, 1, ...body.flat(), 0x0c, 0, 0x0b, 0x0b];
  const load = [0xfd, 0x00, 0x00, 0x00];
  const store = [0xfd, 0x0b, 0x00, 0x00];
  /** i8x16.shuffle picking 32-bit lanes (0–3 from the first operand, 4–7 from the second). */
  const shuffle = (lanes: number[]): number[] => [0xfd, 0x0d, ...lanes.flatMap((k) => [4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3])];
  // Parameters 0–6, then i32 locals 7–19 and v128 locals 20–27.
  const [src, rowsDone, cols, c0, c1, dst, rows] = [0, 1, 2, 3, 4, 5, 6];
  const [r0, r1, col, r, s, d, rowBytes, rowBytes2, rowBytes3, rowBytes4, outBytes, outBytes2, outBytes3] = [7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  const [a, b, c, e, t0, t1, t2, t3] = [20, 21, 22, 23, 24, 25, 26, 27];
  // Tiles of 16 source rows: their loads (one cache line per row, rows a power-of-two stride apart,
  // so all in one L1 set) stay within the cache's ways; taller tiles measured slower.
  const TILE = 16;
  const body = [
    // The strides between the four rows read and the four rows written, computed once.
    ...get(cols), ...int(2), ...SHL, ...set(rowBytes),
    ...get(rowBytes), ...get(rowBytes), ...ADD, ...set(rowBytes2),
    ...get(rowBytes2), ...get(rowBytes), ...ADD, ...set(rowBytes3),
    ...get(rowBytes2), ...get(rowBytes2), ...ADD, ...set(rowBytes4),
    ...get(rows), ...int(2), ...SHL, ...set(outBytes),
    ...get(outBytes), ...get(outBytes), ...ADD, ...set(outBytes2),
    ...get(outBytes2), ...get(outBytes), ...ADD, ...set(outBytes3),
    ...int(0), ...set(r0),
    ...until(r0, rowsDone,
      // r1 = min(r0 + TILE, rowsDone)
      [...get(r0), ...int(TILE), ...ADD, ...get(rowsDone), ...get(r0), ...int(TILE), ...ADD, ...get(rowsDone), ...LT_U, ...SELECT, ...set(r1)],
      [...get(c0), ...set(col)],
      until(col, c1,
        // s = src + (r0·cols + col)·4;  d = dst + ((col - c0)·rows + r0)·4
        [...get(src), ...get(r0), ...get(cols), ...MUL, ...get(col), ...ADD, ...int(2), ...SHL, ...ADD, ...set(s)],
        [...get(dst), ...get(col), ...get(c0), ...SUB, ...get(rows), ...MUL, ...get(r0), ...ADD, ...int(2), ...SHL, ...ADD, ...set(d)],
        [...get(r0), ...set(r)],
        until(r, r1,
          [...get(s), ...load, ...set(a)],
          [...get(s), ...get(rowBytes), ...ADD, ...load, ...set(b)],
          [...get(s), ...get(rowBytes2), ...ADD, ...load, ...set(c)],
          [...get(s), ...get(rowBytes3), ...ADD, ...load, ...set(e)],
          [...get(a), ...get(b), ...shuffle([0, 4, 1, 5]), ...set(t0)],
          [...get(a), ...get(b), ...shuffle([2, 6, 3, 7]), ...set(t1)],
          [...get(c), ...get(e), ...shuffle([0, 4, 1, 5]), ...set(t2)],
          [...get(c), ...get(e), ...shuffle([2, 6, 3, 7]), ...set(t3)],
          [...get(d), ...get(t0), ...get(t2), ...shuffle([0, 1, 4, 5]), ...store],
          [...get(d), ...get(outBytes), ...ADD, ...get(t0), ...get(t2), ...shuffle([2, 3, 6, 7]), ...store],
          [...get(d), ...get(outBytes2), ...ADD, ...get(t1), ...get(t3), ...shuffle([0, 1, 4, 5]), ...store],
          [...get(d), ...get(outBytes3), ...ADD, ...get(t1), ...get(t3), ...shuffle([2, 3, 6, 7]), ...store],
          [...get(s), ...get(rowBytes4), ...ADD, ...set(s)],
          [...get(d), ...int(16), ...ADD, ...set(d)],
          [...get(r), ...int(4), ...ADD, ...set(r)],
        ),
        [...get(col), ...int(4), ...ADD, ...set(col)],
      ),
      [...get(r1), ...set(r0)],
    ),
  ];
  const code = [...uleb(2), ...uleb(13), I32, ...uleb(8), V128, ...body, 0x0b];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec(new Array(7).fill([I32])), 0x00]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, 1]])),
    ...section(7, vec([[...name('band'), 0x00, 0], [...name('mem'), 0x02, 0]])),
    ...section(10, vec([[...uleb(code.length), ...code]])),
  ]);
}
