/**
 * Shape arithmetic shared by the layer catalogue's build rules: Keras-style config readers and
 * output-length formulas, each refusing (TopologyNotSupported) what it cannot know exactly.
 */

/** A tensor shape with the batch dimension first; `null` is an unknown dimension. */
export type Shape = (number | null)[];

/** Why a topology could not be analysed without tfjs. */
export class TopologyNotSupported extends Error {}

export function fail(why: string): never {
  throw new TopologyNotSupported(why);
}

export function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(`${what} is ${JSON.stringify(v)}, not an integer`);
  return v;
}

/** A number or a list of `n` numbers (Keras writes either). */
export function tuple(v: unknown, n: number, what: string, fallback?: number): number[] {
  if ((v === undefined || v === null) && fallback !== undefined) return new Array(n).fill(fallback);
  if (typeof v === 'number') return new Array(n).fill(int(v, what));
  if (Array.isArray(v) && v.length === n) return v.map((x) => int(x, what));
  return fail(`${what} ${JSON.stringify(v)} is not ${n} integer(s)`);
}

export function known(d: number | null | undefined, what: string): number {
  if (d === null || d === undefined || d < 0) fail(`${what} is unknown`);
  return d;
}

/** The one input of a single-input layer. */
export function single(inputs: Shape[], cls: string): Shape {
  if (inputs.length !== 1) fail(`${cls} is called on ${inputs.length} inputs`);
  return inputs[0];
}

export function channelsFirst(config: Record<string, unknown>, cls: string): boolean {
  const f = config.data_format ?? 'channels_last';
  if (f !== 'channels_last' && f !== 'channels_first') fail(`${cls} has data_format ${JSON.stringify(f)}`);
  return f === 'channels_first';
}

export function padding(config: Record<string, unknown>, cls: string, allowed: string[]): string {
  const p = config.padding ?? 'valid';
  if (typeof p !== 'string' || !allowed.includes(p)) fail(`${cls} has padding ${JSON.stringify(p)}`);
  return p;
}

/** tfjs convOutputLength: anything but 'same' (valid, causal) shrinks by the dilated kernel. */
export function convLength(length: number | null, kernel: number, pad: string, stride: number, dilation = 1): number | null {
  if (length === null) return null;
  const dilated = kernel + (kernel - 1) * (dilation - 1);
  const out = pad === 'same' ? length : length - dilated + 1;
  return Math.floor((out + stride - 1) / stride);
}

export function deconvLength(length: number | null, stride: number, kernel: number, pad: string): number | null {
  if (length === null) return null;
  return pad === 'valid' ? length * stride + Math.max(kernel - stride, 0) : length * stride;
}

/** ZeroPadding2D / Cropping2D amounts: n, [h, w] or [[top, bottom], [left, right]]. */
export function padPairs(v: unknown, fallback: number, what: string): [number, number][] {
  if (v === undefined || v === null) return [[fallback, fallback], [fallback, fallback]];
  if (typeof v === 'number') return [[int(v, what), v], [v, v]];
  if (Array.isArray(v) && v.length === 2) {
    if (v.every((x) => typeof x === 'number')) return [[int(v[0], what), v[0]], [int(v[1], what), v[1]]];
    if (v.every((x) => Array.isArray(x) && x.length === 2)) return (v as unknown[][]).map((p) => [int(p[0], what), int(p[1], what)] as [number, number]);
  }
  return fail(`${what} ${JSON.stringify(v)}`);
}

/** tfjs Merge.computeOutputShape: broadcasting over the non-batch dimensions. */
export function elementwise(inputs: Shape[], cls: string): Shape {
  if (inputs.length < 2) fail(`${cls} is called on fewer than two inputs`);
  const broadcast = (a: Shape, b: Shape): Shape => {
    if (a.length < b.length) return broadcast(b, a);
    if (b.length === 0) return a;
    const out = a.slice(0, a.length - b.length);
    for (let k = 0; k < b.length; k++) {
      const i = a[a.length - b.length + k];
      const j = b[k];
      if (i === null || j === null) out.push(null);
      else if (i === 1) out.push(j);
      else if (j === 1) out.push(i);
      else if (i !== j) fail(`${cls} inputs of shapes that do not broadcast`);
      else out.push(i);
    }
    return out;
  };
  let shape = inputs[0].slice(1);
  for (const s of inputs.slice(1)) shape = broadcast(shape, s.slice(1));
  const batches = [...new Set(inputs.map((s) => s[0]).filter((b) => b !== null))];
  return [batches.length === 1 ? batches[0] : null, ...shape];
}
