import * as tf from '@tensorflow/tfjs';
import type { LayerVariable } from '@tensorflow/tfjs-layers/dist/variables';
import { singleShape } from './keras_args';
import { GRAFT_MARKER } from './tfjs_classes';

/**
 * Layers for ONNX ops tfjs-layers has no layer for, used by models built from ONNX graphs
 * (src/topology/onnx-graph.ts). Every one works on channels-last tensors with the batch first,
 * holds its parameters in its config (or as weights when it has trainable ones), and is
 * registered with tfjs serialization so saved models load with `import 'tfjs-graft/layers'`.
 * Config string values are camelCase because tfjs camel-cases strings when it reads a topology.
 */

type Shape = (number | null)[];
type Config = tf.serialization.ConfigDict;
type LayerArgs = ConstructorParameters<typeof tf.layers.Layer>[0] & Record<string, unknown>;

function one(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0] : inputs;
}

function isShapeList(s: Shape | Shape[]): s is Shape[] {
  return s.length > 0 && Array.isArray(s[0]);
}

/** NumPy broadcasting of two shapes (dims aligned at the end; null = unknown batch). */
export function broadcastShapes(a: Shape, b: Shape): Shape {
  const n = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < n; i++) {
    const ia = a.length - n + i;
    const ib = b.length - n + i;
    const x = ia < 0 ? 1 : a[ia];
    const y = ib < 0 ? 1 : b[ib];
    out.push(x === 1 ? y : y === 1 ? x : x === null || y === null ? null : x === y ? x : (() => {
      throw new Error(`shapes [${a}] and [${b}] do not broadcast`);
    })());
  }
  return out;
}

/** Marks a class as graft's, so a second copy of the module recognises it (see tfjs_classes). */
function mark(cls: { className: string }): void {
  Object.defineProperty(cls, GRAFT_MARKER, { value: true, enumerable: false });
}

// ---------------------------------------------------------------------------------------------

const SELU_ALPHA = 1.67326319217681884765625;
const SELU_GAMMA = 1.05070102214813232421875;

/** Pointwise functions ONNX names and tfjs's Activation layer lacks (or computes differently). */
export class GraftUnary extends tf.layers.Layer {
  static className = 'GraftUnary';
  readonly op: string;
  readonly alpha: number;
  readonly beta: number;
  readonly min: number;
  readonly max: number;

  constructor(args: LayerArgs) {
    super(args);
    this.op = String(args.op);
    this.alpha = Number(args.alpha ?? 0);
    this.beta = Number(args.beta ?? 0);
    this.min = args.min === undefined || args.min === null ? -Infinity : Number(args.min);
    this.max = args.max === undefined || args.max === null ? Infinity : Number(args.max);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      switch (this.op) {
        case 'hardSigmoid': return tf.clipByValue(tf.add(tf.mul(x, this.alpha), this.beta), 0, 1);
        case 'hardSwish': return tf.mul(x, tf.clipByValue(tf.add(tf.div(x, 6), 0.5), 0, 1));
        case 'clip': return tf.clipByValue(x, this.min, this.max);
        case 'elu': return tf.where(tf.greater(x, 0), x, tf.mul(tf.sub(tf.exp(x), 1), this.alpha));
        case 'selu': return tf.mul(tf.where(tf.greater(x, 0), x, tf.mul(tf.sub(tf.exp(x), 1), SELU_ALPHA)), SELU_GAMMA);
        case 'sqrt': return tf.sqrt(x);
        case 'exp': return tf.exp(x);
        case 'log': return tf.log(x);
        case 'neg': return tf.neg(x);
        case 'abs': return tf.abs(x);
        case 'reciprocal': return tf.reciprocal(x);
        case 'erf': return tf.erf(x);
        case 'softplus': return tf.softplus(x);
        case 'mish': return tf.mul(x, tf.tanh(tf.softplus(x)));
        default: throw new Error(`GraftUnary '${this.name}': unknown op '${this.op}'`);
      }
    });
  }

  override getConfig(): Config {
    const c: Config = { ...super.getConfig(), op: this.op, alpha: this.alpha, beta: this.beta };
    if (Number.isFinite(this.min)) c.min = this.min;
    if (Number.isFinite(this.max)) c.max = this.max;
    return c;
  }
}

function binary(op: string, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  switch (op) {
    case 'add': return tf.add(a, b);
    case 'sub': return tf.sub(a, b);
    case 'mul': return tf.mul(a, b);
    case 'div': return tf.div(a, b);
    case 'pow': return tf.pow(a, b);
    case 'max': return tf.maximum(a, b);
    case 'min': return tf.minimum(a, b);
    default: throw new Error(`unknown elementwise op '${op}'`);
  }
}

/** Elementwise op of two tensors with NumPy broadcasting (ONNX Add/Sub/Mul/Div/Pow/Max/Min). */
export class GraftBinary extends tf.layers.Layer {
  static className = 'GraftBinary';
  readonly op: string;

  constructor(args: LayerArgs) {
    super(args);
    this.op = String(args.op);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shapes = inputShape as Shape[];
    return broadcastShapes(shapes[0], shapes[1]);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const [a, b] = inputs as tf.Tensor[];
    return tf.tidy(() => binary(this.op, a, b));
  }

  override getConfig(): Config {
    return { ...super.getConfig(), op: this.op };
  }
}

/**
 * Elementwise op of a tensor and a constant (broadcast over the batch): the constant is a
 * trainable weight `value` (an ONNX initializer), or fixed `values` in the config.
 */
export class GraftConstant extends tf.layers.Layer {
  static className = 'GraftConstant';
  readonly op: string;
  /** The constant's shape without the batch axis (broadcast against the input's). */
  readonly shape: number[];
  readonly values?: number[];
  /** Whether the constant is the left operand (`c - x`, `c / x`). */
  readonly left: boolean;
  private value?: LayerVariable;

  constructor(args: LayerArgs) {
    super(args);
    this.op = String(args.op);
    this.shape = (args.shape as number[]) ?? [];
    this.values = args.values as number[] | undefined;
    this.left = args.left === true;
  }

  override build(): void {
    if (!this.values) this.value = this.addWeight('value', this.shape, 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = singleShape(inputShape);
    return [s[0], ...broadcastShapes(s.slice(1), this.shape)];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      const c = this.value ? this.value.read() : tf.tensor(this.values!, this.shape, 'float32');
      return this.left ? binary(this.op, c, x) : binary(this.op, x, c);
    });
  }

  override getConfig(): Config {
    const c: Config = { ...super.getConfig(), op: this.op, shape: this.shape, left: this.left };
    if (this.values) c.values = this.values;
    return c;
  }
}

/** Pads non-batch axes: `paddings` [before, after] per axis; constant or reflect mode. */
export class GraftPad extends tf.layers.Layer {
  static className = 'GraftPad';
  readonly paddings: [number, number][];
  readonly mode: string;
  readonly value: number;

  constructor(args: LayerArgs) {
    super(args);
    this.paddings = args.paddings as [number, number][];
    this.mode = String(args.mode ?? 'constant');
    this.value = Number(args.value ?? 0);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = singleShape(inputShape);
    return s.map((d, i) => (i === 0 || d === null ? d : d + this.paddings[i - 1][0] + this.paddings[i - 1][1]));
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = one(inputs);
    const pads: [number, number][] = [[0, 0], ...this.paddings];
    return this.mode === 'reflect' ? tf.mirrorPad(x, pads, 'reflect') : tf.pad(x, pads, this.value);
  }

  override getConfig(): Config {
    return { ...super.getConfig(), paddings: this.paddings, mode: this.mode, value: this.value };
  }
}

/** Strided slice of non-batch axes (begin, end, strides per axis), then squeezes `squeeze` axes. */
export class GraftSlice extends tf.layers.Layer {
  static className = 'GraftSlice';
  readonly begin: number[];
  readonly end: number[];
  readonly strides: number[];
  readonly squeeze: number[];

  constructor(args: LayerArgs) {
    super(args);
    this.begin = args.begin as number[];
    this.end = args.end as number[];
    this.strides = args.strides as number[];
    this.squeeze = (args.squeeze as number[]) ?? [];
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = singleShape(inputShape);
    const out: Shape = [s[0]];
    this.begin.forEach((b, i) => {
      const n = Math.max(0, Math.ceil((this.end[i] - b) / this.strides[i]));
      if (!this.squeeze.includes(i + 1)) out.push(n);
    });
    return out;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      // end -1 with a negative stride means "through index 0": strided slices need the end mask for it.
      let endMask = 1;
      const end = this.end.map((e, i) => {
        if (e < 0) {
          endMask |= 1 << (i + 1);
          return 0;
        }
        return e;
      });
      const y = tf.stridedSlice(x, [0, ...this.begin], [0, ...end], [1, ...this.strides], 1, endMask);
      return this.squeeze.length ? tf.squeeze(y, this.squeeze) : y;
    });
  }

  override getConfig(): Config {
    return { ...super.getConfig(), begin: this.begin, end: this.end, strides: this.strides, squeeze: this.squeeze };
  }
}

/** Splits one axis into pieces of the given sizes (several outputs). */
export class GraftSplit extends tf.layers.Layer {
  static className = 'GraftSplit';
  readonly axis: number;
  readonly sizes: number[];

  constructor(args: LayerArgs) {
    super(args);
    this.axis = Number(args.axis);
    this.sizes = args.sizes as number[];
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape[] {
    const s = singleShape(inputShape);
    return this.sizes.map((n) => s.map((d, i) => (i === this.axis ? n : d)));
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
    return tf.split(one(inputs), this.sizes, this.axis);
  }

  override getConfig(): Config {
    return { ...super.getConfig(), axis: this.axis, sizes: this.sizes };
  }
}

/** Mean/sum/max/min over non-batch axes, keeping them as size 1 or dropping them. */
export class GraftReduce extends tf.layers.Layer {
  static className = 'GraftReduce';
  readonly op: string;
  readonly axes: number[];
  readonly keepdims: boolean;

  constructor(args: LayerArgs) {
    super(args);
    this.op = String(args.op);
    this.axes = args.axes as number[];
    this.keepdims = args.keepdims === true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = singleShape(inputShape);
    const out: Shape = [];
    s.forEach((d, i) => {
      if (!this.axes.includes(i)) out.push(d);
      else if (this.keepdims) out.push(1);
    });
    return out;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = one(inputs);
    switch (this.op) {
      case 'mean': return tf.mean(x, this.axes, this.keepdims);
      case 'sum': return tf.sum(x, this.axes, this.keepdims);
      case 'max': return tf.max(x, this.axes, this.keepdims);
      case 'min': return tf.min(x, this.axes, this.keepdims);
      default: throw new Error(`GraftReduce '${this.name}': unknown op '${this.op}'`);
    }
  }

  override getConfig(): Config {
    return { ...super.getConfig(), op: this.op, axes: this.axes, keepdims: this.keepdims };
  }
}

/** Resizes NHWC images to `size` (nearest or bilinear) with ONNX's coordinate conventions. */
export class GraftResize extends tf.layers.Layer {
  static className = 'GraftResize';
  readonly mode: string;
  readonly size: [number, number];
  readonly coordinates: string;

  constructor(args: LayerArgs) {
    super(args);
    this.mode = String(args.mode);
    this.size = args.size as [number, number];
    this.coordinates = String(args.coordinates ?? 'asymmetric');
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = singleShape(inputShape);
    return [s[0], this.size[0], this.size[1], s[3]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = one(inputs) as tf.Tensor4D;
    const align = this.coordinates === 'alignCorners';
    const half = this.coordinates === 'halfPixel' || this.coordinates === 'pytorchHalfPixel';
    return this.mode === 'nearest'
      ? tf.image.resizeNearestNeighbor(x, this.size, align, half)
      : tf.image.resizeBilinear(x, this.size, align, half);
  }

  override getConfig(): Config {
    return { ...super.getConfig(), mode: this.mode, size: this.size, coordinates: this.coordinates };
  }
}

/**
 * 2-D pooling with explicit (possibly asymmetric) padding: max pooling ignores the padding,
 * average pooling divides by the window's count of real elements (or of real and explicit
 * padding ones with `inclusive`), as ONNX MaxPool/AveragePool with pads and ceil_mode do.
 * `pads` is [top, bottom, left, right]; `extra` [bottom, right] are the ceil_mode additions,
 * never counted.
 */
export class GraftPool2D extends tf.layers.Layer {
  static className = 'GraftPool2D';
  readonly mode: string;
  readonly pool: [number, number];
  readonly strides: [number, number];
  readonly pads: number[];
  readonly extra: number[];
  readonly inclusive: boolean;

  constructor(args: LayerArgs) {
    super(args);
    this.mode = String(args.mode);
    this.pool = args.pool as [number, number];
    this.strides = args.strides as [number, number];
    this.pads = args.pads as number[];
    this.extra = (args.extra as number[]) ?? [0, 0];
    this.inclusive = args.inclusive === true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = singleShape(inputShape);
    const out = (d: number | null, k: number, st: number, p: number) => (d === null ? null : Math.floor((d + p - k) / st) + 1);
    return [s[0], out(s[1], this.pool[0], this.strides[0], this.pads[0] + this.pads[1] + this.extra[0]),
      out(s[2], this.pool[1], this.strides[1], this.pads[2] + this.pads[3] + this.extra[1]), s[3]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs) as tf.Tensor4D;
      const [t, b, l, r] = this.pads;
      const pads: [number, number][] = [[0, 0], [t, b + this.extra[0]], [l, r + this.extra[1]], [0, 0]];
      if (this.mode === 'max') {
        return tf.maxPool(tf.pad(x, pads, -3.4028234663852886e38), this.pool, this.strides, 'valid');
      }
      const sums = tf.avgPool(tf.pad(x, pads, 0), this.pool, this.strides, 'valid');
      // The share of each window that counts: real elements (and explicit padding when inclusive).
      const [, h, w] = x.shape;
      const ones = tf.ones([1, h, w, 1]);
      const counted = this.inclusive
        ? tf.pad(tf.pad(ones, [[0, 0], [t, b], [l, r], [0, 0]], 1), [[0, 0], [0, this.extra[0]], [0, this.extra[1]], [0, 0]], 0)
        : tf.pad(ones, pads, 0);
      return tf.div(sums, tf.avgPool(counted as tf.Tensor4D, this.pool, this.strides, 'valid'));
    });
  }

  override getConfig(): Config {
    return { ...super.getConfig(), mode: this.mode, pool: this.pool, strides: this.strides, pads: this.pads, extra: this.extra, inclusive: this.inclusive };
  }
}

/** Instance normalization over the spatial axes of channels-last input, per-channel gamma/beta. */
export class GraftInstanceNorm extends tf.layers.Layer {
  static className = 'GraftInstanceNorm';
  readonly epsilon: number;
  private gamma?: LayerVariable;
  private beta?: LayerVariable;

  constructor(args: LayerArgs) {
    super(args);
    this.epsilon = Number(args.epsilon ?? 1e-5);
  }

  override build(inputShape: Shape | Shape[]): void {
    const s = singleShape(inputShape);
    const c = s[s.length - 1] as number;
    this.gamma = this.addWeight('gamma', [c], 'float32', tf.initializers.ones());
    this.beta = this.addWeight('beta', [c], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = one(inputs);
      const axes = x.shape.slice(1, -1).map((_, i) => i + 1);
      const { mean, variance } = tf.moments(x, axes, true);
      const y = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.epsilon)));
      return tf.add(tf.mul(y, this.gamma!.read()), this.beta!.read());
    });
  }

  override getConfig(): Config {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}

/** Matrix product of two tensors over their last two axes, leading axes broadcast (attention). */
export class GraftMatMul extends tf.layers.Layer {
  static className = 'GraftMatMul';

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    if (!isShapeList(inputShape)) throw new Error('GraftMatMul takes two inputs');
    const [a, b] = inputShape;
    const lead = broadcastShapes(a.slice(0, -2), b.slice(0, -2));
    return [...lead, a[a.length - 2], b[b.length - 1]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const [a, b] = inputs as tf.Tensor[];
    return tf.matMul(a, b);
  }
}

export const ONNX_OP_LAYERS = [GraftUnary, GraftBinary, GraftConstant, GraftPad, GraftSlice, GraftSplit, GraftReduce, GraftResize, GraftPool2D, GraftInstanceNorm, GraftMatMul];
for (const cls of ONNX_OP_LAYERS) mark(cls);
