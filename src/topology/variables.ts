import type { TensorOrigin } from './flatten-origin';

/** One variable of the target tfjs model, as the plan sees it (no tensors, no tfjs objects). */
export interface TargetVariable {
  /** The name tfjs saves it under (`LayerVariable.originalName`): `hidden1/kernel`. */
  name: string;
  /** Name of the layer that owns it: `hidden1`. */
  layer: string;
  /** Keras/tfjs class of that layer: `Dense`, `Conv2D`, … */
  className: string;
  /** Last path segment of the name: `kernel`, `bias`, `moving_mean`. */
  weight: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  /** Position among the owning layer's weights (Keras saves weights in this order). */
  indexInLayer: number;
  /** Position of the owning layer among the model's layers that have weights. */
  layerIndex: number;
  /** For a Dense fed by a Flatten: the Flatten's input shape without batch (channels last). */
  flattenInput?: number[];
  /** For a Dense fed by a Flatten: what the Flatten's input is (a channels-first feature map in PyTorch, or not). */
  flattenFrom?: TensorOrigin;
  /** Layer config facts that change the layout (GRU reset_after, conv groups, RNN units). */
  config?: { resetAfter?: boolean; groups?: number; units?: number };
  /** Wrapper direction for Bidirectional layers. */
  direction?: 'forward' | 'backward';
}

/** The parts of a saved variable name the plan reads: its last segment and, inside a Bidirectional, its direction. */
export function variableNameParts(name: string): Pick<TargetVariable, 'weight' | 'direction'> {
  const segments = name.split('/');
  const direction = segments.some((s) => s.startsWith('backward_')) ? 'backward' : segments.some((s) => s.startsWith('forward_')) ? 'forward' : undefined;
  return { weight: segments[segments.length - 1], direction };
}
