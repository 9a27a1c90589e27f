import * as tf from '@tensorflow/tfjs';
import type { Shape } from '@tensorflow/tfjs-layers/dist/keras_format/common';
import type { Conv2DTranspose, ConvLayerArgs } from '@tensorflow/tfjs-layers/dist/layers/convolutional';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import { tfjsOwnClass } from './tfjs_classes';
import { singleShape } from './keras_args';

const TfjsConv2DTranspose = tfjsOwnClass<typeof Conv2DTranspose>('Conv2DTranspose');

export type GroupedConvTransposeArgs = ConvLayerArgs & {
  /** Input channels and filters split into this many independent transposed convolutions. */
  groups?: number;
};

/** tfjs's deconvLength (Keras' deconv_output_length without output padding). */
function deconvLength(length: number, stride: number, kernel: number, padding: string): number {
  return padding === 'valid' ? length * stride + Math.max(kernel - stride, 0) : length * stride;
}

/**
 * tfjs's Conv2DTranspose, registered under `Conv2DTranspose`, that also takes `groups` (as
 * PyTorch's ConvTranspose2d does; Keras has no such key): group g maps input channels
 * [g·C/G, (g+1)·C/G) to filters [g·F/G, (g+1)·F/G) with kernel[…, :, g·C/G : (g+1)·C/G], so the
 * kernel is `[kh, kw, filters/groups, in]` — PyTorch's `[in, out/groups, kh, kw]` permuted like
 * an ungrouped one. channels_last only. With groups 1 or absent it is tfjs's layer unchanged.
 */
export class GraftConv2DTranspose extends TfjsConv2DTranspose {
  static override className = 'Conv2DTranspose';
  static readonly graftExtension = true;

  readonly groups: number;
  private readonly groupsInConfig: boolean;

  constructor(args: GroupedConvTransposeArgs) {
    super(args);
    const groups = args.groups ?? 1;
    const where = `Conv2DTranspose '${this.name}'`;
    if (!Number.isInteger(groups) || groups < 1) throw new Error(`${where}: groups must be a positive integer, got ${JSON.stringify(args.groups)}`);
    if (groups > 1) {
      if (this.filters % groups !== 0) throw new Error(`${where}: filters (${this.filters}) must be divisible by groups (${groups})`);
      if (this.dataFormat !== 'channelsLast') throw new Error(`${where}: grouped transposed convolution (groups=${groups}) supports only data_format 'channels_last'`);
      if (this.dilationRate.some((d) => d !== 1)) throw new Error(`${where}: grouped transposed convolution does not support dilation_rate ${JSON.stringify(this.dilationRate)}`);
    }
    this.groups = groups;
    this.groupsInConfig = args.groups !== undefined;
  }

  override build(inputShape: Shape | Shape[]): void {
    if (this.groups === 1) {
      super.build(inputShape);
      return;
    }
    const shape = singleShape(inputShape);
    const where = `Conv2DTranspose '${this.name}'`;
    if (shape.length !== 4) throw new Error(`${where} expects a rank-4 input, got [${shape.join(', ')}]`);
    const channels = shape[3];
    if (channels == null) throw new Error(`${where}: the channel dimension of the input must be known`);
    if (channels % this.groups !== 0) throw new Error(`${where}: input channels (${channels}) must be divisible by groups (${this.groups})`);
    this.kernel = this.addWeight('kernel', [...this.kernelSize, this.filters / this.groups, channels], 'float32',
      this.kernelInitializer, this.kernelRegularizer, true, this.kernelConstraint);
    if (this.useBias) {
      this.bias = this.addWeight('bias', [this.filters], 'float32', this.biasInitializer, this.biasRegularizer, true, this.biasConstraint);
    }
    this.inputSpec = [{ ndim: 4, axes: { 3: channels } }] as unknown as typeof this.inputSpec;
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    if (this.groups === 1) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const [batch, height, width] = x.shape;
      const [kh, kw] = this.kernelSize;
      const [sh, sw] = this.strides as number[];
      const perGroup = this.filters / this.groups;
      const outShape: [number, number, number, number] = [batch, deconvLength(height, sh, kh, this.padding), deconvLength(width, sw, kw, this.padding), perGroup];
      const xs = tf.split(x, this.groups, 3);
      const kernels = tf.split(this.kernel.read(), this.groups, 3);
      const outs = xs.map((xg, g) => tf.conv2dTranspose(xg as tf.Tensor4D, kernels[g] as tf.Tensor4D, outShape, [sh, sw], this.padding as 'same' | 'valid'));
      let y: tf.Tensor = tf.concat(outs, 3);
      if (this.bias != null) y = tf.add(y, this.bias.read());
      return this.activation != null ? this.activation.apply(y) : y;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config = super.getConfig();
    if (this.groupsInConfig) config['groups'] = this.groups;
    return config;
  }
}
