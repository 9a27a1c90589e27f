import { writeFolderAtomically } from './atomic';
import { folderSink } from './folder-sink';
import type { ModelSink } from './sink';

export { MemorySink } from './sink';
export type { ModelSink } from './sink';
import type { ManifestGroup, ManifestWeight, ModelJson } from '../topology/model-json';

export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;

/** One weight to write: its manifest entry and a way to get its (already converted) data. */
export interface WeightToWrite {
  /**
   * Manifest entry. Its size (shape, dtype, quantization dtype) must be final from the start; fields
   * that do not change the size (quantization min/scale) may be filled in while the data streams.
   */
  spec: ManifestWeight;
  /** Bytes exactly as they go into the shard (float32/int32 little-endian, or quantized). */
  bytes: () => Promise<Uint8Array> | Uint8Array;
  /**
   * The same bytes as consecutive pieces, used instead of `bytes` when present, so a large weight
   * never needs a buffer of its full size. Each piece is written before the next is asked for, so a
   * producer may refill one buffer.
   */
  chunks?: () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
}

export interface WriteOptions {
  shardBytes?: number;
  force?: boolean;
  /** Called after each weight is written, for progress bars. */
  onWeight?: (done: number, total: number, bytesWritten: number) => void;
  /** Called after each piece of data is written (large weights arrive in many pieces). */
  onBytes?: (bytesWritten: number, totalBytes: number) => void;
}

export function manifestBytes(spec: ManifestWeight): number {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const q = spec.quantization?.dtype;
  if (q) return n * (q === 'uint8' ? 1 : 2);
  return n * (spec.dtype === 'bool' ? 1 : 4);
}

/**
 * Writes a tfjs layers-model folder: model.json plus shards `group1-shardKofN.bin` of at most
 * `shardBytes` each, atomically (a failure leaves `outDir` as it was).
 */
export async function writeLayersModel(
  outDir: string,
  model: Omit<ModelJson, 'weightsManifest'>,
  weights: WeightToWrite[],
  options: WriteOptions = {},
): Promise<{ files: string[]; totalBytes: number; modelJson: ModelJson }> {
  let written: { files: string[]; totalBytes: number; modelJson: ModelJson } | undefined;
  await writeFolderAtomically(outDir, options.force ?? false, async (tmp) => {
    written = await writeLayersModelTo(folderSink(tmp), model, weights, options);
  });
  return written!;
}

/**
 * Writes model.json plus shards `group1-shardKofN.bin` of at most `shardBytes` each into `sink`.
 * Weights stream through one at a time; the whole model is never in memory (unless the sink is).
 * Like tensorflowjs_converter, a weight may straddle two shards (tfjs concatenates them on load).
 */
export async function writeLayersModelTo(
  sink: ModelSink,
  model: Omit<ModelJson, 'weightsManifest'>,
  weights: WeightToWrite[],
  options: WriteOptions = {},
): Promise<{ files: string[]; totalBytes: number; modelJson: ModelJson }> {
  const shardBytes = options.shardBytes ?? DEFAULT_SHARD_BYTES;
  if (!Number.isSafeInteger(shardBytes) || shardBytes < 1) throw new RangeError(`shard size must be a positive integer, got ${shardBytes}`);
  const totalBytes = weights.reduce((s, w) => s + manifestBytes(w.spec), 0);
  const shardCount = Math.max(1, Math.ceil(totalBytes / shardBytes));
  const paths = Array.from({ length: shardCount }, (_, i) => `group1-shard${i + 1}of${shardCount}.bin`);
  const shardSize = (i: number) => Math.min(shardBytes, totalBytes - i * shardBytes);

  sink.start(totalBytes);
  let shard = 0;
  sink.begin(paths[0], shardSize(0));
  let inShard = 0;
  let written = 0;
  try {
    const put = (bytes: Uint8Array): void => {
      let off = 0;
      while (off < bytes.byteLength) {
        if (inShard === shardBytes) {
          sink.end();
          shard++;
          if (shard >= paths.length) throw new Error('internal: weights overflow the planned shards');
          sink.begin(paths[shard], shardSize(shard));
          inShard = 0;
        }
        const n = Math.min(bytes.byteLength - off, shardBytes - inShard);
        sink.write(bytes, off, n);
        off += n;
        inShard += n;
        written += n;
      }
      options.onBytes?.(written, totalBytes);
    };
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i];
      const expected = manifestBytes(w.spec);
      const before = written;
      if (w.chunks) {
        for await (const piece of w.chunks()) put(piece);
      } else {
        put(await w.bytes());
      }
      if (written - before !== expected) throw new Error(`internal: weight ${w.spec.name} has ${written - before} bytes, manifest says ${expected}`);
      options.onWeight?.(i + 1, weights.length, written);
      // Lets a Ctrl-C during a long write be handled now (cleanup, exit 130), not after the last
      // shard; in a browser, lets the page paint its progress.
      await nextTurn();
    }
  } finally {
    sink.end();
  }
  const manifest: ManifestGroup[] = [{ paths, weights: weights.map((w) => w.spec) }];
  const doc: ModelJson = {
    format: 'layers-model',
    generatedBy: model.generatedBy,
    convertedBy: model.convertedBy,
    modelTopology: model.modelTopology,
    weightsManifest: manifest,
  };
  if (model.trainingConfig !== undefined) doc.trainingConfig = model.trainingConfig;
  if (model.userDefinedMetadata !== undefined) doc.userDefinedMetadata = model.userDefinedMetadata;
  const json = new TextEncoder().encode(JSON.stringify(doc));
  sink.begin('model.json', json.length);
  try {
    sink.write(json, 0, json.length);
  } finally {
    sink.end();
  }
  return { files: ['model.json', ...paths], totalBytes, modelJson: doc };
}

let lastTurn = 0;

/**
 * Yields to the event loop: every call under Node (setImmediate costs microseconds); in a browser,
 * whose timers wait at least 4 ms, at most every 50 ms of work.
 */
function nextTurn(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  const now = Date.now();
  if (now - lastTurn < 50) return Promise.resolve();
  lastTurn = now;
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Little-endian bytes of a typed array, without copying. */
export function bytesOf(data: Float32Array | Int32Array | Uint8Array | Uint16Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
