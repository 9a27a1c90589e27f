import * as tf from '@tensorflow/tfjs';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

let chosen: BackendName | undefined;

/**
 * Picks the fastest backend that loads here: tfjs-node (native libtensorflow) when installed,
 * else WebAssembly, else the pure-JS CPU backend. `prefer` forces one and fails if it cannot load.
 */
export async function initBackend(prefer?: BackendName): Promise<BackendName> {
  if (chosen && (!prefer || prefer === chosen)) return chosen;
  const order: BackendName[] = prefer ? [prefer] : ['tensorflow', 'wasm', 'cpu'];
  for (const name of order) {
    if (await tryBackend(name)) {
      chosen = name;
      return name;
    }
  }
  throw new Error(`backend '${prefer}' is not available on this machine`);
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
    if (!(await tf.setBackend(name))) return false;
    await tf.ready();
    if (name === 'cpu') quietCpuBackend();
    return tf.getBackend() === name;
  } catch {
    return false;
  }
}

/** The CPU backend prints an install hint for tfjs-node on first use; graft chose it knowingly. */
function quietCpuBackend(): void {
  const backend = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (backend) backend.firstUse = false;
}
