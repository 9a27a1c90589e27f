import { GraftError } from '../../errors';
import { ByteSource, fileVolume, openSource, printable, rawTensor, statRegularFile, tensorInfo } from '../../io/bytes';
import * as posix from '../../io/posix';
import type { Volume } from '../../io/volume';
import { budgetError } from '../../io/budget';
import { decodeModel } from './schema';
import { ByteRange, stripInitializerData } from './locate';
import { ATTRIBUTE_TYPES, DATA_LOCATION_EXTERNAL, Int64, ONNX_DATA_TYPES as T, OnnxAttribute, OnnxModel, OnnxNode, OnnxTensor } from '../../topology/onnx/ir';
import { checkStridedRead, DTYPE_BYTES as DTYPE_BYTES_OF } from '../types';
import { buildOnnxModel, onnxOpSummary } from '../../topology/onnx-graph';
import { topologicalOrder } from './graph-order';
import { onnxExporter } from '../../topology/onnx/names';
import type { DType, FormatHandler, RawTensor, ReadsStrided, SourceOp, StridedRange, TensorInfo, WeightReader } from '../types';

/**
 * ONNX models: initializers (inline or external data) and weight-holding Constant nodes, plus
 * the graph's weighted ops in order for order-based matching.
 */

/** protobuf's own limit for one message; bigger models must use external data. */
const MAX_MODEL_BYTES = 2 ** 31 - 1;
/** PATH_MAX on Linux; a longer external-data location is damage, refused before touching the disk. */
const MAX_LOCATION_CHARS = 4096;
/** Pass-through ops between an initializer and the op that uses it (torch exports these). */
const PASS_THROUGH = new Set(['Identity', 'Transpose', 'Unsqueeze', 'Squeeze', 'Reshape', 'Cast', 'Flatten']);
const MAX_CHAIN = 8;

const DTYPES: Partial<Record<number, DType>> = {
  [T.FLOAT]: 'float32', [T.UINT8]: 'uint8', [T.INT8]: 'int8', [T.UINT16]: 'uint16', [T.INT16]: 'int16',
  [T.INT32]: 'int32', [T.INT64]: 'int64', [T.BOOL]: 'bool', [T.FLOAT16]: 'float16', [T.DOUBLE]: 'float64',
  [T.UINT32]: 'uint32', [T.UINT64]: 'uint64', [T.BFLOAT16]: 'bfloat16',
};
const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(T).map(([k, v]) => [v, k]));
const FLOAT_TYPES = new Set<DType>(['float16', 'bfloat16', 'float32', 'float64']);

// ---------------------------------------------------------------------------------------------
// Sniffing: the extension, or a ModelProto prefix: field 1 (ir_version) varint, then known
// fields with the right wire types, string fields holding printable text.

const MODEL_FIELDS: Record<number, number> = { 1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2 };
const TEXT_FIELDS = new Set([2, 3, 4, 6]);

function readVarint(b: Uint8Array, pos: number): [number, number] | undefined {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos + i >= b.length) return undefined;
    const byte = b[pos + i];
    v += (byte & 0x7f) * mul;
    mul *= 128;
    if (!(byte & 0x80)) return [v, pos + i + 1];
  }
  return undefined;
}

export function looksLikeOnnx(head: Uint8Array): boolean {
  if (head.length < 4 || head[0] !== 0x08) return false;
  const ir = readVarint(head, 1);
  if (!ir || ir[0] < 1 || ir[0] > 64) return false;
  let pos = ir[1];
  let fields = 0;
  while (pos < head.length) {
    const tag = readVarint(head, pos);
    if (!tag) break;
    const field = Math.floor(tag[0] / 8);
    const wire = tag[0] & 7;
    if (MODEL_FIELDS[field] !== wire) return false;
    pos = tag[1];
    if (wire === 0) {
      const v = readVarint(head, pos);
      if (!v) break;
      pos = v[1];
    } else {
      const len = readVarint(head, pos);
      if (!len) break;
      pos = len[1];
      if (TEXT_FIELDS.has(field)) {
        if (len[0] > 4096) return false;
        const text = head.subarray(pos, Math.min(head.length, pos + len[0]));
        if (!text.every((c) => c >= 0x20 || c === 0x0a || c === 0x09)) return false;
      }
      // The graph (field 7) is the large body: reaching it with valid fields before is enough.
      if (field === 7 || field === 8) return fields >= 1 || field === 7;
      pos += len[0];
    }
    fields++;
  }
  return fields >= 1;
}

export const onnxFormat: FormatHandler = {
  format: 'onnx',
  extensions: ['.onnx'],
  sniff(head: Uint8Array, path: string): boolean {
    return /\.onnx$/i.test(path) || looksLikeOnnx(head);
  },
  open: (path, options) => openOnnx(path, options?.volume),
};

// ---------------------------------------------------------------------------------------------

/**
 * 64-bit integers a model may hold outside raw_data (int64_data, uint64_data, dims, attribute
 * ints). The decoder makes one object per value (tens of bytes for a one-byte varint), so 30 MB
 * of packed int64_data would become gigabytes; counted on the wire before decoding.
 */
const MAX_TYPED_INT64_VALUES = 1 << 22;

/**
 * Counts the 64-bit integer values in the fields the decoder reads as such, by walking the
 * protobuf wire format (ModelProto → graph → initializers / nodes → attributes → tensors)
 * without building anything. Damage is left for the decoder to report.
 */
function checkInt64Budget(bytes: Uint8Array, file: string): void {
  let count = 0;
  // Which fields of which message hold int64 values, and which fields are sub-messages.
  const INT64_FIELDS: Record<string, Set<number>> = { tensor: new Set([1, 7, 11]), attribute: new Set([8]) };
  const CHILDREN: Record<string, Record<number, string>> = {
    model: { 7: 'graph' },
    graph: { 1: 'node', 5: 'tensor' },
    node: { 5: 'attribute' },
    attribute: { 5: 'tensor' },
  };
  const walk = (start: number, end: number, kind: string): void => {
    let pos = start;
    while (pos < end) {
      const tag = readVarint(bytes, pos);
      if (!tag || tag[1] > end) return;
      pos = tag[1];
      const field = Math.floor(tag[0] / 8);
      const wire = tag[0] & 7;
      if (wire === 0) {
        const v = readVarint(bytes, pos);
        if (!v) return;
        pos = v[1];
        if (INT64_FIELDS[kind]?.has(field)) count++;
      } else if (wire === 2) {
        const len = readVarint(bytes, pos);
        if (!len || len[1] + len[0] > end) return;
        const body = len[1];
        pos = body + len[0];
        const child = CHILDREN[kind]?.[field];
        if (child) walk(body, pos, child);
        else if (INT64_FIELDS[kind]?.has(field)) {
          // Packed varints: one value per byte without the continuation bit.
          for (let i = body; i < pos; i++) if (!(bytes[i] & 0x80)) count++;
        }
      } else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else return;
      if (count > MAX_TYPED_INT64_VALUES) {
        throw budgetError(file, `ONNX model holds more than ${MAX_TYPED_INT64_VALUES} 64-bit integers outside raw_data (int64_data, dims, ints)`, `${MAX_TYPED_INT64_VALUES} such values (large int64 tensors belong in raw_data)`);
      }
    }
  };
  walk(0, bytes.length, 'model');
}

function toNumber(v: Int64, what: string, file: string, tensor?: string): number {
  const n = typeof v === 'number' ? v : v.toNumber();
  if (!Number.isSafeInteger(n)) throw new GraftError('CORRUPT', `${what} ${typeof v === 'number' ? v : v.toString()} is out of range`, { file, tensor });
  return n;
}

/** Exact little-endian 8 bytes of a 64-bit protobuf integer (no float rounding). */
function writeInt64(view: DataView, offset: number, v: Int64): void {
  if (typeof v === 'number') view.setBigInt64(offset, BigInt(v), true);
  else {
    view.setUint32(offset, v.low >>> 0, true);
    view.setUint32(offset + 4, v.high >>> 0, true);
  }
}

interface Source {
  info: TensorInfo;
  tensor: OnnxTensor;
  /** Resolved external file (checked to lie inside the model's folder), offset, length. */
  external?: { file: string; offset: number };
  /** Inline raw_data left in the model file, read on demand. */
  raw?: ByteRange;
}

export async function openOnnx(path: string, volume: Volume = fileVolume): Promise<WeightReader> {
  const stat = statRegularFile(path, volume);
  if (stat.size > MAX_MODEL_BYTES) {
    throw new GraftError('UNSUPPORTED', `is ${stat.size} bytes, beyond protobuf's 2 GB limit; save the model with external data`, { file: path });
  }
  const src = openSource(path, volume);
  let model: OnnxModel;
  let rawRanges: (ByteRange | undefined)[] = [];
  try {
    // Initializers' raw_data stays in the file; a file the wire walk cannot follow is decoded
    // whole, as protobuf would, so its damage is reported the same way.
    const stripped = stripInitializerData(src);
    const bytes = stripped ? stripped.bytes : src.read(0, src.size);
    if (stripped) rawRanges = stripped.ranges;
    checkInt64Budget(bytes, path);
    model = decodeModel(bytes);
  } catch (e) {
    src.close();
    if (e instanceof GraftError) throw e;
    throw new GraftError('CORRUPT', `is not a valid ONNX model (${printable((e as Error).message)})`, { file: path });
  }
  if (!rawRanges.some(Boolean)) src.close();
  try {
    return describeModel(path, model, src, rawRanges, volume);
  } catch (e) {
    src.close();
    throw e;
  }
}

function describeModel(path: string, model: OnnxModel, src: ByteSource, rawRanges: (ByteRange | undefined)[], volume: Volume): WeightReader & Required<ReadsStrided> {
  const graph = model.graph;
  if (!graph) throw new GraftError('CORRUPT', 'ONNX model has no graph', { file: path });

  const modelDir = posix.dirname(path);
  const sources = new Map<string, Source>();
  const add = (name: string, tensor: OnnxTensor, what: string, raw?: ByteRange) => {
    if (!name) throw new GraftError('CORRUPT', `an unnamed ${what}`, { file: path });
    if (sources.has(name)) throw new GraftError('CORRUPT', `two ${what}s share this name`, { file: path, tensor: name });
    sources.set(name, describeTensor(name, tensor, path, modelDir, volume, raw));
  };
  graph.initializer.forEach((init, i) => add(init.name, init, 'initializer', rawRanges[i]));
  // Constant nodes holding floating-point tensors are weights when a weighted op uses them;
  // the rest (reshape targets, epsilons, initial RNN states) are left out.
  const constants = new Map<string, OnnxTensor>();
  for (const node of graph.node) {
    const value = node.opType === 'Constant' && !node.domain ? node.attribute.find((a) => a.name === 'value' && a.t) : undefined;
    if (!value?.t || !node.output[0] || sources.has(node.output[0])) continue;
    const dtype = DTYPES[value.t.dataType];
    if (dtype && FLOAT_TYPES.has(dtype)) constants.set(node.output[0], value.t);
  }
  const floatTables = new Set([...sources.values()].filter((s) => FLOAT_TYPES.has(s.info.dtype)).map((s) => s.info.name));
  // Weighted ops in the order data flows through them, whatever order the file stores them in.
  const opOrder = weightedOps(topologicalOrder(graph.node), new Set([...sources.keys(), ...constants.keys()]), (n) => floatTables.has(n) || constants.has(n));
  const usedConstants = new Set(opOrder.flatMap((op) => Object.values(op.params)).filter((n) => constants.has(n)));
  for (const [name, tensor] of constants) if (usedConstants.has(name)) add(name, tensor, 'Constant tensor');

  const externalFiles = new Map<string, ByteSource>();
  let closed = false;
  const opset = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  return {
    format: 'onnx',
    path,
    convention: 'torch',
    metadata: {
      irVersion: toNumber(model.irVersion, 'ir_version', path),
      producer: [model.producerName, model.producerVersion].filter(Boolean).join(' ') || undefined,
      // Which program named the tensors: the names are read under that program's naming.
      exporter: onnxExporter(model.producerName, graph.initializer.map((i) => i.name)),
      opset: opset ? toNumber(opset.version, 'opset version', path) : undefined,
      graph: graph.name || undefined,
      externalData: [...sources.values()].some((s) => s.external) || undefined,
    },
    opOrder,
    buildTopology: (options = {}) => buildOnnxModel(graph, {
      file: path, inputShapes: options.inputShapes, weights: new Set(sources.keys()), opset: opset ? toNumber(opset.version, 'opset version', path) : undefined,
    }),
    opSummary: () => onnxOpSummary(graph),
    list: () => [...sources.values()].map((s) => s.info),
    async read(name: string): Promise<RawTensor> {
      const s = sources.get(name);
      if (!s) throw new GraftError('NOT_FOUND', 'no such initializer in the model', { file: path, tensor: name });
      if (s.external) {
        let fsrc = externalFiles.get(s.external.file);
        if (!fsrc) {
          fsrc = volume.open(s.external.file);
          externalFiles.set(s.external.file, fsrc);
        }
        return rawTensor(s.info, fsrc.read(s.external.offset, s.info.byteSize, name), path);
      }
      if (s.raw) return rawTensor(s.info, src.read(s.raw.offset, s.raw.length, name), path);
      return rawTensor(s.info, inlineData(s.info, s.tensor, path), path);
    },
    async readStrided(name: string, r: StridedRange, target: Uint8Array): Promise<void> {
      this.readStridedSync(name, r, target);
    },
    /** Runs straight from the file for raw_data and external data; typed fields are built whole. */
    readStridedSync(name: string, r: StridedRange, target: Uint8Array): void {
      const s = sources.get(name);
      if (!s) throw new GraftError('NOT_FOUND', 'no such initializer in the model', { file: path, tensor: name });
      checkStridedRead(r, s.info.byteSize, target, path, name);
      const { start, runBytes, stride, count } = r;
      let file: ByteSource | undefined;
      let base = 0;
      if (s.external) {
        file = externalFiles.get(s.external.file);
        if (!file) {
          file = volume.open(s.external.file);
          externalFiles.set(s.external.file, file);
        }
        base = s.external.offset;
      } else if (s.raw) {
        file = src;
        base = s.raw.offset;
      }
      const whole = file ? undefined : inlineData(s.info, s.tensor, path);
      for (let i = 0; i < count; i++) {
        const run = target.subarray(i * runBytes, (i + 1) * runBytes);
        const at = start + i * stride;
        if (file) file.readInto(base + at, run, name);
        else run.set(whole!.subarray(at, at + runBytes));
      }
    },
    dataOffset(name: string): number | undefined {
      const s = sources.get(name);
      return s?.external?.offset ?? s?.raw?.offset;
    },
    async close() {
      if (closed) return;
      closed = true;
      src.close();
      for (const f of externalFiles.values()) f.close();
    },
  };
}

function describeTensor(name: string, t: OnnxTensor, file: string, modelDir: string, volume: Volume, raw?: ByteRange): Source {
  const dtype = DTYPES[t.dataType];
  if (!dtype) {
    const typeName = TYPE_NAMES[t.dataType] ?? `data type ${t.dataType}`;
    throw new GraftError('UNSUPPORTED', `has ONNX type ${typeName}, which graft cannot use as a weight`, { file, tensor: name });
  }
  const shape = t.dims.map((d) => toNumber(d, 'dimension', file, name));
  const info = tensorInfo(name, dtype, shape, file);
  if (t.dataLocation !== DATA_LOCATION_EXTERNAL) {
    checkInlineSize(info, t, file, raw);
    return { info, tensor: t, raw };
  }
  return { info, tensor: t, external: resolveExternal(name, t, info, file, modelDir, volume) };
}

/** The typed field ONNX keeps each data type's values in, when raw_data is empty. */
function typedValues(t: OnnxTensor): { field: string; values: ArrayLike<unknown> } | undefined {
  switch (t.dataType) {
    case T.FLOAT: return { field: 'float_data', values: t.floatData };
    case T.DOUBLE: return { field: 'double_data', values: t.doubleData };
    case T.INT64: return { field: 'int64_data', values: t.int64Data };
    case T.UINT64: case T.UINT32: return { field: 'uint64_data', values: t.uint64Data };
    case T.INT32: case T.INT16: case T.UINT16: case T.FLOAT16: case T.BFLOAT16: case T.INT8: case T.UINT8: case T.BOOL:
      return { field: 'int32_data', values: t.int32Data };
    default: return undefined;
  }
}

/**
 * Inline data must be exactly what the dims need, checked when the model is opened: dims that
 * claim terabytes beside a few bytes of raw_data are damage, refused before anything is allocated.
 */
function checkInlineSize(info: TensorInfo, t: OnnxTensor, file: string, raw?: ByteRange): void {
  const ctx = { file, tensor: info.name };
  const rawLength = raw ? raw.length : t.rawData?.length ?? 0;
  if (rawLength > 0) {
    if (rawLength !== info.byteSize) {
      throw new GraftError('CORRUPT', `raw_data holds ${rawLength} bytes where dims [${info.shape.join(', ')}] of ${info.dtype} need ${info.byteSize}`, ctx);
    }
    return;
  }
  const typed = typedValues(t);
  const count = info.byteSize / DTYPE_BYTES_OF[info.dtype];
  if (typed && typed.values.length !== count) {
    throw new GraftError('CORRUPT', `${typed.field} holds ${typed.values.length} values where dims [${info.shape.join(', ')}] need ${count}`, ctx);
  }
}

/**
 * Checks an external-data reference: a relative location without '..' whose real path (after
 * symlinks) lies inside the model's folder, and an offset/length inside the real file.
 */
function resolveExternal(name: string, t: OnnxTensor, info: TensorInfo, file: string, modelDir: string, volume: Volume): { file: string; offset: number } {
  const ctx = { file, tensor: name };
  const entries = new Map(t.externalData.map((e) => [e.key, e.value]));
  const location = entries.get('location');
  if (!location) throw new GraftError('CORRUPT', 'external data without a location', ctx);
  const shown = printable(location);
  if (location.includes('\0')) {
    throw new GraftError('UNSAFE', `external data location '${shown}' holds a NUL byte; graft does not let a file name be cut short`, ctx);
  }
  if (location.length > MAX_LOCATION_CHARS) {
    throw new GraftError('CORRUPT', `external data location is ${location.length} characters long, beyond any real file name`, ctx);
  }
  const segments = location.split(/[\\/]+/);
  // POSIX '/x', and what Windows calls absolute: '\\x', 'C:\\x', 'C:/x'.
  if (/^([A-Za-z]:)?[\\/]/.test(location)) {
    throw new GraftError('UNSAFE', `external data location '${shown}' is an absolute path; graft only reads files inside the model's folder`, ctx);
  }
  if (segments.includes('..')) {
    throw new GraftError('UNSAFE', `external data location '${shown}' leaves the model's folder ('..')`, ctx);
  }
  const target = posix.join(modelDir, location);
  if (!volume.exists(target)) throw new GraftError('NOT_FOUND', `external data file '${shown}' does not exist beside the model`, ctx);
  let real: string;
  try {
    real = volume.resolveInside(modelDir, location, file).real;
  } catch (e) {
    if (e instanceof GraftError && e.code === 'UNSAFE') throw new GraftError('UNSAFE', `external data location '${shown}' resolves (through a symlink) outside the model's folder`, ctx);
    throw e;
  }
  if (!volume.isFile(real)) throw new GraftError('NOT_FOUND', `external data location '${shown}' is not a regular file`, ctx);
  const stat = volume.statFile(real);
  const parse = (key: string, dflt: number): number => {
    const raw = entries.get(key);
    if (raw === undefined || raw === '') return dflt;
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw new GraftError('CORRUPT', `external data ${key} '${printable(raw, 40)}' is not a byte count`, ctx);
    return Number(raw);
  };
  const offset = parse('offset', 0);
  const length = parse('length', info.byteSize);
  if (length !== info.byteSize) {
    throw new GraftError('CORRUPT', `external data length ${length} differs from the ${info.byteSize} bytes its shape [${info.shape.join(', ')}] of ${info.dtype} needs`, ctx);
  }
  if (offset + length > stat.size) {
    throw new GraftError('CORRUPT', `external data ${offset}+${length} lies outside '${shown}' (size ${stat.size}); the file is truncated`, ctx);
  }
  return { file: real, offset };
}

/** A tensor's inline data: raw_data, or the typed field ONNX assigns to its data type. */
function inlineData(info: TensorInfo, t: OnnxTensor, file: string): Uint8Array {
  const ctx = { file, tensor: info.name };
  if (t.rawData && t.rawData.length > 0) return Uint8Array.prototype.slice.call(t.rawData); // copy: raw_data is often unaligned
  const count = info.shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(info.byteSize);
  const view = new DataView(out.buffer);
  const need = (values: ArrayLike<unknown>, field: string) => {
    if (values.length !== count) {
      throw new GraftError('CORRUPT', `${field} holds ${values.length} values where shape [${info.shape.join(', ')}] needs ${count}`, ctx);
    }
  };
  switch (t.dataType) {
    case T.FLOAT:
      need(t.floatData, 'float_data');
      t.floatData.forEach((v, i) => view.setFloat32(i * 4, v, true));
      break;
    case T.DOUBLE:
      need(t.doubleData, 'double_data');
      t.doubleData.forEach((v, i) => view.setFloat64(i * 8, v, true));
      break;
    case T.INT64:
      need(t.int64Data, 'int64_data');
      t.int64Data.forEach((v, i) => writeInt64(view, i * 8, v));
      break;
    case T.UINT64:
      need(t.uint64Data, 'uint64_data');
      t.uint64Data.forEach((v, i) => writeInt64(view, i * 8, v));
      break;
    case T.UINT32:
      need(t.uint64Data, 'uint64_data');
      t.uint64Data.forEach((v, i) => view.setUint32(i * 4, toNumber(v, 'value', file, info.name) >>> 0, true));
      break;
    case T.INT32:
      need(t.int32Data, 'int32_data');
      t.int32Data.forEach((v, i) => view.setInt32(i * 4, v, true));
      break;
    case T.INT16:
    case T.UINT16:
    case T.FLOAT16:
    case T.BFLOAT16:
      // 16-bit types travel as their bit patterns in the low half of int32_data.
      need(t.int32Data, 'int32_data');
      t.int32Data.forEach((v, i) => view.setUint16(i * 2, v & 0xffff, true));
      break;
    case T.INT8:
    case T.UINT8:
    case T.BOOL:
      need(t.int32Data, 'int32_data');
      t.int32Data.forEach((v, i) => (out[i] = v & 0xff));
      break;
    default:
      throw new GraftError('UNSUPPORTED', `ONNX data type ${t.dataType} has no typed-field reader`, ctx);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Weighted ops in graph order.

interface Traced {
  name: string;
  /** Pass-through ops from the initializer to the consumer, in application order. */
  via: Record<string, unknown>[];
}

/** Not Buffer: the reader also runs in browsers. An unset bytes field decodes to an empty Uint8Array. */
const UTF8 = new TextDecoder('utf-8');
const utf8 = (b: ArrayLike<number>): string => UTF8.decode(b instanceof Uint8Array ? b : Uint8Array.from(b));

function attributeValue(a: OnnxAttribute): unknown {
  const type = a.type || inferAttributeType(a);
  switch (type) {
    case ATTRIBUTE_TYPES.FLOAT: return a.f;
    case ATTRIBUTE_TYPES.INT: return typeof a.i === 'number' ? a.i : a.i.toNumber();
    case ATTRIBUTE_TYPES.STRING: return utf8(a.s);
    case ATTRIBUTE_TYPES.FLOATS: return [...a.floats];
    case ATTRIBUTE_TYPES.INTS: return a.ints.map((v) => (typeof v === 'number' ? v : v.toNumber()));
    case ATTRIBUTE_TYPES.STRINGS: return a.strings.map((s) => utf8(s));
    default: return undefined;
  }
}

/** IR version 1 models may omit AttributeProto.type. */
function inferAttributeType(a: OnnxAttribute): number {
  if (a.ints.length) return ATTRIBUTE_TYPES.INTS;
  if (a.floats.length) return ATTRIBUTE_TYPES.FLOATS;
  if (a.strings.length) return ATTRIBUTE_TYPES.STRINGS;
  if (a.s && a.s.length) return ATTRIBUTE_TYPES.STRING;
  if (a.t) return ATTRIBUTE_TYPES.TENSOR;
  if (a.f) return ATTRIBUTE_TYPES.FLOAT;
  return ATTRIBUTE_TYPES.INT;
}

function attributesOf(node: OnnxNode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of node.attribute) {
    const v = attributeValue(a);
    if (v !== undefined) out[a.name] = v;
  }
  return out;
}

/** Roles of each weighted op's inputs, by input position. */
const ROLES: Record<string, (string | undefined)[]> = {
  Conv: [undefined, 'weight', 'bias'],
  ConvTranspose: [undefined, 'weight', 'bias'],
  Gemm: [undefined, 'weight', 'bias'],
  BatchNormalization: [undefined, 'scale', 'bias', 'mean', 'var'],
  InstanceNormalization: [undefined, 'scale', 'bias'],
  LayerNormalization: [undefined, 'scale', 'bias'],
  LSTM: [undefined, 'W', 'R', 'B', undefined, undefined, undefined, 'P'],
  GRU: [undefined, 'W', 'R', 'B'],
  RNN: [undefined, 'W', 'R', 'B'],
  PRelu: [undefined, 'slope'],
};

/**
 * `weights`: names of initializers and weight constants. `isFloat`: whether one holds floating
 * point values (a Gather on an integer initializer is index arithmetic, not an embedding).
 */
export function weightedOps(nodes: OnnxNode[], weights: Set<string>, isFloat: (name: string) => boolean = () => true): SourceOp[] {
  const producer = new Map<string, OnnxNode>();
  const consumers = new Map<string, OnnxNode[]>();
  for (const n of nodes) {
    for (const o of n.output) if (o) producer.set(o, n);
    // Appended in place: a node with 40,000 inputs must not copy a growing list 40,000 times.
    for (const i of n.input) {
      if (!i) continue;
      const list = consumers.get(i);
      if (list) list.push(n);
      else consumers.set(i, [n]);
    }
  }
  const trace = (input: string | undefined): Traced | undefined => {
    if (!input) return undefined;
    const via: Record<string, unknown>[] = [];
    let name = input;
    for (let i = 0; i <= MAX_CHAIN; i++) {
      if (weights.has(name)) return { name, via: via.reverse() };
      const p = producer.get(name);
      if (!p || !PASS_THROUGH.has(p.opType) || p.domain) return undefined;
      const attrs = attributesOf(p);
      via.push({ op: p.opType, ...attrs });
      name = p.input[0];
    }
    return undefined;
  };
  const ops: SourceOp[] = [];
  for (const node of nodes) {
    if (node.domain && node.domain !== 'ai.onnx') continue;
    const params: Record<string, string> = {};
    const via: Record<string, unknown[]> = {};
    const bind = (role: string, traced: Traced | undefined) => {
      if (!traced) return;
      params[role] = traced.name;
      if (traced.via.length) via[role] = traced.via;
    };
    const attributes: Record<string, unknown> = attributesOf(node);
    const roles = Object.hasOwn(ROLES, node.opType) ? ROLES[node.opType] : undefined;
    if (roles) {
      roles.forEach((role, i) => role && bind(role, trace(node.input[i])));
      // CNTK and TF exporters add a convolution's bias in a separate Add ([C, 1, 1] for NCHW).
      if ((node.opType === 'Conv' || node.opType === 'ConvTranspose') && params.weight && !params.bias) {
        const next = consumers.get(node.output[0]) ?? [];
        if (next.length === 1 && next[0].opType === 'Add') bind('bias', trace(next[0].input.find((i) => i !== node.output[0])));
      }
    } else if (node.opType === 'MatMul') {
      // torch.nn.Linear on >2-D inputs exports as MatMul(x, Wᵀ) then Add(bias).
      const b = trace(node.input[1]);
      const a = b ? undefined : trace(node.input[0]);
      if (!b && !a) continue;
      bind('weight', b ?? a);
      if (a) attributes.weightInput = 0;
      const transposes = (b ?? a)!.via.filter((v) => v.op === 'Transpose').length;
      // MatMul's weight operand is [in, out]; one transpose on the way means the initializer is torch's [out, in].
      attributes.weightLayout = transposes % 2 === 1 ? 'out,in' : 'in,out';
      const next = consumers.get(node.output[0]) ?? [];
      if (next.length === 1 && next[0].opType === 'Add') {
        const other = next[0].input.find((i) => i !== node.output[0]);
        const bias = trace(other);
        bind('bias', bias);
      }
    } else if (node.opType === 'Gather') {
      // An embedding: Gather(table, ids) with the table an initializer.
      const table = trace(node.input[0]);
      if (!table || !isFloat(table.name)) continue;
      bind('weight', table);
      attributes.embedding = true;
    } else {
      continue;
    }
    if (Object.keys(params).length === 0) continue;
    if (Object.keys(via).length) attributes.via = via;
    const op: SourceOp = { type: node.opType, params };
    if (node.name) attributes.name = node.name;
    if (Object.keys(attributes).length) op.attributes = attributes;
    ops.push(op);
  }
  return ops;
}
