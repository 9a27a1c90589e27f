import { GraftError } from '../errors';
import type { RawTensor, TensorInfo } from '../io/tensor';
import type { Volume } from '../io/volume';
import type { OnnxModelBuild } from '../topology/onnx-graph';

export { DTYPE_BYTES } from '../io/tensor';
export type { DType, RawTensor, TensorInfo } from '../io/tensor';

/** Which framework's names and memory layouts a source uses. */
export type Convention = 'torch' | 'keras' | 'tf';

/** One open weight file (or set of files: shards, a checkpoint prefix). */
export interface WeightReader {
  /** Short format id: 'npy', 'npz', 'safetensors', 'tfjs', 'pytorch', 'onnx', 'keras-h5', 'keras3', 'tf-checkpoint'. */
  readonly format: string;
  /** The path the user gave. */
  readonly path: string;
  /** Naming/layout convention the format implies, when it is unambiguous. */
  readonly convention?: Convention;
  /**
   * A Keras-style model topology (the JSON tfjs `model.json` holds under `modelTopology`)
   * when the file carries one, so no `--target` is needed.
   */
  readonly topology?: Record<string, unknown>;
  /** Format-specific facts worth showing in `graft inspect` (versions, metadata). */
  readonly metadata?: Record<string, unknown>;
  /**
   * Extra facts for order-based matching: for each source tensor, which op/module consumes
   * it and in which role, in graph order. Optional.
   */
  readonly opOrder?: SourceOp[];
  /**
   * For sources holding a computation graph (ONNX): builds a tfjs model topology from the graph,
   * with the pairs that fill its variables from this reader's tensors. Throws UNSUPPORTED (ops
   * graft cannot build) or USAGE (input dimensions the file leaves open).
   */
  buildTopology?(options?: { inputShapes?: Record<string, number[]> }): OnnxModelBuild;
  /** For graph sources: each op type with its count, first node, and whether graft can build it. */
  opSummary?(): { op: string; count: number; firstNode: string; buildable: boolean }[];
  /** All tensors, in the file's own order. */
  list(): TensorInfo[];
  /** Reads one tensor's data. Throws GraftError naming file and tensor on bad data. */
  read(name: string): Promise<RawTensor>;
  /** Releases file handles. Safe to call twice. */
  close(): Promise<void>;
}

export interface StridedRange {
  start: number;
  runBytes: number;
  stride: number;
  count: number;
  /**
   * Set by a caller that reads the whole tensor front to back in such reads and lets none of the
   * bytes out (into any output) before its read of the tensor's last byte returns: a reader may
   * then check the data's integrity on the way, failing that last read, instead of in a pass of
   * its own first.
   */
  sweep?: boolean;
}

/**
 * An optional WeightReader extension: copies a strided selection of a tensor's bytes (exactly the
 * bytes `read(name).data` holds there) back to back into `target`. With it, a large tensor streams
 * through a small reused buffer: contiguous pieces, or a band of columns for a transpose (the range
 * object may be reused by the caller for its next read: keep a copy, not it). Without
 * it every tensor is read whole into a fresh allocation.
 */
export interface ReadsStrided {
  readStrided(name: string, range: StridedRange, target: Uint8Array): Promise<void>;
  /**
   * The same, synchronously, where the reader's reads are synchronous: a large transpose makes
   * thousands of reads, and a promise each is garbage that grows the JS heap (peak memory).
   */
  readStridedSync?(name: string, range: StridedRange, target: Uint8Array): void;
  /**
   * Where the tensor's bytes start in the file its strided reads copy from, when they lie there as
   * they are (undefined otherwise). Only a hint: the engine places its read buffer by it, since a
   * kernel copy can run several times slower at some relative alignments (see convert/stream.ts).
   */
  dataOffset?(name: string): number | undefined;
}

/**
 * Checks a strided read of a tensor (or array) of `byteSize` bytes into `target`: every field a
 * non-negative safe integer, every run inside the tensor, all of them inside `target`; else a CORRUPT
 * error naming file and tensor. Allocates nothing (readers run it on every read). False when the
 * read copies nothing.
 */
export function checkStridedRead(r: StridedRange, byteSize: number, target: Uint8Array, file: string, tensor: string, what = 'tensor'): boolean {
  const { start, runBytes, stride, count } = r;
  const last = start + (count - 1) * stride + runBytes;
  if (!countable(start) || !countable(runBytes) || !countable(stride) || !countable(count) || count * runBytes > target.length || (count > 0 && last > byteSize)) {
    throw new GraftError('CORRUPT', `strided read ${JSON.stringify(r)} lies outside the ${what}'s ${byteSize} bytes`, { file, tensor });
  }
  return count > 0 && runBytes > 0;
}

function countable(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 0;
}

/** A strided read served from a tensor's bytes held whole (decoded once by the reader). */
export function copyRuns(data: Uint8Array, r: StridedRange, target: Uint8Array): void {
  const { start, runBytes, stride, count } = r;
  for (let i = 0; i < count; i++) target.set(data.subarray(start + i * stride, start + i * stride + runBytes), i * runBytes);
}

/** A weighted op of a source graph (ONNX node, PyTorch module) with its parameter tensors. */
export interface SourceOp {
  /** Op type: 'Conv', 'Gemm', 'MatMul', 'LSTM', 'BatchNormalization', … */
  type: string;
  /** Role → tensor name, e.g. { weight: '1', bias: '2' } for a Conv's W and B. */
  params: Record<string, string>;
  /** Op attributes that matter to layouts (group, transA/transB, …). */
  attributes?: Record<string, unknown>;
}

export interface OpenOptions {
  /** For nested PyTorch checkpoints: which key holds the state dict. */
  key?: string;
  /** Where the file and its companions (shards, external data) live: the disk when absent. */
  volume?: Volume;
}

/** A format: how to recognise its files and open them. */
export interface FormatHandler {
  readonly format: string;
  /** File name endings that suggest this format (used only when sniffing is inconclusive). */
  readonly extensions: string[];
  /**
   * True when the first bytes (at least 64 when the file is that long) and the path identify
   * this format. Must not throw. `volume` is where the file lives (the disk when absent).
   */
  sniff(head: Uint8Array, path: string, volume?: Volume): boolean;
  open(path: string, options?: OpenOptions): Promise<WeightReader>;
}

export type { GraftError };
