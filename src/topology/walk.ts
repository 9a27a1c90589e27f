import { isObject, Json } from '../io/json';

/**
 * The one walk over a Keras/tfjs model config's layers, and the one answer to "is this a model
 * class?". Readers, freezing and the Keras 3 naming all visit layers through here.
 */

/** Container classes whose config holds a `layers` list. */
const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

/** True for Sequential, Model and Functional: a layer that is itself a model of layers. */
export function isModelClass(className: unknown): boolean {
  return typeof className === 'string' && MODEL_CLASSES.has(className);
}

/** A layer entry's class name; Keras 3 may write a registered name like `keras.layers>GRU`. */
export function layerClassName(node: Json): string | undefined {
  const name = node['class_name'] ?? node['className'];
  if (typeof name !== 'string') return undefined;
  const cut = name.lastIndexOf('>');
  return cut >= 0 ? name.slice(cut + 1) : name;
}

/** The model config inside a topology: tfjs accepts both bare configs and Keras' `{model_config: …}` wrapper. */
export function modelConfigOf(topology: Record<string, unknown>): Record<string, unknown> {
  const inner = topology.model_config;
  return inner && typeof inner === 'object' ? (inner as Record<string, unknown>) : topology;
}

/** A serialized layer: `{class_name, config}` (a model's config holds `layers`). */
export type LayerJson = { class_name?: string; name?: string; config?: Record<string, unknown> & { name?: string; layers?: unknown } };

/** Layer entries of a (Sequential or functional) model entry, in order; old Sequential configs are bare lists. */
export function modelLayers(model: Record<string, unknown>): LayerJson[] {
  const cfg = model.config as unknown;
  if (Array.isArray(cfg)) return cfg as LayerJson[];
  const layers = isObject(cfg) ? cfg.layers : undefined;
  return Array.isArray(layers) ? (layers as LayerJson[]) : [];
}

/**
 * Every layer of a topology in config order, nested models included (a nested model is visited,
 * then its own layers), with its config object (mutable); entries that are not objects are skipped. Nested models deeper than `maxDepth`
 * are visited but not entered. Iterative, so no nesting exhausts the stack.
 */
export function walkLayers(topology: Record<string, unknown>, visit: (layer: LayerJson, depth: number) => void, maxDepth = Infinity): void {
  const stack: { layers: LayerJson[]; at: number; depth: number }[] = [{ layers: modelLayers(modelConfigOf(topology)), at: 0, depth: 0 }];
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top.at >= top.layers.length) {
      stack.pop();
      continue;
    }
    const layer = top.layers[top.at++];
    if (!isObject(layer)) continue;
    visit(layer, top.depth);
    if (isModelClass(layer.class_name) && top.depth < maxDepth) {
      stack.push({ layers: modelLayers(layer), at: 0, depth: top.depth + 1 });
    }
  }
}
