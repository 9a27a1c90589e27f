import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { parseNpy } from '../../src/formats/numpy/npy';
import { permute } from '../../src/transforms/layout';
import { toFloat32, toInt32 } from '../../src/transforms/dtype';

export interface LoadedArray {
  shape: number[];
  data: Float32Array | Int32Array;
}

/** Reads a .npy fixture as float32 (or int32 for integer arrays). */
export function readNpy(file: string, as: 'float32' | 'int32' = 'float32'): LoadedArray {
  const raw = parseNpy(new Uint8Array(fs.readFileSync(file)), path.basename(file), file);
  return { shape: raw.shape, data: as === 'int32' ? toInt32(raw) : toFloat32(raw) };
}

/** Applies a layout permutation (PyTorch NCHW → tfjs NHWC, …) to an array. */
export function permuted(a: LoadedArray, perm: number[] | null | undefined): LoadedArray {
  if (!perm) return a;
  if (a.data instanceof Int32Array) throw new Error('permuting int arrays is not needed by any fixture');
  return { shape: perm.map((p) => a.shape[p]), data: permute(a.data, a.shape, perm) };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function predictArray(model: tf.LayersModel, input: LoadedArray): LoadedArray {
  return tf.tidy(() => {
    const x = tf.tensor(input.data, input.shape, input.data instanceof Int32Array ? 'int32' : 'float32');
    const y = model.predict(x) as tf.Tensor;
    return { shape: y.shape, data: y.dataSync() as Float32Array };
  });
}

export { tempDir } from './temp';
