/**
 * Protobuf messages of a TensorFlow tensor bundle index (tensorflow/core/protobuf/tensor_bundle.proto
 * and the TensorShapeProto / TensorSliceProto / VersionDef it uses), as a protobufjs-style JSON
 * descriptor read by io/protobuf.ts. Only what a reader needs is declared; unknown fields are skipped.
 */
import { lazyMessageTypes } from '../../io/protobuf';

/** Exported for the decoder's tests only. */
export const BUNDLE_DESCRIPTOR = {
  nested: {
    tensorflow: {
      nested: {
        VersionDef: {
          fields: {
            producer: { type: 'int32', id: 1 },
            minConsumer: { type: 'int32', id: 2 },
            badConsumers: { rule: 'repeated', type: 'int32', id: 3 },
          },
        },
        BundleHeaderProto: {
          fields: {
            numShards: { type: 'int32', id: 1 },
            // 0 = LITTLE, 1 = BIG; kept as a plain int so unknown values reach our own check.
            endianness: { type: 'int32', id: 2 },
            version: { type: 'VersionDef', id: 3 },
          },
        },
        TensorShapeProto: {
          fields: {
            dim: { rule: 'repeated', type: 'Dim', id: 2 },
            unknownRank: { type: 'bool', id: 3 },
          },
          nested: {
            Dim: {
              fields: {
                size: { type: 'int64', id: 1 },
                name: { type: 'string', id: 2 },
              },
            },
          },
        },
        TensorSliceProto: {
          fields: {
            extent: { rule: 'repeated', type: 'Extent', id: 1 },
          },
          nested: {
            Extent: {
              fields: {
                start: { type: 'int64', id: 1 },
                length: { type: 'int64', id: 2 },
              },
            },
          },
        },
        BundleEntryProto: {
          fields: {
            dtype: { type: 'int32', id: 1 },
            shape: { type: 'TensorShapeProto', id: 2 },
            shardId: { type: 'int32', id: 3 },
            offset: { type: 'int64', id: 4 },
            size: { type: 'int64', id: 5 },
            crc32c: { type: 'fixed32', id: 6 },
            slices: { rule: 'repeated', type: 'TensorSliceProto', id: 7 },
          },
        },
      },
    },
  },
};

const bundleTypes = lazyMessageTypes(BUNDLE_DESCRIPTOR, { header: 'tensorflow.BundleHeaderProto', entry: 'tensorflow.BundleEntryProto' });

export interface BundleHeader {
  numShards: number;
  endianness: number;
  producer: number;
  minConsumer: number;
  badConsumers: number[];
}

export interface BundleEntry {
  dtype: number;
  /** Dimension sizes as decimal strings: int64 on the wire, checked by the caller. */
  dims: string[];
  unknownRank: boolean;
  shardId: number;
  offset: string;
  size: string;
  /** Masked CRC-32C of the tensor's bytes as stored. */
  crc32c: number;
  sliceCount: number;
}

/** A 64-bit integer as decoded (a Long, or a number without the `long` package). */
type Int64 = number | { toString(): string };

interface HeaderMessage {
  numShards: number;
  endianness: number;
  version: { producer: number; minConsumer: number; badConsumers: number[] } | null;
}

interface EntryMessage {
  dtype: number;
  shape: { dim: { size: Int64 }[]; unknownRank: boolean } | null;
  shardId: number;
  offset: Int64;
  size: Int64;
  crc32c: number;
  slices: unknown[];
}

/** Decodes a BundleHeaderProto; throws on malformed bytes. */
export function decodeBundleHeader(bytes: Uint8Array): BundleHeader {
  const o = bundleTypes().header.decode(bytes) as unknown as HeaderMessage;
  return {
    numShards: o.numShards,
    endianness: o.endianness,
    producer: o.version?.producer ?? 0,
    minConsumer: o.version?.minConsumer ?? 0,
    badConsumers: o.version ? [...o.version.badConsumers] : [],
  };
}

/** Decodes a BundleEntryProto; throws on malformed bytes. int64 fields become decimal strings, so no precision is lost before range checks. */
export function decodeBundleEntry(bytes: Uint8Array): BundleEntry {
  const o = bundleTypes().entry.decode(bytes) as unknown as EntryMessage;
  return {
    dtype: o.dtype,
    dims: (o.shape?.dim ?? []).map((d) => String(d.size)),
    unknownRank: o.shape?.unknownRank === true,
    shardId: o.shardId,
    offset: String(o.offset),
    size: String(o.size),
    crc32c: o.crc32c >>> 0,
    sliceCount: o.slices.length,
  };
}
