import type * as tfTypes from '@tensorflow/tfjs';
import { BackendName, initBackend } from '../backend';
import { GraftError } from '../errors';
import type { WeightReader } from '../formats/types';
import type { Plan } from '../mapping/plan';
import type { WeightToWrite } from '../output/writer';
import type { OnnxModelBuild } from '../topology/onnx-graph';
import type { TargetModelJson } from '../topology/model-json';
import { analyzeTopology, TopologyAnalysis } from '../topology/weight-specs';
import type { ConvertEngine } from './options';
import { QuantizedWeight, QuantizeOptions, streamedWeight } from './stream';

/**
 * Which engine moves the weights: `stream` (file to file, one tensor at a time, no tfjs) whenever
 * graft can size the model from its topology alone, else `tfjs` (build the live model, assign into
 * it, read its variables back). The tfjs side is loaded only when it is chosen.
 */

/** tfjs-dependent modules, loaded only on the tfjs engine so streaming never pays for tfjs. */
export const lazy = {
  /* eslint-disable @typescript-eslint/no-require-imports */
  target: () => require('../topology/live-model') as typeof import('../topology/live-model'),
  assign: () => require('./assign') as typeof import('./assign'),
  /* eslint-enable @typescript-eslint/no-require-imports */
};

/** The target model as JSON: its topology (tfjs-ready), name for reports, and own weights if any. */
export interface TargetJson {
  topology: Record<string, unknown>;
  name: string;
  /** The model.json holding weights for variables nothing restores. */
  weightsFile?: string;
  /** The --target model.json as read (once) and normalised. */
  read?: TargetModelJson;
  /** Built from the source's graph (ONNX): the pairs that fill its variables, layouts for the report. */
  built?: OnnxModelBuild;
}

/**
 * The streaming engine's view of the model (its variables and save order), or why the tfjs engine
 * must do the work (asked for, a --backend, or a topology graft cannot size).
 */
export function chooseEngine(engine: ConvertEngine, backend: string | undefined, topology: Record<string, unknown>): { analysis?: TopologyAnalysis; engineReason?: string } {
  if (engine === 'tfjs') return { engineReason: backend ? `--backend ${backend}` : 'the tfjs engine was asked for' };
  const a = analyzeTopology(topology);
  if ('reason' in a) return { engineReason: `graft cannot size this model without tfjs: ${a.reason}` };
  return { analysis: a };
}

/** Refuses a --engine stream conversion that cannot stream. */
export function cannotStream(why: string, file: string): GraftError {
  return new GraftError('UNSUPPORTED', `cannot stream this conversion: ${why}`, { file });
}

/** The live tfjs model: the target's own weights loaded, or tfjs's initial values. */
export async function buildModel(backend: BackendName | undefined, reader: WeightReader, target: TargetJson): Promise<tfTypes.LayersModel> {
  await initBackend(backend);
  // Registers graft's layer extensions (grouped convolutions, GRU reset_after) with tfjs.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('../layers');
  const t = lazy.target();
  if (target.read) return (await t.loadTargetModel(target.read)).model;
  return t.modelFromNormalizedTopology(target.topology, reader.path);
}

/** The tfjs engine: assign into the live model, then write its variables in `model.weights` order. */
export async function modelWeights(model: tfTypes.LayersModel, reader: WeightReader, plan: Plan, quantize: QuantizeOptions | undefined, quantized: QuantizedWeight[]): Promise<WeightToWrite[]> {
  await lazy.assign().assignPlan(model, reader, plan);
  return model.weights.map((w) => {
    const spec = { name: w.originalName, shape: [...w.shape] as number[], dtype: (w.dtype === 'int32' ? 'int32' : 'float32') as 'float32' | 'int32' };
    return streamedWeight(spec, async () => {
      return { chunks: [w.read().dataSync() as Float32Array | Int32Array] };
    }, quantize, quantized);
  });
}

