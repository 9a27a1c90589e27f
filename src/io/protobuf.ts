import type * as protobufTypes from 'protobufjs/minimal';

/**
 * Every protobuf format graft reads (ONNX, TensorFlow bundle indexes) is decoded the same way:
 * a JSON descriptor of just the messages it needs (protobufjs's JSON form: nested namespaces,
 * types with `fields` of { type, id, rule? }, enums with `values`), interpreted here. No code is
 * generated at run time — protobufjs's reflection decoders are built with `Function()`, which a
 * browser page without CSP 'unsafe-eval' refuses — so the wire primitives come from protobufjs's
 * minimal `Reader` (every read bounds-checked against the message end) and this file walks the
 * descriptor.
 *
 * Decoded messages look exactly like protobufjs's (proto3 rules, as protobufjs reads a JSON
 * descriptor without `edition`): defaults live on a per-type prototype (0, '', false, a zero Long,
 * an empty byte array, null for an absent message); repeated fields are own arrays; a scalar is an
 * own property only when it differs from its default; 64-bit integers are `Long`s (numbers when
 * the `long` package is absent); bytes are Uint8Array views into the input, never Node Buffers.
 * Repeated scalars are accepted packed and unpacked; a field with an unexpected wire type and
 * unknown fields are skipped by wire type; a repeated singular message merges. Group wire types,
 * nesting deeper than protobufjs's recursion limit and malformed input throw.
 */

export interface FieldDescriptor {
  type: string;
  id: number;
  rule?: 'repeated' | 'optional' | 'required';
  keyType?: string;
  options?: Record<string, unknown>;
}
export interface DescriptorNode {
  fields?: Record<string, FieldDescriptor>;
  values?: Record<string, number>;
  nested?: Record<string, DescriptorNode>;
  oneofs?: unknown;
  edition?: unknown;
  syntax?: unknown;
}

/** A decoder for one message type of a descriptor. */
export interface MessageType {
  /** Fully qualified name, e.g. 'onnx.ModelProto'. */
  readonly name: string;
  /** Decodes one serialized message; throws on malformed bytes. */
  decode(bytes: Uint8Array): Record<string, unknown>;
}

type Reader = protobufTypes.Reader;

// Scalar kinds, with the wire type each is written with unpacked.
const DOUBLE = 0, FLOAT = 1, INT32 = 2, UINT32 = 3, SINT32 = 4, FIXED32 = 5, SFIXED32 = 6, INT64 = 7,
  UINT64 = 8, SINT64 = 9, FIXED64 = 10, SFIXED64 = 11, BOOL = 12, STRING = 13, BYTES = 14, MESSAGE = 15;
const SCALARS: Record<string, { kind: number; wire: number }> = {
  double: { kind: DOUBLE, wire: 1 }, float: { kind: FLOAT, wire: 5 }, int32: { kind: INT32, wire: 0 },
  uint32: { kind: UINT32, wire: 0 }, sint32: { kind: SINT32, wire: 0 }, fixed32: { kind: FIXED32, wire: 5 },
  sfixed32: { kind: SFIXED32, wire: 5 }, int64: { kind: INT64, wire: 0 }, uint64: { kind: UINT64, wire: 0 },
  sint64: { kind: SINT64, wire: 0 }, fixed64: { kind: FIXED64, wire: 1 }, sfixed64: { kind: SFIXED64, wire: 1 },
  bool: { kind: BOOL, wire: 0 }, string: { kind: STRING, wire: 2 }, bytes: { kind: BYTES, wire: 2 },
};
const isLong = (kind: number) => kind >= INT64 && kind <= SFIXED64;

/** protobufjs's limit (protoc's default), so both refuse the same nesting. */
const RECURSION_LIMIT = 100;

interface CompiledField {
  name: string;
  kind: number;
  /** Wire type of one unpacked value (2 for strings, bytes and messages). */
  wire: number;
  repeated: boolean;
  /** Scalars other than strings and bytes may also arrive packed (wire type 2). */
  packable: boolean;
  /** Enums: the first declared value is the default, as in protobufjs. */
  enumDefault?: number;
  message?: CompiledType;
}

interface CompiledType {
  name: string;
  /** Fields by number (sparse; numbers beyond the array are unknown). */
  byId: (CompiledField | undefined)[];
  repeatedNames: string[];
  prototype: Record<string, unknown>;
}

type Minimal = typeof protobufTypes;

/** Byte arrays shared as the default of absent bytes fields: empty and frozen. */
const EMPTY_BYTES = Object.freeze(new Uint8Array(0));

function compile(descriptor: DescriptorNode, pb: Minimal): (name: string) => CompiledType {
  const nodes = new Map<string, DescriptorNode>();
  const walk = (node: DescriptorNode, path: string[]) => {
    if (node.oneofs !== undefined || node.edition !== undefined || node.syntax !== undefined) {
      throw new Error(`protobuf descriptor ${path.join('.') || '<root>'}: oneofs and editions are not supported by graft's decoder`);
    }
    for (const [name, child] of Object.entries(node.nested ?? {})) {
      const full = [...path, name];
      nodes.set(full.join('.'), child);
      walk(child, full);
    }
  };
  walk(descriptor, []);
  // A type name resolves from the innermost scope outwards, as in .proto files.
  const resolve = (typeName: string, scope: string[]): [string, DescriptorNode] => {
    if (typeName.startsWith('.')) {
      const node = nodes.get(typeName.slice(1));
      if (node) return [typeName.slice(1), node];
    } else {
      for (let i = scope.length; i >= 0; i--) {
        const full = [...scope.slice(0, i), typeName].join('.');
        const node = nodes.get(full);
        if (node) return [full, node];
      }
    }
    throw new Error(`protobuf descriptor: type '${typeName}' not found from '${scope.join('.')}'`);
  };
  const compiled = new Map<string, CompiledType>();
  const compileType = (fullName: string, node: DescriptorNode): CompiledType => {
    const done = compiled.get(fullName);
    if (done) return done;
    if (!node.fields) throw new Error(`protobuf descriptor: '${fullName}' is not a message type`);
    const type: CompiledType = { name: fullName, byId: [], repeatedNames: [], prototype: {} };
    compiled.set(fullName, type); // before the fields: types may refer to themselves
    const scope = fullName.split('.');
    for (const [name, f] of Object.entries(node.fields)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || name === '__proto__') {
        throw new Error(`protobuf descriptor: ${fullName} has a field named '${name}'`);
      }
      if (!Number.isInteger(f.id) || f.id < 1 || f.id > 0x1fffffff || type.byId[f.id]) {
        throw new Error(`protobuf descriptor: ${fullName}.${name} has a bad or repeated field number ${f.id}`);
      }
      if (f.keyType !== undefined || f.rule === 'required' || (f.options && Object.keys(f.options).length)) {
        throw new Error(`protobuf descriptor: ${fullName}.${name}: map fields, required fields and field options are not supported`);
      }
      const repeated = f.rule === 'repeated';
      let field: CompiledField;
      const scalar = SCALARS[f.type];
      if (scalar) {
        field = { name, kind: scalar.kind, wire: scalar.wire, repeated, packable: scalar.wire !== 2 };
      } else {
        const [targetName, target] = resolve(f.type, scope);
        if (target.values) {
          const first = Object.values(target.values)[0];
          field = { name, kind: INT32, wire: 0, repeated, packable: true, enumDefault: first ?? 0 };
        } else {
          field = { name, kind: MESSAGE, wire: 2, repeated, packable: false, message: compileType(targetName, target) };
        }
      }
      type.byId[f.id] = field;
      if (repeated) type.repeatedNames.push(name);
      type.prototype[name] = repeated ? pb.util.emptyArray : defaultOf(field, pb);
    }
    return type;
  };
  return (name: string) => {
    const node = nodes.get(name);
    if (!node) throw new Error(`protobuf descriptor: no type '${name}'`);
    return compileType(name, node);
  };
}

function defaultOf(field: CompiledField, pb: Minimal): unknown {
  if (field.enumDefault !== undefined) return field.enumDefault;
  switch (field.kind) {
    case BOOL: return false;
    case STRING: return '';
    case BYTES: return EMPTY_BYTES;
    case MESSAGE: return null;
    default:
      if (isLong(field.kind) && pb.util.Long) {
        const Long = pb.util.Long as unknown as { fromNumber(value: number, unsigned: boolean): protobufTypes.Long };
        return Object.freeze(Long.fromNumber(0, field.kind === UINT64 || field.kind === FIXED64));
      }
      return 0;
  }
}

function readScalar(r: Reader, kind: number): unknown {
  switch (kind) {
    case DOUBLE: return r.double();
    case FLOAT: return r.float();
    case INT32: return r.int32();
    case UINT32: return r.uint32();
    case SINT32: return r.sint32();
    case FIXED32: return r.fixed32();
    case SFIXED32: return r.sfixed32();
    case INT64: return r.int64();
    case UINT64: return r.uint64();
    case SINT64: return r.sint64();
    case FIXED64: return r.fixed64();
    case SFIXED64: return r.sfixed64();
    case BOOL: return r.bool();
    case STRING: return r.stringVerify();
    case BYTES: return r.bytes();
    default: throw new Error(`protobuf: no scalar kind ${kind}`);
  }
}

/** One length-delimited run of packed values appended to `into` (the readers check its length). */
function readPacked(r: Reader, kind: number, into: unknown[]): void {
  switch (kind) {
    case DOUBLE: r.doubles(into as number[]); return;
    case FLOAT: r.floats(into as number[]); return;
    case INT32: r.int32s(into as number[]); return;
    case UINT32: r.uint32s(into as number[]); return;
    case SINT32: r.sint32s(into as number[]); return;
    case FIXED32: r.fixed32s(into as number[]); return;
    case SFIXED32: r.sfixed32s(into as number[]); return;
    case INT64: r.int64s(into as protobufTypes.Long[]); return;
    case UINT64: r.uint64s(into as protobufTypes.Long[]); return;
    case SINT64: r.sint64s(into as protobufTypes.Long[]); return;
    case FIXED64: r.fixed64s(into as protobufTypes.Long[]); return;
    case SFIXED64: r.sfixed64s(into as protobufTypes.Long[]); return;
    case BOOL: r.bools(into as boolean[]); return;
    default: throw new Error(`protobuf: kind ${kind} cannot be packed`);
  }
}

/** Implicit presence (proto3): a scalar equal to its default is not stored. */
function isDefault(field: CompiledField, v: unknown): boolean {
  if (field.enumDefault !== undefined) return v === field.enumDefault;
  switch (field.kind) {
    case STRING: case BYTES: return (v as ArrayLike<unknown>).length === 0;
    case DOUBLE: case FLOAT: return Object.is(v, 0);
    default:
      if (isLong(field.kind) && typeof v === 'object') return !((v as protobufTypes.Long).low || (v as protobufTypes.Long).high);
      return !v;
  }
}

/** Skips a field graft does not read (or one arriving with another wire type than declared). */
function skipField(r: Reader, wire: number, field: number): void {
  if (field === 0) throw new Error('illegal tag: field number 0');
  switch (wire) {
    case 0: r.skip(); return;
    case 1: r.skip(8); return;
    case 2: r.skip(r.size()); return;
    case 5: r.skip(4); return;
    case 3: throw new Error(`group wire type 3 (field ${field}) at offset ${r.pos}: groups are not supported`);
    default: throw new Error(`invalid wire type ${wire} at offset ${r.pos}`);
  }
}

/**
 * Decodes one message from r.pos: to the reader's end (`length` undefined), or `length` bytes
 * (a nested message), merging into `target` when given.
 */
function decodeMessage(type: CompiledType, r: Reader, length: number | undefined, depth: number, target: Record<string, unknown> | null): Record<string, unknown> {
  if (depth > RECURSION_LIMIT) throw new Error('max depth exceeded');
  let end: number;
  let outerLen = 0;
  if (length === undefined) end = r.len;
  else {
    end = r.pos + length;
    if (end > r.len) throw new RangeError('index out of range');
    outerLen = r.len;
    r.len = end;
  }
  const m = target ?? newMessage(type);
  const byId = type.byId;
  while (r.pos < end) {
    const tag = r.tag();
    const wire = tag & 7;
    const id = tag >>> 3;
    const field = byId[id];
    if (field !== undefined) {
      const name = field.name;
      if (field.repeated) {
        // Every message holds its own arrays (newMessage), so values are appended in place.
        if (wire === 2 && field.packable) {
          readPacked(r, field.kind, m[name] as unknown[]);
          continue;
        }
        if (wire === field.wire) {
          (m[name] as unknown[]).push(field.kind === MESSAGE ? decodeMessage(field.message!, r, r.size(), depth + 1, null) : readScalar(r, field.kind));
          continue;
        }
      } else if (wire === field.wire) {
        if (field.kind === MESSAGE) {
          m[name] = decodeMessage(field.message!, r, r.size(), depth + 1, m[name] as Record<string, unknown> | null);
        } else {
          const v = readScalar(r, field.kind);
          if (isDefault(field, v)) delete m[name];
          else m[name] = v;
        }
        continue;
      }
    }
    skipField(r, wire, id);
  }
  if (length !== undefined) {
    if (r.pos !== end) throw new RangeError('index out of range');
    r.len = outerLen;
  }
  return m;
}

function newMessage(type: CompiledType): Record<string, unknown> {
  const m = Object.create(type.prototype) as Record<string, unknown>;
  for (const name of type.repeatedNames) m[name] = [];
  return m;
}

/**
 * The named message types of a descriptor, compiled on first use so other formats and
 * `graft --help` never load protobufjs.
 */
export function lazyMessageTypes<K extends string>(descriptor: object, names: Record<K, string>): () => Record<K, MessageType> {
  let types: Record<K, MessageType> | undefined;
  return () => {
    if (!types) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const pb = require('protobufjs/minimal') as Minimal;
      const lookup = compile(descriptor as DescriptorNode, pb);
      const built = {} as Record<K, MessageType>;
      for (const key of Object.keys(names) as K[]) {
        const type = lookup(names[key]);
        built[key] = {
          name: type.name,
          decode: (bytes: Uint8Array) => decodeMessage(type, new pb.Reader(plainBytes(bytes)), undefined, 0, null),
        };
      }
      types = built;
    }
    return types;
  };
}

/** A plain Uint8Array view (a Node Buffer's subarray would hand out Buffers as bytes fields). */
function plainBytes(bytes: Uint8Array): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('protobuf: input is not a Uint8Array');
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
