import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { GraftError } from '../errors';
import { NPY_MAGIC, NPY_PREFIX_V1, parseNpyHeader } from '../formats/numpy/npy';
import { ArrayData, shapeString, sizeOf, toArrayData } from './arrays';
import { FrozenSplit, runLayers, splitAtFrozen } from './split';

/** The frozen bottom's outputs for a whole dataset, in memory or in a .npy file. */
export interface FrozenCache {
  /** Name of the layer whose outputs are cached. */
  boundary: string;
  /** Number of samples. */
  count: number;
  /** Shape of one sample's activations. */
  featureShape: number[];
  /** In-memory cache: every sample's activations, one after another. */
  data?: Float32Array;
  /** On-disk cache: a float32 .npy of shape [count, ...featureShape]. */
  file?: string;
  /** Wall time spent filling the cache. */
  seconds: number;
}

export interface CacheOptions {
  /** Samples per forward pass through the bottom: bounds memory (default 256). */
  batchSize?: number;
  /** Write the cache as `<boundary>_outputs.npy` in this folder instead of keeping it in memory. */
  toDisk?: string;
  /** Called after each batch (for progress). */
  onBatch?: (done: number, total: number) => void;
}

/** A split, or a model: either a bottom with nothing trainable (used as is) or a full model (split at its frozen bottom). */
export type BottomSource = FrozenSplit | tf.LayersModel;

function bottomOf(source: BottomSource): { layers: tf.layers.Layer[]; boundary: string; featureShape: number[]; inputShape: (number | null)[]; inputDtype: 'float32' | 'int32' } {
  if (!(source instanceof tf.LayersModel) && 'bottomLayers' in source) {
    return { layers: source.bottomLayers, boundary: source.boundary, featureShape: source.featureShape, inputShape: source.inputShape, inputDtype: source.inputDtype };
  }
  const model = source as tf.LayersModel;
  if (model.trainableWeights.length > 0) return bottomOf(splitAtFrozen(model));
  const out = model.outputs[0];
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  return {
    layers: model.getClassName() === 'Sequential' ? model.layers : layers,
    boundary: out.sourceLayer.name,
    featureShape: out.shape.slice(1) as number[],
    inputShape: model.inputs[0].shape.slice(1),
    inputDtype: model.inputs[0].dtype === 'int32' ? 'int32' : 'float32',
  };
}

/** Checks a dataset's per-sample shape against what the model takes, naming both. */
export function checkInputShape(shape: readonly number[], expected: readonly (number | null)[], what: string): void {
  const ok = shape.length === expected.length + 1 && expected.every((d, i) => d === null || d === shape[i + 1]);
  if (!ok) {
    throw new GraftError('SHAPE_MISMATCH', `${what} has shape ${shapeString(shape)}; the model takes ${shapeString([null, ...expected])}`);
  }
}

/** A version 1.0 .npy header for float32 data of `shape`, padded to 64 bytes as numpy does. */
export function npyFloat32Header(shape: readonly number[]): Uint8Array {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let text = `{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }`;
  text += ' '.repeat((64 - ((NPY_PREFIX_V1 + text.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(NPY_PREFIX_V1 + text.length);
  out.set(NPY_MAGIC, 0);
  out[6] = 1;
  out[8] = text.length & 0xff;
  out[9] = text.length >> 8;
  for (let i = 0; i < text.length; i++) out[NPY_PREFIX_V1 + i] = text.charCodeAt(i);
  return out;
}

/** One batch of samples [start, end) of X as a tensor; only that batch is copied. */
function batchTensor(x: ArrayData, start: number, end: number, dtype: 'float32' | 'int32'): tf.Tensor {
  const per = sizeOf(x.shape.slice(1));
  const slice = x.data.subarray(start * per, end * per);
  return tf.tensor(dtype === 'int32' && !(slice instanceof Int32Array) ? Int32Array.from(slice) : slice, [end - start, ...x.shape.slice(1)], dtype);
}

/**
 * Runs the frozen bottom over X once, in batches, in inference mode (as training runs frozen
 * layers), and keeps the outputs: in one Float32Array, or streamed batch by batch into a .npy
 * file. Only one batch's tensors exist at a time.
 */
export async function cacheFrozenOutputs(source: BottomSource, input: tf.Tensor | ArrayData, options: CacheOptions = {}): Promise<FrozenCache> {
  const started = performance.now();
  // A tensor is read back once; slicing it on the backend per batch would copy it whole each time (wasm).
  const x = toArrayData(input);
  const bottom = bottomOf(source);
  const batchSize = options.batchSize ?? 256;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new GraftError('USAGE', `batch size must be a positive integer, not ${batchSize}`);
  checkInputShape(x.shape, bottom.inputShape, 'the data');
  const count = x.shape[0];
  const per = sizeOf(bottom.featureShape);
  const data = options.toDisk ? undefined : new Float32Array(count * per);
  let fd: number | undefined;
  let file: string | undefined;
  if (options.toDisk) {
    fs.mkdirSync(options.toDisk, { recursive: true });
    file = path.join(options.toDisk, `${bottom.boundary.replace(/[^\w.-]/g, '_')}_outputs.npy`);
    fd = fs.openSync(file, 'w');
  }
  try {
    if (fd !== undefined) writeAll(fd, npyFloat32Header([count, ...bottom.featureShape]));
    for (let start = 0; start < count; start += batchSize) {
      const end = Math.min(start + batchSize, count);
      const out = tf.tidy(() => runLayers(bottom.layers, batchTensor(x, start, end, bottom.inputDtype), false));
      const values = (await out.data()) as Float32Array;
      out.dispose();
      if (data) data.set(values, start * per);
      else writeAll(fd!, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      options.onBatch?.(end, count);
    }
  } catch (e) {
    if (fd !== undefined) {
      fs.closeSync(fd);
      fd = undefined;
      fs.rmSync(file!, { force: true });
    }
    throw e;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  return { boundary: bottom.boundary, count, featureShape: bottom.featureShape.slice(), data, file, seconds: (performance.now() - started) / 1000 };
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
}

/**
 * Random access to the rows of an on-disk cache: training reads only the samples of the
 * current batch, so memory stays bounded by one batch whatever the dataset size.
 */
export class DiskCacheReader {
  private fd: number | null;
  private readonly dataOffset: number;
  private readonly rowBytes: number;
  readonly count: number;

  constructor(readonly cache: FrozenCache) {
    if (!cache.file) throw new Error('DiskCacheReader needs an on-disk cache');
    this.fd = fs.openSync(cache.file, 'r');
    const head = new Uint8Array(4096);
    const n = fs.readSync(this.fd, head, 0, head.length, 0);
    const header = parseNpyHeader(head.subarray(0, n), { file: cache.file });
    const expected = [cache.count, ...cache.featureShape];
    if (header.dtype !== 'float32' || header.shape.join() !== expected.join()) {
      fs.closeSync(this.fd);
      throw new GraftError('CORRUPT', `cache holds ${header.dtype} ${shapeString(header.shape)}, expected float32 ${shapeString(expected)}`, { file: cache.file });
    }
    this.dataOffset = header.dataOffset;
    this.rowBytes = sizeOf(cache.featureShape) * 4;
    this.count = cache.count;
  }

  /** The rows at `indices`, in that order. */
  rows(indices: ArrayLike<number>): Float32Array {
    if (this.fd === null) throw new Error('DiskCacheReader used after close');
    const out = new Float32Array((indices.length * this.rowBytes) / 4);
    const bytes = new Uint8Array(out.buffer);
    for (let i = 0; i < indices.length; i++) {
      const at = this.dataOffset + indices[i] * this.rowBytes;
      let done = 0;
      while (done < this.rowBytes) {
        const n = fs.readSync(this.fd, bytes, i * this.rowBytes + done, this.rowBytes - done, at + done);
        if (n <= 0) throw new GraftError('CORRUPT', 'cache file ends early', { file: this.cache.file });
        done += n;
      }
    }
    return out;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}
