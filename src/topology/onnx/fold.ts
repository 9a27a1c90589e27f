import type { OnnxNode, OnnxTensor } from './ir';
import {
  Attrs, broadcastConst, ConstValue, decodeTensor, gatherConst, isFloatType, MAX_DECODED, product, transposeConst, valuesOf,
} from './constants';

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

function identity(rank: number): number[] {
  return [...Array(rank).keys()];
}

/**
 * A node all of whose inputs are constants, computed ahead of time: the shape arithmetic
 * exporters emit around reshapes, RNN initial states and padding. `reject` throws the builder's
 * one-line refusal for this node.
 */
export function foldNode(node: OnnxNode, a: Attrs, ins: (ConstValue | undefined)[], reject: (why: string) => never): ConstValue[] {
  const fail = (why = 'cannot be computed ahead of time'): never => reject(why);
  const vals = (i: number): number[] => {
    const c = ins[i];
    const v = c && valuesOf(c);
    if (!v) fail();
    return v as number[];
  };
  const c0 = ins[0];
  const arith: Record<string, (x: number, y: number) => number> = {
    Add: (x, y) => x + y, Sub: (x, y) => x - y, Mul: (x, y) => x * y,
    Div: (x, y) => (c0?.isFloat ? x / y : Math.trunc(x / y)), Pow: (x, y) => x ** y, Max: Math.max, Min: Math.min,
    Equal: (x, y) => (x === y ? 1 : 0),
  };
  switch (node.opType) {
    case 'Identity': case 'Dropout': return [c0!];
    case 'Cast': {
      const toFloat = isFloatType(Number(a.to));
      const v = valuesOf(c0!);
      return [{ kind: 'const', shape: c0!.shape, data: v && !toFloat ? v.map(Math.trunc) : v, fill: c0!.fill, isFloat: toFloat, weight: toFloat ? c0!.weight : undefined }];
    }
    case 'Shape': return [{ kind: 'const', shape: [c0!.shape.length], data: [...c0!.shape], isFloat: false }];
    case 'Add': case 'Sub': case 'Mul': case 'Div': case 'Pow': case 'Max': case 'Min': case 'Equal': {
      const r = broadcastConst(c0!, ins[1]!, arith[node.opType], c0!.isFloat);
      return [r ?? fail()];
    }
    case 'Sqrt': case 'Floor': case 'Ceil': case 'Neg': case 'Reciprocal': case 'Exp': case 'Relu': {
      const f = { Sqrt: Math.sqrt, Floor: Math.floor, Ceil: Math.ceil, Neg: (x: number) => -x, Reciprocal: (x: number) => 1 / x, Exp: Math.exp, Relu: (x: number) => Math.max(0, x) }[node.opType]!;
      return [{ kind: 'const', shape: c0!.shape, data: vals(0).map(f), isFloat: c0!.isFloat }];
    }
    case 'Gather': {
      const r = gatherConst(c0!, ins[1]!, normAxis(Number(a.axis ?? 0), c0!.shape.length));
      return [r ?? fail()];
    }
    case 'Unsqueeze': case 'Squeeze': {
      const axesIn = ins[1] ? vals(1) : (a.axes as number[] | undefined);
      let shape: number[];
      if (node.opType === 'Squeeze') {
        const axes = (axesIn ?? c0!.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((x) => normAxis(x, c0!.shape.length));
        shape = c0!.shape.filter((_, i) => !axes.includes(i));
      } else {
        const rank = c0!.shape.length + (axesIn ?? []).length;
        const axes = (axesIn ?? []).map((x) => normAxis(x, rank));
        shape = [];
        let k = 0;
        for (let i = 0; i < rank; i++) shape.push(axes.includes(i) ? 1 : c0!.shape[k++]);
      }
      return [{ ...c0!, shape }];
    }
    case 'Concat': {
      const parts = ins.filter((c): c is ConstValue => !!c);
      const axis = normAxis(Number(a.axis ?? 0), c0!.shape.length);
      const fill = parts[0].fill;
      if (fill !== undefined && parts.every((p) => p.fill === fill && !p.data && p.shape.length === c0!.shape.length)) {
        // Filled constants (zero states of several layers or directions) stay filled.
        const shape = c0!.shape.map((d, i) => (i === axis ? parts.reduce((sum, p) => sum + p.shape[i], 0) : d));
        return [{ kind: 'const', shape, fill, isFloat: c0!.isFloat }];
      }
      const values = parts.map((p) => valuesOf(p) ?? fail());
      if (!parts.every((p) => p.shape.length === c0!.shape.length && p.shape.every(Number.isFinite))) fail();
      const outer = product(c0!.shape.slice(0, axis));
      const data: number[] = [];
      for (let o = 0; o < outer; o++) {
        parts.forEach((p, k) => {
          const run = product(p.shape.slice(axis));
          for (let i = 0; i < run; i++) data.push(values[k][o * run + i]);
        });
      }
      const shape = c0!.shape.map((d, i) => (i === axis ? parts.reduce((sum, p) => sum + p.shape[i], 0) : d));
      return [{ kind: 'const', shape, data, isFloat: c0!.isFloat }];
    }
    case 'ConstantOfShape': {
      const shape = vals(0);
      const t = a.value as OnnxTensor | undefined;
      const fill = t ? (decodeTensor(t) ?? [0])[0] : 0;
      return [{ kind: 'const', shape, fill, isFloat: t ? isFloatType(t.dataType) : true }];
    }
    case 'Expand': {
      const shape = vals(1);
      const ones: ConstValue = { kind: 'const', shape, fill: 1, isFloat: c0!.isFloat };
      // One value everywhere (zero initial RNN states) expands to any shape, the symbolic batch included.
      const uniform = c0!.data && c0!.data.length > 0 && c0!.data.every((v) => v === c0!.data![0]);
      if (uniform) return [{ kind: 'const', shape: broadcastShape(c0!.shape, shape), fill: c0!.data![0], isFloat: c0!.isFloat }];
      if (c0!.fill !== undefined && !c0!.data) return [{ kind: 'const', shape: broadcastShape(c0!.shape, shape), fill: c0!.fill, isFloat: c0!.isFloat }];
      return [broadcastConst(c0!, ones, (x) => x, c0!.isFloat) ?? fail()];
    }
    case 'Reshape': {
      const target = vals(1);
      const n = product(c0!.shape);
      const known = target.map((d, i) => (d === 0 ? c0!.shape[i] : d));
      const rest = product(known.filter((d) => d !== -1));
      const shape = known.map((d) => (d === -1 ? n / rest : d));
      return [{ ...c0!, shape, weight: undefined }];
    }
    case 'Transpose': {
      const p = (a.perm as number[] | undefined) ?? identity(c0!.shape.length).reverse();
      if (c0!.weight && c0!.shape.length === 2 && !c0!.data) return [{ ...c0!, shape: [c0!.shape[1], c0!.shape[0]], transposed: !c0!.transposed }];
      const t = transposeConst(c0!, p);
      if (!t) fail();
      return [{ ...t!, weight: c0!.weight && c0!.shape.length === 2 ? c0!.weight : undefined, transposed: c0!.weight && c0!.shape.length === 2 ? !c0!.transposed : undefined }];
    }
    case 'Slice': {
      if (c0!.fill !== undefined && !c0!.data) {
        // A filled constant (zero initial states) keeps its fill; only its shape changes.
        const axes = (ins[3] ? vals(3) : vals(1).map((_, i) => i)).map((x) => normAxis(x, c0!.shape.length));
        const shape = [...c0!.shape];
        axes.forEach((ax, i) => {
          const dim = shape[ax];
          if (Number.isNaN(dim)) return;
          const clampTo = (x: number) => Math.max(0, Math.min(dim, x < 0 ? x + dim : x));
          const step = ins[4] ? vals(4)[i] : 1;
          if (step !== 1) fail('strided slices of constants are not folded');
          shape[ax] = Math.max(0, clampTo(vals(2)[i]) - clampTo(vals(1)[i]));
        });
        return [{ ...c0!, shape }];
      }
      return [sliceConst(c0!, vals(1), vals(2), ins[3] ? vals(3) : undefined, ins[4] ? vals(4) : undefined) ?? fail()];
    }
    case 'Range': {
      const [start, limit, delta] = [vals(0)[0], vals(1)[0], vals(2)[0]];
      const count = Math.max(0, Math.ceil((limit - start) / delta));
      if (!(count <= MAX_DECODED)) fail();
      return [{ kind: 'const', shape: [count], data: Array.from({ length: count }, (_, i) => start + i * delta), isFloat: c0!.isFloat }];
    }
    case 'Where': {
      const cond = ins[0]!;
      const r = broadcastConst(cond, ins[1]!, (c, x) => (c ? x : NaN), ins[1]!.isFloat);
      const r2 = r && broadcastConst(r, ins[2]!, (x, y) => (Number.isNaN(x) ? y : x), ins[1]!.isFloat);
      return [r2 ?? fail()];
    }
    default:
      return fail('has only constant inputs but graft does not fold this op');
  }
}

/** ONNX Slice of a small constant (any rank, negative steps included). */
function sliceConst(c: ConstValue, starts: number[], ends: number[], axesIn?: number[], stepsIn?: number[]): ConstValue | undefined {
  const v = valuesOf(c);
  if (!v || !c.shape.every(Number.isFinite)) return undefined;
  const rank = c.shape.length;
  const axes = (axesIn ?? starts.map((_, i) => i)).map((a) => normAxis(a, rank));
  const ranges = c.shape.map((d) => ({ start: 0, step: 1, count: d }));
  axes.forEach((ax, i) => {
    const dim = c.shape[ax];
    const step = stepsIn?.[i] ?? 1;
    const norm = (x: number) => (x < 0 ? x + dim : x);
    if (step > 0) {
      const s0 = Math.max(0, Math.min(dim, norm(starts[i])));
      const e0 = Math.max(0, Math.min(dim, norm(ends[i])));
      ranges[ax] = { start: s0, step, count: Math.max(0, Math.ceil((e0 - s0) / step)) };
    } else {
      const s0 = Math.max(-1, Math.min(dim - 1, norm(starts[i])));
      const e0 = Math.max(-1, Math.min(dim - 1, norm(ends[i])));
      ranges[ax] = { start: s0, step, count: Math.max(0, Math.ceil((s0 - e0) / -step)) };
    }
  });
  const shape = ranges.map((r) => r.count);
  const strides = c.shape.map((_, i) => product(c.shape.slice(i + 1)));
  const data: number[] = [];
  const idx = new Array(rank).fill(0);
  const total = product(shape);
  for (let k = 0; k < total; k++) {
    let src = 0;
    for (let i = 0; i < rank; i++) src += (ranges[i].start + idx[i] * ranges[i].step) * strides[i];
    data.push(v[src]);
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
    }
  }
  return { kind: 'const', shape, data, isFloat: c.isFloat };
}

function broadcastShape(a: number[], b: number[]): number[] {
  const n = Math.max(a.length, b.length);
  const sa = [...new Array(n - a.length).fill(1), ...a];
  const sb = [...new Array(n - b.length).fill(1), ...b];
  return sa.map((x, i) => (x === 1 ? sb[i] : x));
}

