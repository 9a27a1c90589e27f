import * as tf from '@tensorflow/tfjs';
import type { FlatAdam } from './adam';

type HiddenActivation = 'linear' | 'relu' | 'sigmoid' | 'tanh';

interface DenseParams {
  kernel: tf.Variable;
  bias?: tf.Variable;
  activation: HiddenActivation;
}

/**
 * A head made only of trainable Dense layers (the usual new classifier on a frozen base),
 * ending in softmax or linear. Such a head trains without tfjs's gradient tape: the backward
 * pass is written out (about 7 backend ops per layer). On small heads the tape's bookkeeping
 * per op, not arithmetic, is most of a step's time.
 */
export interface DenseChain {
  layers: DenseParams[];
  /** Variables in the order `step` returns their gradients: kernel, bias, per layer. */
  variables: tf.Variable[];
}

const HIDDEN = new Set(['linear', 'relu', 'sigmoid', 'tanh']);

/** The chain when every layer qualifies; undefined sends the head to the general (tape) path. */
export function denseChainOf(layers: readonly tf.layers.Layer[]): DenseChain | undefined {
  const params: DenseParams[] = [];
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    if (layer.getClassName() !== 'Dense' || layer.losses.length > 0) return undefined;
    const input = layer.getInputAt(0) as tf.SymbolicTensor;
    if (input.shape.length !== 2) return undefined;
    const { kernel, bias } = layer as unknown as { kernel: tf.LayerVariable; bias: tf.LayerVariable | null };
    // Every weight must train: a frozen layer inside the head takes the general path.
    if (layer.trainableWeights.length !== (bias ? 2 : 1)) return undefined;
    const activation = (layer.getConfig() as { activation?: string }).activation ?? 'linear';
    const last = i === layers.length - 1;
    if (last ? activation !== 'softmax' && activation !== 'linear' : !HIDDEN.has(activation)) return undefined;
    params.push({ kernel: kernel.read() as tf.Variable, bias: bias ? (bias.read() as tf.Variable) : undefined, activation: last ? 'linear' : (activation as HiddenActivation) });
  }
  if (params.length === 0) return undefined;
  return { layers: params, variables: params.flatMap((p) => (p.bias ? [p.kernel, p.bias] : [p.kernel])) };
}

function dense(x: tf.Tensor, p: DenseParams): tf.Tensor {
  if (p.activation === 'tanh') return tf.tanh(tf.fused.matMul({ a: x as tf.Tensor2D, b: p.kernel as tf.Tensor2D, bias: p.bias }));
  return tf.fused.matMul({ a: x as tf.Tensor2D, b: p.kernel as tf.Tensor2D, bias: p.bias, activation: p.activation === 'linear' ? undefined : p.activation });
}

/** dL/dpre-activation from dL/doutput, given the layer's output y = activation(pre). */
function throughActivation(dy: tf.Tensor, y: tf.Tensor, activation: HiddenActivation): tf.Tensor {
  switch (activation) {
    case 'relu': return tf.mul(dy, tf.step(y));
    case 'sigmoid': return tf.mul(dy, tf.mul(y, tf.sub(1, y)));
    case 'tanh': return tf.mul(dy, tf.sub(1, tf.square(y)));
    default: return dy;
  }
}

/**
 * xᵀ·dz, the kernel gradient of a dense layer, as whichever of xᵀ·dz and (dzᵀ·x)ᵀ transposes
 * less: for a wide input and few units ([64, 9216] into 10) transposing x dominates
 * (wasm, measured: 5.8 ms vs 1.3 ms). Small operands keep the two-op form.
 */
export function kernelGrad(x: tf.Tensor, dz: tf.Tensor, xT?: tf.Tensor): tf.Tensor {
  // With xᵀ at hand, xᵀ·dz is one product whose right operand (dz) is small. On wasm the right
  // operand of a product is re-packed (XNNPACK weights) whenever it is a new tensor: for a fresh
  // [64, 9216] batch that packing costs ~2 ms, more than the product itself.
  if (xT) return tf.matMul(xT, dz);
  const [rows, inputs] = x.shape as [number, number];
  const units = dz.shape[1] as number;
  if (units < rows && rows * inputs >= 65536) return tf.transpose(tf.matMul(tf.transpose(dz), x));
  return tf.matMul(tf.transpose(x), dz);
}

/**
 * One training step on a batch: forward, softmax crossentropy gradient, backward, Adam.
 * Returns the batch's softmax probabilities (for the caller's loss and accuracy); the gradient
 * is the exact (softmax(z)·Σt − t)/N. `xT`, optional, is x transposed ([inputs, rows]), for
 * callers that can lay a wide batch out both ways more cheaply than the backend can (see
 * `wantsTransposedInput`); the result is the same.
 */
export function denseChainStep(chain: DenseChain, x: tf.Tensor, target: tf.Tensor, rowsSumToOne: boolean, optimizer: FlatAdam, xT?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const n = x.shape[0];
    const outputs: tf.Tensor[] = [x];
    for (const p of chain.layers) outputs.push(dense(outputs[outputs.length - 1], p));
    const probs = tf.softmax(outputs[outputs.length - 1]);
    const scaled = rowsSumToOne ? probs : tf.mul(probs, tf.sum(target, -1, true));
    let delta = tf.mul(tf.sub(scaled, target), 1 / n);
    const grads: tf.Tensor[] = [];
    for (let l = chain.layers.length - 1; l >= 0; l--) {
      const p = chain.layers[l];
      const input = outputs[l];
      const layerGrads = [kernelGrad(input, delta, l === 0 ? xT : undefined)];
      if (p.bias) layerGrads.push(tf.sum(delta, 0));
      grads.unshift(...layerGrads);
      if (l > 0) delta = throughActivation(tf.matMul(delta, tf.transpose(p.kernel)), input, chain.layers[l - 1].activation);
    }
    optimizer.apply(grads);
    return probs;
  });
}

/**
 * Whether denseChainStep gains from being handed its input transposed as well: a wide first
 * layer with few units, where the kernel gradient would otherwise pack or transpose the batch.
 */
export function wantsTransposedInput(chain: DenseChain, rows: number): boolean {
  const kernel = chain.layers[0].kernel;
  const [inputs, units] = kernel.shape as [number, number];
  return units < rows && rows * inputs >= 65536;
}
