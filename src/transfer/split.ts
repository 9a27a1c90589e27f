import * as tf from '@tensorflow/tfjs';
import { GraftError } from '../errors';
import { isModelClass } from '../topology/walk';
import { shapeString } from './arrays';

type Layer = tf.layers.Layer;

/**
 * Weightless layers whose output differs between training and inference. Caching their output
 * (computed in inference mode) would silently switch off their training behaviour, so the frozen
 * bottom never extends across them.
 */
const TRAINING_DEPENDENT = new Set([
  'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'SpatialDropout3D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'BatchNormalization',
]);

/** A model cut where its frozen bottom ends: the bottom runs once to fill a cache, the head trains. */
export interface FrozenSplit {
  model: tf.LayersModel;
  /** All layers of the model in order (no InputLayer). */
  layers: Layer[];
  /** Layers whose output is cached: frozen layers plus the weightless ones between and right above them. */
  bottomLayers: Layer[];
  /** Layers that train on the cached activations. */
  headLayers: Layer[];
  /** Names of the frozen layers (with weights) in the bottom. */
  frozen: string[];
  /** The topmost frozen layer with weights. */
  topFrozen: string;
  /** The last layer of the bottom: its output is what the cache holds. */
  boundary: string;
  /** Per-sample shape of the boundary's output. */
  featureShape: number[];
  /** Per-sample shape of the model's input. */
  inputShape: (number | null)[];
  inputDtype: 'float32' | 'int32';
  /** input → boundary output, sharing the model's layers. */
  bottom: tf.LayersModel;
  /**
   * boundary output → model output, a new model over the same layer objects (so the same
   * variables). Built on first access: it adds a reference to the head layers (tfjs counts
   * them), so `head.dispose()` as well as `model.dispose()` is needed to free their weights.
   */
  readonly head: tf.LayersModel;
}

function isContainer(layer: Layer): boolean {
  return isModelClass(layer.getClassName());
}

/** A layer whose weights cannot change while training: it has weights and none of them trains. */
export function isFrozen(layer: Layer): boolean {
  return layer.weights.length > 0 && (layer.trainable === false || layer.trainableWeights.length === 0);
}

/** A weightless layer that computes the same in training and inference (pooling, flatten, activation). */
function isPassive(layer: Layer): boolean {
  return layer.weights.length === 0 && !TRAINING_DEPENDENT.has(layer.getClassName());
}

/**
 * The layers of a Sequential model, or of a functional model that is a single chain
 * (one input, one output, each layer fed by the one before). Branching graphs are refused:
 * a cache of one layer's output would not be enough to train the rest.
 */
export function linearChain(model: tf.LayersModel): Layer[] {
  if (model.getClassName() === 'Sequential') return model.layers.slice();
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new GraftError('UNSUPPORTED', `transfer learning needs a model with one input and one output (this one has ${model.inputs.length} and ${model.outputs.length})`);
  }
  const chain = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  let previous: Layer | undefined = model.layers.find((l) => l.getClassName() === 'InputLayer');
  for (const layer of chain) {
    const inbound = layer.inboundNodes[0]?.inboundLayers ?? [];
    if (inbound.length !== 1 || inbound[0] !== previous) {
      throw new GraftError('UNSUPPORTED', `transfer learning needs a linear stack of layers; layer '${layer.name}' takes ${inbound.length === 1 ? `'${inbound[0].name}'` : `${inbound.length} inputs`} where '${previous?.name}' was expected`);
    }
    previous = layer;
  }
  if (model.outputs[0].sourceLayer !== previous) {
    throw new GraftError('UNSUPPORTED', `transfer learning needs a linear stack of layers; the output does not come from the last layer '${previous?.name}'`);
  }
  return chain;
}

/**
 * Finds where the contiguous frozen bottom of `model` ends and cuts it there.
 * The bottom is the longest run of layers from the input that cannot change while training:
 * frozen layers, and weightless layers that behave the same in training and inference
 * (so pooling and flattening right above the last frozen layer are cached too, which keeps
 * the cache small). It must hold at least one frozen layer, and the head at least one
 * trainable weight.
 */
export function splitAtFrozen(model: tf.LayersModel): FrozenSplit {
  const layers = linearChain(model);
  let end = 0;
  while (end < layers.length && (isFrozen(layers[end]) || isPassive(layers[end]))) end++;
  const bottomLayers = layers.slice(0, end);
  const headLayers = layers.slice(end);
  const frozen = bottomLayers.filter(isFrozen).map((l) => l.name);
  if (frozen.length === 0) {
    const first = layers.find((l) => l.weights.length > 0);
    throw new GraftError('USAGE', `no frozen layers at the bottom of the model${first ? ` (its first layer with weights, '${first.name}', is trainable)` : ''}: freeze some with --freeze <regex>`);
  }
  if (!headLayers.some((l) => l.trainableWeights.length > 0)) {
    throw new GraftError('USAGE', `every layer with weights is frozen (${frozen.join(', ')}): nothing is left to train`);
  }
  const boundaryLayer = bottomLayers[bottomLayers.length - 1];
  const boundaryOutput = boundaryLayer.getOutputAt(0) as tf.SymbolicTensor;
  const featureShape = boundaryOutput.shape.slice(1);
  if (!featureShape.every((d): d is number => typeof d === 'number')) {
    throw new GraftError('UNSUPPORTED', `the frozen bottom's output ${shapeString(featureShape)} (layer '${boundaryLayer.name}') has unknown dimensions; caching needs a fixed shape per sample`);
  }
  const input = model.inputs[0];
  const bottom = tf.model({ inputs: input, outputs: boundaryOutput, name: `${model.name}_frozen_bottom` });
  let head: tf.LayersModel | undefined;
  const buildHead = (): tf.LayersModel => {
    const headInput = tf.input({ shape: featureShape as number[], dtype: 'float32', name: `${model.name}_head_input` });
    let x: tf.SymbolicTensor = headInput;
    for (const layer of headLayers) x = layer.apply(x) as tf.SymbolicTensor;
    return tf.model({ inputs: headInput, outputs: x, name: `${model.name}_head` });
  };
  return {
    get head(): tf.LayersModel {
      head ??= buildHead();
      return head;
    },
    model,
    layers,
    bottomLayers,
    headLayers,
    frozen,
    topFrozen: frozen[frozen.length - 1],
    boundary: boundaryLayer.name,
    featureShape: featureShape as number[],
    inputShape: input.shape.slice(1),
    inputDtype: input.dtype === 'int32' ? 'int32' : 'float32',
    bottom,
  };
}

/** Runs layers one after another on a concrete tensor. Call inside tf.tidy. */
export function runLayers(layers: readonly Layer[], x: tf.Tensor, training: boolean): tf.Tensor {
  let y = x;
  for (const layer of layers) y = layer.apply(y, { training }) as tf.Tensor;
  return y;
}

/**
 * Marks layers whose names match any regex as not trainable, on a live model (nested models'
 * layers included). A regex that matches no layer is a usage error: a typo would otherwise
 * silently freeze nothing.
 */
export function freezeMatching(model: tf.LayersModel, patterns: RegExp[]): string[] {
  const names: string[] = [];
  const frozen: string[] = [];
  const hits = new Array<number>(patterns.length).fill(0);
  const visit = (layer: Layer): void => {
    if (layer.getClassName() === 'InputLayer') return;
    names.push(layer.name);
    let match = false;
    patterns.forEach((p, i) => {
      if (p.test(layer.name)) {
        hits[i]++;
        match = true;
      }
    });
    if (match) {
      layer.trainable = false;
      frozen.push(layer.name);
    } else if (isContainer(layer)) {
      for (const inner of (layer as unknown as tf.LayersModel).layers) visit(inner);
    }
  };
  for (const layer of model.layers) visit(layer);
  const idle = patterns.filter((_, i) => hits[i] === 0);
  if (idle.length) {
    throw new GraftError('USAGE', `--freeze ${idle.map((p) => `'${p.source}'`).join(', ')} matches no layer (layers: ${names.join(', ')})`);
  }
  return frozen;
}

/** How the model's output relates to class scores: softmax probabilities or raw logits. */
export type OutputKind = 'probabilities' | 'logits';

/**
 * Classification losses need to know whether the last layer applies softmax. Anything other
 * than softmax or linear (sigmoid, relu) is not a multi-class classifier output.
 */
export function outputKind(layers: readonly Layer[]): OutputKind {
  const last = layers[layers.length - 1];
  const cls = last.getClassName();
  if (cls === 'Softmax') return 'probabilities';
  const activation = (last.getConfig() as { activation?: unknown }).activation;
  if (activation === 'softmax') return 'probabilities';
  if (activation === 'linear' || (activation === undefined && cls !== 'Activation')) return 'logits';
  throw new GraftError('UNSUPPORTED', `the last layer '${last.name}' has activation ${JSON.stringify(activation)}; finetune trains classifiers whose output is softmax probabilities or linear logits`);
}
