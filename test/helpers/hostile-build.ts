/**
 * Builders for hostile inputs too large to commit: zip archives whose deflated members inflate to
 * hundreds of MiB from a few hundred KiB (built from one repeated, fully flushed deflate block,
 * so building a 1 GiB member costs milliseconds), and small helpers for pickles.
 */
import * as zlib from 'zlib';

const MiB = 1 << 20;
let zeroBlock: Buffer | undefined;

/** Raw deflate data inflating to `n` zero bytes, with its CRC-32. */
export function zerosDeflated(n: number): { data: Buffer; size: number; crc: number } {
  // One MiB of zeros, flushed so that blocks can be repeated back to back (no shared window needed).
  zeroBlock ??= zlib.deflateRawSync(Buffer.alloc(MiB), { finishFlush: zlib.constants.Z_FULL_FLUSH, level: 9 });
  const whole = Math.floor(n / MiB);
  const rest = n - whole * MiB;
  const parts: Buffer[] = [];
  for (let i = 0; i < whole; i++) parts.push(zeroBlock);
  parts.push(zlib.deflateRawSync(Buffer.alloc(rest), { level: 9 }));
  let crc = 0;
  const zeros = Buffer.alloc(MiB);
  for (let i = 0; i < whole; i++) crc = zlib.crc32(zeros, crc);
  crc = zlib.crc32(Buffer.alloc(rest), crc);
  return { data: Buffer.concat(parts), size: n, crc };
}

/** A deflated member from real bytes. */
export function deflated(bytes: Uint8Array): { data: Buffer; size: number; crc: number } {
  return { data: zlib.deflateRawSync(bytes), size: bytes.length, crc: zlib.crc32(bytes) };
}

export type ZipMember = { name: string; stored: Uint8Array } | { name: string; deflate: { data: Buffer; size: number; crc: number } };

/** A plain (non-zip64) zip archive of the given members, in order. */
export function zipArchive(members: ZipMember[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const name = Buffer.from(m.name, 'utf8');
    const method = 'stored' in m ? 0 : 8;
    const data = 'stored' in m ? Buffer.from(m.stored) : m.deflate.data;
    const size = 'stored' in m ? m.stored.length : m.deflate.size;
    const crc = 'stored' in m ? zlib.crc32(m.stored) : m.deflate.crc;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** An .npy header (v1) for `shape` of little-endian float32, padded as numpy pads it. */
export function npyHeader(shape: number[], descr = '<f4'): Buffer {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let text = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  const pad = (64 - ((10 + text.length + 1) % 64)) % 64;
  text += ' '.repeat(pad) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(text.length, 8);
  return Buffer.concat([head, Buffer.from(text, 'latin1')]);
}

/** Pickle opcodes, assembled by hand (nothing here is ever run by Python). */
export class PickleWriter {
  private readonly parts: Buffer[] = [Buffer.from([0x80, 0x02])];
  op(...bytes: number[]): this {
    this.parts.push(Buffer.from(bytes));
    return this;
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    this.parts.push(Buffer.from([0x58]), len, b); // BINUNICODE
    return this;
  }
  int(n: number): this {
    const b = Buffer.alloc(5);
    b[0] = 0x4a; // BININT
    b.writeInt32LE(n, 1);
    this.parts.push(b);
    return this;
  }
  global(module: string, name: string): this {
    this.parts.push(Buffer.from(`c${module}\n${name}\n`, 'latin1'));
    return this;
  }
  mark(): this {
    return this.op(0x28);
  }
  tuple(): this {
    return this.op(0x74);
  }
  put(i: number): this {
    const b = Buffer.alloc(5);
    b[0] = 0x72; // LONG_BINPUT
    b.writeUInt32LE(i, 1);
    this.parts.push(b);
    return this;
  }
  get(i: number): this {
    const b = Buffer.alloc(5);
    b[0] = 0x6a; // LONG_BINGET
    b.writeUInt32LE(i, 1);
    this.parts.push(b);
    return this;
  }
  /** `_rebuild_tensor_v2(storage '0' of `numel` floats, offset, shape, C strides, False, {})`. */
  tensor(storageKey: string, numel: number, offset: number, shape: number[]): this {
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', 'FloatStorage').str(storageKey).str('cpu').int(numel).tuple().op(0x51); // BINPERSID
    this.int(offset);
    this.mark();
    for (const d of shape) this.int(d);
    this.tuple().mark();
    let s = 1;
    const strides: number[] = [];
    for (let i = shape.length - 1; i >= 0; i--) {
      strides.unshift(s);
      s *= shape[i];
    }
    for (const d of strides) this.int(d);
    this.tuple().op(0x89, 0x7d).tuple().op(0x52); // NEWFALSE, EMPTY_DICT, TUPLE, REDUCE
    return this;
  }
  bytes(): Buffer {
    return Buffer.concat([...this.parts, Buffer.from([0x2e])]);
  }
}

/** The start of a safetensors file: the 8-byte little-endian header length, then the JSON header padded to 8 bytes. */
export function safetensorsPrefix(header: Record<string, unknown>): Buffer {
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  return Buffer.concat([len, Buffer.from(text, 'utf8')]);
}
