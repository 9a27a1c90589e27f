import * as tf from '@tensorflow/tfjs';
import { GraftError } from './errors';

/**
 * The browser bundle's backend.ts: tfjs's pure-JS CPU backend, which the bundle carries (no
 * native or wasm binaries to serve). Only the tfjs engine uses it (streaming needs no backend).
 */

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

let chosen: BackendName | undefined;

export async function initBackend(prefer?: BackendName): Promise<BackendName> {
  if (prefer !== undefined && prefer !== 'cpu') {
    throw new GraftError('USAGE', `backend '${prefer}' is not available in the browser bundle (it carries the cpu backend)`);
  }
  if (chosen) return chosen;
  if (!(await tf.setBackend('cpu'))) throw new GraftError('USAGE', "tfjs's cpu backend did not load");
  await tf.ready();
  chosen = 'cpu';
  return chosen;
}

export function currentBackend(): BackendName | undefined {
  return chosen;
}
