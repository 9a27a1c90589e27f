import * as tf from '@tensorflow/tfjs';
import { GraftError } from '../errors';
import { ArrayData, shapeString } from './arrays';
import { DiskCacheReader, FrozenCache, checkInputShape } from './cache';
import { headForward, regularization } from './head-forward';
import { FrozenSplit, OutputKind, linearChain, outputKind, runLayers } from './split';

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
    return { rows, ids, sparse: true };
  }
  if (y.shape.length !== 2 || y.shape[1] !== classes) {
    throw new GraftError('SHAPE_MISMATCH', `the labels have shape ${shapeString(y.shape)}; expected class ids [${count}] or one-hot rows [${count}, ${classes}]`);
  }
  const rows = Float32Array.from(y.data);
  const ids = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (rows[i * classes + c] > rows[i * classes + best]) best = c;
    ids[i] = best;
  }
  return { rows, ids, sparse: false };
}

/** Where a batch of (features for the head) comes from, given the sample indices. */
interface SampleSource {
  batch(indices: Int32Array, indexTensor: tf.Tensor1D): tf.Tensor;
  dispose(): void;
}

function tensorSource(values: tf.Tensor): SampleSource {
  return {
    batch: (_indices, indexTensor) => tf.gather(values, indexTensor),
    dispose: () => values.dispose(),
  };
}

function diskSource(cache: FrozenCache): SampleSource {
  const reader = new DiskCacheReader(cache);
  return {
    batch: (indices) => tf.tensor(reader.rows(indices), [indices.length, ...cache.featureShape]),
    dispose: () => reader.close(),
  };
}

/** Features computed on the fly: the frozen bottom runs on each batch in inference mode, as the cache does. */
function bottomSource(inner: SampleSource, bottomLayers: readonly tf.layers.Layer[]): SampleSource {
  return {
    batch: (indices, indexTensor) => tf.tidy(() => runLayers(bottomLayers, inner.batch(indices, indexTensor), false)),
    dispose: () => inner.dispose(),
  };
}

/** mulberry32: a small seeded generator, so shuffles repeat across runs and paths. */
function random(seed: number): () => number {
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

/** Mean crossentropy of a batch; from probabilities it clips as Keras does, from logits it uses logSoftmax. */
function crossentropy(out: tf.Tensor, target: tf.Tensor, kind: OutputKind): tf.Scalar {
  const logP = kind === 'logits' ? tf.logSoftmax(out) : tf.log(tf.clipByValue(out, EPSILON, 1 - EPSILON));
  return tf.neg(tf.mean(tf.sum(tf.mul(target, logP), -1))) as tf.Scalar;
}

function correctCount(out: tf.Tensor, ids: tf.Tensor): tf.Scalar {
  return tf.sum(tf.cast(tf.equal(tf.argMax(out, -1), ids), 'float32'));
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

  const variables = [...new Set(headLayers.flatMap((l) => l.trainableWeights.map((w) => w.read() as tf.Variable)))];
  const optimizer = tf.train.adam(o.learningRate);
  const targetRows = tf.tensor2d(targets.rows, [count, classes]);
  const targetIds = tf.tensor1d(targets.ids, 'int32');
  const order = Int32Array.from({ length: trainCount }, (_, i) => i);
  const valOrder = Int32Array.from({ length: valCount }, (_, i) => trainCount + i);
  const next = random(o.seed);
  const history: EpochStats[] = [];
  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const started = performance.now();
      if (o.shuffle) shuffleInPlace(order, next);
      const costs: tf.Scalar[] = [];
      const hits: tf.Scalar[] = [];
      const sizes: number[] = [];
      for (let start = 0; start < trainCount; start += o.batchSize) {
        const indices = order.subarray(start, Math.min(start + o.batchSize, trainCount));
        const indexTensor = tf.tensor1d(indices, 'int32');
        const x = source.batch(indices, indexTensor);
        const y = tf.gather(targetRows, indexTensor);
        const ids = tf.gather(targetIds, indexTensor);
        let hit: tf.Scalar | undefined;
        const cost = optimizer.minimize(
          () => {
            const { out, kind } = headForward(headLayers, x, true);
            hit = tf.keep(correctCount(out, ids));
            const penalty = regularization(headLayers);
            const loss = crossentropy(out, y, kind);
            return penalty ? tf.add(loss, penalty) : loss;
          },
          true,
          variables,
        );
        costs.push(cost!);
        hits.push(hit!);
        sizes.push(indices.length);
        tf.dispose([indexTensor, x, y, ids]);
      }
      const lossValues = await readScalars(costs);
      const hitValues = await readScalars(hits);
      let lossSum = 0;
      let hitSum = 0;
      sizes.forEach((n, i) => {
        lossSum += lossValues[i] * n;
        hitSum += hitValues[i];
      });
      const stats: EpochStats = { epoch, epochs: o.epochs, seconds: 0, loss: lossSum / trainCount, accuracy: hitSum / trainCount };
      if (valCount > 0) {
        const v = await evaluate(headLayers, source, valOrder, targetRows, targetIds, Math.max(o.batchSize, 256));
        stats.valLoss = v.loss;
        stats.valAccuracy = v.accuracy;
      }
      stats.seconds = (performance.now() - started) / 1000;
      history.push(stats);
      options.onEpoch?.(stats);
    }
  } finally {
    optimizer.dispose();
    tf.dispose([targetRows, targetIds]);
    source.dispose();
  }
  return { history, loss: targets.sparse ? 'sparseCategoricalCrossentropy' : 'categoricalCrossentropy', fromLogits: modelOutput === 'logits', trainCount, valCount };
}

/** Reads a list of scalars with one download, and disposes them. */
async function readScalars(values: tf.Scalar[]): Promise<Float32Array> {
  if (values.length === 0) return new Float32Array(0);
  const stacked = tf.stack(values);
  const data = (await stacked.data()) as Float32Array;
  tf.dispose([stacked, ...values]);
  return data;
}

async function evaluate(
  headLayers: tf.layers.Layer[], source: SampleSource, indices: Int32Array, targetRows: tf.Tensor, targetIds: tf.Tensor, batchSize: number,
): Promise<{ loss: number; accuracy: number }> {
  const costs: tf.Scalar[] = [];
  const hits: tf.Scalar[] = [];
  for (let start = 0; start < indices.length; start += batchSize) {
    const part = indices.subarray(start, Math.min(start + batchSize, indices.length));
    const indexTensor = tf.tensor1d(part, 'int32');
    const [cost, hit] = tf.tidy(() => {
      const x = source.batch(part, indexTensor);
      const { out, kind } = headForward(headLayers, x, false);
      // Sum, not mean, so batches of different sizes add up exactly.
      return [tf.mul(crossentropy(out, tf.gather(targetRows, indexTensor), kind), part.length) as tf.Scalar, correctCount(out, tf.gather(targetIds, indexTensor))];
    });
    indexTensor.dispose();
    costs.push(cost);
    hits.push(hit);
  }
  const c = await readScalars(costs);
  const h = await readScalars(hits);
  return { loss: c.reduce((a, b) => a + b, 0) / indices.length, accuracy: h.reduce((a, b) => a + b, 0) / indices.length };
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
  if (cache.data) source = tensorSource(tf.tensor(cache.data, [cache.count, ...cache.featureShape]));
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
  const values = x instanceof tf.Tensor ? x.clone() : tf.tensor(x.data, x.shape, split.inputDtype);
  const source = bottomSource(tensorSource(values), split.bottomLayers);
  return trainLoop(split.headLayers, source, x.shape[0], labels, options);
}
