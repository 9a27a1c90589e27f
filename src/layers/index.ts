/**
 * `tfjs-graft/layers`: Keras layers configurations tfjs-layers cannot run, as drop-in
 * replacements registered under the Keras class names. Importing this module registers them, so
 * `tf.loadLayersModel` / `tf.models.modelFromJSON` then accept:
 *   - `GRU` with `reset_after: true` (bias `[2, 3*units]`),
 *   - `Conv1D` / `Conv2D` with `groups > 1` (kernel `[k…, in/groups, filters]`).
 * Configs without these keys behave exactly as tfjs's own classes, which the replacements extend.
 */
import * as tf from '@tensorflow/tfjs';
import { GraftGRU } from './gru';
import { GraftConv1D, GraftConv2D } from './grouped_conv';
import { registeredIsGraft } from './tfjs_classes';

export { GraftGRU, GraftGRUCell } from './gru';
export type { GraftGRUArgs, GraftGRUCellArgs } from './gru';
export { GraftConv1D, GraftConv2D } from './grouped_conv';
export type { GroupedConvArgs } from './grouped_conv';
export { GRAFT_LAYER_CLASSES, needsGraftLayers } from '../topology/needs-layers';

/**
 * Registers the replacements with tfjs serialization. Runs on import; idempotent, and a no-op
 * when another copy of this module (say `dist` beside `src`) has already registered its own.
 */
export function registerGraftLayers(): void {
  for (const cls of [GraftGRU, GraftConv1D, GraftConv2D]) {
    if (!registeredIsGraft(cls.className)) tf.serialization.registerClass(cls);
  }
}

registerGraftLayers();
