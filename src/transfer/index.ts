/**
 * Transfer learning on grafted models: freeze the pretrained bottom, run it once over the data
 * (the cache), and train only the new head on its outputs.
 */
export { splitAtFrozen, freezeMatching, linearChain, isFrozen, runLayers, outputKind } from './split';
export type { FrozenSplit, OutputKind } from './split';
export { cacheFrozenOutputs, DiskCacheReader } from './cache';
export type { FrozenCache, CacheOptions, BottomSource } from './cache';
export { trainHeadOnCache, trainThroughFrozen, trainModel, classTargets, gatherRows, seededRandom } from './train';
export type { TrainOptions, TrainResult, EpochStats, Labels, LossName } from './train';
export { transferTrain, finetune } from './finetune';
export type { TransferOptions, TransferResult, FinetuneOptions, FinetuneReport } from './finetune';
export { saveLayersModel } from './save';
export type { SaveOptions } from './save';
export { verifyModel, toChannelsLast, toChannelsFirst, DEFAULT_ATOL } from './verify';
export type { VerifyOptions, VerifyResult } from './verify';
export { readNpyArray } from './arrays';
export type { ArrayData } from './arrays';
