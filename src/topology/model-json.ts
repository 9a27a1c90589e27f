import * as fs from 'fs';
import * as path from 'path';
import type * as tfTypes from '@tensorflow/tfjs';
import { GraftError } from '../errors';
import { fileOpenError, resolveInside } from '../io/bytes';

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

const MAX_MODEL_JSON_BYTES = 256 * 1024 * 1024;

export function readModelJson(file: string): ModelJson {
  let text: string;
  try {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) {
      const inner = path.join(file, 'model.json');
      if (fs.existsSync(inner)) return readModelJson(inner);
      throw new GraftError('NOT_FOUND', 'is a folder without a model.json', { file });
    }
    if (stat.size > MAX_MODEL_JSON_BYTES) throw new GraftError('CORRUPT', `is ${stat.size} bytes, too large for a model.json`, { file });
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof GraftError) throw e;
    throw fileOpenError(file, e);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new GraftError('CORRUPT', `is not valid JSON (${(e as Error).message})`, { file });
  }
  return validateModelJson(doc, file);
}

export function validateModelJson(doc: unknown, file: string): ModelJson {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new GraftError('CORRUPT', 'is not a JSON object', { file });
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

/** The model config inside a topology: tfjs accepts both bare configs and Keras' `{model_config: …}` wrapper. */
export function modelConfigOf(topology: Record<string, unknown>): Record<string, unknown> {
  const inner = topology.model_config;
  return inner && typeof inner === 'object' ? (inner as Record<string, unknown>) : topology;
}


/**
 * Reads model.json and its shards into tfjs ModelArtifacts, so plain `tf.loadLayersModel` can
 * load a model from disk without tfjs-node's file:// handler.
 */
export function loadModelArtifacts(file: string): tfTypes.io.ModelArtifacts {
  const jsonPath = fs.existsSync(file) && fs.statSync(file).isDirectory() ? path.join(file, 'model.json') : file;
  const doc = readModelJson(jsonPath);
  const dir = path.dirname(jsonPath);
  const weightSpecs: tfTypes.io.WeightsManifestEntry[] = [];
  // One ArrayBuffer per shard (tfjs joins them as it reads), so no single buffer has to hold a
  // model of several GiB.
  const weightData: ArrayBuffer[] = [];
  for (const group of doc.weightsManifest ?? []) {
    for (const p of group.paths) {
      const b = fs.readFileSync(resolveInside(dir, p, jsonPath));
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
