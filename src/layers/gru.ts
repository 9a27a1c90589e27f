import * as tf from '@tensorflow/tfjs';
import type { Shape } from '@tensorflow/tfjs-layers/dist/keras_format/common';
import type {
  GRU,
  GRUCell,
  GRUCellLayerArgs,
  GRULayerArgs,
} from '@tensorflow/tfjs-layers/dist/layers/recurrent';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import type { LayerVariable } from '@tensorflow/tfjs-layers/dist/variables';
import { singleShape } from './keras_args';
import { tfjsOwnClass } from './tfjs_classes';

const TfjsGRUCell = tfjsOwnClass<typeof GRUCell>('GRUCell');
const TfjsGRU = tfjsOwnClass<typeof GRU>('GRU');

export interface GraftGRUCellArgs extends GRUCellLayerArgs {
  /** Keras' `reset_after`: apply the reset gate after the recurrent matmul (the cuDNN convention). */
  resetAfter?: boolean;
}

export type GraftGRUArgs = GRULayerArgs & { resetAfter?: boolean };

/**
 * tfjs's GRUCell plus Keras' `reset_after=True` convention. With `resetAfter` false or absent it
 * is tfjs's cell unchanged; with it, the bias holds two rows (input bias, recurrent bias) and
 *   h~ = act(x·W_h + b_i_h + r ⊙ (h_prev·U_h + b_r_h)),   h = z ⊙ h_prev + (1 − z) ⊙ h~
 * with gates in Keras' order z, r, h.
 */
export class GraftGRUCell extends TfjsGRUCell {
  static readonly graftExtension = true;

  readonly resetAfter: boolean;

  constructor(args: GraftGRUCellArgs) {
    // tfjs's constructor refuses resetAfter=true; all it sets up is common to both conventions.
    super({ ...args, resetAfter: false });
    this.resetAfter = args.resetAfter === true;
  }

  override build(inputShape: Shape | Shape[]): void {
    if (!this.resetAfter) {
      super.build(inputShape);
      return;
    }
    const shape = singleShape(inputShape);
    const inputDim = shape[shape.length - 1];
    if (inputDim == null) {
      throw new Error(`GRU '${this.name}': the last input dimension must be known to build the cell`);
    }
    const gates = 3 * this.units;
    this.kernel = this.addWeight('kernel', [inputDim, gates], undefined, this.kernelInitializer,
      this.kernelRegularizer, true, this.kernelConstraint);
    this.recurrentKernel = this.addWeight('recurrent_kernel', [this.units, gates], undefined,
      this.recurrentInitializer, this.recurrentRegularizer, true, this.recurrentConstraint);
    this.bias = this.useBias
      ? this.addWeight('bias', [2, gates], undefined, this.biasInitializer, this.biasRegularizer,
        true, this.biasConstraint)
      : (null as unknown as LayerVariable);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    if (!this.resetAfter) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      if (!Array.isArray(inputs) || inputs.length !== 2) {
        throw new Error(`GRUCell expects 2 input tensors (inputs, h), got ${
          Array.isArray(inputs) ? inputs.length : 1}`);
      }
      const training = kwargs['training'] === true;
      let x = inputs[0];
      const hPrev = inputs[1];
      // Masks are drawn once per sequence and reused at every step; the GRU layer disposes them
      // at the start of each call, as it does for tfjs's own cell.
      if (0 < this.dropout && this.dropout < 1) {
        if (this.dropoutMask == null) this.dropoutMask = this.makeDropoutMask(x, this.dropout, training);
        x = tf.mul(x, this.dropoutMask as tf.Tensor);
      }
      let hForRecurrence = hPrev;
      if (0 < this.recurrentDropout && this.recurrentDropout < 1) {
        if (this.recurrentDropoutMask == null) {
          this.recurrentDropoutMask = this.makeDropoutMask(hPrev, this.recurrentDropout, training);
        }
        hForRecurrence = tf.mul(hPrev, this.recurrentDropoutMask as tf.Tensor);
      }

      let matrixX = tf.matMul(x, this.kernel.read());
      let matrixInner = tf.matMul(hForRecurrence, this.recurrentKernel.read());
      if (this.useBias) {
        const [inputBias, recurrentBias] = tf.unstack(this.bias.read());
        matrixX = tf.add(matrixX, inputBias);
        matrixInner = tf.add(matrixInner, recurrentBias);
      }
      const [xZ, xR, xH] = tf.split(matrixX, 3, -1);
      const [innerZ, innerR, innerH] = tf.split(matrixInner, 3, -1);
      const z = this.recurrentActivation.apply(tf.add(xZ, innerZ));
      const r = this.recurrentActivation.apply(tf.add(xR, innerR));
      const hCandidate = this.activation.apply(tf.add(xH, tf.mul(r, innerH)));
      // As Keras (and tfjs's cell), the carry term uses the recurrent-dropout-masked state.
      const h = tf.add(tf.mul(z, hForRecurrence), tf.mul(tf.sub(1, z), hCandidate));
      return [h, h];
    });
  }

  private makeDropoutMask(like: tf.Tensor, rate: number, training: boolean): tf.Tensor {
    const ones = tf.onesLike(like);
    if (!training) return tf.keep(ones);
    const dropped = this.dropoutFunc != null
      ? (this.dropoutFunc(ones, rate) as tf.Tensor)
      : tf.dropout(ones, rate);
    return tf.keep(dropped);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), resetAfter: this.resetAfter };
  }
}

/**
 * tfjs's GRU layer, registered under Keras' class name `GRU`, that also accepts
 * `reset_after: true` (every GRU Keras ≥ 2.3 writes by default). Without it the layer is
 * tfjs's own, down to the cell instance.
 */
export class GraftGRU extends TfjsGRU {
  static override className = 'GRU';
  static readonly graftExtension = true;

  constructor(args: GraftGRUArgs) {
    // tfjs's constructor builds its own cell from args (and mutates them), so hand it a copy
    // that its cell accepts, then swap in the reset-after cell where one is asked for.
    super({ ...args, resetAfter: false } as GRULayerArgs);
    if (args.resetAfter === true) {
      (this as unknown as { cell: GraftGRUCell }).cell = new GraftGRUCell(args);
    }
  }

  get resetAfter(): boolean {
    return this.cell instanceof GraftGRUCell && this.cell.resetAfter;
  }
}
