import * as tf from '@tensorflow/tfjs';
import { kernelGrad } from './dense-head';
import { OutputKind, outputKind } from './split';

type Layer = tf.layers.Layer;
type DenseActivation = 'linear' | 'relu' | 'sigmoid' | 'tanh';

interface DenseInternals {
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
}

/**
 * Dense layers train through a custom gradient built only from non-transposed matMuls and
 * explicit transposes. The gradients tfjs derives for matMul use its transposeA/transposeB
 * forms, which the wasm backend runs 3-12× slower than transpose + matMul (measured:
 * [64, 784]×[784, 300] weight gradient 12.6 ms vs 1.0 ms). The maths is the same.
 */
function denseActivation(layer: Layer): DenseActivation | 'softmax' | undefined {
  if (layer.getClassName() !== 'Dense') return undefined;
  const activation = (layer.getConfig() as { activation?: unknown }).activation;
  return activation === 'linear' || activation === 'relu' || activation === 'sigmoid' || activation === 'tanh' || activation === 'softmax' ? activation : undefined;
}

/** dL/dz from dL/dy and y = activation(z), for the activations the fast path handles. */
function activationGrad(dy: tf.Tensor, y: tf.Tensor, activation: DenseActivation): tf.Tensor {
  switch (activation) {
    case 'relu': return tf.mul(dy, tf.step(y));
    case 'sigmoid': return tf.mul(dy, tf.mul(y, tf.sub(1, y)));
    case 'tanh': return tf.mul(dy, tf.sub(1, tf.square(y)));
    default: return dy;
  }
}

function denseValue(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | undefined, activation: DenseActivation): tf.Tensor {
  if (activation === 'tanh') return tf.tanh(tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: b }));
  return tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: b, activation: activation === 'linear' ? undefined : activation });
}

const gradCache = new Map<string, (...args: tf.Tensor[]) => tf.Tensor>();

/**
 * The dense op with its custom gradient. When `inputGrad` is false, x is closed over rather
 * than passed in, so no gradient (and no matMul) is spent on it: the first trainable layer of
 * a head needs none.
 */
function denseOp(activation: DenseActivation, inputGrad: boolean, useBias: boolean, x: tf.Tensor): (...args: tf.Tensor[]) => tf.Tensor {
  if (!inputGrad) {
    return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const w = args[0] as tf.Tensor;
      const b = useBias ? (args[1] as tf.Tensor) : undefined;
      const save = args[args.length - 1] as tf.GradSaveFunc;
      const y = denseValue(x, w, b, activation);
      save([y]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const dz = activationGrad(dy, saved[0], activation);
          const dw = kernelGrad(x, dz);
          return useBias ? [dw, tf.sum(dz, 0)] : [dw];
        },
      };
    });
  }
  const key = `${activation}:${useBias}`;
  let op = gradCache.get(key);
  if (!op) {
    op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const input = args[0] as tf.Tensor;
      const w = args[1] as tf.Tensor;
      const b = useBias ? (args[2] as tf.Tensor) : undefined;
      const save = args[args.length - 1] as tf.GradSaveFunc;
      const y = denseValue(input, w, b, activation);
      save([input, w, y]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [sx, sw, sy] = saved;
          const dz = activationGrad(dy, sy, activation);
          const dx = tf.matMul(dz, tf.transpose(sw));
          const dw = kernelGrad(sx, dz);
          return useBias ? [dx, dw, tf.sum(dz, 0)] : [dx, dw];
        },
      };
    }) as (...args: tf.Tensor[]) => tf.Tensor;
    gradCache.set(key, op);
  }
  return op;
}

/**
 * The head's forward pass for training and evaluation. Returns logits when the last layer is
 * a softmax Dense (its softmax is left to the loss, as Keras does for softmax outputs:
 * log-softmax is exact where log(clip(softmax)) saturates), else whatever the last layer gives.
 * Call inside tf.tidy (or optimizer.minimize).
 */
export function headForward(layers: readonly Layer[], x: tf.Tensor, training: boolean): { out: tf.Tensor; kind: OutputKind } {
  let h = x;
  let upstreamTrainable = false;
  let kind: OutputKind = 'probabilities';
  layers.forEach((layer, i) => {
    const last = i === layers.length - 1;
    let activation = denseActivation(layer);
    const trainable = layer.trainableWeights.length > 0;
    if (activation && h.rank === 2) {
      if (activation === 'softmax') {
        if (!last) {
          h = layer.apply(h, { training }) as tf.Tensor;
          upstreamTrainable ||= trainable;
          return;
        }
        activation = 'linear';
        kind = 'logits';
      }
      const { kernel, bias } = layer as unknown as DenseInternals;
      const w = kernel.read();
      const b = bias ? bias.read() : undefined;
      if (!training || !(trainable || upstreamTrainable)) {
        h = denseValue(h, w, b, activation);
      } else {
        const op = denseOp(activation, upstreamTrainable, b !== undefined, h);
        const params = b ? [w, b] : [w];
        h = upstreamTrainable ? op(h, ...params) : op(...params);
      }
      if (last && kind !== 'logits') kind = outputKind([layer]);
    } else {
      h = layer.apply(h, { training }) as tf.Tensor;
      if (last) kind = outputKind([layer]);
    }
    upstreamTrainable ||= trainable;
  });
  return { out: h, kind };
}

/** Regularization penalties of the layers (kernelRegularizer and the like), summed; undefined when none. */
export function regularization(layers: readonly Layer[]): tf.Scalar | undefined {
  const terms = layers.flatMap((l) => l.losses.map((fn) => fn()));
  return terms.length ? (tf.addN(terms) as tf.Scalar) : undefined;
}
