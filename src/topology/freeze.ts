import { GraftError } from '../errors';
import { walkLayers } from './walk';

/**
 * Sets `trainable: false` on layers whose names match any regex, so tfjs training leaves them
 * alone. Returns a new topology (the input is not changed) and the frozen layer names.
 * A regex that matches no layer is an error: a typo would otherwise silently freeze nothing.
 */
export function freezeLayers(topology: Record<string, unknown>, patterns: RegExp[]): { topology: Record<string, unknown>; frozen: string[] } {
  const copy = structuredClone(topology);
  const frozen: string[] = [];
  const names: string[] = [];
  const hits = new Array(patterns.length).fill(0);
  walkLayers(copy, (layer) => {
    const name = layer.config?.name;
    if (typeof name !== 'string') return;
    names.push(name);
    let match = false;
    patterns.forEach((p, i) => {
      if (p.test(name)) {
        hits[i]++;
        match = true;
      }
    });
    if (match && layer.config) {
      layer.config.trainable = false;
      frozen.push(name);
    }
  });
  const idle = patterns.filter((_, i) => hits[i] === 0);
  if (idle.length) {
    throw new GraftError('USAGE', `--freeze ${idle.map((p) => `'${p.source}'`).join(', ')} matches no layer (layers: ${names.join(', ')})`);
  }
  return { topology: copy, frozen };
}
