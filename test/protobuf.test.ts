/**
 * graft's protobuf decoder (src/io/protobuf.ts, an interpreter of JSON descriptors with no code
 * generation) against protobufjs's reflection decoder — generated with Function(), used here
 * only as the reference — on the same descriptors: every ONNX model and TensorFlow bundle index
 * in fixtures/ (and ../shared/realworld when present), seeded mutations of them, and random wire
 * messages over a descriptor holding every scalar type. Both must accept the same bytes and build
 * the same messages (values read through the prototype, own keys, Long signedness), or refuse
 * with the same error. One deliberate difference: graft refuses group wire types, which
 * protobufjs skips; the reference is made to refuse them too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as protobuf from 'protobufjs/light';
import { lazyMessageTypes, MessageType } from '../src/io/protobuf';
import { ONNX_DESCRIPTOR } from '../src/formats/onnx/schema';
import { BUNDLE_DESCRIPTOR, decodeBundleEntry, decodeBundleHeader } from '../src/formats/tf-checkpoint/schema';
import { stripInitializerData } from '../src/formats/onnx/locate';
import { openSource } from '../src/io/bytes';
import { FIXTURES_DIR, REALWORLD_DIR } from './helpers/realworld';

const ROOT = path.resolve(__dirname, '..');

// The reference refuses groups as graft does (protobufjs would skip them), with a marker message.
const GROUP_MARK = 'reference: group';
const skipType = protobuf.Reader.prototype.skipType;
protobuf.Reader.prototype.skipType = function (this: protobuf.Reader, wireType: number, depth?: number, fieldNumber?: number) {
  if (wireType === 3 && fieldNumber !== 0) throw new Error(GROUP_MARK);
  return skipType.call(this, wireType, depth, fieldNumber);
};
const Long = protobuf.util.Long as unknown as { isLong(v: unknown): boolean; fromBits(lo: number, hi: number, unsigned: boolean): protobuf.Long };

function files(dir: string, ext: RegExp): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p, ext));
    else if (e.isFile() && ext.test(e.name)) out.push(p);
  }
  return out.sort();
}

function plain(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

// ------------------------------------------------------------------- comparing two decoders

/**
 * A message as its readers see it: every declared field read by name (so prototype defaults
 * count), bytes as number arrays, Longs as decimal text with their signedness, plus the message's
 * own keys. `mine` also checks graft's types: bytes are plain Uint8Arrays, never Buffers.
 */
function canon(type: protobuf.Type, m: Record<string, unknown> | null, mine: boolean): unknown {
  if (m === null) return null;
  assert.equal(typeof m, 'object');
  const out: Record<string, unknown> = { $own: Object.keys(m).sort() };
  for (const f of type.fieldsArray) {
    f.resolve();
    const one = (v: unknown): unknown => {
      if (f.resolvedType instanceof protobuf.Type) return canon(f.resolvedType, v as Record<string, unknown> | null, mine);
      if (f.type === 'bytes') {
        if (mine) assert.equal(Object.getPrototypeOf(v), Uint8Array.prototype, `${type.name}.${f.name} is not a plain Uint8Array`);
        return { bytes: Array.from(v as ArrayLike<number>) };
      }
      if (v !== null && typeof v === 'object') {
        assert.ok(Long.isLong(v), `${type.name}.${f.name}: ${String(v)} is not a Long`);
        const l = v as protobuf.Long;
        return { long: l.toString(), unsigned: l.unsigned };
      }
      return v;
    };
    const v = m[f.name];
    if (f.repeated) {
      assert.ok(Array.isArray(v), `${type.name}.${f.name} is not an array`);
      out[f.name] = (v as unknown[]).map(one);
    } else out[f.name] = one(v);
  }
  return out;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: string };

function run(decode: () => Record<string, unknown>, type: protobuf.Type, mine: boolean): Outcome {
  let m: Record<string, unknown>;
  try {
    m = decode();
  } catch (e) {
    assert.ok(e instanceof Error, `decoder threw a non-Error: ${String(e)}`);
    return { ok: false, error: e.message };
  }
  return { ok: true, value: canon(type, m, mine) };
}

/** Decodes with both and asserts the same message or the same refusal. Returns whether it decoded. */
function same(refType: protobuf.Type, mineType: MessageType, bytes: Uint8Array, what: string): boolean {
  const input = plain(bytes);
  const ref = run(() => refType.decode(input) as unknown as Record<string, unknown>, refType, false);
  const got = run(() => mineType.decode(input), refType, true);
  if (!ref.ok && ref.error === GROUP_MARK) {
    assert.ok(!got.ok && /group/.test(got.error), `${what}: a group must be refused, got ${JSON.stringify(got).slice(0, 200)}`);
    return false;
  }
  if (ref.ok !== got.ok) {
    assert.fail(`${what}: protobufjs ${ref.ok ? 'decodes' : `refuses (${(ref as { error: string }).error})`}, graft ${got.ok ? 'decodes' : `refuses (${(got as { error: string }).error})`}`);
  }
  if (!ref.ok) {
    assert.equal((got as { error: string }).error, ref.error, `${what}: error messages differ`);
    return false;
  }
  assert.deepStrictEqual((got as { value: unknown }).value, ref.value, `${what}: decoded messages differ`);
  return true;
}

// A seeded generator (mulberry32), so failures reproduce.
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Damage of the kinds that reach different decoder paths: byte changes, truncation, cut and spliced runs, overlong varints. */
function mutate(orig: Uint8Array, rnd: () => number): Uint8Array {
  const at = () => Math.floor(rnd() * orig.length);
  switch (Math.floor(rnd() * 6)) {
    case 0: {
      const b = orig.slice();
      for (let k = 1 + Math.floor(rnd() * 4); k > 0; k--) b[at()] = Math.floor(rnd() * 256);
      return b;
    }
    case 1: return orig.slice(0, at());
    case 2: {
      const i = at();
      return concat(orig.subarray(0, i), orig.subarray(Math.min(orig.length, i + 1 + Math.floor(rnd() * 16))));
    }
    case 3: {
      const i = at();
      const extra = Uint8Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => Math.floor(rnd() * 256));
      return concat(orig.subarray(0, i), extra, orig.subarray(i));
    }
    case 4: {
      const b = orig.slice();
      const i = at();
      b.fill(0xff, i, Math.min(b.length, i + 1 + Math.floor(rnd() * 11)));
      return b;
    }
    default: {
      // A small tag change: another field number or wire type at a random varint-looking byte.
      const b = orig.slice();
      const i = at();
      b[i] = (b[i] & 0x80) | ((b[i] + 1 + Math.floor(rnd() * 7)) & 0x7f);
      return b;
    }
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ------------------------------------------------------------------------------------ ONNX

const onnxRef = protobuf.Root.fromJSON(ONNX_DESCRIPTOR).lookupType('onnx.ModelProto');
const onnxMine = lazyMessageTypes(ONNX_DESCRIPTOR, { model: 'onnx.ModelProto' });
const ONNX_FILES = [...files(FIXTURES_DIR, /\.onnx$/i), ...files(REALWORLD_DIR, /\.onnx$/i)];

test(`every ONNX model in fixtures/ (and realworld) decodes to the same ModelProto as protobufjs's decoder, whole and with raw_data stripped (${ONNX_FILES.length} files)`, () => {
  assert.ok(ONNX_FILES.length >= 40, `only ${ONNX_FILES.length} ONNX fixtures found`);
  let decoded = 0;
  let initializers = 0;
  for (const file of ONNX_FILES) {
    const bytes = fs.readFileSync(file);
    if (same(onnxRef, onnxMine().model, bytes, path.relative(ROOT, file))) decoded++;
    const src = openSource(file);
    try {
      const stripped = stripInitializerData(src);
      if (stripped) same(onnxRef, onnxMine().model, stripped.bytes, `${path.relative(ROOT, file)} (stripped)`);
    } finally {
      src.close();
    }
    const m = onnxMine().model.decode(plain(bytes)) as { graph?: { initializer: unknown[] } | null };
    initializers += m.graph?.initializer.length ?? 0;
  }
  // Nearly all fixtures are valid models; a handful of hostile ones are damaged on purpose.
  assert.ok(decoded >= ONNX_FILES.length - 5, `only ${decoded} of ${ONNX_FILES.length} decoded`);
  assert.ok(initializers > 500, `only ${initializers} initializers seen`);
});

test('ONNX models with seeded damage: graft and protobufjs accept and refuse the same bytes, with the same messages and errors', () => {
  const rnd = prng(16);
  const small = ONNX_FILES.filter((f) => fs.statSync(f).size <= 400_000);
  assert.ok(small.length >= 30);
  let accepted = 0;
  let refused = 0;
  for (const file of small) {
    const orig = new Uint8Array(fs.readFileSync(file));
    for (let i = 0; i < 30; i++) {
      if (same(onnxRef, onnxMine().model, mutate(orig, rnd), `${path.relative(ROOT, file)} mutation ${i}`)) accepted++;
      else refused++;
    }
  }
  // Both outcomes must be well represented, or the comparison proves little.
  assert.ok(accepted > 100 && refused > 100, `accepted ${accepted}, refused ${refused}`);
});

// ------------------------------------------------------------------- TensorFlow bundle indexes

/**
 * The values of a TensorFlow table (an uncompressed LevelDB-style SSTable): footer → index block
 * → data blocks → entries with prefix-compressed keys. Test-only and trusting: fixtures are valid.
 */
function tableValues(index: Uint8Array): { key: string; value: Uint8Array }[] {
  let pos = 0;
  let buf = index;
  const varint = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const b = buf[pos++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
  };
  const block = (offset: number, size: number): Uint8Array => index.subarray(offset, offset + size);
  const entries = (b: Uint8Array): [string, Uint8Array][] => {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const restarts = dv.getUint32(b.length - 4, true);
    const end = b.length - 4 - 4 * restarts;
    const out: [string, Uint8Array][] = [];
    let key = '';
    buf = b;
    pos = 0;
    while (pos < end) {
      const shared = varint();
      const unshared = varint();
      const len = varint();
      key = key.slice(0, shared) + Buffer.from(b.subarray(pos, pos + unshared)).toString('latin1');
      pos += unshared;
      out.push([key, b.subarray(pos, pos + len)]);
      pos += len;
    }
    return out;
  };
  buf = index;
  pos = index.length - 48;
  varint();
  varint();
  const indexBlock = block(varint(), varint());
  const out: { key: string; value: Uint8Array }[] = [];
  for (const [, handle] of entries(indexBlock)) {
    buf = handle;
    pos = 0;
    const data = block(varint(), varint());
    for (const [key, value] of entries(data)) out.push({ key, value });
  }
  return out;
}

const bundleRoot = protobuf.Root.fromJSON(BUNDLE_DESCRIPTOR);
const headerRef = bundleRoot.lookupType('tensorflow.BundleHeaderProto');
const entryRef = bundleRoot.lookupType('tensorflow.BundleEntryProto');
const bundleMine = lazyMessageTypes(BUNDLE_DESCRIPTOR, { header: 'tensorflow.BundleHeaderProto', entry: 'tensorflow.BundleEntryProto' });

/** What graft's schema returned before this decoder: protobufjs's toObject with int64 as strings. */
const CONVERSION: protobuf.IConversionOptions = { longs: String, defaults: true, arrays: true };
function referenceHeader(bytes: Uint8Array): unknown {
  const o = headerRef.toObject(headerRef.decode(bytes), CONVERSION);
  const version = (o.version ?? {}) as { producer?: number; minConsumer?: number; badConsumers?: number[] };
  return { numShards: o.numShards, endianness: o.endianness, producer: version.producer ?? 0, minConsumer: version.minConsumer ?? 0, badConsumers: version.badConsumers ?? [] };
}
function referenceEntry(bytes: Uint8Array): unknown {
  const o = entryRef.toObject(entryRef.decode(bytes), CONVERSION);
  const shape = (o.shape ?? {}) as { dim?: { size: string }[]; unknownRank?: boolean };
  return {
    dtype: o.dtype, dims: (shape.dim ?? []).map((d) => String(d.size)), unknownRank: shape.unknownRank === true, shardId: o.shardId,
    offset: String(o.offset), size: String(o.size), crc32c: (o.crc32c as number) >>> 0, sliceCount: (o.slices as unknown[]).length,
  };
}

function sameSchema(decode: (b: Uint8Array) => unknown, reference: (b: Uint8Array) => unknown, bytes: Uint8Array, what: string): void {
  const outcome = (f: () => unknown) => {
    try {
      return { ok: true, value: f() };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  };
  const ref = outcome(() => reference(bytes));
  const got = outcome(() => decode(bytes));
  if (!ref.ok && ref.error === GROUP_MARK) assert.match(String(got.error), /group/, what);
  else assert.deepStrictEqual(got, ref, what);
}

const INDEX_FILES = [...files(FIXTURES_DIR, /\.index$/), ...files(REALWORLD_DIR, /\.index$/)];

test(`every TensorFlow bundle index entry in fixtures/ (and realworld) decodes as with protobufjs: messages and the schema's header/entry records (${INDEX_FILES.length} files)`, () => {
  let entries = 0;
  let headers = 0;
  const values: Uint8Array[] = [];
  for (const file of INDEX_FILES) {
    let table: { key: string; value: Uint8Array }[];
    try {
      table = tableValues(new Uint8Array(fs.readFileSync(file)));
    } catch {
      continue; // hostile fixtures whose table itself is damaged: the reader's tests cover them
    }
    for (const { key, value } of table) {
      const what = `${path.relative(ROOT, file)} '${key}'`;
      if (key === '') {
        headers++;
        same(headerRef, bundleMine().header, value, what);
        sameSchema(decodeBundleHeader, referenceHeader, plain(value), what);
      } else {
        entries++;
        same(entryRef, bundleMine().entry, value, what);
        sameSchema(decodeBundleEntry, referenceEntry, plain(value), what);
        values.push(plain(value));
      }
    }
  }
  assert.ok(headers >= 10 && entries >= 100, `${headers} headers, ${entries} entries`);
  // Seeded damage to entries and headers alike.
  const rnd = prng(15);
  for (let i = 0; i < 3000; i++) {
    const bytes = mutate(values[Math.floor(rnd() * values.length)], rnd);
    same(entryRef, bundleMine().entry, bytes, `entry mutation ${i}`);
    same(headerRef, bundleMine().header, bytes, `header mutation ${i}`);
    sameSchema(decodeBundleEntry, referenceEntry, bytes, `entry mutation ${i}`);
  }
});

// ---------------------------------------------------- every scalar type, packed and unpacked

const KINDS = ['double', 'float', 'int32', 'uint32', 'sint32', 'fixed32', 'sfixed32', 'int64', 'uint64', 'sint64', 'fixed64', 'sfixed64', 'bool', 'string', 'bytes', 'Color'] as const;
const ALL_DESCRIPTOR = {
  nested: {
    t: {
      nested: {
        Color: { values: { RED: 0, GREEN: 1, BLUE: 2 } },
        All: {
          fields: {
            ...Object.fromEntries(KINDS.map((k, i) => [`s_${k}`, { type: k, id: i + 1 }])),
            ...Object.fromEntries(KINDS.map((k, i) => [`r_${k}`, { rule: 'repeated', type: k, id: i + 21 }])),
            child: { type: 'All', id: 40 },
            children: { rule: 'repeated', type: 'All', id: 41 },
            inner: { type: 'Inner', id: 42 },
            big: { type: 'int32', id: 100000 },
          },
          nested: { Inner: { fields: { x: { type: 'sint64', id: 1 }, all: { type: '.t.All', id: 2 } } } },
        },
      },
    },
  },
};
const allRef = protobuf.Root.fromJSON(ALL_DESCRIPTOR).lookupType('t.All');
const allMine = lazyMessageTypes(ALL_DESCRIPTOR, { all: 't.All' });

/** Raw wire writing, so tests can send what no well-behaved encoder would. */
class Wire {
  bytes: number[] = [];
  varint(v: bigint): this {
    v = BigInt.asUintN(64, v);
    do {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      this.bytes.push(v ? b | 0x80 : b);
    } while (v);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint(BigInt(field) * 8n + BigInt(wire));
  }
  fixed(v: bigint, n: number): this {
    for (let i = 0; i < n; i++) this.bytes.push(Number((BigInt.asUintN(64, v) >> BigInt(8 * i)) & 0xffn));
    return this;
  }
  delimited(body: number[]): this {
    this.varint(BigInt(body.length));
    this.bytes.push(...body);
    return this;
  }
}

function randomValue(rnd: () => number): bigint {
  const r = rnd();
  if (r < 0.3) return BigInt(Math.floor(rnd() * 4)); // defaults and small values
  if (r < 0.5) return -BigInt(Math.floor(rnd() * 1000));
  if (r < 0.7) return BigInt(Math.floor(rnd() * 2 ** 32));
  return (BigInt(Math.floor(rnd() * 2 ** 32)) << 32n) | BigInt(Math.floor(rnd() * 2 ** 32));
}

/** A random All message: declared fields in their own wire types, packed runs, wrong wire types, unknown fields, nesting. */
function randomAll(rnd: () => number, depth: number): number[] {
  const w = new Wire();
  const wireOf = (kind: string) => (['double', 'fixed64', 'sfixed64'].includes(kind) ? 1 : ['float', 'fixed32', 'sfixed32'].includes(kind) ? 5 : ['string', 'bytes'].includes(kind) ? 2 : 0);
  const scalar = (kind: string, v: bigint, into: Wire) => {
    const wire = wireOf(kind);
    if (wire === 1) into.fixed(v, 8);
    else if (wire === 5) into.fixed(v, 4);
    else if (wire === 2) {
      const len = Math.floor(rnd() * 6);
      // Mostly ASCII text; sometimes bytes that are not UTF-8 (strings must then be refused).
      into.delimited(Array.from({ length: len }, () => (rnd() < 0.97 ? 0x61 + Math.floor(rnd() * 26) : 0x80 + Math.floor(rnd() * 128))));
    } else into.varint(kind === 'bool' && rnd() < 0.5 ? BigInt(Math.floor(rnd() * 3)) : v);
  };
  for (let n = Math.floor(rnd() * 14); n > 0; n--) {
    const k = Math.floor(rnd() * KINDS.length);
    const kind = KINDS[k];
    const r = rnd();
    if (r < 0.6) {
      // Singular (fields 1–16) or one unpacked value of a repeated field (21–36).
      w.tag(r < 0.35 ? k + 1 : k + 21, wireOf(kind));
      scalar(kind, randomValue(rnd), w);
    } else if (r < 0.8) {
      // A packed run (for strings and bytes: one length-delimited value, as protobuf has no packed strings).
      const body = new Wire();
      for (let m = Math.floor(rnd() * 5); m > 0; m--) scalar(kind, randomValue(rnd), body);
      w.tag(k + 21, 2).delimited(body.bytes);
    } else if (r < 0.87) {
      // A declared field in a wire type it does not use: skipped as unknown.
      const field = rnd() < 0.5 ? k + 1 : k + 21;
      const wire = [0, 1, 2, 5][Math.floor(rnd() * 4)];
      w.tag(field, wire);
      if (wire === 0) w.varint(randomValue(rnd));
      else if (wire === 1) w.fixed(randomValue(rnd), 8);
      else if (wire === 5) w.fixed(randomValue(rnd), 4);
      else w.delimited([1, 2, 3].slice(0, Math.floor(rnd() * 4)));
    } else if (r < 0.93) {
      // Unknown field numbers, including the largest.
      const field = [17, 99, 2 ** 29 - 1, 100000][Math.floor(rnd() * 4)];
      w.tag(field, field === 100000 ? 0 : 2);
      if (field === 100000) w.varint(randomValue(rnd));
      else w.delimited([0x08, 0x01]);
    } else if (depth < 4) {
      const which = Math.floor(rnd() * 3);
      const body = randomAll(rnd, depth + 1);
      if (which === 2) {
        const inner = new Wire();
        inner.tag(1, 0).varint(randomValue(rnd));
        if (rnd() < 0.5) inner.tag(2, 2).delimited(body);
        w.tag(42, 2).delimited(inner.bytes);
      } else w.tag(which === 0 ? 40 : 41, 2).delimited(body);
    }
  }
  return w.bytes;
}

test('random messages over every scalar type (packed, unpacked, wrong wire types, unknown fields, nesting, merging) and their damage decode as with protobufjs', () => {
  const rnd = prng(2026);
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < 4000; i++) {
    const msg = Uint8Array.from(randomAll(rnd, 0));
    const bytes = i % 3 === 2 && msg.length > 0 ? mutate(msg, rnd) : msg;
    if (same(allRef, allMine().all, bytes, `random message ${i} [${Array.from(bytes).join(',')}]`)) accepted++;
    else refused++;
  }
  assert.ok(accepted > 2000 && refused > 300, `accepted ${accepted}, refused ${refused}`);
});

test('hand-made edge cases: packed and unpacked mixed in one field, a singular message merged from two parts, -0 and NaN, 64-bit extremes, bad UTF-8, groups, field 0, wire types 4/6/7', () => {
  const all = allMine().all;
  const check = (w: Wire, what: string) => same(allRef, all, Uint8Array.from(w.bytes), what);
  // r_int64 (26): unpacked 5, packed [1, -1], unpacked 2^63-1: one array of four.
  assert.ok(check(new Wire().tag(28, 0).varint(5n).tag(28, 2).delimited(new Wire().varint(1n).varint(-1n).bytes).tag(28, 0).varint(2n ** 63n - 1n), 'mixed packed'));
  const mixed = all.decode(Uint8Array.from(new Wire().tag(28, 0).varint(5n).tag(28, 2).delimited(new Wire().varint(1n).varint(-1n).bytes).bytes)) as { r_int64: protobuf.Long[] };
  assert.deepEqual(mixed.r_int64.map((v) => v.toString()), ['5', '1', '-1']);
  // child (40) sent twice: the second part merges into the first (repeated fields append).
  const part = (f: number, v: bigint) => new Wire().tag(f, 0).varint(v).bytes;
  const merged = new Wire().tag(40, 2).delimited([...part(3, 7n), ...part(23, 1n)]).tag(40, 2).delimited([...part(4, 9n), ...part(23, 2n)]);
  assert.ok(check(merged, 'merged child'));
  const m = all.decode(Uint8Array.from(merged.bytes)) as { child: { s_int32: number; s_uint32: number; r_int32: number[] } };
  assert.deepEqual([m.child.s_int32, m.child.s_uint32, m.child.r_int32], [7, 9, [1, 2]]);
  // A later default clears an earlier value (implicit presence): s_int32 7 then 0.
  assert.ok(check(new Wire().tag(3, 0).varint(7n).tag(3, 0).varint(0n), 'cleared'));
  assert.equal(Object.keys(all.decode(Uint8Array.from(new Wire().tag(3, 0).varint(7n).tag(3, 0).varint(0n).bytes))).includes('s_int32'), false);
  // -0 is kept (not the default 0), NaN too.
  assert.ok(check(new Wire().tag(1, 1).fixed(0x8000000000000000n, 8).tag(2, 5).fixed(0x7fc00000n, 4), '-0 and NaN'));
  assert.ok(Object.is((all.decode(Uint8Array.from(new Wire().tag(1, 1).fixed(0x8000000000000000n, 8).bytes)) as { s_double: number }).s_double, -0));
  // 64-bit extremes in every 64-bit kind.
  for (const v of [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n]) {
    assert.ok(check(new Wire().tag(8, 0).varint(v).tag(9, 0).varint(v).tag(10, 0).varint(v).tag(11, 1).fixed(v, 8).tag(12, 1).fixed(v, 8), `64-bit ${v}`));
  }
  const extremes = all.decode(Uint8Array.from(new Wire().tag(9, 0).varint(2n ** 64n - 1n).tag(8, 0).varint(-1n).bytes)) as { s_uint64: protobuf.Long; s_int64: protobuf.Long; s_fixed64: protobuf.Long };
  assert.deepEqual([extremes.s_uint64.toString(), extremes.s_int64.toString(), extremes.s_fixed64.unsigned], ['18446744073709551615', '-1', true]);
  // Strings must be UTF-8 (proto3); bytes need not be.
  assert.equal(check(new Wire().tag(14, 2).delimited([0x61, 0xc3]), 'bad UTF-8 string'), false);
  assert.ok(check(new Wire().tag(15, 2).delimited([0xc3, 0x00, 0xff]), 'any bytes'));
  // Groups (start and end), field 0, reserved wire types, a bare end-group, overlong varints.
  const refuse = (w: Wire, pattern: RegExp, what: string) => {
    assert.equal(check(w, what), false, what);
    assert.throws(() => all.decode(Uint8Array.from(w.bytes)), pattern, what);
  };
  refuse(new Wire().tag(50, 3).tag(1, 0).varint(1n).tag(50, 4), /group wire type 3/, 'unknown group');
  refuse(new Wire().tag(3, 3).tag(3, 4), /group wire type 3/, 'declared field as a group');
  refuse(new Wire().tag(50, 4), /invalid wire type 4/, 'bare end group');
  refuse(new Wire().tag(50, 6), /invalid wire type 6/, 'wire type 6');
  refuse(new Wire().tag(50, 7), /invalid wire type 7/, 'wire type 7');
  refuse(new Wire().tag(0, 0).varint(1n), /field number 0/, 'field 0');
  const overlong = new Wire().tag(8, 0);
  overlong.bytes.push(...new Array(10).fill(0xff), 0x01);
  refuse(overlong, /varint/, 'overlong varint');
  // A length running past the end of the enclosing message, and a child shorter than its contents.
  refuse(new Wire().tag(40, 2).varint(100n).tag(3, 0).varint(1n), /index out of range/, 'length beyond the end');
  refuse(new Wire().tag(40, 2).delimited([0x18]).tag(3, 0).varint(1n), /index out of range/, 'value crossing the child end');
  refuse(new Wire().tag(28, 2).delimited([0x80]), /index out of range/, 'packed varint crossing its run');
  refuse(new Wire().tag(22, 2).delimited([0, 0, 0]), /index out of range/, 'packed floats not a multiple of 4');
});

test('nesting is bounded: 100 levels decode, deeper is refused with an error (no stack overflow), as with protobufjs', () => {
  // Built inside out by sizes, then written outside in: linear in the depth.
  const nest = (levels: number): Uint8Array => {
    const leaf = new Wire().tag(3, 0).varint(1n).bytes;
    const tag = new Wire().tag(40, 2).bytes;
    const sizes = [leaf.length];
    for (let i = 0; i < levels; i++) sizes.push(tag.length + new Wire().varint(BigInt(sizes[i])).bytes.length + sizes[i]);
    const out: number[] = [];
    for (let i = levels; i > 0; i--) out.push(...tag, ...new Wire().varint(BigInt(sizes[i - 1])).bytes);
    out.push(...leaf);
    assert.equal(out.length, sizes[levels]);
    return Uint8Array.from(out);
  };
  const all = allMine().all;
  for (const levels of [99, 100, 101, 102, 5000]) same(allRef, all, nest(levels), `${levels} levels`);
  assert.doesNotThrow(() => all.decode(nest(100)));
  assert.throws(() => all.decode(nest(101)), /max depth exceeded/);
  assert.throws(() => all.decode(nest(100_000)), /max depth exceeded/);
});

test('decoded messages read like protobufjs messages: prototype defaults, own repeated arrays, null for absent messages, Uint8Array (not Buffer) bytes from a Buffer input', () => {
  const all = allMine().all;
  const empty = all.decode(new Uint8Array(0)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(empty).sort(), KINDS.map((k) => `r_${k}`).concat('children').sort());
  assert.equal(empty.s_int32, 0);
  assert.equal(empty.s_string, '');
  assert.equal(empty.s_bool, false);
  assert.equal(empty.s_Color, 0);
  assert.equal(empty.child, null);
  assert.equal((empty.s_int64 as protobuf.Long).toString(), '0');
  assert.equal((empty.s_uint64 as protobuf.Long).unsigned, true);
  assert.ok(empty.s_bytes instanceof Uint8Array && (empty.s_bytes as Uint8Array).length === 0);
  const fromBuffer = all.decode(Buffer.from(new Wire().tag(15, 2).delimited([1, 2, 3]).tag(35, 2).delimited([4]).bytes)) as { s_bytes: Uint8Array; r_bytes: Uint8Array[] };
  assert.equal(Object.getPrototypeOf(fromBuffer.s_bytes), Uint8Array.prototype);
  assert.equal(Object.getPrototypeOf(fromBuffer.r_bytes[0]), Uint8Array.prototype);
  assert.deepEqual([...fromBuffer.s_bytes, ...fromBuffer.r_bytes[0]], [1, 2, 3, 4]);
  // Two messages never share arrays.
  const a = all.decode(new Uint8Array(0)) as { r_int32: number[] };
  const b = all.decode(new Uint8Array(0)) as { r_int32: number[] };
  a.r_int32.push(1);
  assert.deepEqual(b.r_int32, []);
});

test('descriptors the decoder cannot honour are refused when compiled, not misread', () => {
  const compile = (d: object, name: string) => lazyMessageTypes(d, { x: name })();
  assert.throws(() => compile({ nested: { A: { fields: { m: { keyType: 'string', type: 'int32', id: 1 } } } } }, 'A'), /map fields/);
  assert.throws(() => compile({ nested: { A: { fields: { a: { type: 'int32', id: 1, rule: 'required' } } } } }, 'A'), /required/);
  assert.throws(() => compile({ nested: { A: { fields: { a: { type: 'Missing', id: 1 } } } } }, 'A'), /'Missing' not found/);
  assert.throws(() => compile({ nested: { A: { fields: { a: { type: 'int32', id: 1 }, b: { type: 'int32', id: 1 } } } } }, 'A'), /field number 1/);
  assert.throws(() => compile({ nested: { A: { oneofs: { o: { oneof: ['a'] } }, fields: { a: { type: 'int32', id: 1 } } } } }, 'A'), /oneofs/);
  assert.throws(() => compile({ nested: { A: { fields: {} } } }, 'B'), /no type 'B'/);
  // JSON.parse makes '__proto__' an own key (an object literal would set the prototype instead).
  assert.throws(() => compile(JSON.parse('{"nested":{"A":{"fields":{"__proto__":{"type":"int32","id":1}}}}}'), 'A'), /field named '__proto__'/);
});

// ------------------------------------------------------------------- no code generation at all

test("with code generation from strings disabled (as under a CSP without 'unsafe-eval'), ONNX models and TF indexes open, while protobufjs's reflection decoder fails", () => {
  const onnx = path.join(FIXTURES_DIR, 'torch', 'lstm', 'model.onnx');
  const ckpt = path.join(FIXTURES_DIR, 'tf-ckpt', 'sharded', 'model.ckpt');
  const script = `
    const { openOnnx } = require('./src/formats/onnx/reader.ts');
    const { openTfCheckpoint } = require('./src/formats/tf-checkpoint/reader.ts');
    (async () => {
      const out = {};
      const o = await openOnnx(${JSON.stringify(onnx)});
      out.onnx = o.list().length;
      out.onnxOps = o.opOrder.length;
      await o.close();
      const t = await openTfCheckpoint(${JSON.stringify(ckpt)});
      out.tf = t.list().length;
      await t.close();
      try {
        require('protobufjs/light').Root.fromJSON({ nested: { A: { fields: { a: { type: 'int32', id: 1 } } } } }).lookupType('A').decode(new Uint8Array([8, 1]));
        out.light = 'decoded';
      } catch (e) { out.light = e.message; }
      console.log(JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['--disallow-code-generation-from-strings', '--import', 'tsx', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.ok(out.onnx > 0 && out.onnxOps > 0 && out.tf > 0, r.stdout);
  // The check itself can fail: the same process refuses protobufjs's generated decoder.
  assert.match(out.light, /Code generation from strings disallowed/);
});
