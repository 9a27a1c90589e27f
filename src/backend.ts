import type * as tfTypes from '@tensorflow/tfjs';
import { GraftError } from './errors';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

let chosen: BackendName | undefined;

/** tfjs, loaded on first use: streaming conversions and `inspect` never need it (0.2 s, 70 MB). */
function tfjs(): typeof tfTypes {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@tensorflow/tfjs') as typeof tfTypes;
}

/**
 * Picks the fastest backend that loads here: tfjs-node (native libtensorflow) when installed,
 * else WebAssembly, else the pure-JS CPU backend. `prefer` forces one and is a USAGE error when it
 * cannot load.
 */
export async function initBackend(prefer?: BackendName): Promise<BackendName> {
  if (prefer !== undefined && !BACKEND_NAMES.includes(prefer)) {
    throw new GraftError('USAGE', `--backend must be one of ${BACKEND_NAMES.join(', ')}, not ${JSON.stringify(prefer)}`);
  }
  if (chosen && (!prefer || prefer === chosen)) return chosen;
  const order: BackendName[] = prefer ? [prefer] : [...BACKEND_NAMES];
  for (const name of order) {
    if (await tryBackend(name)) {
      chosen = name;
      return name;
    }
  }
  const hint = prefer === 'tensorflow' ? ' (install @tensorflow/tfjs-node)' : prefer === 'wasm' ? ' (install @tensorflow/tfjs-backend-wasm)' : '';
  throw new GraftError('USAGE', `backend '${prefer}' is not available on this machine${hint}`);
}

export function currentBackend(): BackendName | undefined {
  return chosen;
}

async function tryBackend(name: BackendName): Promise<boolean> {
  try {
    if (name === 'tensorflow') {
      // Optional dependency: absent wherever its install script could not download libtensorflow.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@tensorflow/tfjs-node');
    } else if (name === 'wasm') {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('@tensorflow/tfjs-backend-wasm');
    }
    const tf = tfjs();
    if (!(await tf.setBackend(name))) return false;
    await tf.ready();
    if (name === 'cpu') quietCpuBackend(tf);
    return tf.getBackend() === name;
  } catch {
    return false;
  }
}

/** The CPU backend prints an install hint for tfjs-node on first use; graft chose it knowingly. */
function quietCpuBackend(tf: typeof tfTypes): void {
  const backend = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (backend) backend.firstUse = false;
}
