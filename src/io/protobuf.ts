import type * as protobufTypes from 'protobufjs/light';

export type MessageType = protobufTypes.Type;

/**
 * Every protobuf format graft reads (ONNX, TensorFlow bundle indexes) is decoded the same way:
 * a JSON descriptor of just the messages it needs, turned into protobufjs types on first use,
 * so other formats and `graft --help` never load protobufjs. The light build suffices: it
 * decodes from descriptors and carries no .proto parser.
 */
export function lazyMessageTypes<K extends string>(descriptor: object, names: Record<K, string>): () => Record<K, MessageType> {
  let types: Record<K, MessageType> | undefined;
  return () => {
    if (!types) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const protobuf = require('protobufjs/light') as typeof protobufTypes;
      const root = protobuf.Root.fromJSON(descriptor as protobufTypes.INamespace);
      const built = {} as Record<K, MessageType>;
      for (const key of Object.keys(names) as K[]) built[key] = root.lookupType(names[key]);
      types = built;
    }
    return types;
  };
}
