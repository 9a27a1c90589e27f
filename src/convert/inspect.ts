import type { Convention, DType, WeightReader } from '../formats/types';

/** What `graft inspect --json` prints about a weight file, as data (the page shows the same). */
export interface InspectResult {
  format: string;
  convention: Convention | null;
  /** The file carries a model topology (Keras configs): no target model.json is needed. */
  hasTopology: boolean;
  tensors: { name: string; dtype: DType; shape: number[]; bytes: number }[];
  metadata?: Record<string, unknown>;
  /** Graph sources (ONNX): each op type, its count, first node, and whether graft can build it. */
  ops?: { op: string; count: number; firstNode: string; buildable: boolean }[];
}

export function inspectReader(reader: WeightReader): InspectResult {
  const doc: InspectResult = {
    format: reader.format,
    convention: reader.convention ?? null,
    hasTopology: reader.topology !== undefined,
    tensors: reader.list().map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.byteSize })),
  };
  if (reader.metadata) doc.metadata = reader.metadata;
  if (reader.opSummary) doc.ops = reader.opSummary();
  return doc;
}
