import { GraftError, printable } from '../errors';
import { DTYPE_BYTES, DType } from './tensor';
import { byteSwapInPlace, elementCount } from './bytes';
import { checkRange, type ByteSource } from './volume';
import { lookup3 } from './hdf5-checksum';

/**
 * graft's own read-only HDF5 parser, for the files h5py and Keras write: superblocks 0–3, object
 * headers v1/v2, groups as symbol tables, link messages or (small) dense link storage, attributes
 * compact or dense, numeric / string / bool types, contiguous and compact datasets. Contiguous
 * data is read with positioned reads straight into the caller's buffer. Anything else (chunked or
 * filtered data, large fractal heaps, shared messages, odd types, and structures that do not add
 * up) is declined with NotNative, and the caller reads the file through h5wasm instead, which
 * stays the reference.
 *
 * Nothing read from the file is trusted: every address is checked against the file's real size,
 * every length against what its structure holds, and the work of walking metadata is bounded by
 * the file's size (loops in B-trees, continuation chains and group graphs end in CORRUPT).
 */

/** The file uses something this parser does not read; h5wasm should read the whole file. */
export class NotNative extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'NotNative';
  }
}

const notNative = (reason: string): never => {
  throw new NotNative(reason);
};

/** The value all-ones addresses stand for: nothing stored there. */
const UNDEFINED = -1;

/**
 * Bytes of metadata a walk may read (and of variable-length strings it may decode), per byte of
 * file plus a floor: honest files read each structure once; crafted ones whose structures overlap
 * or share parts (one B-tree under many groups, one heap string behind many attribute elements)
 * cannot make the walk, or what it builds, grow faster than the file.
 */
const WORK_PER_FILE_BYTE = 2;
const WORK_FLOOR = 1 << 20;
/** HDF5 follows at most this many soft links in one lookup. */
const MAX_SOFT_LINKS = 16;
/** Largest rank HDF5 allows. */
const MAX_RANK = 32;
/**
 * Metadata is read in pages of this size, a few kept, so scattered small reads cost few calls;
 * small enough that the pages of a large file's scattered headers add nothing to peak memory.
 */
const PAGE_BYTES = 8 * 1024;
const MAX_PAGES = 32;

export type NativeAttrValue = string | number | boolean | bigint | string[] | number[] | undefined;

/** A datatype as far as graft reads it. */
type Datatype =
  | { kind: 'int'; size: number; signed: boolean; bigEndian: boolean }
  | { kind: 'float'; size: number; bigEndian: boolean }
  | { kind: 'bool'; size: 1 }
  | { kind: 'string'; size: number; pad: number }
  | { kind: 'vlen-string'; size: number };

interface Dataspace {
  /** undefined for a null dataspace (no elements, not even a scalar). */
  shape: number[] | undefined;
  scalar: boolean;
}

interface Message {
  type: number;
  flags: number;
  data: Uint8Array;
}

type Link = { kind: 'hard'; address: number } | { kind: 'soft'; path: string } | { kind: 'external'; file: string };

interface Attribute {
  name: string;
  value: NativeAttrValue;
}

interface GroupNode {
  kind: 'group';
  links: Map<string, Link>;
  attrs: Attribute[];
}

interface DatasetNode {
  kind: 'dataset';
  attrs: Attribute[];
  dtype: DType;
  elementBytes: number;
  bigEndian: boolean;
  shape: number[];
  /** Absolute file offset of contiguous data, or the bytes themselves for compact storage. */
  storage: { kind: 'contiguous'; offset: number } | { kind: 'compact'; bytes: Uint8Array } | { kind: 'virtual' } | { kind: 'external'; file: string };
}

/** An object that is neither (a committed datatype): present, but not a group or dataset. */
interface OtherNode {
  kind: 'other';
  attrs: Attribute[];
}

type Node = GroupNode | DatasetNode | OtherNode;

/** A ByteSource over bytes held in memory, reading views (the parser never writes them). */
export class BytesSource implements ByteSource {
  constructor(readonly path: string, private readonly data: Uint8Array) {}
  get size(): number {
    return this.data.length;
  }
  read(offset: number, length: number, tensor?: string): Uint8Array {
    checkRange(this, offset, length, tensor);
    return this.data.subarray(offset, offset + length);
  }
  readInto(offset: number, target: Uint8Array, tensor?: string): void {
    checkRange(this, offset, target.length, tensor);
    target.set(this.data.subarray(offset, offset + target.length));
  }
  close(): void {}
}

/** Sequential little-endian reads over one structure, every read checked against its end. */
class Cursor {
  pos: number;
  constructor(readonly bytes: Uint8Array, readonly offsetSize: number, readonly lengthSize: number, pos = 0, readonly what = 'structure') {
    this.pos = pos;
  }
  need(n: number): void {
    if (n < 0 || this.pos + n > this.bytes.length) notNative(`${this.what} ends early (needs ${n} bytes at ${this.pos} of ${this.bytes.length})`);
  }
  u8(): number {
    this.need(1);
    return this.bytes[this.pos++];
  }
  u16(): number {
    this.need(2);
    const v = this.bytes[this.pos] | (this.bytes[this.pos + 1] << 8);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const b = this.bytes;
    const p = this.pos;
    this.pos += 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 0x1000000;
  }
  /** An unsigned integer of `n` bytes; all-ones is UNDEFINED; values beyond 2^53 are declined. */
  uint(n: number): number {
    this.need(n);
    const b = this.bytes;
    const p = this.pos;
    this.pos += n;
    let allOnes = true;
    for (let i = 0; i < n; i++) if (b[p + i] !== 0xff) allOnes = false;
    if (allOnes) return UNDEFINED;
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + b[p + i];
    if (!Number.isSafeInteger(v)) notNative(`${this.what} holds a value beyond 2^53`);
    return v;
  }
  offset(): number {
    return this.uint(this.offsetSize);
  }
  length(): number {
    return this.uint(this.lengthSize);
  }
  take(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  remaining(): number {
    return this.bytes.length - this.pos;
  }
}

const utf8 = new TextDecoder('utf-8');

function signatureIs(bytes: Uint8Array, at: number, sig: string): boolean {
  if (at + sig.length > bytes.length) return false;
  for (let i = 0; i < sig.length; i++) if (bytes[at + i] !== sig.charCodeAt(i)) return false;
  return true;
}

/** Text up to the first NUL (or the end). */
function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return utf8.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

/** One HDF5 file read natively. Construct with NativeHdf5.open; every method is synchronous. */
export class NativeHdf5 {
  private readonly offsetSize: number;
  private readonly lengthSize: number;
  /** Absolute position of the superblock: every address in the file is relative to it. */
  private readonly base: number;
  private readonly nodes = new Map<number, Node>();
  private readonly rootAddress: number;
  private pages = new Map<number, Uint8Array>();
  private work = 0;
  private readonly maxWork: number;
  private readonly heaps = new Map<number, Map<number, Uint8Array>>();
  private closed = false;
  private lastRead?: { path: string; node: DatasetNode };

  private constructor(
    private readonly source: ByteSource,
    readonly path: string,
    magicOffset: number,
  ) {
    this.base = magicOffset;
    this.maxWork = WORK_FLOOR + source.size * WORK_PER_FILE_BYTE;
    const head = this.meta(0, Math.min(source.size - magicOffset, 128), 'superblock');
    const version = head[8];
    const c = (sizeAt: number) => new Cursor(head, head[sizeAt], head[sizeAt + 1], 0, 'superblock');
    let root: number;
    let eof: number;
    if (version === 0 || version === 1) {
      this.offsetSize = head[13];
      this.lengthSize = head[14];
      this.checkSizes();
      const cur = c(13);
      cur.pos = 24 + (version === 1 ? 4 : 0);
      cur.offset(); // base address: the superblock's own position is what HDF5 uses
      cur.offset(); // free-space info
      eof = cur.offset();
      const driver = cur.offset();
      if (driver !== UNDEFINED) notNative('the superblock names a file driver (multi-file or family layout)');
      cur.offset(); // root link name offset
      root = cur.offset();
    } else if (version === 2 || version === 3) {
      this.offsetSize = head[9];
      this.lengthSize = head[10];
      this.checkSizes();
      const cur = c(9);
      cur.pos = 12;
      cur.offset(); // base address
      const extension = cur.offset();
      eof = cur.offset();
      root = cur.offset();
      const sumAt = cur.pos;
      const stored = cur.u32();
      if (lookup3(head.subarray(0, sumAt)) !== stored) notNative('superblock checksum mismatch');
      if (extension !== UNDEFINED) this.checkExtension(extension);
    } else {
      throw new NotNative(`superblock version ${version}`);
    }
    // The end-of-file address counts the user block too (unlike every other address).
    if (eof === UNDEFINED || eof > source.size) notNative(`the superblock's end of file (${eof}) lies past the file's ${source.size} bytes: truncated`);
    if (root === UNDEFINED) notNative('no root group');
    this.rootAddress = root;
    this.walk(root);
    // Everything later reads dataset data, straight from the file: the metadata pages can go.
    this.pages = new Map();
    this.heaps.clear();
  }

  /**
   * Parses the whole object graph reachable from the root. Throws NotNative when anything in the
   * file needs h5wasm, GraftError (CORRUPT) when its structure loops.
   */
  static open(source: ByteSource, displayName: string, magicOffset: number): NativeHdf5 {
    return new NativeHdf5(source, displayName, magicOffset);
  }

  get fileSize(): number {
    return this.source.size;
  }

  private checkSizes(): void {
    for (const s of [this.offsetSize, this.lengthSize]) if (s !== 2 && s !== 4 && s !== 8) notNative(`offsets or lengths of ${s} bytes`);
  }

  private cursor(bytes: Uint8Array, what: string, pos = 0): Cursor {
    return new Cursor(bytes, this.offsetSize, this.lengthSize, pos, what);
  }

  private corrupt(reason: string): GraftError {
    return new GraftError('CORRUPT', `HDF5 ${reason}`, { file: this.path });
  }

  /** `length` bytes of metadata at file address `address` (relative to the superblock). */
  private meta(address: number, length: number, what: string): Uint8Array {
    if (address === UNDEFINED || !Number.isSafeInteger(address) || address < 0 || length < 0) notNative(`${what} at an invalid address`);
    const at = this.base + address;
    if (at + length > this.source.size) notNative(`${what} at ${address} (+${length}) lies past the end of the file`);
    this.spend(length);
    const first = Math.floor(at / PAGE_BYTES);
    const last = Math.floor((at + length - 1) / PAGE_BYTES);
    if (length === 0) return new Uint8Array(0);
    if (first === last) return this.page(first).subarray(at - first * PAGE_BYTES, at - first * PAGE_BYTES + length);
    // Spanning pages (large heaps, long attributes): one read of its own.
    return this.source.read(at, length);
  }

  private spend(bytes: number): void {
    this.work += bytes;
    if (this.work > this.maxWork) throw this.corrupt(`metadata walk went past ${this.maxWork} bytes in a ${this.source.size}-byte file (structures or strings referred to over and over)`);
  }

  private page(index: number): Uint8Array {
    let p = this.pages.get(index);
    if (!p) {
      if (this.pages.size >= MAX_PAGES) this.pages = new Map();
      const start = index * PAGE_BYTES;
      p = this.source.read(start, Math.min(PAGE_BYTES, this.source.size - start));
      this.pages.set(index, p);
    }
    return p;
  }

  /** Metadata up to `max` bytes at `address`, fewer at the end of the file (structures that size themselves). */
  private metaUpTo(address: number, max: number, what: string): Uint8Array {
    if (address === UNDEFINED || address < 0) notNative(`${what} at an invalid address`);
    const room = this.source.size - this.base - address;
    if (room <= 0) notNative(`${what} at ${address} lies past the end of the file`);
    return this.meta(address, Math.min(max, room), what);
  }

  private checkExtension(address: number): void {
    for (const m of this.objectHeader(address)) {
      // B-tree K values and file-space settings change nothing for a reader.
      if (m.type === 0x00 || m.type === 0x13 || m.type === 0x17 || m.type === 0x0a) continue;
      notNative(`superblock extension holds message type ${m.type} (shared messages or a driver)`);
    }
  }

  // ------------------------------------------------------------------ object headers

  private objectHeader(address: number): Message[] {
    const start = this.metaUpTo(address, 34, 'object header');
    if (signatureIs(start, 0, 'OHDR')) return this.objectHeaderV2(address, start);
    if (start[0] === 1) return this.objectHeaderV1(address);
    return notNative(`object header at ${address} has neither version 1 nor the OHDR signature`);
  }

  private objectHeaderV1(address: number): Message[] {
    const prefix = this.cursor(this.meta(address, 16, 'object header'), 'object header');
    prefix.skip(2);
    prefix.u16(); // message count: the blocks' lengths bound the walk instead
    prefix.u32(); // reference count
    const size = prefix.u32();
    const messages: Message[] = [];
    const chunks: { address: number; length: number }[] = [{ address: address + 16, length: size }];
    const seen = new Set<number>();
    for (let i = 0; i < chunks.length; i++) {
      const { address: at, length } = chunks[i];
      if (seen.has(at)) throw this.corrupt(`object header at ${address} continues into a block it already read (a continuation loop)`);
      seen.add(at);
      const chunk = this.meta(at, length, 'object header block');
      const cur = this.cursor(chunk, 'object header block');
      while (cur.remaining() >= 8) {
        const type = cur.u16();
        const bytes = cur.u16();
        const flags = cur.u8();
        cur.skip(3);
        const data = cur.take(bytes);
        messages.push({ type, flags, data });
        if (type === 0x10) chunks.push(this.continuation(data));
      }
    }
    return messages;
  }

  private objectHeaderV2(address: number, start: Uint8Array): Message[] {
    const cur = this.cursor(start, 'object header');
    cur.skip(4);
    const version = cur.u8();
    if (version !== 2) notNative(`object header version ${version}`);
    const flags = cur.u8();
    if (flags & 0x20) cur.skip(16);
    if (flags & 0x10) cur.skip(4);
    const sizeBytes = 1 << (flags & 3);
    const size = cur.uint(sizeBytes);
    if (size === UNDEFINED) notNative('object header chunk of undefined size');
    const headerBytes = cur.pos;
    const withOrder = (flags & 0x04) !== 0;
    const messages: Message[] = [];
    const chunk0 = this.meta(address, headerBytes + size + 4, 'object header');
    this.checkSum(chunk0, `object header at ${address}`);
    const chunks: Uint8Array[] = [chunk0.subarray(headerBytes, headerBytes + size)];
    const seen = new Set<number>([address]);
    for (let i = 0; i < chunks.length; i++) {
      const c = this.cursor(chunks[i], 'object header block');
      const headerSize = withOrder ? 6 : 4;
      while (c.remaining() >= headerSize) {
        const type = c.u8();
        const bytes = c.u16();
        const mflags = c.u8();
        if (withOrder) c.skip(2);
        const data = c.take(bytes);
        messages.push({ type, flags: mflags, data });
        if (type === 0x10) {
          const next = this.continuation(data);
          if (seen.has(next.address)) throw this.corrupt(`object header at ${address} continues into a block it already read (a continuation loop)`);
          seen.add(next.address);
          const block = this.meta(next.address, next.length, 'object header continuation');
          if (!signatureIs(block, 0, 'OCHK') || block.length < 8) notNative('object header continuation without its OCHK signature');
          this.checkSum(block, `object header continuation at ${next.address}`);
          chunks.push(block.subarray(4, block.length - 4));
        }
      }
    }
    return messages;
  }

  private continuation(data: Uint8Array): { address: number; length: number } {
    const c = this.cursor(data, 'continuation message');
    const address = c.offset();
    const length = c.length();
    if (address === UNDEFINED || length === UNDEFINED) notNative('continuation to an undefined block');
    return { address, length };
  }

  /** Version 2 structures end in a lookup3 checksum of everything before it. */
  private checkSum(bytes: Uint8Array, what: string): void {
    const n = bytes.length - 4;
    const stored = (bytes[n] | (bytes[n + 1] << 8) | (bytes[n + 2] << 16)) + bytes[n + 3] * 0x1000000;
    if (lookup3(bytes.subarray(0, n)) !== stored) notNative(`${what}: checksum mismatch`);
  }

  // ------------------------------------------------------------------ the object graph

  /** Parses every object reachable from `root` by hard links, each once. */
  private walk(root: number): void {
    const pending = [root];
    while (pending.length) {
      const address = pending.pop()!;
      if (this.nodes.has(address)) continue;
      const node = this.parseObject(address);
      this.nodes.set(address, node);
      if (node.kind === 'group') {
        for (const link of node.links.values()) if (link.kind === 'hard' && !this.nodes.has(link.address)) pending.push(link.address);
      }
    }
  }

  private parseObject(address: number): Node {
    const messages = this.objectHeader(address);
    const attrs: Attribute[] = [];
    let links: Map<string, Link> | undefined;
    let space: Dataspace | undefined;
    let type: Datatype | undefined;
    let layout: { kind: 'contiguous'; address: number; size: number } | { kind: 'compact'; bytes: Uint8Array } | { kind: 'virtual' } | undefined;
    let external: string | undefined;
    let filtered = false;
    const groupLinks = () => (links ??= new Map());
    for (const m of messages) {
      // Shared messages live elsewhere (a committed datatype, the shared-message table).
      if (m.flags & 0x02) notNative(`shared message (type ${m.type})`);
      switch (m.type) {
        case 0x00: // NIL
        case 0x04: // fill value (old)
        case 0x05: // fill value
        case 0x0d: // comment
        case 0x0e: // modification time (old)
        case 0x12: // modification time
        case 0x16: // reference count
        case 0x0a: // group info
        case 0x10: // continuation (followed already)
          if (m.type === 0x0a) groupLinks();
          break;
        case 0x01:
          space = this.dataspace(m.data);
          break;
        case 0x02: {
          const l = groupLinks();
          for (const dense of this.linkInfo(m.data)) {
            const [name, link] = this.link(dense);
            if (l.has(name)) notNative(`two links named '${printable(name)}' in one group`);
            l.set(name, link);
          }
          break;
        }
        case 0x03:
          type = this.datatype(this.cursor(m.data, 'datatype message'));
          break;
        case 0x06: {
          const [name, link] = this.link(m.data);
          const l = groupLinks();
          if (l.has(name)) notNative(`two links named '${printable(name)}' in one group`);
          l.set(name, link);
          break;
        }
        case 0x07:
          external = this.externalFileName(m.data);
          break;
        case 0x08:
          layout = this.layout(m.data);
          break;
        case 0x0b:
          filtered = true;
          break;
        case 0x0c:
          attrs.push(this.attribute(m.data));
          break;
        case 0x11: {
          const c = this.cursor(m.data, 'symbol table message');
          const btree = c.offset();
          const heap = c.offset();
          const l = groupLinks();
          for (const [name, link] of this.symbolTable(btree, heap)) {
            if (l.has(name)) notNative(`two links named '${printable(name)}' in one group`);
            l.set(name, link);
          }
          break;
        }
        case 0x15:
          for (const dense of this.attributeInfo(m.data)) attrs.push(this.attribute(dense));
          break;
        default:
          notNative(`object header message type ${m.type}`);
      }
    }
    if (links) {
      if (layout || space || type) notNative('an object that is both a group and a dataset');
      return { kind: 'group', links, attrs };
    }
    if (!layout && !space && type) return { kind: 'other', attrs };
    if (!layout || !space || !type) return notNative(`object at ${address} is neither a group nor a dataset it can read`);
    if (filtered) notNative('filters on non-chunked data');
    if (!space.shape) notNative('dataset with a null dataspace');
    const shape = space.shape!;
    let dtype: DType;
    let elementBytes: number;
    let bigEndian = false;
    if (type.kind === 'float') {
      dtype = type.size === 2 ? 'float16' : type.size === 4 ? 'float32' : 'float64';
      bigEndian = type.bigEndian;
    } else if (type.kind === 'int') {
      const table: Record<number, [DType, DType]> = { 1: ['int8', 'uint8'], 2: ['int16', 'uint16'], 4: ['int32', 'uint32'], 8: ['int64', 'uint64'] };
      dtype = type.signed ? table[type.size][0] : table[type.size][1];
      bigEndian = type.bigEndian;
    } else if (type.kind === 'bool') {
      dtype = 'bool';
    } else {
      return notNative('dataset of strings');
    }
    elementBytes = DTYPE_BYTES[dtype];
    if (elementBytes !== type.size) notNative('element size mismatch');
    let storage: DatasetNode['storage'];
    if (layout.kind === 'virtual') {
      storage = { kind: 'virtual' };
    } else if (external !== undefined) {
      storage = { kind: 'external', file: external };
    } else {
      // Sized only after the dataspace is known sane (elementCount refuses absurd shapes).
      let bytes: number;
      try {
        bytes = elementCount(shape) * elementBytes;
      } catch {
        return notNative(`dataspace [${shape.join(', ')}] is implausibly large`);
      }
      if (bytes === 0) {
        // Nothing to read (HDF5 allocates no storage for an empty dataset).
        storage = { kind: 'compact', bytes: new Uint8Array(0) };
      } else if (layout.kind === 'compact') {
        if (layout.bytes.length < bytes) notNative('compact data shorter than its dataspace');
        storage = { kind: 'compact', bytes: layout.bytes.slice(0, bytes) };
      } else {
        // Never written (fill values only), or stored past the end: h5wasm decides.
        if (layout.address === UNDEFINED) notNative('dataset whose data was never written');
        if (layout.size !== UNDEFINED && layout.size < bytes) notNative('contiguous data shorter than its dataspace');
        const offset = this.base + layout.address;
        if (offset + bytes > this.source.size) notNative(`dataset data at ${layout.address} (+${bytes}) lies past the end of the file`);
        storage = { kind: 'contiguous', offset };
      }
    }
    return { kind: 'dataset', attrs, dtype, elementBytes, bigEndian, shape, storage };
  }

  /** A new-style group's links when they are stored densely (in a fractal heap), else []. */
  private linkInfo(data: Uint8Array): Uint8Array[] {
    return this.denseInfo(data, 'link info', 8, 5);
  }

  /** An object's attribute messages when they are stored densely (in a fractal heap), else []. */
  private attributeInfo(data: Uint8Array): Uint8Array[] {
    return this.denseInfo(data, 'attribute info', 2, 8);
  }

  /**
   * The link info and attribute info messages share one layout: version 0, flags (bit 0: a maximum
   * creation index follows, 8 bytes for links, 2 for attributes), then the fractal heap and its
   * name index (a v2 B-tree of `recordType`); an undefined heap means nothing is stored densely.
   */
  private denseInfo(data: Uint8Array, what: string, creationIndexBytes: number, recordType: number): Uint8Array[] {
    const c = this.cursor(data, `${what} message`);
    if (c.u8() !== 0) notNative(`${what} version`);
    const flags = c.u8();
    if (flags & 1) c.skip(creationIndexBytes);
    const heap = c.offset();
    const names = c.offset();
    if (heap === UNDEFINED) return [];
    return this.denseMessages(heap, names, recordType);
  }

  /**
   * The messages a fractal heap holds for a group's links (name index: v2 B-tree of type 5) or an
   * object's attributes (type 8): every record of the name index names one heap object by its
   * offset and length. Only what small heaps use is read: a B-tree of depth 0 or 1, a root block
   * that is direct or an indirect block of direct blocks, managed objects, no filters.
   */
  private denseMessages(heapAddress: number, indexAddress: number, recordType: number): Uint8Array[] {
    const h = this.cursor(this.metaUpTo(heapAddress, 256, 'fractal heap header'), 'fractal heap header');
    if (!signatureIs(h.bytes, 0, 'FRHP')) notNative('fractal heap without its FRHP signature');
    h.skip(4);
    if (h.u8() !== 0) notNative('fractal heap version');
    const idLength = h.u16();
    if (h.u16() !== 0) notNative('fractal heap with I/O filters');
    h.u8(); // flags
    const maxManaged = h.u32();
    h.length(); // next huge object id
    h.offset(); // huge objects' B-tree
    h.length(); // free space
    h.offset(); // free-space manager
    h.length(); // managed space
    h.length(); // allocated managed space
    h.length(); // allocation iterator
    h.length(); // managed objects
    h.length(); // size of huge objects
    const huge = h.length();
    h.length(); // size of tiny objects
    const tiny = h.length();
    const width = h.u16();
    const startBlock = h.length();
    const maxDirect = h.length();
    const maxHeapBits = h.u16();
    h.u16(); // starting rows of the root indirect block
    const root = h.offset();
    const rows = h.u16();
    const sumAt = h.pos;
    h.u32();
    this.checkSum(h.bytes.subarray(0, sumAt + 4), `fractal heap at ${heapAddress}`);
    if (huge !== 0 || tiny !== 0) notNative('fractal heap with huge or tiny objects');
    const pow2 = (v: number) => v > 0 && Number.isSafeInteger(v) && 2 ** Math.round(Math.log2(v)) === v;
    if (!pow2(startBlock) || !pow2(maxDirect) || startBlock > maxDirect || width < 1 || width > 1024 || maxHeapBits < 1 || maxHeapBits > 64 || root === UNDEFINED) {
      notNative('fractal heap with an odd doubling table');
    }
    const offsetBytes = Math.ceil(maxHeapBits / 8);
    const lengthBytes = Math.min(Math.ceil(Math.log2(maxDirect) / 8), Math.floor(Math.log2(Math.max(1, maxManaged)) / 8) + 1);
    if (1 + offsetBytes + lengthBytes > idLength) notNative('fractal heap ids too short');
    // Direct blocks by their offset in the heap's address space: [heap offset, size, file address].
    const blocks: [number, number, number][] = [];
    if (rows === 0) {
      blocks.push([0, startBlock, root]);
    } else {
      const directRows = Math.log2(maxDirect) - Math.log2(startBlock) + 2;
      if (rows > directRows) notNative('fractal heap with nested indirect blocks');
      const entries = rows * width;
      const ib = this.cursor(this.meta(root, 5 + this.offsetSize + offsetBytes + entries * this.offsetSize + 4, 'fractal heap indirect block'), 'fractal heap indirect block');
      if (!signatureIs(ib.bytes, 0, 'FHIB')) notNative('fractal heap indirect block without its FHIB signature');
      this.checkSum(ib.bytes, `fractal heap indirect block at ${root}`);
      ib.skip(5 + this.offsetSize + offsetBytes);
      let at = 0;
      for (let r = 0; r < rows; r++) {
        const size = r < 2 ? startBlock : startBlock * 2 ** (r - 1);
        for (let col = 0; col < width; col++) {
          const address = ib.offset();
          if (address !== UNDEFINED) blocks.push([at, size, address]);
          at += size;
        }
      }
    }
    const objectAt = (id: Uint8Array): Uint8Array => {
      const c = this.cursor(id, 'fractal heap id');
      const kind = c.u8();
      if (kind !== 0) notNative('fractal heap id that is not a managed object');
      const offset = c.uint(offsetBytes);
      const length = c.uint(lengthBytes);
      const block = blocks.find(([start, size]) => offset >= start && offset < start + size);
      if (!block || offset === UNDEFINED || length === UNDEFINED || offset + length > block[0] + block[1]) return notNative('fractal heap object outside its blocks');
      const [start, , address] = block!;
      if (offset === start) notNative('fractal heap object inside its block header');
      const header = this.meta(address, 4, 'fractal heap direct block');
      if (!signatureIs(header, 0, 'FHDB')) notNative('fractal heap direct block without its FHDB signature');
      return this.meta(address + (offset - start), length, 'fractal heap object');
    };
    return this.nameIndex(indexAddress, recordType).map((record) => objectAt(recordType === 5 ? record.subarray(4) : record.subarray(0, 8)));
  }

  /** The records of a v2 B-tree of depth 0 or 1 (a name index), in key order. */
  private nameIndex(address: number, type: number): Uint8Array[] {
    const h = this.cursor(this.meta(address, 16 + 2 * this.offsetSize + this.lengthSize, 'v2 B-tree header'), 'v2 B-tree header');
    if (!signatureIs(h.bytes, 0, 'BTHD')) notNative('v2 B-tree without its BTHD signature');
    h.skip(4);
    if (h.u8() !== 0) notNative('v2 B-tree version');
    if (h.u8() !== type) notNative('v2 B-tree of another type');
    const nodeSize = h.u32();
    const recordSize = h.u16();
    const depth = h.u16();
    h.skip(2);
    const root = h.offset();
    const rootRecords = h.u16();
    h.length();
    this.checkSum(h.bytes.subarray(0, h.pos + 4), `v2 B-tree at ${address}`);
    if (recordSize < (type === 5 ? 5 : 17) || nodeSize < 10 + recordSize) notNative('v2 B-tree of impossible node or record size');
    if (depth > 1) notNative('v2 B-tree deeper than one level');
    const records: Uint8Array[] = [];
    const node = (at: number, count: number, signature: string, extra: number): Cursor => {
      const body = count * recordSize + extra;
      if (6 + body + 4 > nodeSize) notNative('v2 B-tree node overflows its size');
      const n = this.cursor(this.meta(at, 6 + body + 4, 'v2 B-tree node'), 'v2 B-tree node');
      if (!signatureIs(n.bytes, 0, signature) || n.bytes[4] !== 0 || n.bytes[5] !== type) notNative(`v2 B-tree node without its ${signature} signature`);
      this.checkSum(n.bytes, `v2 B-tree node at ${at}`);
      n.skip(6);
      return n;
    };
    if (root === UNDEFINED || rootRecords === 0) return records;
    if (depth === 0) {
      const leaf = node(root, rootRecords, 'BTLF', 0);
      for (let i = 0; i < rootRecords; i++) records.push(leaf.take(recordSize));
      return records;
    }
    // Depth 1: the root's records interleave with its leaves' (child i, record i, child i+1 …).
    const maxLeaf = Math.floor((nodeSize - 10) / recordSize);
    const countBytes = Math.floor(Math.log2(maxLeaf) / 8) + 1;
    const inner = node(root, rootRecords, 'BTIN', (rootRecords + 1) * (this.offsetSize + countBytes));
    const own = Array.from({ length: rootRecords }, () => inner.take(recordSize));
    for (let i = 0; i <= rootRecords; i++) {
      const child = inner.offset();
      const count = inner.uint(countBytes);
      if (count === UNDEFINED || count > maxLeaf) notNative('v2 B-tree leaf of impossible size');
      const leaf = node(child, count, 'BTLF', 0);
      for (let k = 0; k < count; k++) records.push(leaf.take(recordSize));
      if (i < rootRecords) records.push(own[i]);
    }
    return records;
  }

  private link(data: Uint8Array): [string, Link] {
    const c = this.cursor(data, 'link message');
    if (c.u8() !== 1) notNative('link message version');
    const flags = c.u8();
    const type = flags & 0x08 ? c.u8() : 0;
    if (flags & 0x04) c.skip(8);
    if (flags & 0x10) c.u8();
    const nameLength = c.uint(1 << (flags & 3));
    if (nameLength === UNDEFINED || nameLength === 0) notNative('link with an empty name');
    const name = utf8.decode(c.take(nameLength));
    if (type === 0) return [name, { kind: 'hard', address: c.offset() }];
    if (type === 1) {
      const n = c.u16();
      return [name, { kind: 'soft', path: utf8.decode(c.take(n)) }];
    }
    if (type === 64) {
      const n = c.u16();
      const info = c.take(n);
      // One byte of version and flags, then the file name and the object path, NUL-terminated.
      return [name, { kind: 'external', file: cString(info.subarray(1)) }];
    }
    return notNative(`link of user-defined type ${type}`);
  }

  /** An old-style group: its links from the v1 B-tree's symbol nodes, names from the local heap. */
  private symbolTable(btree: number, heapAddress: number): Map<string, Link> {
    const heap = this.localHeap(heapAddress);
    const links = new Map<string, Link>();
    const entrySize = 2 * this.offsetSize + 24;
    const pending: { address: number; level: number | undefined }[] = [{ address: btree, level: undefined }];
    const seen = new Set<number>();
    while (pending.length) {
      const { address, level: expected } = pending.pop()!;
      if (seen.has(address)) throw this.corrupt(`group B-tree node at ${address} is reached twice (a loop)`);
      seen.add(address);
      const head = this.cursor(this.meta(address, 8 + 2 * this.offsetSize, 'group B-tree node'), 'group B-tree node');
      if (!signatureIs(head.bytes, 0, 'TREE')) notNative('group B-tree node without its TREE signature');
      head.skip(4);
      if (head.u8() !== 0) notNative('group B-tree of another node type');
      const level = head.u8();
      if (expected !== undefined && level !== expected) notNative('group B-tree levels do not descend');
      const entries = head.u16();
      const keysAndChildren = entries * (this.lengthSize + this.offsetSize) + this.lengthSize;
      const body = this.cursor(this.meta(address + head.bytes.length, keysAndChildren, 'group B-tree node'), 'group B-tree node');
      for (let i = 0; i < entries; i++) {
        body.length(); // key: heap offset of the child's largest name
        const child = body.offset();
        if (level > 0) pending.push({ address: child, level: level - 1 });
        else this.symbolNode(child, heap, entrySize, links);
      }
    }
    return links;
  }

  private symbolNode(address: number, heap: Uint8Array, entrySize: number, links: Map<string, Link>): void {
    const head = this.meta(address, 8, 'symbol table node');
    if (!signatureIs(head, 0, 'SNOD') || head[4] !== 1) notNative('symbol table node without its SNOD signature');
    const count = head[6] | (head[7] << 8);
    const c = this.cursor(this.meta(address + 8, count * entrySize, 'symbol table node'), 'symbol table node');
    for (let i = 0; i < count; i++) {
      const nameOffset = c.offset();
      const header = c.offset();
      const cache = c.u32();
      c.skip(4);
      const scratch = c.take(16);
      const name = heapString(heap, nameOffset);
      if (name === undefined || name === '') notNative('symbol table entry whose name lies outside its heap');
      if (links.has(name!)) notNative(`two links named '${printable(name!)}' in one group`);
      if (cache === 2) {
        const target = heapString(heap, scratch[0] | (scratch[1] << 8) | (scratch[2] << 16) | (scratch[3] << 24));
        if (target === undefined) notNative('soft link whose value lies outside its heap');
        links.set(name!, { kind: 'soft', path: target! });
      } else {
        if (header === UNDEFINED) notNative('symbol table entry without an object');
        links.set(name!, { kind: 'hard', address: header });
      }
    }
  }

  private localHeap(address: number): Uint8Array {
    const c = this.cursor(this.meta(address, 8 + 2 * this.lengthSize + this.offsetSize, 'local heap'), 'local heap');
    if (!signatureIs(c.bytes, 0, 'HEAP') || c.bytes[4] !== 0) notNative('local heap without its HEAP signature');
    c.skip(8);
    const size = c.length();
    c.length(); // free list
    const data = c.offset();
    if (size === UNDEFINED) notNative('local heap of undefined size');
    return this.meta(data, size, 'local heap data');
  }

  private externalFileName(data: Uint8Array): string {
    // Refused when read, whatever it names; the name only makes the error clear.
    try {
      const c = this.cursor(data, 'external data files message');
      c.skip(4);
      c.u16();
      const used = c.u16();
      const heap = c.offset();
      if (used < 1) return '(unnamed)';
      const nameOffset = c.length();
      return heapString(this.localHeap(heap), nameOffset) ?? '(unnamed)';
    } catch (e) {
      if (e instanceof NotNative) return '(unnamed)';
      throw e;
    }
  }

  // ------------------------------------------------------------------ messages

  private dataspace(data: Uint8Array): Dataspace {
    const c = this.cursor(data, 'dataspace message');
    const version = c.u8();
    const rank = c.u8();
    const flags = c.u8();
    let kind: number;
    if (version === 1) {
      c.skip(5);
      kind = rank === 0 ? 0 : 1;
      if (flags & 2) notNative('dataspace with a permutation');
    } else if (version === 2) {
      kind = c.u8();
    } else {
      return notNative(`dataspace version ${version}`);
    }
    if (rank > MAX_RANK) notNative(`dataspace of rank ${rank}`);
    if (kind === 2) return { shape: undefined, scalar: false };
    if (kind === 0) return { shape: [], scalar: true };
    if (kind !== 1) notNative(`dataspace type ${kind}`);
    const shape: number[] = [];
    for (let i = 0; i < rank; i++) {
      const d = c.length();
      if (d === UNDEFINED) notNative('unlimited current dimension');
      shape.push(d);
    }
    return { shape, scalar: false };
  }

  private datatype(c: Cursor): Datatype {
    const classAndVersion = c.u8();
    const cls = classAndVersion & 0x0f;
    const version = classAndVersion >> 4;
    const bits = c.u8() | (c.u8() << 8) | (c.u8() << 16);
    const size = c.u32();
    switch (cls) {
      case 0: {
        const offset = c.u16();
        const precision = c.u16();
        if (![1, 2, 4, 8].includes(size) || offset !== 0 || precision !== size * 8) notNative(`integer type of ${size} bytes, precision ${precision} at ${offset}`);
        return { kind: 'int', size, signed: (bits & 0x08) !== 0, bigEndian: (bits & 0x01) !== 0 };
      }
      case 1: {
        const offset = c.u16();
        const precision = c.u16();
        const expAt = c.u8();
        const expBits = c.u8();
        const mantAt = c.u8();
        const mantBits = c.u8();
        const bias = c.u32();
        const sign = (bits >> 8) & 0xff;
        // IEEE 754 binary16/32/64 only (h5wasm would read a bfloat16 or a VAX float as something else).
        const ieee: Record<number, number[]> = { 2: [10, 5, 0, 10, 15, 15], 4: [23, 8, 0, 23, 127, 31], 8: [52, 11, 0, 52, 1023, 63] };
        const want = ieee[size];
        if (!want || offset !== 0 || precision !== size * 8 || (bits & 0x40) || ((bits >> 4) & 3) !== 2
          || expAt !== want[0] || expBits !== want[1] || mantAt !== want[2] || mantBits !== want[3] || bias !== want[4] || sign !== want[5]) {
          notNative(`floating-point type of ${size} bytes that is not IEEE 754`);
        }
        return { kind: 'float', size, bigEndian: (bits & 0x01) !== 0 };
      }
      case 3:
        if (size === 0) notNative('string type of no bytes');
        return { kind: 'string', size, pad: bits & 0x0f };
      case 8: {
        const members = bits & 0xffff;
        const base = this.datatype(c);
        const names: string[] = [];
        for (let i = 0; i < members; i++) {
          const rest = c.bytes.subarray(c.pos);
          const end = rest.indexOf(0);
          if (end < 0) notNative('enum member name without its NUL');
          names.push(utf8.decode(rest.subarray(0, end)));
          c.skip(version >= 3 ? end + 1 : align8(end + 1));
        }
        const values: number[] = [];
        for (let i = 0; i < members; i++) values.push(base.kind === 'int' && base.size === 1 ? c.u8() : NaN);
        // h5py's numpy bool: a one-byte integer enum {FALSE: 0, TRUE: 1}.
        const byName = new Map(names.map((n, i) => [n.toUpperCase(), values[i]]));
        if (base.kind === 'int' && base.size === 1 && size === 1 && members === 2 && byName.get('FALSE') === 0 && byName.get('TRUE') === 1) return { kind: 'bool', size: 1 };
        return notNative('enum type other than bool');
      }
      case 9: {
        const vlenType = bits & 0x0f;
        this.datatype(c); // base type (a one-byte integer or string for vlen strings)
        if (vlenType !== 1) notNative('variable-length sequence type');
        if (size !== 4 + this.offsetSize + 4) notNative('variable-length string of unexpected size');
        return { kind: 'vlen-string', size };
      }
      default:
        return notNative(`datatype class ${cls}`);
    }
  }

  private layout(data: Uint8Array): { kind: 'contiguous'; address: number; size: number } | { kind: 'compact'; bytes: Uint8Array } | { kind: 'virtual' } {
    const c = this.cursor(data, 'data layout message');
    const version = c.u8();
    if (version !== 3 && version !== 4) notNative(`data layout version ${version}`);
    const cls = c.u8();
    if (cls === 0) {
      const n = c.u16();
      return { kind: 'compact', bytes: c.take(n) };
    }
    if (cls === 1) return { kind: 'contiguous', address: c.offset(), size: c.length() };
    if (cls === 3 && version === 4) return { kind: 'virtual' };
    return notNative(cls === 2 ? 'chunked storage' : `data layout class ${cls}`);
  }

  private attribute(data: Uint8Array): Attribute {
    const c = this.cursor(data, 'attribute message');
    const version = c.u8();
    if (version < 1 || version > 3) notNative(`attribute message version ${version}`);
    const flags = c.u8();
    if (version >= 2 && (flags & 0x03)) notNative('attribute with a shared datatype or dataspace');
    const nameSize = c.u16();
    const typeSize = c.u16();
    const spaceSize = c.u16();
    if (version === 3) c.u8(); // name character set
    const pad = (n: number) => (version === 1 ? align8(n) : n);
    const nameBytes = c.take(nameSize);
    c.skip(pad(nameSize) - nameSize);
    const name = cString(nameBytes);
    const typeBytes = c.take(typeSize);
    c.skip(pad(typeSize) - typeSize);
    const spaceBytes = c.take(spaceSize);
    c.skip(pad(spaceSize) - spaceSize);
    const type = this.datatype(this.cursor(typeBytes, 'attribute datatype'));
    const space = this.dataspace(spaceBytes);
    if (!space.shape) notNative(`attribute '${printable(name)}' with a null dataspace`);
    let count: number;
    try {
      count = elementCount(space.shape!);
    } catch {
      return notNative(`attribute '${printable(name)}' of implausible size`);
    }
    const raw = c.take(count * type.size);
    return { name, value: this.attributeValue(type, space, raw, count) };
  }

  /** An attribute's value as h5wasm gives it (then normalised as Hdf5File.attr does). */
  private attributeValue(type: Datatype, space: Dataspace, raw: Uint8Array, count: number): NativeAttrValue {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    if (type.kind === 'string' || type.kind === 'vlen-string') {
      const values: string[] = [];
      for (let i = 0; i < count; i++) values.push(type.kind === 'string' ? fixedString(raw.subarray(i * type.size, (i + 1) * type.size), type.pad) : this.vlenString(raw.subarray(i * type.size, (i + 1) * type.size)));
      return space.scalar ? values[0] : values;
    }
    if (type.kind === 'float' && type.size === 2) notNative('float16 attribute');
    const numbers: number[] = [];
    let big: bigint | undefined;
    for (let i = 0; i < count; i++) {
      const at = i * type.size;
      const le = !(type.kind !== 'bool' && type.bigEndian);
      if (type.kind === 'float') numbers.push(type.size === 4 ? view.getFloat32(at, le) : view.getFloat64(at, le));
      else if (type.kind === 'bool') numbers.push(raw[at]);
      else if (type.size === 8) {
        const v = type.signed ? view.getBigInt64(at, le) : view.getBigUint64(at, le);
        if (space.scalar) big = v;
        numbers.push(Number(v));
      } else if (type.size === 4) numbers.push(type.signed ? view.getInt32(at, le) : view.getUint32(at, le));
      else if (type.size === 2) numbers.push(type.signed ? view.getInt16(at, le) : view.getUint16(at, le));
      else numbers.push(type.signed ? view.getInt8(at) : view.getUint8(at));
    }
    // As Hdf5File's h5wasm backend answers: unsigned bytes as UTF-8 text (its opaque-blob rule),
    // 64-bit integer scalars as bigint, bools as 0 / 1.
    if (!space.scalar) return type.kind === 'int' && type.size === 1 && !type.signed ? utf8.decode(raw) : numbers;
    if (big !== undefined) return big;
    return numbers[0];
  }

  private vlenString(element: Uint8Array): string {
    const c = this.cursor(element, 'variable-length string');
    const length = c.u32();
    const collection = c.offset();
    const index = c.u32();
    if (length === 0 || collection === UNDEFINED) return '';
    const object = this.globalHeap(collection).get(index);
    if (!object) return notNative('variable-length string missing from its global heap');
    if (length > object.length) notNative('variable-length string longer than its heap object');
    this.spend(length);
    return cString(object.subarray(0, length));
  }

  private globalHeap(address: number): Map<number, Uint8Array> {
    const known = this.heaps.get(address);
    if (known) return known;
    const head = this.cursor(this.meta(address, 8 + this.lengthSize, 'global heap'), 'global heap');
    if (!signatureIs(head.bytes, 0, 'GCOL') || head.bytes[4] !== 1) notNative('global heap without its GCOL signature');
    head.skip(8);
    const size = head.length();
    if (size === UNDEFINED || size < head.bytes.length) notNative('global heap of impossible size');
    const c = this.cursor(this.meta(address, size, 'global heap'), 'global heap', head.bytes.length);
    const objects = new Map<number, Uint8Array>();
    while (c.remaining() >= 8 + this.lengthSize) {
      const index = c.u16();
      c.skip(6);
      const n = c.length();
      if (index === 0) break; // free space: the rest of the collection
      if (n === UNDEFINED || n > c.remaining()) notNative('global heap object past its collection');
      objects.set(index, c.take(n));
      c.skip(Math.min(c.remaining(), align8(n) - n));
    }
    this.heaps.set(address, objects);
    return objects;
  }

  // ------------------------------------------------------------------ lookups

  /** The object a path names (from the root), following soft links; undefined when absent. */
  private lookup(objPath: string): Node | undefined {
    let budget = MAX_SOFT_LINKS;
    const resolve = (parts: string[]): Node | undefined => {
      let node: Node = this.nodes.get(this.rootAddress)!;
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i];
        if (node.kind !== 'group') return undefined;
        const link = node.links.get(part);
        if (!link) return undefined;
        if (link.kind === 'external') {
          throw new GraftError('UNSAFE', `refers to another file ('${printable(link.file)}') through an HDF5 external link, external raw storage or virtual dataset; graft reads only the file it was given`, { file: this.path });
        }
        let next: Node | undefined;
        if (link.kind === 'hard') next = this.nodes.get(link.address);
        else {
          if (--budget < 0) return undefined;
          const target = link.path.startsWith('/') ? splitPath(link.path) : [...parts.slice(0, i), ...splitPath(link.path)];
          next = resolve(target);
        }
        if (!next) return undefined;
        node = next;
      }
      return node;
    };
    return resolve(splitPath(objPath));
  }

  kind(objPath: string): 'group' | 'dataset' | undefined {
    const node = this.lookup(objPath);
    return node?.kind === 'group' || node?.kind === 'dataset' ? node.kind : undefined;
  }

  keys(groupPath: string): string[] {
    const node = this.lookup(groupPath);
    if (node?.kind !== 'group') return [];
    return sortedByBytes([...node.links.keys()]);
  }

  attrNames(objPath: string): string[] {
    const node = this.lookup(objPath);
    if (!node || node.kind === 'other') return [];
    return sortedByBytes(node.attrs.map((a) => a.name));
  }

  attr(objPath: string, name: string): NativeAttrValue {
    const node = this.lookup(objPath);
    if (!node || node.kind === 'other') return undefined;
    const value = node.attrs.find((a) => a.name === name)?.value;
    return Array.isArray(value) ? (value.slice() as string[] | number[]) : value;
  }

  /** The dataset at a path (UNSAFE for virtual datasets), or a CORRUPT error naming it. */
  dataset(objPath: string): DatasetNode {
    const node = this.lookup(objPath);
    if (node?.kind !== 'dataset') throw new GraftError('CORRUPT', `dataset '${printable(objPath)}' does not exist`, { file: this.path, tensor: objPath });
    if (node.storage.kind === 'virtual') {
      throw new GraftError('UNSAFE', 'is a virtual dataset, which maps data from other files; graft reads only the file it was given', { file: this.path, tensor: objPath });
    }
    return node;
  }

  /**
   * Copies `target.length` bytes of a dataset's C-order little-endian data, from byte `start`, into
   * `target`: one positioned read for contiguous data (swapped in place when stored big-endian).
   */
  readInto(objPath: string, start: number, target: Uint8Array): void {
    if (this.closed) throw new Error(`NativeHdf5 ${this.path} used after close`);
    // A large tensor is read in thousands of pieces: its lookup is kept.
    if (this.lastRead?.path !== objPath) this.lastRead = { path: objPath, node: this.dataset(objPath) };
    const d = this.lastRead.node;
    const s = d.storage;
    if (s.kind === 'external') {
      throw new GraftError('UNSAFE', `refers to another file ('${printable(s.file)}') through an HDF5 external link, external raw storage or virtual dataset; graft reads only the file it was given`, { file: this.path, tensor: objPath });
    }
    if (target.length === 0) return;
    if (s.kind === 'compact') target.set(s.bytes.subarray(start, start + target.length));
    else if (s.kind === 'contiguous') this.source.readInto(s.offset + start, target, objPath);
    if (d.bigEndian) {
      if (start % d.elementBytes !== 0 || target.length % d.elementBytes !== 0) throw new Error('internal: unaligned read of big-endian HDF5 data');
      byteSwapInPlace(target, d.elementBytes);
    }
  }

  /** Where a contiguous little-endian dataset's bytes start in the file (undefined for others). */
  dataOffset(objPath: string): number | undefined {
    if (this.closed) return undefined;
    if (this.lastRead?.path !== objPath) this.lastRead = { path: objPath, node: this.dataset(objPath) };
    const d = this.lastRead.node;
    return d.storage.kind === 'contiguous' && !d.bigEndian ? d.storage.offset : undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pages = new Map();
    this.source.close();
  }
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}

/** Names in HDF5's name order: byte-wise over their UTF-8 encoding. */
function sortedByBytes(names: string[]): string[] {
  const enc = new TextEncoder();
  const keyed = names.map((n) => ({ n, b: enc.encode(n) }));
  keyed.sort((x, y) => {
    const len = Math.min(x.b.length, y.b.length);
    for (let i = 0; i < len; i++) if (x.b[i] !== y.b[i]) return x.b[i] - y.b[i];
    return x.b.length - y.b.length;
  });
  return keyed.map((k) => k.n);
}

/** The NUL-terminated string at `offset` of a local heap, undefined outside it. */
function heapString(heap: Uint8Array, offset: number): string | undefined {
  if (offset < 0 || offset >= heap.length) return undefined;
  const rest = heap.subarray(offset);
  const end = rest.indexOf(0);
  if (end < 0) return undefined;
  return utf8.decode(rest.subarray(0, end));
}

/** A fixed-length string: NUL-terminated (0), NUL-padded (1) or space-padded (2). */
function fixedString(bytes: Uint8Array, pad: number): string {
  if (pad === 2) {
    let end = bytes.length;
    while (end > 0 && bytes[end - 1] === 0x20) end--;
    return utf8.decode(bytes.subarray(0, end));
  }
  return cString(bytes);
}
