import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { currentBackend, initBackend } from '../backend';
import { checkOutputDir } from '../output/atomic';
import { toRegexes } from '../convert/options';
import { GraftError } from '../errors';
import { ArrayData, readNpyArray } from './arrays';
import { BottomSource, cacheFrozenOutputs } from './cache';
import { loadWeightedModel } from './model-file';
import { saveLayersModel } from './save';
import { FrozenSplit, freezeMatching, splitAtFrozen } from './split';
import { Labels, TrainOptions, TrainResult, trainHeadOnCache, trainThroughFrozen } from './train';

export interface TransferOptions extends TrainOptions {
  /** Regexes over layer names to freeze before splitting (layers already frozen stay frozen). */
  freeze?: (string | RegExp)[];
  /** Train the head on cached bottom outputs (default true) or run the bottom on every batch. */
  cache?: boolean;
  /** Keep the cache in a .npy file in this folder instead of memory. */
  cacheDir?: string;
  /** Samples per forward pass while filling the cache (default 256). */
  cacheBatchSize?: number;
}

export interface TransferResult extends TrainResult {
  split: FrozenSplit;
  /** Layers newly frozen by `freeze`. */
  newlyFrozen: string[];
  cache: boolean;
  /** Wall time to fill the cache (0 without one). */
  cacheSeconds: number;
}

/**
 * The in-memory workflow: freeze, split at the frozen bottom, cache its outputs (or not),
 * train the head. The model's own variables are trained, so `model` is the finished model.
 */
export async function transferTrain(model: tf.LayersModel, x: tf.Tensor | ArrayData, labels: Labels, options: TransferOptions = {}): Promise<TransferResult> {
  const newlyFrozen = options.freeze?.length ? freezeMatching(model, toRegexes(options.freeze, '--freeze')) : [];
  const split = splitAtFrozen(model);
  const useCache = options.cache ?? true;
  let cacheSeconds = 0;
  let result: TrainResult;
  if (useCache) {
    const cache = await cacheFrozenOutputs(split as BottomSource, x, { batchSize: options.cacheBatchSize, toDisk: options.cacheDir });
    cacheSeconds = cache.seconds;
    result = await trainHeadOnCache(split, cache, labels, options);
  } else {
    result = await trainThroughFrozen(split, x, labels, options);
  }
  return { ...result, split, newlyFrozen, cache: useCache, cacheSeconds };
}

export interface FinetuneOptions extends TransferOptions {
  /** A tfjs layers-model: model.json or its folder. */
  model: string;
  /** Inputs .npy, samples first. */
  data: string;
  /** Labels .npy: class ids [N] or one-hot rows [N, classes]. */
  labels: string;
  /** Output folder, written atomically. */
  out: string;
  force?: boolean;
}

export interface FinetuneReport extends TransferResult {
  model: string;
  backend: string | undefined;
  out: string;
  files: string[];
  bytes: number;
}

/**
 * `graft finetune`: load a layers-model, freeze, train the head on the data, write the whole
 * model (frozen flags kept) to `out`. Every check on flags and files runs before training.
 */
export async function finetune(options: FinetuneOptions): Promise<FinetuneReport> {
  if (!options.out) throw new GraftError('USAGE', 'finetune needs --out <dir>');
  toRegexes(options.freeze, '--freeze');
  checkOutputDir(options.out, options.force ?? false, [options.model, options.data, options.labels]);
  await initBackend();
  const x = readNpyArray(options.data, '--data');
  const y = readNpyArray(options.labels, '--labels');
  const { model, doc } = await loadWeightedModel(options.model);
  try {
    const result = await transferTrain(model, x, y, options);
    const last = result.history[result.history.length - 1];
    const graftMeta = (doc.userDefinedMetadata?.graft ?? {}) as Record<string, unknown>;
    const written = await saveLayersModel(model, options.out, {
      force: options.force,
      userDefinedMetadata: {
        ...doc.userDefinedMetadata,
        graft: {
          ...graftMeta,
          frozen: result.split.frozen,
          finetune: {
            data: path.basename(options.data),
            samples: result.trainCount,
            epochs: result.history.length,
            loss: result.loss,
            finalLoss: last.loss,
            finalAccuracy: last.accuracy,
            cached: result.split.boundary,
          },
        },
      },
    });
    return { ...result, model: options.model, backend: currentBackend(), out: options.out, files: written.files, bytes: written.totalBytes };
  } finally {
    model.dispose();
  }
}
