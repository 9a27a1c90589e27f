import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { GraftError } from '../errors';
import { fileOpenError, readWholeFile } from '../io/bytes';
import { parseNpy } from '../formats/numpy/npy';
import { toFloat32, toInt32 } from '../transforms/dtype';

/** A dense array held in plain memory: C-order data and its shape (samples first). */
export interface ArrayData {
  data: Float32Array | Int32Array;
  shape: number[];
}

const INTEGER_DTYPES = new Set(['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool']);

/**
 * Reads a .npy file: floating-point arrays as float32, integer and bool arrays as int32.
 * `flag` names the command-line option the file came from, for error messages.
 */
export function readNpyArray(file: string, flag: string): ArrayData & { integer: boolean } {
  
  try {
    if (fs.statSync(file).isDirectory()) throw new GraftError('NOT_FOUND', `${flag} is a folder, not a .npy file`, { file });
  } catch (e) {
    if (e instanceof GraftError) throw e;
    throw fileOpenError(file, e);
  }
  const bytes = readWholeFile(file);
  const raw = parseNpy(bytes, path.basename(file), file);
  const integer = INTEGER_DTYPES.has(raw.dtype);
  return { data: integer ? toInt32(raw, file) : toFloat32(raw, file), shape: raw.shape, integer };
}

/** A tensor's values read back once into memory (batches are then cut in JS, see gatherRows). */
export function toArrayData(x: tf.Tensor | ArrayData): ArrayData {
  if (!(x instanceof tf.Tensor)) return x;
  const data = x.dataSync();
  return { data: data instanceof Int32Array ? data : Float32Array.from(data as ArrayLike<number>), shape: x.shape.slice() };
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function shapeString(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}
