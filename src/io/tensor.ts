/** Tensors as bytes: the element types graft reads and a tensor's description and data. */

/** Element types graft can read. Readers convert anything else into a clear UNSUPPORTED error. */
export type DType =
  | 'float16' | 'bfloat16' | 'float32' | 'float64'
  | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64'
  | 'bool';

export const DTYPE_BYTES: Record<DType, number> = {
  float16: 2, bfloat16: 2, float32: 4, float64: 8,
  int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8,
  bool: 1,
};

/** What a reader knows about one tensor without reading its data. */
export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Bytes of the decoded tensor: product(shape) * DTYPE_BYTES[dtype]. */
  byteSize: number;
}

/**
 * A tensor's data as read: C-order (row-major), contiguous, little-endian, `dtype` elements.
 * Readers undo big-endian storage, Fortran order and strided views before returning.
 */
export interface RawTensor extends TensorInfo {
  data: Uint8Array;
}
