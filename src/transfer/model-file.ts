import * as tf from '@tensorflow/tfjs';
import '../layers';
import { loadLayersModelFromDir } from '../output/load';
import { ModelJson, readModelJson } from '../topology/model-json';
import { GraftError } from '../errors';
import { firstLine } from '../topology/live-model';

/**
 * Loads a layers-model folder (or model.json) that carries weights. A bare topology (a
 * conversion target) would run with random weights, so it is refused with a pointer to convert.
 */
export async function loadWeightedModel(file: string): Promise<{ model: tf.LayersModel; doc: ModelJson }> {
  const doc = readModelJson(file);
  if (!(doc.weightsManifest ?? []).some((g) => g.weights.length > 0)) {
    throw new GraftError('USAGE', 'has no weights, only a topology; give a model written by graft convert (or any tfjs layers-model with weights)', { file });
  }
  try {
    return { model: await loadLayersModelFromDir(file), doc };
  } catch (e) {
    if (e instanceof GraftError) throw e;
    throw new GraftError('CORRUPT', `cannot be loaded as a tfjs layers-model (${firstLine(e)})`, { file });
  }
}
