/**
 * `tfjs-graft/layers`: Keras layers configurations tfjs-layers cannot run, as drop-in
 * replacements registered under the Keras class names. Importing this module registers them, so
 * `tf.loadLayersModel` / `tf.models.modelFromJSON` then accept:
 *   - `GRU` with `reset_after: true` (bias `[2, 3*units]`),
 *   - `Conv1D` / `Conv2D` with `groups > 1` (kernel `[k…, in/groups, filters]`),
 *   - `Conv2DTranspose` with `groups > 1` (kernel `[kh, kw, filters/groups, in]`, as PyTorch's).
 * Configs without these keys behave exactly as tfjs's own classes, which the replacements extend.
 * It also adds Keras layers tfjs has no class for: SpatialDropout2D/3D, LocallyConnected1D/2D,
 * Attention, AdditiveAttention, MultiHeadAttention, UnitNormalization, GroupNormalization,
 * Cropping3D, and `Graft*` layers for ONNX ops tfjs lacks (src/layers/onnx_ops.ts), used by
 * models built from ONNX graphs.
 */
import * as tf from '@tensorflow/tfjs';
import { GraftGRU } from './gru';
import { GraftConv1D, GraftConv2D } from './grouped_conv';
import { GraftSpatialDropout2D, GraftSpatialDropout3D } from './spatial_dropout';
import { GraftLocallyConnected1D, GraftLocallyConnected2D } from './locally_connected';
import { GraftAdditiveAttention, GraftAttention } from './attention';
import { GraftMultiHeadAttention } from './multi_head_attention';
import { GraftGroupNormalization, GraftUnitNormalization } from './normalization';
import { GraftCropping3D } from './cropping';
import { GraftConv2DTranspose } from './grouped_conv_transpose';
import { registeredIsGraft } from './tfjs_classes';
import { ONNX_OP_LAYERS } from './onnx_ops';

export { GraftGRU, GraftGRUCell } from './gru';
export type { GraftGRUArgs, GraftGRUCellArgs } from './gru';
export { GraftConv1D, GraftConv2D } from './grouped_conv';
export { GraftUnary, GraftBinary, GraftConstant, GraftPad, GraftSlice, GraftSplit, GraftReduce, GraftResize, GraftPool2D, GraftInstanceNorm, GraftMatMul } from './onnx_ops';
export type { GroupedConvArgs } from './grouped_conv';
export { GraftSpatialDropout2D, GraftSpatialDropout3D } from './spatial_dropout';
export { GraftLocallyConnected1D, GraftLocallyConnected2D } from './locally_connected';
export type { LocallyConnectedArgs } from './locally_connected';
export { GraftAdditiveAttention, GraftAttention } from './attention';
export type { AttentionArgs, DenseAttentionArgs } from './attention';
export { GraftMultiHeadAttention } from './multi_head_attention';
export type { MultiHeadAttentionArgs } from './multi_head_attention';
export { GraftGroupNormalization, GraftUnitNormalization } from './normalization';
export type { GroupNormalizationArgs, UnitNormalizationArgs } from './normalization';
export { GraftCropping3D } from './cropping';
export { GraftConv2DTranspose } from './grouped_conv_transpose';
export type { GroupedConvTransposeArgs } from './grouped_conv_transpose';
export type { Cropping3DArgs } from './cropping';
export { GRAFT_ADDED_CLASSES, GRAFT_LAYER_CLASSES, needsGraftLayers } from '../topology/needs-layers';

/**
 * Registers the replacements with tfjs serialization. Runs on import; idempotent, and a no-op
 * when another copy of this module (say `dist` beside `src`) has already registered its own.
 */
export function registerGraftLayers(): void {
  const classes = [
    GraftGRU, GraftConv1D, GraftConv2D, GraftConv2DTranspose, GraftSpatialDropout2D, GraftSpatialDropout3D,
    GraftLocallyConnected1D, GraftLocallyConnected2D, GraftAttention, GraftAdditiveAttention,
    GraftMultiHeadAttention, GraftUnitNormalization, GraftGroupNormalization, GraftCropping3D,
    ...ONNX_OP_LAYERS,
  ];
  for (const cls of classes) {
    if (!registeredIsGraft(cls.className)) tf.serialization.registerClass(cls);
  }
}

registerGraftLayers();
