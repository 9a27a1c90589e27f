import * as tf from '@tensorflow/tfjs';
import { loadModelArtifacts } from '../topology/model-json';

/**
 * Loads a layers-model folder (or model.json path) with plain `tf.loadLayersModel`, reading the
 * files itself: the same as tfjs-node's file:// handler, on any backend.
 */
export async function loadLayersModelFromDir(dirOrJson: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(tf.io.fromMemory(loadModelArtifacts(dirOrJson)));
}
