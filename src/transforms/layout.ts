/**
 * Pure layout functions over row-major float data. Hot paths for large checkpoints:
 * the 2-D transpose is cache-blocked, the general permutation walks the output linearly.
 */

export function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** [rows, cols] → [cols, rows], in 64×64 tiles so both sides stay in cache. */
export function transpose2d<T extends Float32Array | Int32Array>(src: T, rows: number, cols: number, out?: T): T {
  const dst = out ?? (new (src.constructor as { new (n: number): T })(rows * cols));
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(r0 + B, rows);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(c0 + B, cols);
      for (let r = r0; r < r1; r++) {
        let s = r * cols + c0;
        let d = c0 * rows + r;
        for (let c = c0; c < c1; c++, s++, d += rows) dst[d] = src[s];
      }
    }
  }
  return dst;
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

/** Reorders equal-sized gate blocks along axis 0 of a [gates·units, …] matrix. */
export function reorderGateRows(src: Float32Array, units: number, rowLength: number, order: readonly number[]): Float32Array {
  const dst = new Float32Array(src.length);
  const block = units * rowLength;
  order.forEach((from, to) => dst.set(src.subarray(from * block, (from + 1) * block), to * block));
  return dst;
}
