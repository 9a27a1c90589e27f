import { GraftError } from '../../errors';
import { ByteSource, openSource, byteSwapInPlace, fortranToC, printable, rawTensor, tensorInfo } from '../../io/bytes';
import { startsWith } from '../registry';
import { DTYPE_BYTES, DType, FormatHandler, OpenOptions, RawTensor, TensorInfo, WeightReader } from '../types';

/**
 * NumPy .npy: magic, version, a Python-literal dict header (descr, fortran_order, shape), then
 * the raw elements. The header is parsed by a small strict literal parser, never evaluated.
 */

export const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Bytes before the header text in a version 1.0 file; 2.0/3.0 add two (4-byte length). */
export const NPY_PREFIX_V1 = 10;
export const NPY_PREFIX_V2 = 12;
/** numpy itself refuses headers beyond 10 kB by default; 1 MiB leaves room for odd writers. */
const MAX_HEADER_BYTES = 1 << 20;

export interface NpyHeader {
  dtype: DType;
  shape: number[];
  fortranOrder: boolean;
  bigEndian: boolean;
  /** Offset of the first element from the start of the .npy bytes. */
  dataOffset: number;
  /** Bytes of element data the header promises. */
  byteSize: number;
}

interface Ctx {
  file: string;
  tensor?: string;
}

function corrupt(why: string, ctx: Ctx): GraftError {
  return new GraftError('CORRUPT', `npy ${why}`, ctx);
}

/**
 * Total bytes of magic + version + length + header text, from the first 12 bytes (or fewer
 * for a file that is too short, which is reported as truncation).
 */
export function npyHeaderEnd(prefix: Uint8Array, ctx: Ctx): number {
  if (prefix.length < NPY_PREFIX_V1 || !startsWith(prefix, NPY_MAGIC)) {
    if (prefix.length >= NPY_MAGIC.length && !startsWith(prefix, NPY_MAGIC)) throw corrupt('data lacks the \\x93NUMPY magic', ctx);
    throw corrupt(`is truncated (${prefix.length} bytes, no complete header)`, ctx);
  }
  const major = prefix[6];
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  let headerLength: number;
  let start: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    start = NPY_PREFIX_V1;
  } else if (major === 2 || major === 3) {
    if (prefix.length < NPY_PREFIX_V2) throw corrupt('is truncated inside its header length', ctx);
    headerLength = view.getUint32(8, true);
    start = NPY_PREFIX_V2;
  } else {
    throw new GraftError('UNSUPPORTED', `npy format version ${major}.${prefix[7]} is not supported (1.0, 2.0, 3.0 are)`, ctx);
  }
  if (headerLength > MAX_HEADER_BYTES) throw corrupt(`header claims ${headerLength} bytes, implausibly large`, ctx);
  return start + headerLength;
}

/**
 * Parses the header from bytes holding at least the whole header (see npyHeaderEnd).
 */
export function parseNpyHeader(bytes: Uint8Array, ctx: Ctx): NpyHeader {
  const end = npyHeaderEnd(bytes, ctx);
  if (bytes.length < end) throw corrupt(`is truncated: header needs ${end} bytes, only ${bytes.length} present`, ctx);
  const major = bytes[6];
  const start = major === 1 ? NPY_PREFIX_V1 : NPY_PREFIX_V2;
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, end));
  let dict: PyValue;
  try {
    dict = parsePyLiteral(text);
  } catch (e) {
    throw corrupt(`header is not a valid Python literal dict (${printable((e as Error).message)}): '${printable(text, 120)}'`, ctx);
  }
  if (!(dict instanceof Map)) throw corrupt('header is not a dict', ctx);
  const keys = [...dict.keys()].sort();
  if (keys.join(',') !== 'descr,fortran_order,shape') {
    throw corrupt(`header keys are [${printable(keys.join(', '))}], expected descr, fortran_order, shape`, ctx);
  }
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shapeValue = dict.get('shape');
  if (Array.isArray(descr)) throw new GraftError('UNSUPPORTED', 'npy holds a structured (record) dtype; only plain numeric arrays are supported', ctx);
  if (typeof descr !== 'string') throw corrupt('descr is not a string', ctx);
  if (typeof fortran !== 'boolean') throw corrupt('fortran_order is not True/False', ctx);
  if (!(shapeValue instanceof PyTuple) || !shapeValue.items.every((d) => typeof d === 'number')) {
    throw corrupt('shape is not a tuple of integers', ctx);
  }
  const shape = shapeValue.items as number[];
  const { dtype, bigEndian } = parseDescr(descr, ctx);
  const info = tensorInfo(ctx.tensor ?? '', dtype, shape, ctx.file);
  return { dtype, shape, fortranOrder: fortran, bigEndian, dataOffset: end, byteSize: info.byteSize };
}

const KIND_DTYPES: Record<string, Partial<Record<number, DType>>> = {
  f: { 2: 'float16', 4: 'float32', 8: 'float64' },
  i: { 1: 'int8', 2: 'int16', 4: 'int32', 8: 'int64' },
  u: { 1: 'uint8', 2: 'uint16', 4: 'uint32', 8: 'uint64' },
  b: { 1: 'bool' },
};

function parseDescr(descr: string, ctx: Ctx): { dtype: DType; bigEndian: boolean } {
  const m = /^([<>|=]?)([a-zA-Z?])(\d*)$/.exec(descr);
  if (!m) throw new GraftError('UNSUPPORTED', `npy dtype '${printable(descr, 40)}' is not supported`, ctx);
  const [, order, kind, sizeText] = m;
  if (kind === 'O') {
    throw new GraftError('UNSAFE', `npy holds Python objects (dtype '${descr}'), which need unpickling; graft refuses pickled data`, ctx);
  }
  const size = sizeText === '' ? (kind === '?' ? 1 : NaN) : Number(sizeText);
  const dtype = KIND_DTYPES[kind === '?' ? 'b' : kind]?.[size];
  if (!dtype) {
    throw new GraftError('UNSUPPORTED', `npy dtype '${descr}' is not supported (numeric float16/32/64, int8-64, uint8-64 and bool are)`, ctx);
  }
  // '=' is native order; numpy writes explicit '<' or '>' but '=' means little-endian on every host graft runs on.
  return { dtype, bigEndian: order === '>' && size > 1 };
}

/** Element bytes as laid out in the file → C-order little-endian (copies when it must change them). */
export function normalizeNpyData(header: NpyHeader, data: Uint8Array): Uint8Array {
  const width = DTYPE_BYTES[header.dtype];
  let out = data;
  if (header.bigEndian) {
    out = out.slice();
    byteSwapInPlace(out, width);
  }
  if (header.fortranOrder) out = fortranToC(out, header.shape, width);
  return out;
}

/** Decodes a whole .npy held in memory. */
export function parseNpy(bytes: Uint8Array, name: string, file: string): RawTensor {
  const ctx = { file, tensor: name };
  const header = parseNpyHeader(bytes, ctx);
  const available = bytes.length - header.dataOffset;
  if (available < header.byteSize) {
    throw corrupt(`is truncated: shape [${header.shape.join(', ')}] of ${header.dtype} needs ${header.byteSize} bytes of data, only ${available} present`, ctx);
  }
  // Copy so the result owns an aligned buffer (typed-array views need aligned offsets).
  const data = bytes.slice(header.dataOffset, header.dataOffset + header.byteSize);
  return rawTensor(infoOf(name, header), header.bigEndian || header.fortranOrder ? normalizeNpyData(header, data) : data, file);
}

export function infoOf(name: string, header: NpyHeader): TensorInfo {
  return { name, dtype: header.dtype, shape: header.shape.slice(), byteSize: header.byteSize };
}

// ------------------------------------------------------------------ writer

const DESCR_OF: Partial<Record<DType, string>> = {
  float16: '<f2', float32: '<f4', float64: '<f8',
  int8: '|i1', int16: '<i2', int32: '<i4', int64: '<i8',
  uint8: '|u1', uint16: '<u2', uint32: '<u4', uint64: '<u8', bool: '|b1',
};

/**
 * Writes a version 1.0 .npy (little-endian, C order, header padded so data starts on a
 * 64-byte boundary, as numpy does).
 */
export function encodeNpy(t: { dtype: DType; shape: readonly number[]; data: ArrayBufferView }): Uint8Array {
  const descr = DESCR_OF[t.dtype];
  if (!descr) throw new GraftError('UNSUPPORTED', `dtype ${t.dtype} has no .npy equivalent`);
  const count = t.shape.reduce((a, b) => a * b, 1);
  const data = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (data.length !== count * DTYPE_BYTES[t.dtype]) {
    throw new Error(`encodeNpy: ${data.length} bytes given for shape [${t.shape.join(', ')}] of ${t.dtype}`);
  }
  const shapeText = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = NPY_PREFIX_V1 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  if (header.length > 0xffff) throw new Error('encodeNpy: header too long for format 1.0');
  const out = new Uint8Array(NPY_PREFIX_V1 + header.length + data.length);
  out.set(NPY_MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = header.length & 0xff;
  out[9] = header.length >> 8;
  for (let i = 0; i < header.length; i++) out[NPY_PREFIX_V1 + i] = header.charCodeAt(i);
  out.set(data, NPY_PREFIX_V1 + header.length);
  return out;
}

// ------------------------------------------------------------------ Python literal parser

/** A parsed Python tuple (distinct from a list, which numpy uses for structured dtypes). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}
export type PyValue = string | number | boolean | null | PyValue[] | PyTuple | Map<string, PyValue>;

/**
 * Parses the subset of Python literals npy headers use: dicts with string keys, strings,
 * integers (with Python 2's trailing L), True/False/None, tuples and lists.
 */
export function parsePyLiteral(text: string): PyValue {
  let i = 0;
  const skip = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`${what} at offset ${i}`);
  };
  const value = (depth: number): PyValue => {
    if (depth > 32) fail('nesting too deep');
    skip();
    const c = text[i];
    if (c === '{') {
      i++;
      const map = new Map<string, PyValue>();
      for (;;) {
        skip();
        if (text[i] === '}') {
          i++;
          return map;
        }
        const key = value(depth + 1);
        if (typeof key !== 'string') fail('dict key is not a string');
        skip();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        if (map.has(key as string)) fail(`duplicate key '${key as string}'`);
        map.set(key as string, value(depth + 1));
        skip();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') fail("expected ',' or '}'");
      }
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      i++;
      const items: PyValue[] = [];
      let sawComma = false;
      for (;;) {
        skip();
        if (text[i] === close) {
          i++;
          break;
        }
        items.push(value(depth + 1));
        skip();
        if (text[i] === ',') {
          i++;
          sawComma = true;
        } else if (text[i] !== close) fail(`expected ',' or '${close}'`);
      }
      // '(3)' is just a parenthesised 3 in Python, not a tuple.
      if (c === '(' && items.length === 1 && !sawComma) return items[0];
      return c === '(' ? new PyTuple(items) : items;
    }
    if (c === "'" || c === '"') {
      i++;
      let s = '';
      while (i < text.length && text[i] !== c) {
        if (text[i] === '\\') {
          i++;
          if (i >= text.length) break;
        }
        s += text[i++];
      }
      if (text[i] !== c) fail('unterminated string');
      i++;
      return s;
    }
    const m = /^(-?\d+)[lL]?|^(True|False|None)\b/.exec(text.slice(i, i + 40));
    if (!m) fail(`unexpected ${c === undefined ? 'end' : `'${c}'`}`);
    i += m![0].length;
    if (m![2] === 'True') return true;
    if (m![2] === 'False') return false;
    if (m![2] === 'None') return null;
    const n = Number(m![1]);
    if (!Number.isSafeInteger(n)) fail(`integer ${m![1]} out of range`);
    return n;
  };
  const result = value(0);
  skip();
  if (i !== text.length) fail('trailing characters');
  return result;
}

// ------------------------------------------------------------------ reader

class NpyReader implements WeightReader {
  readonly format = 'npy';
  readonly path: string;
  readonly metadata: Record<string, unknown>;
  private readonly source: ByteSource;
  private readonly header: NpyHeader;
  private readonly name: string;

  constructor(path: string, source: ByteSource, header: NpyHeader, name: string, version: string) {
    this.path = path;
    this.source = source;
    this.header = header;
    this.name = name;
    this.metadata = { version, fortranOrder: header.fortranOrder, byteOrder: header.bigEndian ? 'big' : 'little' };
  }

  list(): TensorInfo[] {
    return [infoOf(this.name, this.header)];
  }

  async read(name: string): Promise<RawTensor> {
    if (name !== this.name) {
      throw new GraftError('NOT_FOUND', `holds one array named '${this.name}', not '${name}'`, { file: this.path, tensor: name });
    }
    const data = this.source.read(this.header.dataOffset, this.header.byteSize, name);
    return rawTensor(infoOf(name, this.header), normalizeNpyData(this.header, data), this.path);
  }

  async close(): Promise<void> {
    this.source.close();
  }
}

/** The tensor name of a lone .npy: its file name without the extension. */
function npyTensorName(filePath: string): string {
  const base = filePath.split(/[\\/]/).pop() ?? filePath;
  return base.replace(/\.npy$/i, '');
}

export const NpyHandler: FormatHandler = {
  format: 'npy',
  extensions: ['.npy'],
  sniff(head: Uint8Array): boolean {
    return startsWith(head, NPY_MAGIC);
  },
  async open(filePath: string, options?: OpenOptions): Promise<WeightReader> {
    const source = openSource(filePath, options?.volume);
    try {
      const name = npyTensorName(filePath);
      const ctx = { file: filePath, tensor: name };
      const prefix = source.read(0, Math.min(NPY_PREFIX_V2, source.size));
      const end = npyHeaderEnd(prefix, ctx);
      if (end > source.size) throw corrupt(`is truncated: header needs ${end} bytes, file has ${source.size}`, ctx);
      const header = parseNpyHeader(source.read(0, end), ctx);
      if (header.dataOffset + header.byteSize > source.size) {
        throw corrupt(`is truncated: shape [${header.shape.join(', ')}] of ${header.dtype} needs ${header.byteSize} bytes of data, the file holds ${source.size - header.dataOffset}`, ctx);
      }
      return new NpyReader(filePath, source, header, name, `${prefix[6]}.${prefix[7]}`);
    } catch (e) {
      source.close();
      throw e;
    }
  },
};
