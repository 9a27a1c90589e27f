import * as tf from '@tensorflow/tfjs';
import { VERSION } from '../version';
import { bytesOf, DEFAULT_SHARD_BYTES, writeLayersModel } from '../output/writer';

export interface SaveOptions {
  force?: boolean;
  shardBytes?: number;
  /** Replaces the model's own userDefinedMetadata in model.json. */
  userDefinedMetadata?: Record<string, unknown>;
  generatedBy?: string;
}

/**
 * Writes a live model as a tfjs layers-model folder (atomically, one weight at a time).
 * The topology is the model's own `toJSON`, so `trainable: false` flags survive and the folder
 * loads with plain `tf.loadLayersModel`.
 */
export async function saveLayersModel(model: tf.LayersModel, outDir: string, options: SaveOptions = {}): Promise<{ files: string[]; totalBytes: number }> {
  const topology = model.toJSON(null, false) as unknown as Record<string, unknown>;
  const metadata = options.userDefinedMetadata ?? (model.getUserDefinedMetadata() as Record<string, unknown> | undefined);
  const weights = model.weights.map((w) => ({
    spec: { name: w.originalName, shape: [...w.shape] as number[], dtype: (w.dtype === 'int32' ? 'int32' : 'float32') as 'float32' | 'int32' },
    bytes: () => bytesOf(w.read().dataSync() as Float32Array | Int32Array),
  }));
  return writeLayersModel(
    outDir,
    {
      format: 'layers-model',
      generatedBy: options.generatedBy ?? `tfjs-graft ${VERSION}`,
      convertedBy: `tfjs-graft ${VERSION}`,
      modelTopology: topology,
      userDefinedMetadata: metadata,
    },
    weights,
    { shardBytes: options.shardBytes ?? DEFAULT_SHARD_BYTES, force: options.force },
  );
}
