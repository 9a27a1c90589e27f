/**
 * Every built-in reader, registered on import. Order does not matter: each handler sniffs magic
 * bytes and claims only its own files.
 */
import { registerFormat } from './registry';
import { NpyHandler } from './npy';
import { NpzHandler } from './npz';
import { tfCheckpointFormat } from './tf-checkpoint';
import { SafetensorsHandler } from './safetensors';
import { TfjsHandler } from './tfjs';
import { kerasH5Format } from './keras-h5';
import { keras3Format } from './keras3';
import { pytorchFormat } from './pytorch';
import { onnxFormat } from './onnx';

registerFormat(NpyHandler);
registerFormat(NpzHandler);
registerFormat(tfCheckpointFormat);
registerFormat(SafetensorsHandler);
registerFormat(TfjsHandler);
registerFormat(kerasH5Format);
registerFormat(keras3Format);
registerFormat(pytorchFormat);
registerFormat(onnxFormat);

export { openWeights, registerFormat, registeredFormats, detectFormat } from './registry';
export type { DType, TensorInfo, RawTensor, WeightReader, FormatHandler, Convention, SourceOp, OpenOptions } from './types';
