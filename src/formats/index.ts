/**
 * Every built-in reader, registered on import. Each handler sniffs magic bytes and claims only
 * its own files, so order only decides which modules load: the registry tries the most recently
 * registered first, so safetensors and tfjs (loaded anyway) go last and are tried first, then the
 * small readers (NumPy, TF checkpoints), and the large ones (PyTorch's unpickler, ONNX's protobuf
 * schema, HDF5 through wasm) load only when a file gets that far — `graft convert
 * model.safetensors` loads none of them.
 */
import { registerFormat } from './registry';
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
registerFormat(lazy('tf-checkpoint', ['.index'], () => require('./tf-checkpoint/reader').tfCheckpointFormat));
registerFormat(lazy('npz', ['.npz'], () => require('./numpy/npz').NpzHandler));
registerFormat(lazy('npy', ['.npy'], () => require('./numpy/npy').NpyHandler));
/* eslint-enable @typescript-eslint/no-require-imports */
registerFormat(TfjsHandler);
registerFormat(SafetensorsHandler);

export { openWeights, registerFormat, registeredFormats, detectFormat } from './registry';
export type { DType, TensorInfo, RawTensor, WeightReader, FormatHandler, Convention, SourceOp, OpenOptions } from './types';
