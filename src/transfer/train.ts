import * as tf from '@tensorflow/tfjs';
import { GraftError } from '../errors';
import { ArrayData, shapeString, sizeOf, toArrayData } from './arrays';
import { DiskCacheReader, FrozenCache, checkInputShape } from './cache';
import { FlatAdam } from './adam';
import { denseChainOf, denseChainStep, wantsTransposedInput } from './dense-head';
import { headForward, regularization } from './head-forward';
import { FrozenSplit, OutputKind, linearChain, outputKind, runLayers } from './split';
import { registerWasmTrainingKernels } from './wasm-kernels';

export interface TrainOptions {
  /** Passes over the training samples (default 10). */
  epochs?: number;
  /** Samples per optimizer step (default 32). */
  batchSize?: number;
  /** Adam's learning rate (default 0.001, as Keras). */
  learningRate?: number;
  /** Fraction of samples, taken from the end as Keras does, held out for validation (default 0). */
  validationSplit?: number;
  /** Shuffle the training samples before each epoch (default true). */
  shuffle?: boolean;
  /** Seed of the shuffle order, so runs repeat (default 1). */
  seed?: number;
  /** Called after each epoch with its statistics. */
  onEpoch?: (stats: EpochStats) => void;
}

export interface EpochStats {
  /** 1-based. */
  epoch: number;
  epochs: number;
  /** Wall time of the epoch, validation included. */
  seconds: number;
  /** Mean training loss and accuracy over the epoch's batches (as Keras reports them). */
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
}

export type LossName = 'sparseCategoricalCrossentropy' | 'categoricalCrossentropy';

export interface TrainResult {
  history: EpochStats[];
  /** Which crossentropy the labels called for, and whether it was computed from logits. */
  loss: LossName;
  fromLogits: boolean;
  trainCount: number;
  valCount: number;
}

/** Integer class ids ([N] or [N, 1]) or one-hot / probability rows ([N, classes]). */
export type Labels = tf.Tensor | ArrayData;

interface Targets {
  /** One row per sample, `classes` wide (one-hot for integer labels). */
  rows: Float32Array;
  /** The class each row points at (its argmax), for accuracy. */
  ids: Int32Array;
  sparse: boolean;
  /** Every row sums to 1 (one-hot, or proper distributions): the loss gradient simplifies. */
  rowsSumToOne: boolean;
}

/**
 * Turns labels into target rows. Integer arrays (or float arrays of whole numbers, shape [N])
 * are class ids; [N, classes] arrays are one-hot rows.
 */
export function classTargets(labels: Labels, count: number, classes: number): Targets {
  const y: ArrayData = labels instanceof tf.Tensor ? { data: labels.dataSync() as Float32Array | Int32Array, shape: labels.shape.slice() } : labels;
  if (y.shape[0] !== count) {
    throw new GraftError('SHAPE_MISMATCH', `the labels hold ${y.shape[0]} samples ${shapeString(y.shape)} but the data holds ${count}`);
  }
  const idShaped = y.shape.length === 1 || (y.shape.length === 2 && y.shape[1] === 1 && classes !== 1);
  if (idShaped) {
    const ids = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const v = y.data[i];
      if (!Number.isInteger(v) || v < 0 || v >= classes) {
        throw new GraftError('SHAPE_MISMATCH', `label ${i} is ${v}; class ids must be whole numbers from 0 to ${classes - 1} (the model has ${classes} outputs)`);
      }
      ids[i] = v;
    }
    const rows = new Float32Array(count * classes);
    for (let i = 0; i < count; i++) rows[i * classes + ids[i]] = 1;
    return { rows, ids, sparse: true, rowsSumToOne: true };
  }
  if (y.shape.length !== 2 || y.shape[1] !== classes) {
    throw new GraftError('SHAPE_MISMATCH', `the labels have shape ${shapeString(y.shape)}; expected class ids [${count}] or one-hot rows [${count}, ${classes}]`);
  }
  const rows = Float32Array.from(y.data);
  const ids = new Int32Array(count);
  let rowsSumToOne = true;
  for (let i = 0; i < count; i++) {
    let best = 0;
    let sum = rows[i * classes];
    for (let c = 1; c < classes; c++) {
      sum += rows[i * classes + c];
      if (rows[i * classes + c] > rows[i * classes + best]) best = c;
    }
    ids[i] = best;
    if (Math.abs(sum - 1) > 1e-6) rowsSumToOne = false;
  }
  return { rows, ids, sparse: false, rowsSumToOne };
}

/** Where a batch of the head's inputs comes from, given the sample indices. */
interface SampleSource {
  batch(indices: Int32Array): tf.Tensor;
  /** The batch and its transpose ([features, rows]), for float [N, features] samples held in JS. */
  batchAndTranspose?(indices: Int32Array): [tf.Tensor, tf.Tensor];
  dispose(): void;
}

/**
 * Copies the rows at `indices` out of a sample-major array. Batches are assembled in JS and
 * uploaded once: on the wasm backend tf.gather and tf.slice of a large tensor cost ~0.1-0.6 ms
 * each (slice reads the whole tensor back from the heap), an upload of 64 rows ~15 µs.
 */
export function gatherRows<T extends Float32Array | Int32Array>(data: T, rowSize: number, indices: ArrayLike<number>, into?: T): T {
  const out = into && into.length === indices.length * rowSize ? into : new (data.constructor as { new (n: number): T })(indices.length * rowSize);
  for (let i = 0; i < indices.length; i++) {
    const at = indices[i] * rowSize;
    out.set(data.subarray(at, at + rowSize), i * rowSize);
  }
  return out;
}

/**
 * A [rows, cols] matrix transposed. Eight rows at a time: eight sequential reads, eight adjacent
 * writes per column (V8, [64, 9216]: 0.6 ms; a column-blocked loop takes 1.1-1.6 ms).
 */
export function transposeRows(data: Float32Array, rows: number, cols: number, into?: Float32Array): Float32Array {
  const out = into && into.length === rows * cols ? into : new Float32Array(rows * cols);
  let r0 = 0;
  for (; r0 + 8 <= rows; r0 += 8) {
    const a0 = r0 * cols, a1 = a0 + cols, a2 = a1 + cols, a3 = a2 + cols, a4 = a3 + cols, a5 = a4 + cols, a6 = a5 + cols, a7 = a6 + cols;
    for (let c = 0, o = r0; c < cols; c++, o += rows) {
      out[o] = data[a0 + c];
      out[o + 1] = data[a1 + c];
      out[o + 2] = data[a2 + c];
      out[o + 3] = data[a3 + c];
      out[o + 4] = data[a4 + c];
      out[o + 5] = data[a5 + c];
      out[o + 6] = data[a6 + c];
      out[o + 7] = data[a7 + c];
    }
  }
  for (; r0 < rows; r0++) {
    const at = r0 * cols;
    for (let c = 0, o = r0; c < cols; c++, o += rows) out[o] = data[at + c];
  }
  return out;
}

/** The wasm backend's internals used to fill a new tensor's memory in place. */
interface WasmHeapBackend {
  write(values: null, shape: number[], dtype: 'float32'): object;
  typedArrayFromHeap(info: { shape: number[]; dtype: 'float32'; dataId: object }): Float32Array;
}

/**
 * A batch of float rows, [count, cols], and its transpose, [cols, count], for denseChainStep:
 * the transpose is cheaper in JS (0.6 ms for [64, 9216]) than on wasm (2.5 ms). On wasm both
 * are written straight into the new tensors' memory, saving two upload copies (~0.17 ms each).
 */
function batchAndTranspose(fill: (into: Float32Array) => void, count: number, cols: number): [tf.Tensor, tf.Tensor] {
  const backend = tf.backend() as unknown as Partial<WasmHeapBackend>;
  if (tf.getBackend() !== 'wasm' || typeof backend.write !== 'function' || typeof backend.typedArrayFromHeap !== 'function') {
    // Should the wasm backend's internals change: fill host arrays and upload them.
    const rows = new Float32Array(count * cols);
    fill(rows);
    return [tf.tensor2d(rows, [count, cols]), tf.tensor2d(transposeRows(rows, count, cols), [cols, count])];
  }
  const make = (shape: [number, number]) => {
    const dataId = backend.write!(null, shape, 'float32');
    return { dataId, tensor: tf.engine().makeTensorFromDataId(dataId, shape, 'float32') };
  };
  const x = make([count, cols]);
  const xT = make([cols, count]);
  try {
    // Views taken after both allocations (an allocation can grow wasm memory and detach views),
    // and nothing in between allocates backend memory.
    const rows = backend.typedArrayFromHeap!({ shape: [count, cols], dtype: 'float32', dataId: x.dataId });
    const transposed = backend.typedArrayFromHeap!({ shape: [cols, count], dtype: 'float32', dataId: xT.dataId });
    fill(rows);
    transposeRows(rows, count, cols, transposed);
  } catch (e) {
    tf.dispose([x.tensor, xT.tensor]);
    throw e;
  }
  return [x.tensor, xT.tensor];
}

function arraySource(values: ArrayData, dtype: 'float32' | 'int32'): SampleSource {
  const rowShape = values.shape.slice(1);
  const rowSize = sizeOf(rowShape);
  const source: SampleSource = {
    batch: (indices) => tf.tensor(gatherRows(values.data, rowSize, indices), [indices.length, ...rowShape], dtype),
    dispose: () => undefined,
  };
  if (dtype === 'float32' && rowShape.length === 1 && values.data instanceof Float32Array && tf.getBackend() === 'wasm') {
    const data = values.data;
    source.batchAndTranspose = (indices) => batchAndTranspose((into) => gatherRows(data, rowSize, indices, into), indices.length, rowSize);
  }
  return source;
}

function diskSource(cache: FrozenCache): SampleSource {
  const reader = new DiskCacheReader(cache);
  const source: SampleSource = {
    batch: (indices) => tf.tensor(reader.rows(indices), [indices.length, ...cache.featureShape]),
    dispose: () => reader.close(),
  };
  if (cache.featureShape.length === 1 && tf.getBackend() === 'wasm') {
    source.batchAndTranspose = (indices) => batchAndTranspose((into) => into.set(reader.rows(indices)), indices.length, cache.featureShape[0]);
  }
  return source;
}

/** Features computed on the fly: the frozen bottom runs on each batch in inference mode, as the cache does. */
function bottomSource(inner: SampleSource, bottomLayers: readonly tf.layers.Layer[]): SampleSource {
  return {
    batch: (indices) => tf.tidy(() => runLayers(bottomLayers, inner.batch(indices), false)),
    dispose: () => inner.dispose(),
  };
}

/** mulberry32: a small seeded generator in [0, 1), so shuffles repeat across runs and paths. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffleInPlace(a: Int32Array, next: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

const EPSILON = 1e-7;

/** Mean crossentropy of a batch; from probabilities it clips as Keras does, from logits see below. */
function crossentropy(out: tf.Tensor, target: tf.Tensor, kind: OutputKind): tf.Scalar {
  if (kind === 'logits') return softmaxCrossentropy(out, target);
  return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.log(tf.clipByValue(out, EPSILON, 1 - EPSILON))), -1))) as tf.Scalar;
}

/**
 * Crossentropy from logits with its gradient written out, (softmax(z)·Σt − t)/N: three backend
 * ops instead of the dozen tfjs records. The value is Keras's (clipped probabilities), as in
 * denseChainStep, so both training paths report the same loss.
 */
function softmaxCrossentropy(logits: tf.Tensor, target: tf.Tensor): tf.Scalar {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const z = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const probs = tf.softmax(z);
    save([probs]);
    return {
      value: tf.neg(tf.mean(tf.sum(tf.mul(target, tf.log(tf.clipByValue(probs, EPSILON, 1 - EPSILON))), -1))) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.mul(tf.sub(tf.mul(saved[0], tf.sum(target, -1, true)), target), tf.div(dy, z.shape[0])),
    };
  });
  return op(logits) as tf.Scalar;
}

function checkOptions(o: TrainOptions): Required<Omit<TrainOptions, 'onEpoch'>> {
  const epochs = o.epochs ?? 10;
  const batchSize = o.batchSize ?? 32;
  const learningRate = o.learningRate ?? 0.001;
  const validationSplit = o.validationSplit ?? 0;
  if (!Number.isSafeInteger(epochs) || epochs < 1) throw new GraftError('USAGE', `epochs must be a positive integer, not ${epochs}`);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new GraftError('USAGE', `batch size must be a positive integer, not ${batchSize}`);
  if (!(learningRate > 0) || !Number.isFinite(learningRate)) throw new GraftError('USAGE', `learning rate must be a positive number, not ${learningRate}`);
  if (!(validationSplit >= 0 && validationSplit < 1)) throw new GraftError('USAGE', `validation split must be at least 0 and below 1, not ${validationSplit}`);
  return { epochs, batchSize, learningRate, validationSplit, shuffle: o.shuffle ?? true, seed: o.seed ?? 1 };
}

/**
 * The training loop both paths share. Per batch it does only what training needs: one index
 * upload, gathers, the head's forward pass and gradients inside `optimizer.minimize`, and the
 * Adam update. Losses and hit counts stay on the backend until the epoch ends, when one read
 * brings them all back: no per-batch callbacks or synchronous reads, which is where `model.fit`
 * spends most of its time on small heads.
 */
async function trainLoop(headLayers: tf.layers.Layer[], source: SampleSource, count: number, labels: Labels, options: TrainOptions): Promise<TrainResult> {
  const o = checkOptions(options);
  registerWasmTrainingKernels();
  // Validates the output layer up front: softmax probabilities or linear logits.
  const modelOutput = outputKind(headLayers);
  const outShape = (headLayers[headLayers.length - 1].getOutputAt(0) as tf.SymbolicTensor).shape;
  const classes = outShape[outShape.length - 1];
  if (outShape.length !== 2 || typeof classes !== 'number') {
    throw new GraftError('UNSUPPORTED', `finetune trains classifiers with output [batch, classes]; this model's output is ${shapeString(outShape)}`);
  }
  const targets = classTargets(labels, count, classes);
  const valCount = Math.floor(count * o.validationSplit);
  const trainCount = count - valCount;
  if (trainCount < 1) throw new GraftError('USAGE', `validation split ${o.validationSplit} leaves no training samples out of ${count}`);
  if (o.validationSplit > 0 && valCount === 0) throw new GraftError('USAGE', `validation split ${o.validationSplit} of ${count} samples holds out none`);

  const chain = denseChainOf(headLayers);
  const variables = chain ? chain.variables : [...new Set(headLayers.flatMap((l) => l.trainableWeights.map((w) => w.read() as tf.Variable)))];
  const optimizer = new FlatAdam(variables, o.learningRate);
  const order = Int32Array.from({ length: trainCount }, (_, i) => i);
  const valOrder = Int32Array.from({ length: valCount }, (_, i) => trainCount + i);
  const next = seededRandom(o.seed);
  const history: EpochStats[] = [];
  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const started = performance.now();
      if (o.shuffle) shuffleInPlace(order, next);
      const metrics = new Metrics(targets, classes);
      for (let start = 0; start < trainCount; start += o.batchSize) {
        const indices = order.subarray(start, Math.min(start + o.batchSize, trainCount));
        // A wide dense head takes its batch transposed as well (see denseChainStep).
        const [x, xT] = chain && source.batchAndTranspose && wantsTransposedInput(chain, indices.length) ? source.batchAndTranspose(indices) : [source.batch(indices), undefined];
        const y = tf.tensor2d(gatherRows(targets.rows, classes, indices), [indices.length, classes]);
        if (chain) {
          await metrics.add(denseChainStep(chain, x, y, targets.rowsSumToOne, optimizer, xT), 'probabilities', indices);
        } else {
          let out: tf.Tensor | undefined;
          let kind: OutputKind = 'probabilities';
          let penalty: tf.Scalar | undefined;
          const { value, grads } = tf.variableGrads(() => {
            const forward = headForward(headLayers, x, true);
            out = tf.keep(forward.out);
            kind = forward.kind;
            const extra = regularization(headLayers);
            if (extra) penalty = tf.keep(extra);
            const loss = crossentropy(forward.out, y, forward.kind);
            return extra ? tf.add(loss, extra) : loss;
          }, variables);
          optimizer.apply(variables.map((v) => grads[v.name] ?? null));
          tf.dispose([value, ...Object.values(grads)]);
          await metrics.add(out!, kind, indices, penalty);
        }
        tf.dispose(xT ? [x, xT, y] : [x, y]);
      }
      const train = await metrics.result();
      const stats: EpochStats = { epoch, epochs: o.epochs, seconds: 0, loss: train.loss, accuracy: train.accuracy };
      if (valCount > 0) {
        const v = await evaluate(headLayers, source, valOrder, targets, classes, Math.max(o.batchSize, 256));
        stats.valLoss = v.loss;
        stats.valAccuracy = v.accuracy;
      }
      stats.seconds = (performance.now() - started) / 1000;
      history.push(stats);
      options.onEpoch?.(stats);
    }
  } finally {
    optimizer.dispose();
    source.dispose();
  }
  return { history, loss: targets.sparse ? 'sparseCategoricalCrossentropy' : 'categoricalCrossentropy', fromLogits: modelOutput === 'logits', trainCount, valCount };
}

/** Outputs held on the backend before one download brings a group back (floats). */
const PENDING_FLOATS = 1 << 18;

/**
 * Loss and accuracy of an epoch, computed in JS from the head's outputs. The outputs are kept
 * on the backend and downloaded a group at a time (for most heads once per epoch), which costs
 * no backend ops per batch: on small heads the ten or so ops a loss value and a hit count take
 * are a sizeable part of a step. The loss is Keras's crossentropy (probabilities clipped to
 * [1e-7, 1 − 1e-7]), plus regularization penalties when the head has any.
 */
class Metrics {
  private pending: { out: tf.Tensor; kind: OutputKind; indices: Int32Array; penalty?: tf.Scalar }[] = [];
  private pendingFloats = 0;
  private loss = 0;
  private hits = 0;
  private count = 0;

  constructor(private readonly targets: Targets, private readonly classes: number) {}

  async add(out: tf.Tensor, kind: OutputKind, indices: Int32Array, penalty?: tf.Scalar): Promise<void> {
    this.pending.push({ out, kind, indices: indices.slice(), penalty });
    this.pendingFloats += out.size;
    if (this.pendingFloats >= PENDING_FLOATS) await this.flush();
  }

  private async flush(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    this.pendingFloats = 0;
    if (pending.length === 0) return;
    try {
      // One concat and one download for the whole group.
      const joined = pending.length === 1 ? pending[0].out : tf.concat(pending.map((p) => p.out));
      const values = (await joined.data()) as Float32Array;
      if (joined !== pending[0].out) joined.dispose();
      let offset = 0;
      for (const p of pending) {
        this.score(values.subarray(offset, offset + p.out.size), p.kind, p.indices);
        offset += p.out.size;
      }
      const penalties = pending.filter((p) => p.penalty);
      if (penalties.length) {
        const stacked = tf.stack(penalties.map((p) => p.penalty!));
        const each = (await stacked.data()) as Float32Array;
        stacked.dispose();
        penalties.forEach((p, i) => (this.loss += each[i] * p.indices.length));
      }
    } finally {
      tf.dispose(pending.flatMap((p) => (p.penalty ? [p.out, p.penalty] : [p.out])));
    }
  }

  private score(values: Float32Array, kind: OutputKind, indices: Int32Array): void {
    const c = this.classes;
    const probs = new Float64Array(c);
    for (let r = 0; r < indices.length; r++) {
      const row = values.subarray(r * c, (r + 1) * c);
      let best = 0;
      for (let k = 1; k < c; k++) if (row[k] > row[best]) best = k;
      if (kind === 'logits') {
        let sum = 0;
        for (let k = 0; k < c; k++) sum += (probs[k] = Math.exp(row[k] - row[best]));
        for (let k = 0; k < c; k++) probs[k] /= sum;
      } else {
        for (let k = 0; k < c; k++) probs[k] = row[k];
      }
      const sample = indices[r];
      let loss = 0;
      for (let k = 0; k < c; k++) {
        const t = this.targets.rows[sample * c + k];
        if (t !== 0) loss -= t * Math.log(Math.min(Math.max(probs[k], EPSILON), 1 - EPSILON));
      }
      this.loss += loss;
      if (best === this.targets.ids[sample]) this.hits++;
      this.count++;
    }
  }

  async result(): Promise<{ loss: number; accuracy: number }> {
    await this.flush();
    return { loss: this.loss / this.count, accuracy: this.hits / this.count };
  }
}

async function evaluate(headLayers: tf.layers.Layer[], source: SampleSource, indices: Int32Array, targets: Targets, classes: number, batchSize: number): Promise<{ loss: number; accuracy: number }> {
  const metrics = new Metrics(targets, classes);
  for (let start = 0; start < indices.length; start += batchSize) {
    const part = indices.subarray(start, Math.min(start + batchSize, indices.length));
    const { out, kind } = tf.tidy(() => headForward(headLayers, source.batch(part), false));
    await metrics.add(out, kind, part);
  }
  return metrics.result();
}

function headLayersOf(head: FrozenSplit | tf.LayersModel): tf.layers.Layer[] {
  if (!(head instanceof tf.LayersModel) && 'headLayers' in head) return head.headLayers;
  return linearChain(head as tf.LayersModel);
}

/**
 * Trains the head on cached activations of the frozen bottom. The head's layers are the model's
 * own, so the full model holds the trained weights afterwards.
 */
export async function trainHeadOnCache(head: FrozenSplit | tf.LayersModel, cache: FrozenCache, labels: Labels, options: TrainOptions = {}): Promise<TrainResult> {
  const layers = headLayersOf(head);
  const expected = (layers[0].getInputAt(0) as tf.SymbolicTensor).shape.slice(1);
  checkInputShape([cache.count, ...cache.featureShape], expected, `the cache of '${cache.boundary}'`);
  let source: SampleSource;
  if (cache.data) source = arraySource({ data: cache.data, shape: [cache.count, ...cache.featureShape] }, 'float32');
  else if (cache.file) source = diskSource(cache);
  else throw new Error('cache holds neither data nor a file');
  return trainLoop(layers, source, cache.count, labels, options);
}

/**
 * Trains the same head the same way without a cache: every batch runs through the frozen
 * bottom (inference mode) first. The baseline that caching is measured against.
 */
export async function trainThroughFrozen(split: FrozenSplit, x: tf.Tensor | ArrayData, labels: Labels, options: TrainOptions = {}): Promise<TrainResult> {
  checkInputShape(x.shape, split.inputShape, 'the data');
  const source = bottomSource(arraySource(toArrayData(x), split.inputDtype), split.bottomLayers);
  return trainLoop(split.headLayers, source, x.shape[0], labels, options);
}

/**
 * Trains every trainable layer of a model (no frozen bottom) with the same loop: the
 * from-scratch baseline transfer learning is compared with.
 */
export async function trainModel(model: tf.LayersModel, x: tf.Tensor | ArrayData, labels: Labels, options: TrainOptions = {}): Promise<TrainResult> {
  const layers = linearChain(model);
  const input = model.inputs[0];
  checkInputShape(x.shape, input.shape.slice(1), 'the data');
  return trainLoop(layers, arraySource(toArrayData(x), input.dtype === 'int32' ? 'int32' : 'float32'), x.shape[0], labels, options);
}
