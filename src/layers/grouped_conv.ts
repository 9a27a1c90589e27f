import * as tf from '@tensorflow/tfjs';
import type { Shape } from '@tensorflow/tfjs-layers/dist/keras_format/common';
import type { Conv1D, Conv2D, ConvLayerArgs } from '@tensorflow/tfjs-layers/dist/layers/convolutional';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import type { LayerVariable } from '@tensorflow/tfjs-layers/dist/variables';
import { tfjsOwnClass } from './tfjs_classes';

const TfjsConv1D = tfjsOwnClass<typeof Conv1D>('Conv1D');
const TfjsConv2D = tfjsOwnClass<typeof Conv2D>('Conv2D');

export type GroupedConvArgs = ConvLayerArgs & {
  /** Keras' `groups`: input channels and filters split into this many independent convolutions. */
  groups?: number;
};

/** Validates `groups` against the constructor arguments Keras checks up front. */
function checkedGroups(layer: string, name: string, args: GroupedConvArgs, filters: number,
  dataFormat: string): number {
  const groups = args.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) {
    throw new Error(`${layer} '${name}': groups must be a positive integer, got ${JSON.stringify(args.groups)}`);
  }
  if (groups > 1) {
    if (filters % groups !== 0) {
      throw new Error(`${layer} '${name}': filters (${filters}) must be divisible by groups (${groups})`);
    }
    if (dataFormat !== 'channelsLast') {
      throw new Error(`${layer} '${name}': grouped convolution (groups=${groups}) supports only ` +
        `data_format 'channels_last', got '${dataFormat}'`);
    }
  }
  return groups;
}

interface GroupedGeometry {
  rank: 1 | 2;
  groups: number;
  strides: number[];
  padding: string;
  dilationRate: number[];
}

/**
 * Channels-last grouped convolution: group g convolves input channels [g·C/G, (g+1)·C/G) with
 * kernel[..., :, g·F/G : (g+1)·F/G], outputs concatenated in group order (Keras' and PyTorch's
 * layout). One input channel per group is a depthwise convolution with a channel multiplier,
 * which tfjs runs as a single op.
 */
function groupedConvolution(x: tf.Tensor, kernel: tf.Tensor, geometry: GroupedGeometry): tf.Tensor {
  const { rank, groups, strides, dilationRate } = geometry;
  let padding = geometry.padding;
  if (padding === 'causal') {
    // Causal = left-pad the time axis by the dilated kernel extent, then a valid convolution.
    const leftPad = (kernel.shape[0] - 1) * dilationRate[0];
    x = tf.pad(x, [[0, 0], [leftPad, 0], [0, 0]]);
    padding = 'valid';
  }
  const pad = padding === 'same' ? 'same' : 'valid';
  const inPerGroup = kernel.shape[rank];
  const filters = kernel.shape[rank + 1];
  if (rank === 2 && inPerGroup === 1) {
    const [kh, kw] = kernel.shape;
    const depthwiseKernel = tf.reshape(kernel, [kh, kw, groups, filters / groups]) as tf.Tensor4D;
    return tf.depthwiseConv2d(x as tf.Tensor4D, depthwiseKernel, strides as [number, number], pad,
      'NHWC', dilationRate as [number, number]);
  }
  const inputs = tf.split(x, groups, -1);
  const kernels = tf.split(kernel, groups, -1);
  const outputs = inputs.map((input, g) => rank === 1
    ? tf.conv1d(input as tf.Tensor3D, kernels[g] as tf.Tensor3D, strides[0], pad, 'NWC', dilationRate[0])
    : tf.conv2d(input as tf.Tensor4D, kernels[g] as tf.Tensor4D, strides as [number, number], pad,
      'NHWC', dilationRate as [number, number]));
  return tf.concat(outputs, -1);
}

/** The parts of tfjs's Conv layer the grouped build/call need, passed from the subclasses. */
interface ConvInternals {
  layer: tf.layers.Layer;
  className: string;
  rank: 1 | 2;
  groups: number;
  filters: number;
  kernelSize: number[];
  useBias: boolean;
  addWeight: (name: string, shape: number[], bias: boolean) => LayerVariable;
}

function buildGrouped(c: ConvInternals, inputShape: Shape | Shape[]): { kernel: LayerVariable; bias: LayerVariable | null } {
  const shape = Array.isArray(inputShape[0]) ? (inputShape as Shape[])[0] : (inputShape as Shape);
  const channelAxis = shape.length - 1;
  const inputDim = shape[channelAxis];
  if (inputDim == null) {
    throw new Error(`${c.className} '${c.layer.name}': the channel dimension of the input must be known`);
  }
  if (inputDim % c.groups !== 0) {
    throw new Error(`${c.className} '${c.layer.name}': input channels (${inputDim}) must be divisible ` +
      `by groups (${c.groups})`);
  }
  const kernel = c.addWeight('kernel', [...c.kernelSize, inputDim / c.groups, c.filters], false);
  const bias = c.useBias ? c.addWeight('bias', [c.filters], true) : null;
  c.layer.inputSpec = [{ ndim: c.rank + 2, axes: { [channelAxis]: inputDim } }] as unknown as
    typeof c.layer.inputSpec;
  c.layer.built = true;
  return { kernel, bias };
}

/** The forward pass of a grouped Conv1D/Conv2D: grouped convolution, bias, activation. */
function groupedCall(
  layer: { kernel: LayerVariable; bias: LayerVariable | null; groups: number; strides: number[]; padding: string; dilationRate: number[]; activation: { apply(x: tf.Tensor): tf.Tensor } },
  inputs: tf.Tensor | tf.Tensor[],
  rank: 1 | 2,
): tf.Tensor {
  return tf.tidy(() => {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    let y = groupedConvolution(x, layer.kernel.read(), {
      rank, groups: layer.groups, strides: layer.strides, padding: layer.padding as never,
      dilationRate: layer.dilationRate,
    });
    if (layer.bias != null) y = tf.add(y, layer.bias.read());
    return layer.activation.apply(y);
  });
}

/**
 * tfjs's Conv2D, registered under `Conv2D`, that also honours Keras' `groups`
 * (kernel `[kh, kw, in/groups, filters]`). With groups 1 or absent it is tfjs's layer unchanged.
 */
export class GraftConv2D extends TfjsConv2D {
  static override className = 'Conv2D';
  static readonly graftExtension = true;

  readonly groups: number;
  /** Whether the config named `groups`, so getConfig writes back exactly what it was given. */
  private readonly groupsInConfig: boolean;

  constructor(args: GroupedConvArgs) {
    super(args);
    this.groups = checkedGroups('Conv2D', this.name, args, this.filters, this.dataFormat);
    this.groupsInConfig = args.groups !== undefined;
  }

  override build(inputShape: Shape | Shape[]): void {
    if (this.groups === 1) {
      super.build(inputShape);
      return;
    }
    const { kernel, bias } = buildGrouped(this.internals(), inputShape);
    this.kernel = kernel;
    this.bias = bias as LayerVariable;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    if (this.groups === 1) return super.call(inputs, kwargs);
    return groupedCall(
      { kernel: this.kernel, bias: this.bias, groups: this.groups, strides: this.strides, padding: this.padding, dilationRate: this.dilationRate, activation: this.activation },
      inputs,
      2,
    );
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config = super.getConfig();
    if (this.groupsInConfig) config['groups'] = this.groups;
    return config;
  }

  private internals(): ConvInternals {
    return {
      layer: this, className: 'Conv2D', rank: 2, groups: this.groups, filters: this.filters,
      kernelSize: this.kernelSize, useBias: this.useBias,
      addWeight: (name, shape, isBias) => isBias
        ? this.addWeight(name, shape, undefined, this.biasInitializer, this.biasRegularizer, true,
          this.biasConstraint)
        : this.addWeight(name, shape, undefined, this.kernelInitializer, this.kernelRegularizer, true,
          this.kernelConstraint),
    };
  }
}

/**
 * tfjs's Conv1D, registered under `Conv1D`, that also honours Keras' `groups`
 * (kernel `[k, in/groups, filters]`), including `padding: 'causal'` when grouped.
 * With groups 1 or absent it is tfjs's layer unchanged.
 */
export class GraftConv1D extends TfjsConv1D {
  static override className = 'Conv1D';
  static readonly graftExtension = true;

  readonly groups: number;
  private readonly groupsInConfig: boolean;

  constructor(args: GroupedConvArgs) {
    super(args);
    this.groups = checkedGroups('Conv1D', this.name, args, this.filters, this.dataFormat);
    this.groupsInConfig = args.groups !== undefined;
  }

  override build(inputShape: Shape | Shape[]): void {
    if (this.groups === 1) {
      super.build(inputShape);
      return;
    }
    const { kernel, bias } = buildGrouped(this.internals(), inputShape);
    this.kernel = kernel;
    this.bias = bias as LayerVariable;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    if (this.groups === 1) return super.call(inputs, kwargs);
    return groupedCall(
      { kernel: this.kernel, bias: this.bias, groups: this.groups, strides: this.strides, padding: this.padding, dilationRate: this.dilationRate, activation: this.activation },
      inputs,
      1,
    );
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    // tfjs sizes 'causal' like 'valid'; Keras keeps the length, as 'same' does.
    if (this.groups === 1 || this.padding !== 'causal') return super.computeOutputShape(inputShape);
    const shape = Array.isArray(inputShape[0]) ? (inputShape as Shape[])[0] : (inputShape as Shape);
    const length = shape[1];
    return [shape[0], length == null ? null : Math.ceil(length / this.strides[0]), this.filters];
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config = super.getConfig();
    if (this.groupsInConfig) config['groups'] = this.groups;
    return config;
  }

  private internals(): ConvInternals {
    return {
      layer: this, className: 'Conv1D', rank: 1, groups: this.groups, filters: this.filters,
      kernelSize: this.kernelSize, useBias: this.useBias,
      addWeight: (name, shape, isBias) => isBias
        ? this.addWeight(name, shape, undefined, this.biasInitializer, this.biasRegularizer, true,
          this.biasConstraint)
        : this.addWeight(name, shape, undefined, this.kernelInitializer, this.kernelRegularizer, true,
          this.kernelConstraint),
    };
  }
}
