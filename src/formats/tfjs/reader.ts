import { GraftError } from '../../errors';
import { ByteSource, elementCount, openSource, printable, rawTensor, realPathInside } from '../../io/bytes';
import * as path from '../../io/posix';
import type { Volume } from '../../io/volume';
import { isObject } from '../../io/json';
import { parseModelJsonFile } from '../../topology/model-json';
import { Convention, DType, DTYPE_BYTES, FormatHandler, OpenOptions, RawTensor, TensorInfo, WeightReader } from '../types';

/**
 * TensorFlow.js `model.json` (layers-model, and graph-model whose weights are still readable by
 * name): `weightsManifest` groups list shard files (concatenated in order) and the weights laid
 * out back to back in them. Quantized weights are dequantized to float32 on read, as tfjs does.
 */

/** Each string element is stored as a 4-byte little-endian length, then its bytes. */
const STRING_LENGTH_BYTES = 4;

type Quantization =
  | { dtype: 'uint8' | 'uint16'; min: number; scale: number; original: 'float32' | 'int32' }
  | { dtype: 'float16'; original: 'float32' };

interface Weight {
  info: TensorInfo;
  group: ShardGroup;
  /** Offset within the group's concatenated shards. */
  offset: number;
  /** Bytes the weight occupies in the shards (smaller than info.byteSize when quantized). */
  storedBytes: number;
  quantization?: Quantization;
}

/** A manifest group's shard files seen as one contiguous byte range. */
class ShardGroup {
  readonly size: number;
  private readonly starts: number[] = [];

  constructor(readonly shards: ByteSource[]) {
    let at = 0;
    for (const s of shards) {
      this.starts.push(at);
      at += s.size;
    }
    this.size = at;
  }

  read(offset: number, length: number, tensor: string): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    for (let i = 0; i < this.shards.length && done < length; i++) {
      const start = this.starts[i];
      const end = start + this.shards[i].size;
      const from = offset + done;
      if (from >= end) continue;
      const n = Math.min(end - from, length - done);
      out.set(this.shards[i].read(from - start, n, tensor), done);
      done += n;
    }
    if (done < length) {
      throw new GraftError('CORRUPT', `weight data (${length} bytes at ${offset}) runs past the end of its shard files (${this.size} bytes in all)`, { file: this.shards[0]?.path, tensor });
    }
    return out;
  }

  close(): void {
    for (const s of this.shards) s.close();
  }
}

class TfjsReader implements WeightReader {
  readonly format = 'tfjs';
  readonly path: string;
  readonly convention: Convention;
  readonly topology?: Record<string, unknown>;
  readonly metadata: Record<string, unknown>;
  private readonly weights: Map<string, Weight>;
  private readonly groups: ShardGroup[];
  private readonly unsupported: Map<string, string>;

  constructor(init: {
    path: string; convention: Convention; topology?: Record<string, unknown>; metadata: Record<string, unknown>;
    weights: Map<string, Weight>; groups: ShardGroup[]; unsupported: Map<string, string>;
  }) {
    this.path = init.path;
    this.convention = init.convention;
    this.topology = init.topology;
    this.metadata = init.metadata;
    this.weights = init.weights;
    this.groups = init.groups;
    this.unsupported = init.unsupported;
  }

  list(): TensorInfo[] {
    return [...this.weights.values()].map((w) => ({ ...w.info, shape: w.info.shape.slice() }));
  }

  async read(name: string): Promise<RawTensor> {
    const w = this.weights.get(name);
    if (!w) {
      const why = this.unsupported.get(name);
      if (why) throw new GraftError('UNSUPPORTED', why, { file: this.path, tensor: name });
      throw new GraftError('NOT_FOUND', `weightsManifest has no weight named '${name}'`, { file: this.path, tensor: name });
    }
    const stored = w.group.read(w.offset, w.storedBytes, name);
    const data = w.quantization ? dequantize(stored, w.quantization, w.info) : stored;
    return rawTensor(w.info, data, this.path);
  }

  async close(): Promise<void> {
    for (const g of this.groups) g.close();
  }
}

/** q * scale + min computed in double precision then stored, matching tfjs's decodeWeights. */
function dequantize(stored: Uint8Array, q: Quantization, info: TensorInfo): Uint8Array {
  const n = info.byteSize / DTYPE_BYTES[info.dtype];
  const buf = stored.buffer.slice(stored.byteOffset, stored.byteOffset + stored.byteLength);
  if (q.dtype === 'float16') {
    const half = new Uint16Array(buf);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = halfToFloat(half[i]);
    return new Uint8Array(out.buffer);
  }
  const codes = q.dtype === 'uint8' ? new Uint8Array(buf) : new Uint16Array(buf);
  if (q.original === 'int32') {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.round(codes[i] * q.scale + q.min);
    return new Uint8Array(out.buffer);
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = codes[i] * q.scale + q.min;
  return new Uint8Array(out.buffer);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function parseQuantization(q: unknown, dtype: string, ctx: { file: string; tensor: string }): Quantization {
  if (!isObject(q)) throw new GraftError('CORRUPT', 'quantization is not an object', ctx);
  const original = (q.original_dtype ?? dtype) as string;
  if (q.dtype === 'float16') {
    if (original !== 'float32') throw new GraftError('UNSUPPORTED', `float16 quantization of ${original} weights is not supported`, ctx);
    return { dtype: 'float16', original: 'float32' };
  }
  if (q.dtype === 'uint8' || q.dtype === 'uint16') {
    if (typeof q.min !== 'number' || typeof q.scale !== 'number' || !Number.isFinite(q.min) || !Number.isFinite(q.scale)) {
      throw new GraftError('CORRUPT', `${q.dtype} quantization lacks a finite min and scale`, ctx);
    }
    if (original !== 'float32' && original !== 'int32') {
      throw new GraftError('UNSUPPORTED', `quantized ${original} weights are not supported`, ctx);
    }
    return { dtype: q.dtype, min: q.min, scale: q.scale, original };
  }
  throw new GraftError('UNSUPPORTED', `quantization dtype ${JSON.stringify(q.dtype)} is not supported (uint8, uint16, float16 are)`, ctx);
}

const PLAIN_DTYPES: Record<string, DType> = { float32: 'float32', int32: 'int32', bool: 'bool' };

/** Bytes a string weight occupies: walks its per-element length prefixes. */
function stringBytes(group: ShardGroup, offset: number, count: number, tensor: string): number {
  // The prefixes are read through a window, not 4 bytes per call: a manifest may claim
  // billions of empty strings, and the walk must stay linear in the shard's real size.
  const WINDOW = 1 << 20;
  let window: Uint8Array = new Uint8Array(0);
  let windowStart = 0;
  let at = offset;
  for (let i = 0; i < count; i++) {
    if (at + STRING_LENGTH_BYTES > group.size) break;
    if (at < windowStart || at + STRING_LENGTH_BYTES > windowStart + window.length) {
      windowStart = at;
      window = group.read(at, Math.min(WINDOW, group.size - at), tensor);
    }
    const p = at - windowStart;
    const len = (window[p] | (window[p + 1] << 8) | (window[p + 2] << 16) | (window[p + 3] << 24)) >>> 0;
    at += STRING_LENGTH_BYTES + len;
  }
  return at - offset;
}

function isGraphModel(model: Record<string, unknown>): boolean {
  if (model.format === 'graph-model') return true;
  const topo = model.modelTopology;
  return isObject(topo) && Array.isArray(topo.node);
}

async function openTfjs(filePath: string, options?: OpenOptions): Promise<WeightReader> {
  return openTfjsModel(filePath, parseModelJsonFile(filePath, options?.volume), options?.volume);
}

/** A tfjs reader over a model.json already read (and bounded) by parseModelJsonFile. */
export async function openTfjsModel(filePath: string, model: Record<string, unknown>, volume?: Volume): Promise<WeightReader> {
  const manifest = model.weightsManifest;
  if (!Array.isArray(manifest)) {
    throw new GraftError('CORRUPT', 'tfjs model.json has no weightsManifest array', { file: filePath });
  }
  const dir = path.dirname(filePath);
  const groups: ShardGroup[] = [];
  const weights = new Map<string, Weight>();
  const unsupported = new Map<string, string>();
  const opened: ByteSource[] = [];
  // Each shard file once in the whole manifest (by real path): listing one 64 KiB shard 16,384
  // times would otherwise back a 1 GiB tensor with the same bytes over and over.
  const shardFiles = new Set<string>();
  try {
    for (const [gi, group] of manifest.entries()) {
      if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
        throw new GraftError('CORRUPT', `weightsManifest group ${gi} lacks paths and weights arrays`, { file: filePath });
      }
      for (const p of group.paths) {
        const { path: shard, real } = realPathInside(dir, p, filePath, volume);
        if (shardFiles.has(real)) throw new GraftError('CORRUPT', `weightsManifest lists the shard '${printable(String(p))}' more than once`, { file: filePath });
        shardFiles.add(real);
        opened.push(openSource(shard, volume));
      }
      const shardGroup = new ShardGroup(opened.slice(opened.length - group.paths.length));
      groups.push(shardGroup);
      let offset = 0;
      for (const w of group.weights) {
        if (!isObject(w) || typeof w.name !== 'string' || !Array.isArray(w.shape) || typeof w.dtype !== 'string') {
          throw new GraftError('CORRUPT', `weightsManifest group ${gi} has an entry without name, shape and dtype`, { file: filePath });
        }
        const name = w.name;
        const ctx = { file: filePath, tensor: name };
        if (weights.has(name) || unsupported.has(name)) throw new GraftError('CORRUPT', 'weightsManifest names this weight twice', ctx);
        const count = elementCount(w.shape as number[], ctx);
        const shape = (w.shape as number[]).slice();
        if (w.dtype === 'string') {
          offset += stringBytes(shardGroup, offset, count, name);
          unsupported.set(name, 'is a string weight; only numeric weights can be grafted');
          continue;
        }
        // Own keys only: a dtype of 'constructor' must not find Object.prototype's members.
        const dtype = Object.hasOwn(PLAIN_DTYPES, w.dtype) ? PLAIN_DTYPES[w.dtype] : undefined;
        if (!dtype) throw new GraftError('UNSUPPORTED', `tfjs weight dtype '${printable(w.dtype, 40)}' is not supported (float32, int32, bool are)`, ctx);
        let storedBytes: number;
        let quantization: Quantization | undefined;
        let outDtype: DType = dtype;
        if (w.quantization !== undefined) {
          quantization = parseQuantization(w.quantization, w.dtype, ctx);
          storedBytes = count * (quantization.dtype === 'uint8' ? 1 : 2);
          outDtype = quantization.original;
        } else {
          storedBytes = count * DTYPE_BYTES[dtype];
        }
        if (offset + storedBytes > shardGroup.size) {
          throw new GraftError('CORRUPT', `weight data (${storedBytes} bytes at ${offset}) runs past the end of its shard files [${(group.paths as string[]).join(', ')}] (${shardGroup.size} bytes in all); a shard is truncated or missing`, ctx);
        }
        const info: TensorInfo = { name, dtype: outDtype, shape, byteSize: count * DTYPE_BYTES[outDtype] };
        weights.set(name, { info, group: shardGroup, offset, storedBytes, quantization });
        offset += storedBytes;
      }
    }
  } catch (e) {
    for (const s of opened) s.close();
    throw e;
  }
  const graph = isGraphModel(model);
  const metadata: Record<string, unknown> = {};
  for (const key of ['format', 'generatedBy', 'convertedBy']) if (model[key] !== undefined) metadata[key] = model[key];
  if (unsupported.size) metadata.skippedWeights = [...unsupported.keys()];
  const topology = !graph && isObject(model.modelTopology) ? model.modelTopology : undefined;
  return new TfjsReader({ path: filePath, convention: graph ? 'tf' : 'keras', topology, metadata, weights, groups, unsupported });
}

export const TfjsHandler: FormatHandler = {
  format: 'tfjs',
  extensions: ['model.json'],
  sniff(head: Uint8Array, filePath: string): boolean {
    if (/(^|[\\/])model\.json$/i.test(filePath)) return true;
    const text = new TextDecoder('utf-8').decode(head.subarray(0, 512));
    if (!/^\s*\{/.test(text)) return false;
    return /"weightsManifest"|"modelTopology"/.test(text);
  },
  open: openTfjs,
};
