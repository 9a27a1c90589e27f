import { elementwise, fail, int, known, Shape, single } from '../shapes';

/**
 * Catalogue entries (see topology/catalogue.ts) for the `Graft*` layers of models built from ONNX
 * graphs (src/layers/onnx_ops.ts): their weights and output shapes exactly as the layers compute
 * them, so such models stream without tfjs. All of them need `tfjs-graft/layers`.
 */

interface Context {
  cls: string;
  config: Record<string, unknown>;
  inputs: Shape[];
  weight(name: string, shape: Shape): void;
}

interface OnnxLayerClass {
  weights(config: Record<string, unknown>): string[];
  build(b: Context): Shape[];
  needsGraftLayers(): boolean;
  /** tfjs has no class of this name: tfjs-graft/layers adds it. */
  addedByGraftLayers: true;
}

function ints(v: unknown, what: string): number[] {
  if (!Array.isArray(v)) fail(`${what} is not a list`);
  return (v as unknown[]).map((x) => int(x, what));
}

function pairs(v: unknown, what: string): [number, number][] {
  if (!Array.isArray(v)) fail(`${what} is not a list`);
  return (v as unknown[]).map((p) => {
    const [a, b] = ints(p, what);
    return [a, b];
  });
}

const weightless = (build: (b: Context) => Shape[]): OnnxLayerClass => ({ weights: () => [], build, needsGraftLayers: () => true, addedByGraftLayers: true });

/** Output length of a strided slice [begin, end) (end -1 with a negative stride: through index 0). */
function sliceLength(begin: number, end: number, stride: number): number {
  return Math.max(0, Math.ceil((end - begin) / stride));
}

export const ONNX_LAYER_CLASSES: Record<string, OnnxLayerClass> = {
  GraftUnary: weightless(({ cls, inputs }) => [single(inputs, cls).slice()]),
  GraftBinary: weightless(({ cls, inputs }) => {
    if (inputs.length !== 2) fail(`${cls} is called on ${inputs.length} inputs`);
    return [elementwise(inputs, cls)];
  }),
  GraftConstant: {
    weights: (config) => (Array.isArray(config.values) ? [] : ['value']),
    build({ cls, config, inputs, weight }) {
      const x = single(inputs, cls);
      const shape = ints(config.shape, `${cls} shape`);
      if (!Array.isArray(config.values)) weight('value', shape);
      return [elementwise([x, [null, ...shape]], cls).map((d, i) => (i === 0 ? x[0] : d))];
    },
    needsGraftLayers: () => true,
    addedByGraftLayers: true,
  },
  GraftPad: weightless(({ cls, config, inputs }) => {
    const x = single(inputs, cls);
    const p = pairs(config.paddings, `${cls} paddings`);
    if (p.length !== x.length - 1) fail(`${cls} paddings do not match its input`);
    return [x.map((d, i) => (i === 0 || d === null ? d : d + p[i - 1][0] + p[i - 1][1]))];
  }),
  GraftSlice: weightless(({ cls, config, inputs }) => {
    const x = single(inputs, cls);
    const begin = ints(config.begin, `${cls} begin`);
    const end = ints(config.end, `${cls} end`);
    const strides = ints(config.strides, `${cls} strides`);
    const squeeze = config.squeeze === undefined ? [] : ints(config.squeeze, `${cls} squeeze`);
    if (begin.length !== x.length - 1 || end.length !== begin.length || strides.length !== begin.length) fail(`${cls} bounds do not match its input`);
    const out: Shape = [x[0]];
    begin.forEach((b, i) => {
      if (!squeeze.includes(i + 1)) out.push(sliceLength(b, end[i], strides[i]));
    });
    return [out];
  }),
  GraftSplit: weightless(({ cls, config, inputs }) => {
    const x = single(inputs, cls);
    const axis = int(config.axis, `${cls} axis`);
    const sizes = ints(config.sizes, `${cls} sizes`);
    if (axis < 1 || axis >= x.length || sizes.reduce((a, b) => a + b, 0) !== known(x[axis], `${cls} split axis`)) fail(`${cls} sizes do not fill axis ${axis}`);
    return sizes.map((n) => x.map((d, i) => (i === axis ? n : d)));
  }),
  GraftReduce: weightless(({ cls, config, inputs }) => {
    const x = single(inputs, cls);
    const axes = ints(config.axes, `${cls} axes`);
    const keep = config.keepdims === true;
    const out: Shape = [];
    x.forEach((d, i) => {
      if (!axes.includes(i)) out.push(d);
      else if (keep) out.push(1);
    });
    return [out];
  }),
  GraftResize: weightless(({ cls, config, inputs }) => {
    const x = single(inputs, cls);
    const size = ints(config.size, `${cls} size`);
    if (x.length !== 4 || size.length !== 2) fail(`${cls} resizes 2-D feature maps`);
    return [[x[0], size[0], size[1], x[3]]];
  }),
  GraftPool2D: weightless(({ cls, config, inputs }) => {
    const x = single(inputs, cls);
    const pool = ints(config.pool, `${cls} pool`);
    const strides = ints(config.strides, `${cls} strides`);
    const pads = ints(config.pads, `${cls} pads`);
    const extra = config.extra === undefined ? [0, 0] : ints(config.extra, `${cls} extra`);
    if (x.length !== 4 || pool.length !== 2 || strides.length !== 2 || pads.length !== 4 || extra.length !== 2) fail(`${cls} config does not fit a 2-D input`);
    const length = (d: number | null, k: number, s: number, p: number) => (d === null ? null : Math.floor((d + p - k) / s) + 1);
    return [[x[0], length(x[1], pool[0], strides[0], pads[0] + pads[1] + extra[0]), length(x[2], pool[1], strides[1], pads[2] + pads[3] + extra[1]), x[3]]];
  }),
  GraftInstanceNorm: {
    weights: () => ['gamma', 'beta'],
    build({ cls, inputs, weight }) {
      const x = single(inputs, cls);
      const c = known(x[x.length - 1], `${cls} channels`);
      weight('gamma', [c]);
      weight('beta', [c]);
      return [x.slice()];
    },
    needsGraftLayers: () => true,
    addedByGraftLayers: true,
  },
  GraftMatMul: weightless(({ cls, inputs }) => {
    if (inputs.length !== 2) fail(`${cls} is called on ${inputs.length} inputs`);
    const [a, b] = inputs;
    if (a.length !== b.length || a.length < 3) fail(`${cls} operands of ranks ${a.length} and ${b.length}`);
    const lead = elementwise([a.slice(0, -2), b.slice(0, -2)], cls);
    return [[...lead, a[a.length - 2], b[b.length - 1]]];
  }),
};
