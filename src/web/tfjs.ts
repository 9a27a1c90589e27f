/**
 * What `@tensorflow/tfjs` is inside the browser bundle (scripts/build-web.mjs points every import
 * of it here): the tfjs parts graft and a page use — core (with gradients and chained ops, as the
 * full package registers them), layers, and the pure-JS cpu backend. The converter, tf.data and
 * the WebGL backend stay out: nothing here needs them, and tf.data pulls in Node's string_decoder.
 */
import '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';

export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';
export * from '@tensorflow/tfjs-backend-cpu';
