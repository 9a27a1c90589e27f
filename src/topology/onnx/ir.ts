/**
 * The ONNX IR as graft sees it: the messages of onnx.proto that name a graph's nodes, tensors and
 * attributes, with the enum values graft reads. The ONNX reader decodes files into these shapes
 * (formats/onnx/schema.ts); the graph builder turns them into a tfjs topology.
 */
/** A protobufjs 64-bit integer (a Long when the `long` package is present, else a number). */
export type Int64 = number | { low: number; high: number; unsigned: boolean; toNumber(): number; toString(): string };

export interface OnnxStringEntry {
  key: string;
  value: string;
}

export interface OnnxTensor {
  dims: Int64[];
  dataType: number;
  floatData: number[];
  int32Data: number[];
  stringData: Uint8Array[];
  int64Data: Int64[];
  name: string;
  rawData: Uint8Array;
  doubleData: number[];
  uint64Data: Int64[];
  externalData: OnnxStringEntry[];
  dataLocation: number;
}

export interface OnnxAttribute {
  name: string;
  f: number;
  i: Int64;
  s: Uint8Array;
  t?: OnnxTensor | null;
  floats: number[];
  ints: Int64[];
  strings: Uint8Array[];
  type: number;
}

export interface OnnxNode {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  attribute: OnnxAttribute[];
  domain: string;
}

export interface OnnxValueInfo {
  name: string;
  type?: {
    tensorType?: {
      elemType: number;
      shape?: { dim: { dimValue?: Int64; dimParam?: string }[] } | null;
    } | null;
  } | null;
}

export interface OnnxGraph {
  node: OnnxNode[];
  name: string;
  initializer: OnnxTensor[];
  /** Graph inputs and outputs with their declared types (older IRs list initializers as inputs too). */
  input: OnnxValueInfo[];
  output: OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion: Int64;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: Int64;
  docString: string;
  graph?: OnnxGraph | null;
  opsetImport: { domain: string; version: Int64 }[];
  metadataProps: OnnxStringEntry[];
}

export const ONNX_DATA_TYPES = {
  UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16,
} as const;

export const ATTRIBUTE_TYPES = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

export const DATA_LOCATION_EXTERNAL = 1;
