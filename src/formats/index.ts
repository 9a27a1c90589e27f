/**
 * Every built-in reader, registered on import. Each handler sniffs magic bytes and claims only
 * its own files, so order only decides which modules load: the registry tries the most recently
 * registered first, so the small readers (NumPy, safetensors, tfjs, TF checkpoints) go last and
 * are tried first, and the large ones (PyTorch's unpickler, ONNX's protobuf schema, HDF5 through
 * wasm) load only when a file gets that far — `graft convert model.safetensors` never loads them.
 */
import { registerFormat } from './registry';
import { NpyHandler } from './numpy/npy';
import { NpzHandler } from './numpy/npz';
import { tfCheckpointFormat } from './tf-checkpoint/reader';
import { SafetensorsHandler } from './safetensors/reader';
import { TfjsHandler } from './tfjs/reader';
import type { FormatHandler } from './types';

/** A handler whose module is required on first sniff or open. */
function lazy(format: string, extensions: string[], load: () => FormatHandler): FormatHandler {
  let handler: FormatHandler | undefined;
  const real = (): FormatHandler => (handler ??= load());
  return { format, extensions, sniff: (head, p, v) => real().sniff(head, p, v), open: (p, o) => real().open(p, o) };
}

/* eslint-disable @typescript-eslint/no-require-imports */
registerFormat(lazy('onnx', ['.onnx'], () => require('./onnx/reader').onnxFormat));
registerFormat(lazy('pytorch', ['.pt', '.pth', '.ckpt'], () => require('./pytorch/reader').pytorchFormat));
registerFormat(lazy('keras3', ['.keras', '.weights.h5'], () => require('./keras/dispatch').keras3Format));
registerFormat(lazy('keras-h5', ['.h5', '.hdf5', '.keras'], () => require('./keras/dispatch').kerasH5Format));
/* eslint-enable @typescript-eslint/no-require-imports */
registerFormat(TfjsHandler);
registerFormat(SafetensorsHandler);
registerFormat(tfCheckpointFormat);
registerFormat(NpzHandler);
registerFormat(NpyHandler);

export { openWeights, registerFormat, registeredFormats, detectFormat } from './registry';
export type { DType, TensorInfo, RawTensor, WeightReader, FormatHandler, Convention, SourceOp, OpenOptions } from './types';
