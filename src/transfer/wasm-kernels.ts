import * as tf from '@tensorflow/tfjs';
import { GraftError } from '../errors';

type Info = { dataId: object; shape: number[]; dtype: string };

/**
 * The wasm backend computes conv2d but not its filter gradient, so convolution layers cannot
 * train there. A 2-D filter gradient is the 3-D one over a depth of 1, which wasm has: this
 * registers Conv2DBackpropFilter on wasm as that, by viewing the same buffers with a depth axis.
 */
export function registerWasmTrainingKernels(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return;
  const conv3d = tf.getKernel('Conv3DBackpropFilterV2', 'wasm');
  if (!conv3d) return;
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as unknown as { x: Info; dy: Info };
      const a = attrs as unknown as { strides: number | [number, number]; pad: unknown; dataFormat?: string; dimRoundingMode?: string; filterShape: number[] };
      const [sh, sw] = typeof a.strides === 'number' ? [a.strides, a.strides] : a.strides;
      // wasm's 3-D filter gradient disagrees with the CPU backend's for strides > 1 (measured), so
      // only the stride-1 case is routed through it.
      if ((a.dataFormat && a.dataFormat !== 'NHWC') || (a.pad !== 'same' && a.pad !== 'valid') || a.dimRoundingMode || sh !== 1 || sw !== 1) {
        throw new GraftError('UNSUPPORTED', `training a convolution with strides ${sh}x${sw}, padding ${JSON.stringify(a.pad)} is not possible on the wasm backend; use tfjs-node or the cpu backend`);
      }
      const [n, h, w, c] = x.shape;
      const [, oh, ow, f] = dy.shape;
      const [kh, kw, kc, kf] = a.filterShape;
      const out = conv3d.kernelFunc({
        inputs: { x: { ...x, shape: [n, 1, h, w, c] }, dy: { ...dy, shape: [n, 1, oh, ow, f] } } as unknown as tf.NamedTensorInfoMap,
        backend,
        attrs: { strides: [1, sh, sw], pad: a.pad, filterShape: [1, kh, kw, kc, kf] } as unknown as tf.NamedAttrMap,
      }) as Info;
      return { ...out, shape: [kh, kw, kc, kf] } as unknown as tf.TensorInfo;
    },
  });
}
