import { isObject, Json } from '../io/json';
import { GRAFT_ADDED_CLASSES, GRAFT_LAYER_CLASSES, layerClass } from './catalogue';
import { layerClassName } from './walk';

export { GRAFT_ADDED_CLASSES, GRAFT_LAYER_CLASSES };

/** Whether one `{class_name, config}` entry uses an extension tfjs's own class would refuse or ignore. */
function usesExtension(className: string, config: Json): boolean {
  return layerClass(className)?.needsGraftLayers?.(config) ?? false;
}

/**
 * Whether a Keras/tfjs topology (model.json's `modelTopology`, a bare `{class_name, config}`,
 * or either wrapped in `model_config`) uses a layer only `tfjs-graft/layers` can load: a GRU
 * with `reset_after: true`, a Conv1D/Conv2D with `groups > 1`, or a class tfjs lacks
 * (GRAFT_ADDED_CLASSES). Walks nested models and
 * wrappers (Bidirectional, TimeDistributed) by visiting every nested config.
 */
export function needsGraftLayers(topology: object): boolean {
  const seen = new Set<object>();
  const visit = (node: unknown): boolean => {
    if (typeof node === 'string') {
      // HDF5 files hold model_config as JSON text; tolerate it here too.
      const text = node.trim();
      if (!text.startsWith('{')) return false;
      try {
        return visit(JSON.parse(text));
      } catch {
        return false;
      }
    }
    if (typeof node !== 'object' || node === null || seen.has(node)) return false;
    seen.add(node);
    if (Array.isArray(node)) return node.some(visit);
    const className = layerClassName(node as Json);
    const config = (node as Json)['config'];
    if (className !== undefined && isObject(config) && usesExtension(className, config)) return true;
    return Object.entries(node as Json).some(([key, value]) =>
      // Only model_config may legitimately be JSON text; other strings are names and values.
      typeof value === 'string' ? key === 'model_config' && visit(value) : visit(value));
  };
  return visit(topology);
}
