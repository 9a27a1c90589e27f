import * as tf from '@tensorflow/tfjs';
import { GraftError } from '../errors';
import { loadModelArtifacts, ModelJson, readTargetModelJson, TargetModelJson } from './model-json';
import { variableNameParts, type TargetVariable } from './variables';
import { inputOrigin, originAfter, TensorOrigin } from './flatten-origin';
import { normalizeTopology } from './keras-config';
import { isModelClass } from './walk';

export { normalizeTopology };

/** Builds a live tfjs model from a topology; variables get tfjs's own initial values. */
export async function modelFromTopology(topology: Record<string, unknown>, file?: string): Promise<tf.LayersModel> {
  let normalized: Record<string, unknown>;
  try {
    normalized = normalizeTopology(topology, file);
  } catch (e) {
    throw new GraftError('UNSUPPORTED', `tfjs cannot build this topology (${firstLine(e)})`, { file });
  }
  return modelFromNormalizedTopology(normalized, file);
}

/** modelFromTopology for a topology already normalised (read once by readTargetModelJson or convert). */
export async function modelFromNormalizedTopology(topology: Record<string, unknown>, file?: string): Promise<tf.LayersModel> {
  // tfjs warns on stdout/stderr while initialising some layers (Orthogonal on large kernels);
  // those values are overwritten or intended, so the noise would only confuse CLI users.
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!/initializer is being called on a matrix/.test(String(args[0]))) warn(...args);
  };
  try {
    return await tf.models.modelFromJSON({ modelTopology: topology } as unknown as tf.io.ModelJSON);
  } catch (e) {
    throw new GraftError('UNSUPPORTED', `tfjs cannot build this topology (${firstLine(e)})`, { file });
  } finally {
    console.warn = warn;
  }
}

/**
 * The target model: from a model.json with weights (its own values are kept where nothing is
 * restored), or from a topology alone (fresh initialisation).
 */
export async function loadTargetModel(target: string | TargetModelJson): Promise<{ model: tf.LayersModel; json: ModelJson; hasWeights: boolean }> {
  const read = typeof target === 'string' ? readTargetModelJson(target) : target;
  const file = read.file;
  const json = { ...read.json, modelTopology: read.topology };
  const hasWeights = read.hasWeights;
  if (!hasWeights) return { model: await modelFromNormalizedTopology(json.modelTopology, file), json, hasWeights };
  const artifacts = loadModelArtifacts(file, read);
  artifacts.modelTopology = json.modelTopology as tf.io.ModelArtifacts['modelTopology'];
  try {
    const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    return { model, json, hasWeights };
  } catch (e) {
    throw new GraftError('CORRUPT', `its weights cannot be loaded (${firstLine(e)})`, { file });
  }
}

export function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

type AnyLayer = tf.layers.Layer & {
  inputShape?: unknown; layers?: AnyLayer[]; forwardLayer?: AnyLayer; backwardLayer?: AnyLayer; inboundNodes?: { inboundLayers: AnyLayer[] }[] };

/** Layers in order, nested models flattened (tfjs names their weights by the inner layer). */
function flatLayers(model: { layers: AnyLayer[] }): AnyLayer[] {
  const out: AnyLayer[] = [];
  for (const l of model.layers) {
    if (Array.isArray(l.layers) && isModelClass(l.getClassName())) out.push(...flatLayers(l as { layers: AnyLayer[] }));
    else out.push(l);
  }
  return out;
}

/** What a live layer's output is, for a Flatten further on (see flatten-origin). */
function liveOrigin(layer: AnyLayer, memo: Map<AnyLayer, TensorOrigin>): TensorOrigin {
  const done = memo.get(layer);
  if (done) return done;
  // Guards against cycles while the answer is computed.
  memo.set(layer, { layout: 'unknown', layer: layer.name, className: layer.getClassName() });
  const className = layer.getClassName();
  let origin: TensorOrigin;
  const inbound = layer.inboundNodes?.[0]?.inboundLayers ?? [];
  if (className === 'InputLayer' || inbound.length === 0) {
    const shape = (layer as unknown as { batchInputShape?: unknown[] }).batchInputShape ?? (layer.output as unknown as { shape?: unknown[] } | undefined)?.shape;
    origin = inputOrigin(layer.name, Array.isArray(shape) ? shape.slice(1) : undefined);
  } else {
    origin = originAfter(layer.name, className, inbound.map((l) => liveOrigin(l, memo)));
  }
  memo.set(layer, origin);
  return origin;
}

/** The variables of a live model as the planner sees them. */
export function targetVariables(model: tf.LayersModel): TargetVariable[] {
  const vars: TargetVariable[] = [];
  let layerIndex = 0;
  for (const layer of flatLayers(model as unknown as { layers: AnyLayer[] })) {
    if (layer.weights.length === 0) continue;
    let className = layer.getClassName();
    const config = layer.getConfig() as Record<string, unknown>;
    let inner = config;
    if (className === 'Bidirectional' && layer.forwardLayer) {
      className = layer.forwardLayer.getClassName();
      inner = layer.forwardLayer.getConfig() as Record<string, unknown>;
    }
    let flattenInput: number[] | undefined;
    let flattenFrom: TensorOrigin | undefined;
    const producer = layer.inboundNodes?.[0]?.inboundLayers?.[0];
    if (className === 'Dense' && producer && producer.getClassName() === 'Flatten') {
      const input = producer.input as unknown as { shape?: (number | null)[] } | undefined;
      const shape = input?.shape;
      if (Array.isArray(shape) && shape.slice(1).every((d) => typeof d === 'number')) flattenInput = shape.slice(1) as number[];
      const before = producer.inboundNodes?.[0]?.inboundLayers?.[0];
      flattenFrom = before ? liveOrigin(before, new Map()) : undefined;
    }
    layer.weights.forEach((w, indexInLayer) => {
      const name = w.originalName;
      const { weight, direction } = variableNameParts(name);
      vars.push({
        name,
        layer: layer.name,
        className,
        weight,
        shape: [...w.shape] as number[],
        dtype: w.dtype === 'int32' ? 'int32' : 'float32',
        indexInLayer,
        layerIndex,
        flattenInput,
        flattenFrom,
        config: {
          resetAfter: inner.reset_after === true || inner.resetAfter === true ? true : undefined,
          groups: typeof inner.groups === 'number' ? inner.groups : undefined,
          units: typeof inner.units === 'number' ? inner.units : undefined,
        },
        direction,
      });
    });
    layerIndex++;
  }
  return vars;
}
