import { convPermutation, denseAfterFlatten, flattenedRowsToChannelsLast, permute, permutedShape, product, reorderGateRows, transpose2d } from './layout';

/**
 * How source tensors become one target variable. Every kind has a pure shape rule (used by the
 * plan, before any data is read) and a pure data function (used when assigning).
 */
export type TransformSpec =
  | { kind: 'identity' }
  /** [a, b] → [b, a]: PyTorch Linear / RNN weights [out, in] → tfjs [in, out]. */
  | { kind: 'transpose' }
  /**
   * PyTorch Linear after a channels-first Flatten → tfjs Dense after a channels-last Flatten. The
   * source is PyTorch's [out, in], or [in, out] when `inOut` (an ONNX MatMul weight).
   */
  | { kind: 'dense-after-flatten'; channels: number; spatial: number[]; inOut?: boolean }
  /** [out, in, k…] → [k…, in, out] (Conv1d/2d/3d, grouped too). */
  | { kind: 'conv' }
  /** [in, out, k…] → [k…, out, in] (ConvTranspose). */
  | { kind: 'conv-transpose' }
  /** [in·m, 1, kh, kw] → [kh, kw, in, m] (depthwise Conv2d with groups == in). */
  | { kind: 'depthwise' }
  /** Elementwise sum of several sources (PyTorch's two RNN biases). */
  | { kind: 'sum' }
  /** Source values fill the target shape (PReLU alpha: one shared value, or one per channel). */
  | { kind: 'broadcast' }
  /** PyTorch GRU weights [3·units, in] with gates r,z,n → Keras [in, 3·units] with gates z,r,h. */
  | { kind: 'gru-kernel' }
  /** PyTorch GRU bias_ih, bias_hh → Keras reset_after bias [2, 3·units] (gates z,r,h). */
  | { kind: 'gru-bias' }
  /**
   * ONNX-native LSTM/GRU/RNN W or R [directions, gates·units, in] → Keras [in, gates·units] for one
   * direction. Keras gate block k comes from ONNX block gates[k] (LSTM: i,o,f,c → i,f,c,o).
   */
  | { kind: 'onnx-rnn-kernel'; gates: number[]; direction: number }
  /** ONNX B [directions, 2·gates·units] (Wb then Rb) → Keras bias: summed, or stacked [2, …] for reset_after. */
  | { kind: 'onnx-rnn-bias'; gates: number[]; direction: number; stacked: boolean }
  /**
   * A constant operand of an ONNX graph: viewed as `from` (its shape with broadcast axes of size 1
   * prepended), axes permuted (`perm`, the channels-last order), then taken as the target's shape.
   */
  | { kind: 'reshape-permute'; from: number[]; perm: number[] };

export type TransformKind = TransformSpec['kind'];

export function describeTransform(t: TransformSpec): string {
  switch (t.kind) {
    case 'dense-after-flatten': return `dense-after-flatten(C=${t.channels},S=${t.spatial.join('x')}${t.inOut ? ',in-out' : ''})`;
    case 'onnx-rnn-kernel': return `onnx-rnn-kernel(dir=${t.direction})`;
    case 'onnx-rnn-bias': return `onnx-rnn-bias(dir=${t.direction}${t.stacked ? ',stacked' : ''})`;
    case 'reshape-permute': return `reshape-permute([${t.from}] by [${t.perm}])`;
    default: return t.kind;
  }
}

/** Parses a transform named in a mapping table. */
export function parseTransformName(name: string): TransformSpec | undefined {
  const simple: TransformKind[] = ['identity', 'transpose', 'conv', 'conv-transpose', 'depthwise', 'sum', 'broadcast', 'gru-kernel', 'gru-bias'];
  if (name === 'none') return { kind: 'identity' };
  // Sizes come from the target: the planner fills them in from the Flatten's input shape.
  if (name === 'dense-after-flatten') return { kind: 'dense-after-flatten', channels: 0, spatial: [] };
  return (simple as string[]).includes(name) ? ({ kind: name } as TransformSpec) : undefined;
}

/** PyTorch gate order r,z,n → Keras z,r,h: Keras block i comes from PyTorch block GRU_ORDER[i]. */
const GRU_ORDER = [1, 0, 2];

/**
 * The shape a transform produces from these source shapes, given the target's shape (some
 * transforms take a size from it), or a reason why it cannot apply.
 */
export function transformedShape(t: TransformSpec, sources: number[][], target: readonly number[]): number[] | string {
  const s = sources[0];
  switch (t.kind) {
    case 'identity':
      return s;
    case 'transpose':
    case 'gru-kernel':
      if (s.length !== 2) return `${t.kind} needs a 2-D source`;
      return [s[1], s[0]];
    case 'dense-after-flatten': {
      if (s.length !== 2) return 'needs a 2-D source';
      const features = t.channels * product(t.spatial);
      const inputs = t.inOut ? s[0] : s[1];
      if (inputs !== features) return `expects ${features} input features (C=${t.channels} × ${t.spatial.join('×')}) but the source has ${inputs}`;
      return t.inOut ? [s[0], s[1]] : [s[1], s[0]];
    }
    case 'conv':
    case 'conv-transpose':
      if (s.length < 3) return `${t.kind} needs a source of rank ≥ 3`;
      return permutedShape(s, convPermutation(s.length));
    case 'depthwise': {
      if (s.length !== 4 || s[1] !== 1) return 'depthwise needs a source [in·m, 1, kh, kw]';
      const m = target.length === 4 ? target[3] : 1;
      if (m < 1 || s[0] % m !== 0) return `cannot split ${s[0]} output channels by depth multiplier ${m}`;
      return [s[2], s[3], s[0] / m, m];
    }
    case 'sum':
      for (const o of sources) if (o.join() !== s.join()) return `sum needs equal shapes, got ${sources.map((x) => `[${x}]`).join(' and ')}`;
      return s;
    case 'broadcast': {
      const n = product(s);
      const want = product(target);
      if (n === want || n === 1) return [...target];
      if (target.length > 0 && n === target[target.length - 1] && product(target.slice(0, -1)) === want / n) return [...target];
      return `cannot broadcast ${n} values to [${target.join(', ')}]`;
    }
    case 'gru-bias':
      if (sources.length !== 2 || s.length !== 1) return 'gru-bias needs bias_ih and bias_hh';
      return [2, s[0]];
    case 'onnx-rnn-kernel': {
      if (s.length !== 3 || t.direction >= s[0] || s[1] % t.gates.length !== 0) return `needs an ONNX [directions, ${t.gates.length}·units, in] tensor with direction ${t.direction}`;
      return [s[2], s[1]];
    }
    case 'onnx-rnn-bias': {
      const g = t.gates.length;
      if (s.length !== 2 || t.direction >= s[0] || s[1] % (2 * g) !== 0) return `needs an ONNX [directions, 2·${g}·units] bias with direction ${t.direction}`;
      return t.stacked ? [2, s[1] / 2] : [s[1] / 2];
    }
    case 'reshape-permute': {
      const n = product(s);
      if (n !== product(t.from) || n !== product(target)) return `cannot view ${n} values as [${t.from.join(', ')}] for [${target.join(', ')}]`;
      return [...target];
    }
  }
}

/** Applies a transform to float data. Shapes must already have been checked by transformedShape. */
export function applyTransform(t: TransformSpec, data: Float32Array[], shapes: number[][], target: readonly number[]): Float32Array {
  const d = data[0];
  const s = shapes[0];
  switch (t.kind) {
    case 'identity':
      return d;
    case 'transpose':
      return transpose2d(d, s[0], s[1]);
    case 'dense-after-flatten':
      return t.inOut ? flattenedRowsToChannelsLast(d, s[1], t.channels, product(t.spatial)) : denseAfterFlatten(d, s[0], t.channels, product(t.spatial));
    case 'conv':
    case 'conv-transpose':
      return permute(d, s, convPermutation(s.length));
    case 'depthwise': {
      const m = target.length === 4 ? target[3] : 1;
      // [in·m, 1, kh, kw] is [in, m, kh, kw] in memory; tfjs wants [kh, kw, in, m].
      return permute(d, [s[0] / m, m, s[2], s[3]], [2, 3, 0, 1]);
    }
    case 'sum': {
      const out = new Float32Array(d);
      for (let k = 1; k < data.length; k++) {
        const x = data[k];
        for (let i = 0; i < out.length; i++) out[i] += x[i];
      }
      return out;
    }
    case 'broadcast': {
      const want = product(target);
      if (d.length === want) return d;
      const out = new Float32Array(want);
      for (let i = 0; i < want; i++) out[i] = d[i % d.length];
      return out;
    }
    case 'gru-kernel': {
      const units = s[0] / 3;
      return transpose2d(reorderGateRows(d, units, s[1], GRU_ORDER), s[0], s[1]);
    }
    case 'gru-bias': {
      const units = s[0] / 3;
      const out = new Float32Array(2 * s[0]);
      out.set(reorderGateRows(data[0], units, 1, GRU_ORDER), 0);
      out.set(reorderGateRows(data[1], units, 1, GRU_ORDER), s[0]);
      return out;
    }
    case 'onnx-rnn-kernel': {
      const rows = s[1];
      const slice = d.subarray(t.direction * rows * s[2], (t.direction + 1) * rows * s[2]);
      return transpose2d(reorderGateRows(slice, rows / t.gates.length, s[2], t.gates), rows, s[2]);
    }
    case 'onnx-rnn-bias': {
      const half = s[1] / 2;
      const units = half / t.gates.length;
      const base = t.direction * s[1];
      const wb = reorderGateRows(d.subarray(base, base + half), units, 1, t.gates);
      const rb = reorderGateRows(d.subarray(base + half, base + s[1]), units, 1, t.gates);
      if (t.stacked) {
        const out = new Float32Array(s[1]);
        out.set(wb, 0);
        out.set(rb, half);
        return out;
      }
      for (let i = 0; i < half; i++) wb[i] += rb[i];
      return wb;
    }
    case 'reshape-permute':
      return permute(d, t.from, t.perm);
  }
}
