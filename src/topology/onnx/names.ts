/**
 * What ONNX names say about where a tensor came from. Each exporter names things its own way:
 * torch.onnx scopes node names by module (`/layer1/layer1.0/conv1/Conv`), keras2onnx keeps Keras
 * variable names (`dense/kernel:0`), tf2onnx keeps TensorFlow op paths
 * (`sequential/dense/MatMul/ReadVariableOp:0`), CNTK numbers everything (`Parameter193`). Pure.
 */

/** Which program wrote an ONNX file, as far as its producer name and tensor names tell. */
export type OnnxExporter = 'pytorch' | 'keras2onnx' | 'tf2onnx' | 'cntk' | 'unknown';

/**
 * The PyTorch module path of a node named by torch.onnx's scopes, or undefined when the name has
 * no scope. Every segment but the last (the op) is one module level; a segment that repeats its
 * parent's name with a suffix (`layer1.0` under `layer1`, `downsample.0` under `downsample`) is
 * that parent's child, written out in full:
 * `/layer1/layer1.0/conv1/Conv` → `layer1.0.conv1`,
 * `/layer2/layer2.0/downsample/downsample.0/Conv` → `layer2.0.downsample.0`, `/fc1/Gemm` → `fc1`.
 */
export function modulePathOfNode(nodeName: string): string | undefined {
  const segments = nodeName.split('/').filter(Boolean);
  if (segments.length < 2) return undefined;
  segments.pop();
  const path: string[] = [];
  for (const s of segments) {
    const parent = path[path.length - 1];
    if (parent !== undefined && s.startsWith(`${parent}.`)) path[path.length - 1] = s;
    else path.push(s);
  }
  return path.join('.');
}

/** TensorFlow op and variable segments that follow a Keras layer's scope in exported names. */
const TF_TAIL = /^(kernel|bias|gamma|beta|moving_mean|moving_variance|embeddings|depthwise_kernel|pointwise_kernel|recurrent_kernel|ReadVariableOp|MatMul|BiasAdd|Conv2D|Conv1D|Conv2DBackpropInput|depthwise|separable_conv2d|FusedBatchNormV3|FusedBatchNorm|Reshape|Squeeze|ExpandDims|Tensordot|Cast|Identity|Const|Relu|Softmax|Sigmoid|Tanh|Add|add|mul|Mul|sub|Sub|transpose|Transpose|Rsqrt|batchnorm|convolution|embedding_lookup)(_\d+)?$/;

/** The variable name at the end of a keras2onnx / tf2onnx initializer name, when one is there. */
const KERAS_WEIGHT = /^(kernel|bias|gamma|beta|moving_mean|moving_variance|embeddings|depthwise_kernel|pointwise_kernel|recurrent_kernel)$/;

/**
 * The Keras layer a keras2onnx or tf2onnx name belongs to: the innermost scope before TensorFlow's
 * op and variable segments. `dense/kernel:0` → `dense`, `sequential/dense_1/MatMul/ReadVariableOp:0`
 * → `dense_1`, `StatefulPartitionedCall/model/conv2d/Conv2D` → `conv2d`.
 */
export function kerasLayerOfName(name: string): string | undefined {
  const segments = name.replace(/:\d+$/, '').split('/').filter(Boolean);
  while (segments.length > 1 && TF_TAIL.test(segments[segments.length - 1])) segments.pop();
  if (segments.length === 0 || TF_TAIL.test(segments[segments.length - 1])) return undefined;
  const layer = segments[segments.length - 1];
  // A lone name with no scope (`Parameter193`, `W`) names a tensor, not a layer.
  return segments.length > 1 || name.includes('/') ? layer : undefined;
}

/** The Keras variable (`kernel`, `bias`, …) a keras2onnx initializer name ends in, if any. */
export function kerasWeightOfName(name: string): string | undefined {
  const last = name.replace(/:\d+$/, '').split('/').pop() ?? '';
  return KERAS_WEIGHT.test(last) ? last : undefined;
}

/**
 * Which exporter wrote a file: its `producer_name` first (torch writes `pytorch`, the others their
 * own names), else the shape of its names (Keras variables end in `:0`, CNTK numbers `Parameter…`).
 */
export function onnxExporter(producerName: string | undefined, tensorNames: readonly string[]): OnnxExporter {
  const p = (producerName ?? '').toLowerCase();
  if (p.startsWith('pytorch')) return 'pytorch';
  if (p.startsWith('keras2onnx')) return 'keras2onnx';
  if (p.startsWith('tf2onnx')) return 'tf2onnx';
  if (p.startsWith('cntk')) return 'cntk';
  if (tensorNames.length === 0) return 'unknown';
  if (tensorNames.some((n) => /\/(kernel|bias|gamma|beta|moving_mean|moving_variance):\d+$/.test(n))) return 'keras2onnx';
  if (tensorNames.some((n) => /\/ReadVariableOp(_\d+)?:\d+$/.test(n))) return 'tf2onnx';
  if (tensorNames.every((n) => /^(Parameter|Constant)\d+$/.test(n))) return 'cntk';
  return 'unknown';
}

/** Exporters that write Keras/TensorFlow names: layers are named as in the Keras model. */
export function writesKerasNames(exporter: OnnxExporter): boolean {
  return exporter === 'keras2onnx' || exporter === 'tf2onnx';
}
