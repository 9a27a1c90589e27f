/**
 * tfjs-graft: graft pretrained weights from other frameworks onto TensorFlow.js layers models.
 *
 * The data flows one way: source file → reader (formats) → plan (mapping) → assign → checkpoint.
 */
export { GraftError, isGraftError } from './errors';
export type { GraftErrorCode } from './errors';
export { initBackend, currentBackend } from './backend';
export type { BackendName } from './backend';
export { openWeights, registerFormat, registeredFormats, detectFormat } from './formats';
export type { DType, TensorInfo, RawTensor, WeightReader, FormatHandler, Convention, SourceOp } from './formats';
export { planGraft } from './mapping/plan';
export type { Plan, Assignment, PlanError, PlanOptions } from './mapping/plan';
export type { TargetVariable } from './topology/variables';
export { parseMappingTable, aliasOf } from './mapping/table';
export type { MappingTable } from './mapping/table';
export { inferConvention } from './mapping/conventions';
export { applyTransform, transformedShape, describeTransform } from './transforms';
export type { TransformSpec } from './transforms';
export { toFloat32, toInt32 } from './transforms/dtype';
export { assignPlan, convertAssignment } from './convert/assign';
export { targetVariables, modelFromTopology, loadTargetModel } from './topology/live-model';
export { convert, reportJson } from './convert';
export type { ConvertOptions, ConvertReport } from './convert';
export { convertInMemory, inspectInMemory } from './convert/memory';
export type { ConvertInMemoryOptions, ConvertedModel, MemoryFile, InspectResult } from './convert/memory';
export { formatError } from './errors';
export { MemoryVolume } from './io/volume';
export type { Volume, ByteSource } from './io/volume';
export { writeLayersModel } from './output/writer';
export { freezeLayers } from './topology/freeze';
export { loadModelArtifacts, readModelJson } from './topology/model-json';
export { loadLayersModelFromDir } from './output/load';

// --- Transfer learning (issue 6): freeze, cache the frozen layers' outputs, train the head; verify ---
export {
  splitAtFrozen, freezeMatching, cacheFrozenOutputs, trainHeadOnCache, trainThroughFrozen, trainModel,
  transferTrain, finetune, saveLayersModel, verifyModel, readNpyArray,
} from './transfer';
export type {
  FrozenSplit, FrozenCache, CacheOptions, TrainOptions, TrainResult, EpochStats, Labels,
  TransferOptions, TransferResult, FinetuneOptions, FinetuneReport, SaveOptions, VerifyOptions, VerifyResult, ArrayData,
} from './transfer';
