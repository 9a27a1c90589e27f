import { GraftError } from '../../errors';
import * as path from '../../io/posix';
import type { Volume } from '../../io/volume';
import { ByteSource, openSource, printable, rawTensor, realPathInside, resolveInside, tensorInfo } from '../../io/bytes';
import { isObject } from '../../io/json';
import { MAX_JSON_DEPTH, jsonTextDepthExceeds, parseJsonBudgeted } from '../../io/budget';

export { resolveInside };
import { checkStridedRead, DType, FormatHandler, OpenOptions, RawTensor, TensorInfo, WeightReader } from '../types';
import type { StridedRange } from '../types';

/**
 * safetensors: u64 little-endian header length N, N bytes of JSON (tensor name → dtype, shape,
 * data_offsets relative to the data section; optional __metadata__ string map), then data.
 * Opening reads the header only; tensor bytes are read on demand.
 */

/** The reference implementation caps headers at 100 MB; a larger claim is damage. */
export const MAX_HEADER_BYTES = 100_000_000;
const INDEX_SUFFIX = '.safetensors.index.json';

const DTYPES: Record<string, DType> = {
  F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16',
  I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8',
  U64: 'uint64', U32: 'uint32', U16: 'uint16', U8: 'uint8',
  BOOL: 'bool',
};

interface Entry {
  info: TensorInfo;
  /** Absolute file offset of the tensor's first byte. */
  offset: number;
}

/** One parsed .safetensors file. */
class SafetensorsFile {
  readonly path: string;
  readonly metadata?: Record<string, string>;
  readonly entries: Map<string, Entry>;
  private readonly source: ByteSource;

  private constructor(p: string, source: ByteSource, entries: Map<string, Entry>, metadata?: Record<string, string>) {
    this.path = p;
    this.source = source;
    this.entries = entries;
    this.metadata = metadata;
  }

  static open(p: string, volume?: Volume): SafetensorsFile {
    const source = openSource(p, volume);
    try {
      const { entries, metadata } = parseHeader(source);
      return new SafetensorsFile(p, source, entries, metadata);
    } catch (e) {
      source.close();
      throw e;
    }
  }

  read(name: string): RawTensor {
    const entry = this.entry(name);
    const data = this.source.read(entry.offset, entry.info.byteSize, name);
    return rawTensor(entry.info, data, this.path);
  }

  /** Copies `count` runs of `runBytes`, the i-th at `start + i·stride` within the tensor, into `target`. */
  readStrided(name: string, r: StridedRange, target: Uint8Array): void {
    const entry = this.entry(name);
    checkStridedRead(r, entry.info.byteSize, target, this.path, name);
    const { start, runBytes, stride, count } = r;
    // One run filling the target (a transpose's block of rows) needs no view of its own.
    if (count === 1 && target.length === runBytes) {
      this.source.readInto(entry.offset + start, target, name);
      return;
    }
    for (let i = 0; i < count; i++) {
      this.source.readInto(entry.offset + start + i * stride, target.subarray(i * runBytes, (i + 1) * runBytes), name);
    }
  }

  /** Where the tensor's bytes start in the file. */
  dataOffset(name: string): number {
    return this.entry(name).offset;
  }

  private entry(name: string): Entry {
    const entry = this.entries.get(name);
    if (!entry) throw new GraftError('NOT_FOUND', `has no tensor named '${name}'`, { file: this.path, tensor: name });
    return entry;
  }

  close(): void {
    this.source.close();
  }
}

function parseHeader(source: ByteSource): { entries: Map<string, Entry>; metadata?: Record<string, string> } {
  const file = source.path;
  const corrupt = (why: string, tensor?: string) => new GraftError('CORRUPT', `safetensors ${why}`, { file, tensor });
  if (source.size < 8) throw corrupt(`file is truncated (${source.size} bytes, no header length)`);
  const lengthBytes = source.read(0, 8);
  const view = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8);
  const headerLength = view.getUint32(4, true) * 2 ** 32 + view.getUint32(0, true);
  if (headerLength > source.size - 8) {
    throw corrupt(`header claims ${headerLength} bytes but the file holds only ${source.size - 8} after the length; the file is truncated or not safetensors`);
  }
  if (headerLength > MAX_HEADER_BYTES) throw corrupt(`header claims ${headerLength} bytes, over the ${MAX_HEADER_BYTES}-byte limit`);
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let header: unknown;
  try {
    const json = text.decode(source.read(8, headerLength));
    if (jsonTextDepthExceeds(json, MAX_JSON_DEPTH)) throw new Error(`nests more than ${MAX_JSON_DEPTH} levels deep`);
    header = JSON.parse(json);
  } catch (e) {
    throw corrupt(`header is not valid UTF-8 JSON (${printable((e as Error).message)})`);
  }
  if (!isObject(header)) throw corrupt('header is not a JSON object');
  const dataStart = 8 + headerLength;
  const dataSize = source.size - dataStart;
  let metadata: Record<string, string> | undefined;
  const spans: Array<{ name: string; begin: number; end: number }> = [];
  const infos = new Map<string, TensorInfo>();
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
        throw corrupt('__metadata__ is not a map of strings to strings');
      }
      metadata = { ...(value as Record<string, string>) };
      continue;
    }
    if (!isObject(value)) throw corrupt('header entry is not an object', name);
    const { dtype: code, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (typeof code !== 'string') throw corrupt('has no dtype string', name);
    // Own keys only: '__proto__' or 'constructor' must not find Object.prototype's members.
    const dtype = Object.hasOwn(DTYPES, code) ? DTYPES[code] : undefined;
    if (!dtype) {
      if (/^F8_/.test(code) || /^F[46]_/.test(code) || code === 'E8M0') {
        throw new GraftError('UNSUPPORTED', `safetensors dtype ${code} (8-bit or smaller float) is not supported; convert the checkpoint to F16/BF16/F32 first`, { file, tensor: name });
      }
      throw new GraftError('UNSUPPORTED', `safetensors dtype '${printable(code, 40)}' is not supported`, { file, tensor: name });
    }
    if (!Array.isArray(shape)) throw corrupt('shape is not an array', name);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw corrupt(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`, name);
    }
    const info = tensorInfo(name, dtype, shape as number[], file);
    const [begin, end] = offsets as number[];
    if (end < begin) throw corrupt(`data_offsets [${begin}, ${end}] end before they begin`, name);
    if (end > dataSize) {
      throw corrupt(`data_offsets [${begin}, ${end}] lie beyond the data section (${dataSize} bytes); the file is truncated or damaged`, name);
    }
    if (end - begin !== info.byteSize) {
      throw corrupt(`data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${info.shape.join(', ')}] of ${code} needs ${info.byteSize}`, name);
    }
    spans.push({ name, begin, end });
    infos.set(name, info);
  }
  // File order is data order; overlapping tensors mean a damaged (or malicious) header.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i].begin < spans[i - 1].end) {
      throw corrupt(`tensor data of '${spans[i].name}' [${spans[i].begin}, ${spans[i].end}] overlaps '${spans[i - 1].name}' [${spans[i - 1].begin}, ${spans[i - 1].end}]`, spans[i].name);
    }
  }
  const entries = new Map<string, Entry>();
  for (const s of spans) entries.set(s.name, { info: infos.get(s.name)!, offset: dataStart + s.begin });
  return { entries, metadata };
}

function copyInfo(info: TensorInfo): TensorInfo {
  return { ...info, shape: info.shape.slice() };
}

class SafetensorsReader implements WeightReader {
  readonly format = 'safetensors';
  readonly path: string;
  readonly metadata?: Record<string, unknown>;
  private readonly file: SafetensorsFile;

  constructor(file: SafetensorsFile) {
    this.file = file;
    this.path = file.path;
    this.metadata = file.metadata;
  }

  list(): TensorInfo[] {
    return [...this.file.entries.values()].map((e) => copyInfo(e.info));
  }

  async read(name: string): Promise<RawTensor> {
    return this.file.read(name);
  }

  async readStrided(name: string, range: StridedRange, target: Uint8Array): Promise<void> {
    this.file.readStrided(name, range, target);
  }

  readStridedSync(name: string, range: StridedRange, target: Uint8Array): void {
    this.file.readStrided(name, range, target);
  }

  dataOffset(name: string): number {
    return this.file.dataOffset(name);
  }

  async close(): Promise<void> {
    this.file.close();
  }
}

/** One reader over the shards named by a `*.safetensors.index.json`. */
class ShardedSafetensorsReader implements WeightReader {
  readonly format = 'safetensors';
  readonly path: string;
  readonly metadata: Record<string, unknown>;
  private readonly shards: SafetensorsFile[];
  private readonly owner: Map<string, SafetensorsFile>;
  private readonly order: TensorInfo[];

  constructor(indexPath: string, shards: SafetensorsFile[], owner: Map<string, SafetensorsFile>, indexMetadata: unknown) {
    this.path = indexPath;
    this.shards = shards;
    this.owner = owner;
    this.order = [];
    for (const shard of shards) {
      for (const [name, entry] of shard.entries) if (owner.get(name) === shard) this.order.push(entry.info);
    }
    this.metadata = {
      shards: shards.map((s) => path.basename(s.path)),
      ...(isObject(indexMetadata) ? { index: indexMetadata } : {}),
      ...(shards[0]?.metadata ? { shardMetadata: shards[0].metadata } : {}),
    };
  }

  list(): TensorInfo[] {
    return this.order.map(copyInfo);
  }

  async read(name: string): Promise<RawTensor> {
    const shard = this.owner.get(name);
    if (!shard) throw new GraftError('NOT_FOUND', `weight_map has no tensor named '${name}'`, { file: this.path, tensor: name });
    return shard.read(name);
  }

  async readStrided(name: string, range: StridedRange, target: Uint8Array): Promise<void> {
    this.readStridedSync(name, range, target);
  }

  readStridedSync(name: string, range: StridedRange, target: Uint8Array): void {
    const shard = this.owner.get(name);
    if (!shard) throw new GraftError('NOT_FOUND', `weight_map has no tensor named '${name}'`, { file: this.path, tensor: name });
    shard.readStrided(name, range, target);
  }

  dataOffset(name: string): number | undefined {
    return this.owner.get(name)?.dataOffset(name);
  }

  async close(): Promise<void> {
    for (const s of this.shards) s.close();
  }
}

function readJsonFile(p: string, what: string, volume?: Volume): unknown {
  const source = openSource(p, volume);
  try {
    if (source.size > MAX_HEADER_BYTES) throw new GraftError('CORRUPT', `${what} is ${source.size} bytes, implausibly large`, { file: p });
    const text = new TextDecoder('utf-8').decode(source.read(0, source.size));
    try {
      return parseJsonBudgeted(text, p, what);
    } catch (e) {
      if (e instanceof GraftError) throw e;
      throw new GraftError('CORRUPT', `${what} is not valid JSON (${printable((e as Error).message)})`, { file: p });
    }
  } finally {
    source.close();
  }
}

async function openIndex(indexPath: string, volume?: Volume): Promise<WeightReader> {
  const index = readJsonFile(indexPath, 'safetensors index', volume);
  if (!isObject(index) || !isObject(index.weight_map)) {
    throw new GraftError('CORRUPT', 'safetensors index has no weight_map object', { file: indexPath });
  }
  const dir = path.dirname(indexPath);
  const weightMap = index.weight_map as Record<string, unknown>;
  // Each shard is opened once, by real path: './s', './/s' and 's' (or a link to it) are one file.
  const shardsByName = new Map<string, SafetensorsFile>();
  const shardsByRealPath = new Map<string, SafetensorsFile>();
  const owner = new Map<string, SafetensorsFile>();
  try {
    for (const [tensor, shardName] of Object.entries(weightMap)) {
      let shard = shardsByName.get(shardName as string);
      if (!shard) {
        const { path: shardPath, real } = realPathInside(dir, shardName, indexPath, volume);
        shard = shardsByRealPath.get(real);
        if (!shard) {
          shard = SafetensorsFile.open(shardPath, volume);
          shardsByRealPath.set(real, shard);
        }
        shardsByName.set(shardName as string, shard);
      }
      if (!shard.entries.has(tensor)) {
        throw new GraftError('CORRUPT', `weight_map places tensor '${tensor}' in ${String(shardName)}, which does not hold it`, { file: indexPath, tensor });
      }
      owner.set(tensor, shard);
    }
  } catch (e) {
    for (const s of shardsByRealPath.values()) s.close();
    throw e;
  }
  return new ShardedSafetensorsReader(indexPath, [...shardsByRealPath.values()], owner, index.metadata);
}

export const SafetensorsHandler: FormatHandler = {
  format: 'safetensors',
  extensions: ['.safetensors', INDEX_SUFFIX],
  sniff(head: Uint8Array, filePath: string): boolean {
    if (filePath.endsWith(INDEX_SUFFIX)) return true;
    // Claimed by name too, so a damaged header is reported by this reader, not as unknown.
    if (/\.safetensors$/i.test(filePath) && head.length >= 8) return true;
    if (head.length < 9) return false;
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const n = view.getUint32(4, true) * 2 ** 32 + view.getUint32(0, true);
    return n >= 2 && n <= MAX_HEADER_BYTES && head[8] === 0x7b; // '{'
  },
  async open(filePath: string, options?: OpenOptions): Promise<WeightReader> {
    if (filePath.endsWith(INDEX_SUFFIX)) return openIndex(filePath, options?.volume);
    return new SafetensorsReader(SafetensorsFile.open(filePath, options?.volume));
  },
};
