import * as tf from '@tensorflow/tfjs';
import type { Shape } from '@tensorflow/tfjs-layers/dist/keras_format/common';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import { dataFormatOf, singleShape } from './keras_args';

export interface Cropping3DArgs extends LayerArgs {
  /** An int, three ints (symmetric per axis) or three [before, after] pairs, as Keras accepts. */
  cropping?: number | number[] | number[][];
  dataFormat?: string;
}

/**
 * Keras' Cropping3D (tfjs has Cropping2D only): removes `[before, after]` slices from each of the
 * three spatial axes of a rank-5 input. No weights.
 */
export class GraftCropping3D extends tf.layers.Layer {
  static className = 'Cropping3D';
  static readonly graftExtension = true;
  readonly cropping: [number, number][];
  readonly dataFormat: 'channelsFirst' | 'channelsLast';

  constructor(args: Cropping3DArgs = {}) {
    super(args);
    const where = `Cropping3D '${this.name}'`;
    const raw = args.cropping ?? 1;
    const nonNegative = (v: unknown): number => {
      if (!Number.isInteger(v) || (v as number) < 0) throw new Error(`${where}: cropping must be non-negative integers, got ${JSON.stringify(raw)}`);
      return v as number;
    };
    if (typeof raw === 'number') {
      const n = nonNegative(raw);
      this.cropping = [[n, n], [n, n], [n, n]];
    } else if (Array.isArray(raw) && raw.length === 3) {
      this.cropping = (raw as unknown[]).map((axis) => {
        if (Array.isArray(axis) && axis.length === 2) return [nonNegative(axis[0]), nonNegative(axis[1])] as [number, number];
        const n = nonNegative(axis);
        return [n, n] as [number, number];
      });
    } else {
      throw new Error(`${where}: cropping must be an int, 3 ints or 3 pairs, got ${JSON.stringify(raw)}`);
    }
    this.dataFormat = dataFormatOf(args.dataFormat, where);
    this.inputSpec = [{ ndim: 5 }] as unknown as typeof this.inputSpec;
  }

  private spatialAxes(): number[] {
    return this.dataFormat === 'channelsFirst' ? [2, 3, 4] : [1, 2, 3];
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const out = singleShape(inputShape).slice();
    this.spatialAxes().forEach((a, i) => {
      const d = out[a];
      out[a] = d == null ? null : d - this.cropping[i][0] - this.cropping[i][1];
    });
    return out;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const begin = [0, 0, 0, 0, 0];
      const size = x.shape.slice() as number[];
      this.spatialAxes().forEach((a, i) => {
        begin[a] = this.cropping[i][0];
        size[a] = x.shape[a] - this.cropping[i][0] - this.cropping[i][1];
        if (size[a] <= 0) throw new Error(`Cropping3D '${this.name}': cropping ${JSON.stringify(this.cropping[i])} removes all of axis ${a} (size ${x.shape[a]})`);
      });
      return tf.slice(x, begin, size);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), cropping: this.cropping, dataFormat: this.dataFormat };
  }
}
