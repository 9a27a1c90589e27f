import type { Int64, OnnxAttribute, OnnxNode, OnnxTensor } from './ir';

/**
 * Constant values of an ONNX graph as the model builder sees them: small tensors decoded into
 * numbers (shape arithmetic, reshape targets, pads, scales), and weights known by name only.
 * The batch dimension is symbolic: `NaN` stands for it (and for anything computed from it).
 */
export interface ConstValue {
  kind: 'const';
  /** Dimensions; a NaN dimension is the symbolic batch. */
  shape: number[];
  /** Row-major values, when known and small. */
  data?: number[];
  /** Every element has this value (ConstantOfShape, Expand of a scalar). */
  fill?: number;
  isFloat: boolean;
  /** The reader's tensor holding this value, when it is a weight the model may train. */
  weight?: string;
  /** The weight reaches its use through a 2-D transpose (MatMul of Transpose(W)). */
  transposed?: boolean;
}

/** Tensors above this many elements are weights, never decoded by the builder. */
export const MAX_DECODED = 1 << 16;

const FLOAT = 1, UINT8 = 2, INT8 = 3, INT32 = 6, INT64 = 7, BOOL = 9, DOUBLE = 11;

export function int64(v: Int64): number {
  return typeof v === 'number' ? v : v.toNumber();
}

export function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The values of a small inline tensor, or undefined (external data, too large, exotic type). */
export function decodeTensor(t: OnnxTensor): number[] | undefined {
  const count = product(t.dims.map(int64));
  if (count > MAX_DECODED) return undefined;
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  if (raw) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const width = { [FLOAT]: 4, [DOUBLE]: 8, [INT64]: 8, [INT32]: 4, [INT8]: 1, [UINT8]: 1, [BOOL]: 1 }[t.dataType];
    if (!width || raw.byteLength !== count * width) return undefined;
    const out = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      switch (t.dataType) {
        case FLOAT: out[i] = view.getFloat32(i * 4, true); break;
        case DOUBLE: out[i] = view.getFloat64(i * 8, true); break;
        case INT64: out[i] = Number(view.getBigInt64(i * 8, true)); break;
        case INT32: out[i] = view.getInt32(i * 4, true); break;
        case INT8: out[i] = view.getInt8(i); break;
        default: out[i] = view.getUint8(i);
      }
    }
    return out;
  }
  switch (t.dataType) {
    case FLOAT: return t.floatData.length === count ? [...t.floatData] : undefined;
    case DOUBLE: return t.doubleData.length === count ? [...t.doubleData] : undefined;
    case INT64: return t.int64Data.length === count ? t.int64Data.map(int64) : undefined;
    case INT32: case INT8: case UINT8: case BOOL: return t.int32Data.length === count ? [...t.int32Data] : undefined;
    default: return undefined;
  }
}

export function isFloatType(dataType: number): boolean {
  return dataType === FLOAT || dataType === DOUBLE || dataType === 10 || dataType === 16;
}

export type Attrs = Record<string, number | number[] | string | string[] | OnnxTensor | undefined>;

/** A node's attributes by name (INT, FLOAT, INTS, FLOATS, STRING(S), TENSOR). */
export function attributes(node: OnnxNode): Attrs {
  const out: Attrs = {};
  for (const a of node.attribute) out[a.name] = attributeValue(a);
  return out;
}

/** Not Buffer: graphs are also built in browsers. An unset bytes field decodes to an empty Uint8Array. */
const UTF8 = new TextDecoder('utf-8');
const utf8 = (b: ArrayLike<number>): string => UTF8.decode(b instanceof Uint8Array ? b : Uint8Array.from(b));

function attributeValue(a: OnnxAttribute): Attrs[string] {
  switch (a.type) {
    case 1: return a.f;
    case 2: return int64(a.i);
    case 3: return utf8(a.s);
    case 4: return a.t ?? undefined;
    case 6: return [...a.floats];
    case 7: return a.ints.map(int64);
    case 8: return a.strings.map((s) => utf8(s));
    default:
      if (a.ints.length) return a.ints.map(int64);
      if (a.floats.length) return [...a.floats];
      if (a.t) return a.t;
      if (a.s && a.s.length) return utf8(a.s);
      return a.f || int64(a.i);
  }
}

/** Row-major strides. */
function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let k = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = k;
    k *= shape[i];
  }
  return s;
}

/** The values of a const, materialised (fill expanded) when its shape is static and small. */
export function valuesOf(c: ConstValue): number[] | undefined {
  if (c.data) return c.data;
  if (c.fill !== undefined && c.shape.every(Number.isFinite) && product(c.shape) <= MAX_DECODED) return new Array(product(c.shape)).fill(c.fill);
  return undefined;
}

/** Broadcast elementwise function of two consts (NumPy rules); undefined when not computable. */
export function broadcastConst(a: ConstValue, b: ConstValue, f: (x: number, y: number) => number, isFloat: boolean): ConstValue | undefined {
  const n = Math.max(a.shape.length, b.shape.length);
  const sa = [...new Array(n - a.shape.length).fill(1), ...a.shape];
  const sb = [...new Array(n - b.shape.length).fill(1), ...b.shape];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (sa[i] === sb[i] || sb[i] === 1) out.push(sa[i]);
    else if (sa[i] === 1) out.push(sb[i]);
    else return undefined;
  }
  if (a.fill !== undefined && b.fill !== undefined && !a.data && !b.data) return { kind: 'const', shape: out, fill: f(a.fill, b.fill), isFloat };
  const va = valuesOf(a);
  const vb = valuesOf(b);
  if (!va || !vb || !out.every(Number.isFinite)) return undefined;
  const total = product(out);
  if (total > MAX_DECODED) return undefined;
  const ta = strides(sa).map((s, i) => (sa[i] === 1 ? 0 : s));
  const tb = strides(sb).map((s, i) => (sb[i] === 1 ? 0 : s));
  const to = strides(out);
  const data = new Array<number>(total);
  for (let k = 0; k < total; k++) {
    let ia = 0;
    let ib = 0;
    let r = k;
    for (let i = 0; i < n; i++) {
      const q = Math.floor(r / to[i]);
      r -= q * to[i];
      ia += q * ta[i];
      ib += q * tb[i];
    }
    data[k] = f(va[ia], vb[ib]);
  }
  return { kind: 'const', shape: out, data, isFloat };
}

/** Gathers along `axis` with integer indices (negative ones counted from the end). */
export function gatherConst(c: ConstValue, indices: ConstValue, axis: number): ConstValue | undefined {
  const v = valuesOf(c);
  const idx = valuesOf(indices);
  if (!v || !idx || !c.shape.every(Number.isFinite)) return undefined;
  const dim = c.shape[axis];
  const outer = product(c.shape.slice(0, axis));
  const inner = product(c.shape.slice(axis + 1));
  if (outer * idx.length * inner > MAX_DECODED) return undefined;
  const data: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (const raw of idx) {
      const i = raw < 0 ? raw + dim : raw;
      if (!(i >= 0 && i < dim)) return undefined;
      for (let k = 0; k < inner; k++) data.push(v[(o * dim + i) * inner + k]);
    }
  }
  return { kind: 'const', shape: [...c.shape.slice(0, axis), ...indices.shape, ...c.shape.slice(axis + 1)], data, isFloat: c.isFloat };
}

/** Permutes a small const's axes: out axis i = in axis perm[i]. */
export function transposeConst(c: ConstValue, perm: readonly number[]): ConstValue | undefined {
  const shape = perm.map((p) => c.shape[p]);
  if (c.fill !== undefined && !c.data) return { ...c, shape, data: undefined };
  const v = valuesOf(c);
  if (!v) return undefined;
  const inStrides = strides(c.shape);
  const outStrides = strides(shape);
  const data = new Array<number>(v.length);
  for (let k = 0; k < v.length; k++) {
    let r = k;
    let src = 0;
    for (let i = 0; i < shape.length; i++) {
      const q = Math.floor(r / outStrides[i]);
      r -= q * outStrides[i];
      src += q * inStrides[perm[i]];
    }
    data[k] = v[src];
  }
  return { kind: 'const', shape, data, isFloat: c.isFloat };
}
