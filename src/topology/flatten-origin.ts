/**
 * What a tensor is, as far as Flatten cares: a feature map whose PyTorch counterpart is
 * channels-first (so PyTorch flattens it (C, H, W) and tfjs (H, W, C): a following Dense kernel
 * needs its rows reordered), a sequence or feature vector both frameworks lay out alike
 * (batch-first RNN outputs, attention, Embedding, Dense), or something graft cannot tell.
 * Decided from the target's graph alone, layer by layer from the inputs. Pure.
 */

export type TensorLayout = 'feature-map' | 'sequence' | 'unknown';

export interface TensorOrigin {
  layout: TensorLayout;
  /** The layer (or input) that decided it, and its class. */
  layer: string;
  className: string;
  /**
   * A feature map computed from a sequence (Conv1D over embeddings): the PyTorch model permuted
   * (N, L, C) to (N, C, L) for its Conv1d, and may or may not have permuted back before flattening.
   */
  fromSequence?: boolean;
}

/** Convolutions and pooling: in PyTorch their outputs are channels-first. */
const FEATURE_MAP_CLASSES = /^(Conv[123]D|Conv[123]DTranspose|SeparableConv[12]D|DepthwiseConv[12]D|(Max|Average)Pooling[123]D|UpSampling[123]D|ZeroPadding[123]D|Cropping[123]D|ConvLSTM2D|LocallyConnected[12]D)$/;

/** Layers whose outputs are laid out the same in both frameworks (features last, batch first). */
const SEQUENCE_CLASSES = /^(Dense|LSTM|GRU|SimpleRNN|RNN|Bidirectional|Embedding|MultiHeadAttention|Attention|AdditiveAttention|TimeDistributed|RepeatVector|Global(Max|Average)Pooling[123]D|CategoryEncoding)$/;

/** Layers that keep their input's layout: elementwise, normalisation, regularisation. */
const KEEPS_LAYOUT = /^(Activation|Dropout|SpatialDropout[123]D|GaussianNoise|GaussianDropout|AlphaDropout|BatchNormalization|LayerNormalization|GroupNormalization|UnitNormalization|ReLU|LeakyReLU|PReLU|ELU|ThresholdedReLU|Softmax|Masking|Rescaling|Normalization|InputLayer)$/;

/** Merges keep the layout their inputs agree on. */
const MERGES = /^(Add|Subtract|Multiply|Average|Maximum|Minimum|Concatenate)$/;

/** An input tensor: images (rank ≥ 3 without the batch) are channels-first in PyTorch, rank 2 is a sequence. */
export function inputOrigin(layer: string, shapeWithoutBatch: readonly unknown[] | undefined): TensorOrigin {
  if (!shapeWithoutBatch) return { layout: 'unknown', layer, className: 'InputLayer' };
  return { layout: shapeWithoutBatch.length >= 3 ? 'feature-map' : 'sequence', layer, className: 'InputLayer' };
}

/** The origin of a layer's output, from its class and the origins of its inputs. */
export function originAfter(layer: string, className: string, inputs: readonly TensorOrigin[]): TensorOrigin {
  if (FEATURE_MAP_CLASSES.test(className)) {
    const fromSequence = inputs.some((o) => o.layout === 'sequence' || (o.layout === 'feature-map' && o.fromSequence));
    return { layout: 'feature-map', layer, className, ...(fromSequence ? { fromSequence } : {}) };
  }
  if (SEQUENCE_CLASSES.test(className)) return { layout: 'sequence', layer, className };
  if (KEEPS_LAYOUT.test(className) && inputs.length === 1) return inputs[0];
  if (MERGES.test(className) && inputs.length > 0 && inputs.every((o) => o.layout === inputs[0].layout)) return inputs[0];
  // Reshape, Permute, Flatten, nested models, custom layers: graft cannot say.
  return { layout: 'unknown', layer, className };
}

/** Why a Dense kernel after a Flatten was (not) reordered, for the plan line. */
export function flattenReason(origin: TensorOrigin | undefined, reordered: boolean): string {
  const what = origin ? (origin.className === 'InputLayer' ? `input '${origin.layer}'` : `${origin.className} '${origin.layer}'`) : 'an unknown layer';
  if (reordered && origin?.fromSequence) return `rows reordered from channels-first: the Flatten takes the feature map of ${what}, computed from a sequence; if the PyTorch model permuted it back to (steps, channels) before flattening, map this kernel with transform transpose`;
  if (reordered) return `rows reordered from channels-first: the Flatten takes the feature map of ${what}`;
  if (origin?.layout === 'sequence') return `rows kept: the Flatten takes the output of ${what}, laid out alike in PyTorch`;
  return `rows kept: graft cannot tell whether the Flatten's input (from ${what}) is channels-first in PyTorch; if it is, map this kernel with transform dense-after-flatten`;
}
