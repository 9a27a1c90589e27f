import * as tf from '@tensorflow/tfjs';
import type { Shape } from '@tensorflow/tfjs-layers/dist/keras_format/common';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import type { LayerVariable } from '@tensorflow/tfjs-layers/dist/variables';
import { activationOf, Activation, convOutputLength, dataFormatOf, intTuple, singleShape, kernelBiasConfig, kernelBiasOf, type KernelBias, type KernelBiasArgs } from './keras_args';

export interface LocallyConnectedArgs extends LayerArgs, KernelBiasArgs {
  filters: number;
  kernelSize: number | number[];
  strides?: number | number[];
  padding?: string;
  dataFormat?: string;
  activation?: string | null;
  useBias?: boolean;
  /** Keras' kernel storage: 1 = one matrix per output position, 2 = a masked dense kernel. */
  implementation?: number;
}

/**
 * Keras 2's LocallyConnected1D/2D: a convolution whose weights are not shared between output
 * positions. Kernel layouts (as Keras stores them):
 *   implementation 1: `[positions, k… · C, filters]`, patch elements ordered (k…, C) for
 *     channels_last and (C, k…) for channels_first;
 *   implementation 2: channels_last `[in…, C, out…, filters]`, channels_first
 *     `[C, in…, filters, out…]`, multiplied by the connectivity mask before a dense product.
 * The bias is `[out…, filters]`; for channels_first Keras *reshapes* it (no transpose) to
 * `[filters, out…]` before adding, and so does this layer.
 * Implementation 3 (a sparse kernel) is refused.
 */
abstract class LocallyConnected extends tf.layers.Layer {
  protected abstract readonly rank: 1 | 2;

  readonly filters: number;
  readonly kernelSize: number[];
  readonly strides: number[];
  readonly padding: 'valid' | 'same';
  readonly dataFormat: 'channelsFirst' | 'channelsLast';
  readonly activation: Activation;
  readonly useBias: boolean;
  readonly implementation: number;
  private readonly weightArgs: KernelBias;

  kernel: LayerVariable | null = null;
  bias: LayerVariable | null = null;
  /** Output spatial sizes, fixed at build (the layer is tied to one input size). */
  private outputSpatial: number[] = [];
  private inputSpatial: number[] = [];
  private channels = 0;
  /** Implementation 1: flat input indices of every patch element, `[positions · featureDim]`. */
  private patchIndices: tf.Tensor1D | null = null;
  /** Implementation 2: the connectivity mask, broadcastable against the kernel. */
  private kernelMask: tf.Tensor | null = null;

  constructor(args: LocallyConnectedArgs, rank: 1 | 2) {
    super(args);
    const cls = rank === 1 ? 'LocallyConnected1D' : 'LocallyConnected2D';
    const where = `${cls} '${this.name}'`;
    if (!Number.isInteger(args.filters) || args.filters <= 0) throw new Error(`${where}: filters must be a positive integer, got ${JSON.stringify(args.filters)}`);
    this.filters = args.filters;
    this.kernelSize = intTuple(args.kernelSize, rank, `${where}: kernel_size`);
    this.strides = intTuple(args.strides, rank, `${where}: strides`, 1);
    const padding = String(args.padding ?? 'valid').toLowerCase();
    if (padding !== 'valid' && padding !== 'same') throw new Error(`${where}: padding must be 'valid' or 'same', got ${JSON.stringify(args.padding)}`);
    this.padding = padding;
    this.dataFormat = dataFormatOf(args.dataFormat, where);
    this.activation = activationOf(args.activation);
    this.useBias = args.useBias ?? true;
    this.implementation = args.implementation ?? 1;
    if (this.implementation !== 1 && this.implementation !== 2) {
      throw new Error(`${where}: implementation ${JSON.stringify(args.implementation)} is not supported (only 1 and 2; 3 stores a sparse kernel)`);
    }
    if (this.implementation === 1 && this.padding === 'same') {
      throw new Error(`${where}: padding 'same' needs implementation 2 (Keras refuses it with implementation 1)`);
    }
    this.weightArgs = kernelBiasOf(args, where);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    const rank = this.rank;
    const where = `${this.getClassName()} '${this.name}'`;
    if (shape.length !== rank + 2) throw new Error(`${where} expects a rank-${rank + 2} input, got [${shape.join(', ')}]`);
    const first = this.dataFormat === 'channelsFirst';
    const spatial = (first ? shape.slice(2) : shape.slice(1, -1)) as (number | null)[];
    const channels = first ? shape[1] : shape[shape.length - 1];
    if (channels == null || spatial.some((d) => d == null)) {
      throw new Error(`${where}: every non-batch input dimension must be known (got [${shape.join(', ')}])`);
    }
    this.inputSpatial = spatial as number[];
    this.channels = channels;
    this.outputSpatial = this.inputSpatial.map((d, i) => convOutputLength(d, this.kernelSize[i], this.padding, this.strides[i]));
    if (this.outputSpatial.some((d) => d <= 0)) throw new Error(`${where}: the kernel is larger than the input`);
    const positions = this.outputSpatial.reduce((a, b) => a * b, 1);
    const featureDim = this.kernelSize.reduce((a, b) => a * b, 1) * channels;
    const kernelShape = this.implementation === 1
      ? [positions, featureDim, this.filters]
      : first
        ? [channels, ...this.inputSpatial, this.filters, ...this.outputSpatial]
        : [...this.inputSpatial, channels, ...this.outputSpatial, this.filters];
    this.kernel = this.addWeight('kernel', kernelShape, 'float32', this.weightArgs.kernelInitializer, this.weightArgs.kernelRegularizer, true, this.weightArgs.kernelConstraint);
    if (this.useBias) {
      this.bias = this.addWeight('bias', [...this.outputSpatial, this.filters], 'float32', this.weightArgs.biasInitializer, this.weightArgs.biasRegularizer, true, this.weightArgs.biasConstraint);
    }
    if (this.implementation === 1) this.patchIndices = tf.keep(tf.tensor1d(this.patchIndexList(), 'int32'));
    else this.kernelMask = tf.keep(this.connectivityMask());
    this.inputSpec = [{ ndim: rank + 2, shape: [null, ...shape.slice(1)] }] as unknown as typeof this.inputSpec;
    this.built = true;
  }

  /** Flat input offsets (batch excluded) of every patch element, in Keras' patch order. */
  private patchIndexList(): number[] {
    const [h, w] = this.rank === 2 ? this.inputSpatial : [this.inputSpatial[0], 1];
    const [kh, kw] = this.rank === 2 ? this.kernelSize : [this.kernelSize[0], 1];
    const [sh, sw] = this.rank === 2 ? this.strides : [this.strides[0], 1];
    const [oh, ow] = this.rank === 2 ? this.outputSpatial : [this.outputSpatial[0], 1];
    const c = this.channels;
    const first = this.dataFormat === 'channelsFirst';
    const out: number[] = [];
    for (let r = 0; r < oh; r++) {
      for (let q = 0; q < ow; q++) {
        if (first) {
          for (let ch = 0; ch < c; ch++) {
            for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) out.push(ch * h * w + (r * sh + i) * w + (q * sw + j));
          }
        } else {
          for (let i = 0; i < kh; i++) {
            for (let j = 0; j < kw; j++) for (let ch = 0; ch < c; ch++) out.push(((r * sh + i) * w + (q * sw + j)) * c + ch);
          }
        }
      }
    }
    return out;
  }

  /**
   * Keras' conv_kernel_mask: input position p feeds output position o along an axis when
   * p ∈ [max(0, c − ⌊k/2⌋), min(n, c + k − ⌊k/2⌋)) with c = o·stride (+⌊k/2⌋ for 'valid'),
   * expanded with unit axes for the channel and filter dimensions of the kernel.
   */
  private connectivityMask(): tf.Tensor {
    const axes = this.inputSpatial.map((n, d) => {
      const k = this.kernelSize[d];
      const left = Math.floor(k / 2);
      const rows: number[][] = [];
      for (let p = 0; p < n; p++) {
        const row: number[] = [];
        for (let o = 0; o < this.outputSpatial[d]; o++) {
          let centre = o * this.strides[d];
          if (this.padding === 'valid') centre += left;
          row.push(p >= Math.max(0, centre - left) && p < Math.min(n, centre + k - left) ? 1 : 0);
        }
        rows.push(row);
      }
      return rows;
    });
    // mask[in…, out…] = Π_d axes[d][in_d][out_d]
    const inS = this.inputSpatial;
    const outS = this.outputSpatial;
    const values: number[] = [];
    if (this.rank === 1) {
      for (let p = 0; p < inS[0]; p++) for (let o = 0; o < outS[0]; o++) values.push(axes[0][p][o]);
    } else {
      for (let p0 = 0; p0 < inS[0]; p0++) for (let p1 = 0; p1 < inS[1]; p1++) {
        for (let o0 = 0; o0 < outS[0]; o0++) for (let o1 = 0; o1 < outS[1]; o1++) values.push(axes[0][p0][o0] * axes[1][p1][o1]);
      }
    }
    const expanded = this.dataFormat === 'channelsFirst'
      ? [1, ...inS, 1, ...outS]
      : [...inS, 1, ...outS, 1];
    return tf.tensor(values, expanded, 'float32');
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = singleShape(inputShape);
    const first = this.dataFormat === 'channelsFirst';
    const spatial = (first ? shape.slice(2) : shape.slice(1, -1)).map((d, i) =>
      d == null ? null : convOutputLength(d, this.kernelSize[i], this.padding, this.strides[i]));
    return first ? [shape[0], this.filters, ...spatial] : [shape[0], ...spatial, this.filters];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const batch = x.shape[0];
      const first = this.dataFormat === 'channelsFirst';
      const kernel = this.kernel!.read();
      let y: tf.Tensor;
      if (this.implementation === 1) {
        const [positions, featureDim] = kernel.shape as number[];
        const patches = tf.gather(tf.reshape(x, [batch, -1]), this.patchIndices!, 1); // [N, P·F]
        const byPosition = tf.transpose(tf.reshape(patches, [batch, positions, featureDim]), [1, 0, 2]);
        const out = tf.matMul(byPosition as tf.Tensor3D, kernel as tf.Tensor3D); // [P, N, filters]
        const grid = tf.reshape(out, [...this.outputSpatial, batch, this.filters]);
        const perm: number[] = this.rank === 2 ? (first ? [2, 3, 0, 1] : [2, 0, 1, 3]) : (first ? [1, 2, 0] : [1, 0, 2]);
        y = tf.transpose(grid, perm);
      } else {
        const masked = tf.mul(kernel, this.kernelMask!);
        const inputSize = x.shape.slice(1).reduce((a, b) => a * b, 1);
        const flat = tf.matMul(tf.reshape(x, [batch, inputSize]) as tf.Tensor2D, tf.reshape(masked, [inputSize, -1]) as tf.Tensor2D);
        const outShape = first ? [this.filters, ...this.outputSpatial] : [...this.outputSpatial, this.filters];
        y = tf.reshape(flat, [batch, ...outShape]);
      }
      if (this.bias != null) {
        const bias = this.bias.read();
        // channels_first: Keras' bias_add reshapes [out…, filters] to [1, filters, out…] as stored.
        y = tf.add(y, tf.reshape(bias, first ? [1, this.filters, ...this.outputSpatial] : [1, ...bias.shape] as number[]));
      }
      return this.activation.apply(y);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      dataFormat: this.dataFormat,
      activation: this.activation.getClassName(),
      useBias: this.useBias,
      ...kernelBiasConfig(this.weightArgs),
      implementation: this.implementation,
    };
  }

  override dispose(): ReturnType<tf.layers.Layer['dispose']> {
    const result = super.dispose();
    if (result.refCountAfterDispose === 0) {
      this.patchIndices?.dispose();
      this.kernelMask?.dispose();
    }
    return result;
  }
}

export class GraftLocallyConnected1D extends LocallyConnected {
  static className = 'LocallyConnected1D';
  static readonly graftExtension = true;
  protected readonly rank = 1;
  constructor(args: LocallyConnectedArgs) {
    super(args, 1);
  }
}

export class GraftLocallyConnected2D extends LocallyConnected {
  static className = 'LocallyConnected2D';
  static readonly graftExtension = true;
  protected readonly rank = 2;
  constructor(args: LocallyConnectedArgs) {
    super(args, 2);
  }
}
