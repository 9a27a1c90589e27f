import * as tf from '@tensorflow/tfjs';
import type { Dropout, DropoutLayerArgs } from '@tensorflow/tfjs-layers/dist/layers/core';
import { tfjsOwnClass } from './tfjs_classes';
import { dataFormatOf } from './keras_args';

const TfjsDropout = tfjsOwnClass<typeof Dropout>('Dropout');

export type SpatialDropoutArgs = DropoutLayerArgs & { dataFormat?: string };

/**
 * Keras' SpatialDropout2D/3D: in training, whole feature maps are dropped (one Bernoulli draw per
 * sample and channel, noise shape `[N, 1, …, 1, C]` or `[N, C, 1, …, 1]`) and the kept ones are
 * scaled by 1/(1 − rate); at inference the layer is the identity. Keras ignores `noise_shape` here.
 * (SpatialDropout1D is tfjs's own class, which already drops whole channels.)
 */
abstract class SpatialDropout extends TfjsDropout {
  readonly dataFormat: 'channelsFirst' | 'channelsLast';
  protected abstract readonly spatialRank: number;

  constructor(args: SpatialDropoutArgs) {
    super({ ...args, noiseShape: undefined });
    this.dataFormat = dataFormatOf(args.dataFormat, (this.constructor as { className?: string }).className ?? 'SpatialDropout');
  }

  protected override getNoiseShape(input: tf.Tensor): number[] {
    const shape = input.shape as number[];
    if (shape.length !== this.spatialRank + 2) {
      throw new Error(`${this.getClassName()} '${this.name}' expects a rank-${this.spatialRank + 2} input, got shape [${shape.join(', ')}]`);
    }
    const ones = new Array<number>(this.spatialRank).fill(1);
    return this.dataFormat === 'channelsFirst'
      ? [shape[0], shape[1], ...ones]
      : [shape[0], ...ones, shape[shape.length - 1]];
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config = super.getConfig();
    delete config['noiseShape'];
    return { ...config, dataFormat: this.dataFormat };
  }
}

export class GraftSpatialDropout2D extends SpatialDropout {
  static override className = 'SpatialDropout2D';
  static readonly graftExtension = true;
  protected readonly spatialRank = 2;
}

export class GraftSpatialDropout3D extends SpatialDropout {
  static override className = 'SpatialDropout3D';
  static readonly graftExtension = true;
  protected readonly spatialRank = 3;
}
