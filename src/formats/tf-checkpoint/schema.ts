/**
 * Protobuf messages of a TensorFlow tensor bundle index (tensorflow/core/protobuf/tensor_bundle.proto
 * and the TensorShapeProto / TensorSliceProto / VersionDef it uses), as a protobufjs descriptor.
 * Only what a reader needs is declared; unknown fields are skipped by protobufjs.
 */
import type * as protobufTypes from 'protobufjs/light';
import { lazyMessageTypes } from '../../io/protobuf';

const DESCRIPTOR = {
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

const bundleTypes = lazyMessageTypes(DESCRIPTOR, { header: 'tensorflow.BundleHeaderProto', entry: 'tensorflow.BundleEntryProto' });

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

// int64 fields come back as strings so no precision is lost before range checks.
const CONVERSION: protobufTypes.IConversionOptions = { longs: String, defaults: true, arrays: true };

/** Decodes a BundleHeaderProto; throws protobufjs errors on malformed bytes. */
export function decodeBundleHeader(bytes: Uint8Array): BundleHeader {
  const { header } = bundleTypes();
  const o = header.toObject(header.decode(bytes), CONVERSION);
  const version = (o.version ?? {}) as { producer?: number; minConsumer?: number; badConsumers?: number[] };
  return {
    numShards: o.numShards as number,
    endianness: o.endianness as number,
    producer: version.producer ?? 0,
    minConsumer: version.minConsumer ?? 0,
    badConsumers: version.badConsumers ?? [],
  };
}

/** Decodes a BundleEntryProto; throws protobufjs errors on malformed bytes. */
export function decodeBundleEntry(bytes: Uint8Array): BundleEntry {
  const { entry } = bundleTypes();
  const o = entry.toObject(entry.decode(bytes), CONVERSION);
  const shape = (o.shape ?? {}) as { dim?: { size: string }[]; unknownRank?: boolean };
  return {
    dtype: o.dtype as number,
    dims: (shape.dim ?? []).map((d) => String(d.size)),
    unknownRank: shape.unknownRank === true,
    shardId: o.shardId as number,
    offset: String(o.offset),
    size: String(o.size),
    crc32c: (o.crc32c as number) >>> 0,
    sliceCount: (o.slices as unknown[]).length,
  };
}
