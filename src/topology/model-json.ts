import type * as tfTypes from '@tensorflow/tfjs';
import { asCorrupt, GraftError, printable } from '../errors';
import { fileVolume, nestsDeeperThan, openSource, readWholeFile, realPathInside } from '../io/bytes';
import * as path from '../io/posix';
import type { Volume } from '../io/volume';
import { isObject, Json } from '../io/json';
import { normalizeTopology } from './keras-config';
import { jsonTextDepthExceeds } from '../io/budget';

export type ManifestDType = 'float32' | 'int32' | 'bool' | 'string' | 'complex64';

export interface ManifestWeight {
  name: string;
  shape: number[];
  dtype: ManifestDType;
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; min?: number; scale?: number; original_dtype?: string };
}

export interface ManifestGroup {
  paths: string[];
  weights: ManifestWeight[];
}

/** The `model.json` of a tfjs layers-model. */
export interface ModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  modelTopology: Record<string, unknown>;
  weightsManifest?: ManifestGroup[];
  trainingConfig?: unknown;
  userDefinedMetadata?: Record<string, unknown>;
}

/** model.json files are small (a topology and a manifest); anything beyond this is not one. */
const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;
/** JSON nesting accepted in model.json; real topologies nest a few dozen levels, and the code
 * that later walks them (here, in the Keras translation and in tfjs) recurses. */
export const MAX_MODEL_JSON_DEPTH = 256;

/**
 * The one bounded read of a model.json file: its size, its JSON and its nesting are checked
 * before anything walks it. Every reader of model.json (targets, the tfjs weight reader) uses it.
 */
export function parseModelJsonFile(file: string, volume?: Volume): Json {
  const source = openSource(file, volume);
  let text: string;
  try {
    if (source.size > MAX_MODEL_JSON_BYTES) throw new GraftError('CORRUPT', `model.json is ${source.size} bytes, implausibly large`, { file });
    text = new TextDecoder('utf-8').decode(source.read(0, source.size));
  } finally {
    source.close();
  }
  let doc: unknown;
  try {
    // Depth is checked on the text first: a 100,000-deep document never reaches JSON.parse.
    if (jsonTextDepthExceeds(text, MAX_MODEL_JSON_DEPTH)) throw new GraftError('CORRUPT', `model.json nests more than ${MAX_MODEL_JSON_DEPTH} levels deep`, { file });
    doc = JSON.parse(text);
  } catch (e) {
    if (e instanceof GraftError) throw e;
    throw new GraftError('CORRUPT', `model.json is not valid JSON (${printable((e as Error).message)})`, { file });
  }
  if (!isObject(doc)) throw new GraftError('CORRUPT', 'model.json is not a JSON object', { file });
  if (nestsDeeperThan(doc, MAX_MODEL_JSON_DEPTH)) throw new GraftError('CORRUPT', `model.json nests more than ${MAX_MODEL_JSON_DEPTH} levels deep`, { file });
  return doc;
}

/** A folder stands for the model.json inside it. */
export function modelJsonPath(file: string, volume: Volume = fileVolume): string {
  if (!volume.isDirectory(file)) return file;
  const inner = path.join(file, 'model.json');
  // Anything there (a FIFO too) is what the folder names: opening it gives the precise error.
  if (!volume.exists(inner)) throw new GraftError('NOT_FOUND', 'is a folder without a model.json', { file });
  return inner;
}

/** A layers-model model.json (or a folder holding one), bounded and checked. */
export function readModelJson(file: string): ModelJson {
  const jsonPath = modelJsonPath(file);
  return validateModelJson(parseModelJsonFile(jsonPath), jsonPath);
}

/** A target model.json read once: its topology normalised for tfjs, and whether it holds weights. */
export interface TargetModelJson {
  /** The model.json file itself (a folder given by the user resolved). */
  file: string;
  /** Where it and its shards live (the disk when absent). */
  volume?: Volume;
  json: ModelJson;
  /** `json.modelTopology` made loadable by tfjs (Keras 3 configs translated). */
  topology: Record<string, unknown>;
  hasWeights: boolean;
}

export function readTargetModelJson(file: string, volume?: Volume): TargetModelJson {
  try {
    const jsonPath = modelJsonPath(file, volume);
    const json = validateModelJson(parseModelJsonFile(jsonPath, volume), jsonPath);
    const topology = normalizeTopology(json.modelTopology, file);
    const hasWeights = (json.weightsManifest ?? []).some((g) => g.weights.length > 0);
    return { file: jsonPath, volume, json, topology, hasWeights };
  } catch (e) {
    // The same contract as the weight readers: only GraftErrors naming the file leave here.
    throw asCorrupt(e, { file });
  }
}

export function validateModelJson(doc: unknown, file: string): ModelJson {
  if (!isObject(doc)) throw new GraftError('CORRUPT', 'is not a JSON object', { file });
  const m = doc as Record<string, unknown>;
  // A bare Keras topology (model.to_json()) is accepted as a target too.
  if (!('modelTopology' in m) && typeof m.class_name === 'string' && 'config' in m) {
    return { modelTopology: m };
  }
  if (!m.modelTopology || typeof m.modelTopology !== 'object') {
    throw new GraftError('UNSUPPORTED', m.format === 'graph-model' ? 'is a tfjs graph-model; a layers-model topology is needed' : "has no 'modelTopology'", { file });
  }
  if (m.weightsManifest !== undefined) {
    if (!Array.isArray(m.weightsManifest)) throw new GraftError('CORRUPT', "'weightsManifest' is not a list", { file });
    for (const g of m.weightsManifest as ManifestGroup[]) {
      if (!g || !Array.isArray(g.paths) || !Array.isArray(g.weights)) throw new GraftError('CORRUPT', "a 'weightsManifest' group lacks 'paths' or 'weights'", { file });
    }
  }
  return m as unknown as ModelJson;
}

/**
 * Reads model.json and its shards into tfjs ModelArtifacts, so plain `tf.loadLayersModel` can
 * load a model from disk without tfjs-node's file:// handler.
 */
export function loadModelArtifacts(file: string, read?: { file: string; json: ModelJson; volume?: Volume }): tfTypes.io.ModelArtifacts {
  const volume = read?.volume;
  const jsonPath = read?.file ?? modelJsonPath(file);
  const doc = read?.json ?? readModelJson(jsonPath);
  const dir = path.dirname(jsonPath);
  const weightSpecs: tfTypes.io.WeightsManifestEntry[] = [];
  // One ArrayBuffer per shard (tfjs joins them as it reads), so no single buffer has to hold a
  // model of several GiB.
  const weightData: ArrayBuffer[] = [];
  // Each shard once: a manifest naming one shard many times must not multiply what is read.
  const seen = new Set<string>();
  for (const group of doc.weightsManifest ?? []) {
    for (const p of group.paths) {
      const { path: shard, real } = realPathInside(dir, p, jsonPath, volume);
      if (seen.has(real)) throw new GraftError('CORRUPT', `names the shard '${printable(String(p))}' more than once`, { file: jsonPath });
      seen.add(real);
      const b = readWholeFile(shard, undefined, undefined, volume);
      weightData.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
    }
    weightSpecs.push(...(group.weights as tfTypes.io.WeightsManifestEntry[]));
  }
  return {
    modelTopology: doc.modelTopology as tfTypes.io.ModelArtifacts['modelTopology'],
    weightSpecs,
    weightData,
    format: doc.format,
    generatedBy: doc.generatedBy,
    convertedBy: doc.convertedBy ?? undefined,
    trainingConfig: doc.trainingConfig as tfTypes.io.ModelArtifacts['trainingConfig'],
    userDefinedMetadata: doc.userDefinedMetadata as tfTypes.io.ModelArtifacts['userDefinedMetadata'],
  };
}
