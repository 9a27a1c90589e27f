import type { Inflate as InflateType } from 'fflate';
import { GraftError } from '../errors';
import { openSource, printable } from './bytes';
import { crc32 } from './crc32';
import type { ByteSource, Volume } from './volume';
import { budgetError, inflateBudget, mib, parseJsonBudgeted } from './budget';
import { InflatedFile, inflateToFile, syncInflater } from './inflate-file';

/**
 * A lazy ZIP reader: parses the central directory only, and reads an entry's bytes when asked.
 * Used by .npz, PyTorch .pt and Keras .keras readers. Every size and offset in the archive is
 * checked against the real file size before anything is allocated or read.
 */

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  crc32: number;
  localHeaderOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const EOCD64_LOCATOR_SIZE = 20;
const EOCD64_MIN_SIZE = 56;
const CENTRAL_HEADER_SIZE = 46;
const LOCAL_HEADER_SIZE = 30;
const MAX_COMMENT = 0xffff;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
const ZIP64_EXTRA_ID = 0x0001;
const FLAG_ENCRYPTED = 0x0001;
/**
 * Compressed bytes handed to the inflater at a time, so output overruns are caught early: one
 * push inflates to at most ~1032× its size (16 MiB here), whatever the archive claims.
 */
const INFLATE_CHUNK = 1 << 14;

/** First compressed bytes handed to the inflater for a prefix read (a header): doubled per push. */
const PREFIX_FIRST_CHUNK = 64;

/** Bytes read at a time when checking a stored entry's CRC-32 (small enough to stay in cache). */
const VERIFY_CHUNK = 256 << 10;

export const METHOD_STORED = 0;
export const METHOD_DEFLATE = 8;

/** Thrown from inside the inflate callback to stop once enough output was produced. */
class StopInflate extends Error {}

/** Output piece of synchronous inflations (they never overlap): reused, not garbage. */
let inflatePiece: Uint8Array | undefined;

export class ZipArchive {
  readonly path: string;
  readonly entries: ZipEntry[];
  private readonly source: ByteSource;
  private readonly byName: Map<string, ZipEntry>;
  private readonly dataOffsets = new Map<ZipEntry, number>();
  /** Entries whose CRC-32 has been checked. */
  private readonly verified = new Set<ZipEntry>();
  /** The one buffer every CRC-32 check reads through (not one per entry left to the collector). */
  private verifyBuffer?: Uint8Array;
  /** Stored entries being read front to back with their check deferred: bytes covered, CRC so far. */
  private readonly frontToBack = new Map<ZipEntry, { at: number; crc: number }>();
  /** Deflated entries kept whole after their first read (PyTorch storages with several views). */
  private readonly inflatedCache = new Map<ZipEntry, Uint8Array>();
  /** Bytes inflated so far in this run, over all entries; bounded by `inflateBudget`. */
  private inflatedTotal = 0;
  /** Whether the archive is a file on disk, which zlib's file inflation (inflate-file.ts) can read. */
  private readonly onDisk: boolean;
  /** Deflated entries inflated (or being inflated) into temporary files. */
  private readonly inflatedFiles = new Map<ZipEntry, InflatedFile>();

  private constructor(path: string, source: ByteSource, entries: ZipEntry[], onDisk: boolean) {
    this.path = path;
    this.source = source;
    this.entries = entries;
    this.byName = new Map(entries.map((e) => [e.name, e]));
    this.onDisk = onDisk;
  }

  static open(path: string, volume?: Volume): ZipArchive {
    const source = openSource(path, volume);
    try {
      const entries = readCentralDirectory(source);
      return new ZipArchive(path, source, entries, !volume || volume.kind === 'files');
    } catch (e) {
      source.close();
      if (e instanceof GraftError) throw e;
      throw new GraftError('CORRUPT', `zip archive cannot be read (${printable((e as Error)?.message ?? String(e))})`, { file: path });
    }
  }

  /** Size of the underlying file in bytes. */
  get fileSize(): number {
    return this.source.size;
  }

  entry(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** Bytes this archive may inflate to in one run (see budget.ts). */
  get inflateBudget(): number {
    return inflateBudget(this.source.size);
  }

  /**
   * A whole member that must stay small (a pickle, a JSON document): refused by its declared
   * size before anything is inflated, and inflation stops at that size anyway.
   */
  readLimited(entry: ZipEntry, limit: number, what: string): Uint8Array {
    if (entry.uncompressedSize > limit) {
      throw budgetError(this.path, `${what} '${printable(entry.name)}' is ${mib(entry.uncompressedSize)} uncompressed`, `${mib(limit)} for it`);
    }
    return this.read(entry);
  }

  /** A JSON member, size- and depth-checked before parsing (see parseJsonBudgeted). */
  readJson(entry: ZipEntry, limit: number): unknown {
    const bytes = this.readLimited(entry, limit, 'JSON member');
    return parseJsonBudgeted(new TextDecoder().decode(bytes), this.path, `'${printable(entry.name)}'`);
  }

  /** Absolute offset of the entry's (compressed) data, after checking its local header. */
  dataOffset(entry: ZipEntry): number {
    const cached = this.dataOffsets.get(entry);
    if (cached !== undefined) return cached;
    const fail = (why: string): never => {
      throw new GraftError('CORRUPT', `zip entry '${printable(entry.name)}': ${why}`, { file: this.path });
    };
    if (entry.localHeaderOffset + LOCAL_HEADER_SIZE > this.source.size) fail('local header lies outside the file');
    const head = this.source.read(entry.localHeaderOffset, LOCAL_HEADER_SIZE);
    const view = dv(head);
    if (view.getUint32(0, true) !== SIG_LOCAL) fail('bad local header signature');
    const method = view.getUint16(8, true);
    if (method !== entry.method) fail(`local header says method ${method}, central directory says ${entry.method}`);
    const nameLength = view.getUint16(26, true);
    const extraLength = view.getUint16(28, true);
    const offset = entry.localHeaderOffset + LOCAL_HEADER_SIZE + nameLength + extraLength;
    if (offset + entry.compressedSize > this.source.size) {
      fail(`data (${entry.compressedSize} bytes at ${offset}) runs past the end of the file (size ${this.source.size}); the archive is truncated`);
    }
    const localName = decodeName(this.source.read(entry.localHeaderOffset + LOCAL_HEADER_SIZE, nameLength));
    if (localName !== entry.name) fail(`local header names '${printable(localName)}'`);
    this.dataOffsets.set(entry, offset);
    return offset;
  }

  /**
   * The entry's uncompressed bytes. With `maxBytes`, stops after that many bytes (a prefix,
   * e.g. a header); the CRC is then not checked since only part of the data was seen.
   */
  read(entry: ZipEntry, maxBytes?: number): Uint8Array {
    const want = maxBytes === undefined ? entry.uncompressedSize : Math.max(0, Math.min(maxBytes, entry.uncompressedSize));
    const whole = want === entry.uncompressedSize;
    const start = this.dataOffset(entry);
    let out: Uint8Array;
    if (entry.method === METHOD_STORED) {
      out = this.source.read(start, want);
    } else if (entry.method === METHOD_DEFLATE) {
      out = this.inflate(entry, start, want, whole);
    } else {
      throw new GraftError('UNSUPPORTED', `zip entry '${printable(entry.name)}' uses compression method ${entry.method}; only stored and deflate are supported`, { file: this.path });
    }
    if (whole) {
      if (crc32(out) !== entry.crc32) {
        throw new GraftError('CORRUPT', `zip entry '${printable(entry.name)}' fails its CRC-32 check`, { file: this.path });
      }
      this.verified.add(entry);
    }
    return out;
  }

  /**
   * `length` bytes at `offset` within the entry's uncompressed data. Stored entries are read
   * straight from the file; their CRC-32 is checked once per entry (over the whole entry, in
   * chunks) before the first partial read, so a bit flip in tensor data is an error, not a
   * silently different weight.
   */
  readRange(entry: ZipEntry, offset: number, length: number, options: { keep?: boolean } = {}): Uint8Array {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > entry.uncompressedSize) {
      throw new GraftError('CORRUPT', `range ${offset}+${length} lies outside zip entry '${printable(entry.name)}' (${entry.uncompressedSize} bytes)`, { file: this.path });
    }
    if (entry.method === METHOD_STORED) {
      if (offset === 0 && length === entry.uncompressedSize) return this.read(entry);
      this.verifyStored(entry);
      return this.source.read(this.dataOffset(entry) + offset, length);
    }
    // Deflated: inflate once. With `keep`, the whole entry stays for later ranges (views of one
    // storage), so it is never inflated again from the start; without, only the prefix needed.
    let whole = this.inflatedCache.get(entry);
    if (!whole && options.keep) {
      whole = this.read(entry);
      this.inflatedCache.set(entry, whole);
    }
    const bytes = whole ?? this.read(entry, offset + length);
    return bytes.subarray(offset, offset + length);
  }

  /**
   * Fills `target` with the bytes at `offset` within a stored entry, straight from the file (the
   * entry's CRC-32 checked once first, as for readRange): a large member streams through one
   * reused buffer.
   */
  readStoredInto(entry: ZipEntry, offset: number, target: Uint8Array, options: { deferCheck?: boolean } = {}): void {
    if (entry.method !== METHOD_STORED) throw new Error(`internal: readStoredInto on deflated zip entry '${entry.name}'`);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + target.length > entry.uncompressedSize) {
      throw new GraftError('CORRUPT', `range ${offset}+${target.length} lies outside zip entry '${printable(entry.name)}' (${entry.uncompressedSize} bytes)`, { file: this.path });
    }
    if (options.deferCheck && !this.verified.has(entry)) {
      const run = this.frontToBack.get(entry) ?? { at: 0, crc: 0 };
      if (offset >= run.at && offset - run.at <= VERIFY_CHUNK) {
        this.checkUpTo(entry, run, offset);
        this.source.readInto(this.dataOffset(entry) + offset, target);
        run.crc = crc32(target, run.crc);
        run.at = offset + target.length;
        this.frontToBack.set(entry, run);
        return;
      }
      // Not front to back: check the whole entry first, as without deferCheck.
      this.frontToBack.delete(entry);
    }
    this.verifyStored(entry);
    this.source.readInto(this.dataOffset(entry) + offset, target);
  }

  /** Whether a front-to-back read with its check deferred is under way in this entry. */
  checkingFrontToBack(entry: ZipEntry): boolean {
    return this.frontToBack.has(entry);
  }

  /**
   * Ends a front-to-back read of a stored entry made with `deferCheck` (the CRC-32 computed on the
   * bytes as they were read, saving a separate pass): checks the rest of the entry and the CRC.
   * The caller must call this once it has read the data it uses, before trusting that data.
   */
  finishStoredCheck(entry: ZipEntry): void {
    if (this.verified.has(entry)) return;
    const run = this.frontToBack.get(entry);
    if (!run) {
      this.verifyStored(entry);
      return;
    }
    this.frontToBack.delete(entry);
    this.checkUpTo(entry, run, entry.uncompressedSize);
    if (run.crc !== entry.crc32) {
      throw new GraftError('CORRUPT', `zip entry '${printable(entry.name)}' fails its CRC-32 check`, { file: this.path });
    }
    this.verified.add(entry);
  }

  /** Advances a front-to-back CRC over the entry's bytes up to `end`, through the verify buffer. */
  private checkUpTo(entry: ZipEntry, run: { at: number; crc: number }, end: number): void {
    const start = this.dataOffset(entry);
    const buffer = (this.verifyBuffer ??= new Uint8Array(VERIFY_CHUNK));
    while (run.at < end) {
      const chunk = buffer.subarray(0, Math.min(VERIFY_CHUNK, end - run.at));
      this.source.readInto(start + run.at, chunk);
      run.crc = crc32(chunk, run.crc);
      run.at += chunk.length;
    }
  }

  /** Checks a stored entry's CRC-32 by streaming it through one reused buffer, once. */
  verifyStored(entry: ZipEntry): void {
    if (this.verified.has(entry)) return;
    const start = this.dataOffset(entry);
    let crc = 0;
    const buffer = (this.verifyBuffer ??= new Uint8Array(VERIFY_CHUNK));
    for (let done = 0; done < entry.uncompressedSize; done += VERIFY_CHUNK) {
      const chunk = buffer.subarray(0, Math.min(VERIFY_CHUNK, entry.uncompressedSize - done));
      this.source.readInto(start + done, chunk);
      crc = crc32(chunk, crc);
    }
    if (crc !== entry.crc32) {
      throw new GraftError('CORRUPT', `zip entry '${printable(entry.name)}' fails its CRC-32 check`, { file: this.path });
    }
    this.verified.add(entry);
  }

  /**
   * Starts inflating deflated entries into temporary files (inflate-file.ts: bounded pieces,
   * declared size and CRC-32 checked): `entry`, then — when inflations run on the thread pool —
   * `ahead` (read next, most likely, so its inflation overlaps the reads of `entry`), each once
   * while kept; entries not among them are released. Every inflation counts against the archive's
   * inflate budget, refused beforehand for `entry`, not started for `ahead`. False when the archive
   * is not a file on disk (bytes in memory, a browser): the caller inflates in memory instead.
   */
  inflateToFiles(entry: ZipEntry, ahead: readonly ZipEntry[] = []): boolean {
    if (!this.onDisk || entry.method !== METHOD_DEFLATE) return false;
    const wanted = [entry, ...ahead.filter((e) => e !== entry && e.method === METHOD_DEFLATE)];
    for (const [e, file] of this.inflatedFiles) {
      if (!wanted.includes(e)) {
        file.close();
        this.inflatedFiles.delete(e);
      }
    }
    for (const e of wanted) {
      let file = this.inflatedFiles.get(e);
      if (!file) {
        const refused = this.budgetRefusal(e, e.uncompressedSize);
        if (refused) {
          if (e !== entry) continue;
          throw refused;
        }
        file = inflateToFile(this.path, this.dataOffset(e), e.compressedSize, e.uncompressedSize, e.crc32);
        if (!file) return false;
        this.inflatedTotal += e.uncompressedSize;
        this.inflatedFiles.set(e, file);
      }
      // An inflation that runs when awaited gains nothing from opening the next entries now.
      if (!file.inBackground) break;
    }
    return true;
  }

  /** Whether an entry's inflation into a file is still running on the pool (one read ahead, say). */
  get inflatingToFile(): boolean {
    for (const file of this.inflatedFiles.values()) if (file.inBackground && !file.done) return true;
    return false;
  }

  /**
   * Waits until an entry started by inflateToFiles is inflated and checked; a failed inflation is
   * the entry's one-line CORRUPT error. No byte of the entry is readable before this returns.
   */
  async inflatedFileReady(entry: ZipEntry): Promise<void> {
    const file = this.inflatedFiles.get(entry);
    if (!file) throw new Error(`internal: zip entry '${entry.name}' is not being inflated`);
    if (!file.done) await file.ready;
    if (file.failure) {
      file.close();
      this.inflatedFiles.delete(entry);
      throw new GraftError(file.failedOnDisk ? 'OUTPUT' : 'CORRUPT', `zip entry '${printable(entry.name)}' ${file.failure}`, { file: this.path });
    }
    this.verified.add(entry);
  }

  /** Fills `target` with the bytes at `offset` within an entry inflated to a file (after inflatedFileReady). */
  readInflatedInto(entry: ZipEntry, offset: number, target: Uint8Array): void {
    const file = this.inflatedFiles.get(entry);
    if (!file || !file.done || file.failure) throw new Error(`internal: zip entry '${entry.name}' read before its inflation was checked`);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + target.length > entry.uncompressedSize) {
      throw new GraftError('CORRUPT', `range ${offset}+${target.length} lies outside zip entry '${printable(entry.name)}' (${entry.uncompressedSize} bytes)`, { file: this.path });
    }
    file.readInto(offset, target);
  }

  close(): void {
    this.inflatedCache.clear();
    for (const file of this.inflatedFiles.values()) file.close();
    this.inflatedFiles.clear();
    this.source.close();
  }

  /**
   * Inflates up to `want` bytes. Output is collected as the inflater produces it, so memory
   * follows the data actually inflated, never the size the archive claims; producing more than
   * the declared size (a zip bomb) stops at once.
   */
  private inflate(entry: ZipEntry, start: number, want: number, whole: boolean): Uint8Array {
    // A whole read produces exactly the declared size, so a claim beyond what is left of the
    // budget is refused before inflating; a prefix read stops at `want`.
    const refused = this.budgetRefusal(entry, want);
    if (refused) throw refused;
    // Output goes straight into one buffer of the size asked for (bounded by the budget above):
    // never collected in parts and copied again.
    const out = new Uint8Array(want);
    this.inflateInto(entry, start, want, whole, (chunk, at) => out.set(chunk, at));
    return out;
  }

  /**
   * Copies an entry's uncompressed bytes to `write` in chunks, never holding the entry whole
   * (a `.keras` weights member extracted to disk); the CRC-32 and the inflate budget are checked
   * as for read().
   */
  copyTo(entry: ZipEntry, write: (chunk: Uint8Array) => void): void {
    const start = this.dataOffset(entry);
    let crc = 0;
    if (entry.method === METHOD_STORED) {
      for (let done = 0; done < entry.uncompressedSize; done += VERIFY_CHUNK) {
        const chunk = this.source.read(start + done, Math.min(VERIFY_CHUNK, entry.uncompressedSize - done));
        crc = crc32(chunk, crc);
        write(chunk);
      }
    } else if (entry.method === METHOD_DEFLATE) {
      const refused = this.budgetRefusal(entry, entry.uncompressedSize);
      if (refused) throw refused;
      this.inflateInto(entry, start, entry.uncompressedSize, true, (chunk) => {
        crc = crc32(chunk, crc);
        write(chunk);
      });
    } else {
      throw new GraftError('UNSUPPORTED', `zip entry '${printable(entry.name)}' uses compression method ${entry.method}; only stored and deflate are supported`, { file: this.path });
    }
    if (crc !== entry.crc32) throw new GraftError('CORRUPT', `zip entry '${printable(entry.name)}' fails its CRC-32 check`, { file: this.path });
    this.verified.add(entry);
  }

  /** The error refusing to inflate `bytes` more of `entry`, when that would pass the archive's inflate budget. */
  private budgetRefusal(entry: ZipEntry, bytes: number): GraftError | undefined {
    const budget = this.inflateBudget;
    if (this.inflatedTotal + bytes <= budget) return undefined;
    return budgetError(this.path, `zip archive would inflate to more than ${mib(budget)} (entry '${printable(entry.name)}' of ${mib(entry.uncompressedSize)} after ${mib(this.inflatedTotal)} already)`, `${mib(budget)} inflated per archive (32× its size, at least 64 MiB)`);
  }

  /** Inflates up to `want` bytes, handing each piece of output to `sink` with its offset. */
  private inflateInto(entry: ZipEntry, start: number, want: number, whole: boolean, sink: (chunk: Uint8Array, at: number) => void): void {
    const corrupt = (why: string) => new GraftError('CORRUPT', `zip entry '${printable(entry.name)}': ${why}`, { file: this.path });
    let produced = 0;
    let ended = false;
    const take = (chunk: Uint8Array, final: boolean): void => {
      if (produced + chunk.length > want) {
        if (whole) throw corrupt(`inflates to more than its declared ${entry.uncompressedSize} bytes`);
        sink(chunk.subarray(0, want - produced), produced);
        produced = want;
        throw new StopInflate();
      }
      sink(chunk, produced);
      produced += chunk.length;
      if (final) ended = true;
      if (!whole && produced === want) throw new StopInflate();
    };
    // Node's zlib driven synchronously into one reused buffer where it can be (no garbage per
    // piece: the headers of an archive's every member are read this way); else fflate, which
    // allocates its output as it goes. Loaded on first use: stored archives never need either.
    const sync = syncInflater();
    let push: (chunk: Uint8Array, last: boolean) => void;
    if (sync) {
      inflatePiece ??= new Uint8Array(INFLATE_CHUNK);
      const piece = inflatePiece;
      push = (chunk, last) => {
        if (sync.feed(chunk, last, piece, (n) => take(piece.subarray(0, n), false))) ended = true;
      };
    } else {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { Inflate } = require('fflate') as { Inflate: typeof InflateType };
      const inflater = new Inflate((chunk, final) => take(chunk, final));
      push = (chunk, last) => inflater.push(chunk, last);
    }
    const before = produced;
    try {
      if (want > 0 || whole) {
        let pos = 0;
        // Prefix reads (a member's header) start with a few compressed bytes and double: a
        // header is found without inflating a whole chunk of highly compressed data.
        let step = whole ? INFLATE_CHUNK : PREFIX_FIRST_CHUNK;
        do {
          const n = Math.min(step, entry.compressedSize - pos);
          const chunk = this.source.read(start + pos, n);
          pos += n;
          push(chunk, pos >= entry.compressedSize);
          step = Math.min(INFLATE_CHUNK, step * 2);
        } while (pos < entry.compressedSize && !ended);
      }
    } catch (e) {
      if (!(e instanceof StopInflate)) {
        if (e instanceof GraftError) throw e;
        throw corrupt(`deflate stream is damaged (${printable((e as Error)?.message ?? String(e))})`);
      }
    } finally {
      sync?.close();
      this.inflatedTotal += produced - before;
    }
    if (produced < want) {
      throw corrupt(`inflates to ${produced} bytes, fewer than the ${want} expected`);
    }
  }
}

function dv(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readU64(view: DataView, at: number): number {
  const lo = view.getUint32(at, true);
  const hi = view.getUint32(at + 4, true);
  const value = hi * 2 ** 32 + lo;
  if (!Number.isSafeInteger(value)) throw new RangeError(`64-bit value at ${at} exceeds 2^53`);
  return value;
}

function decodeName(bytes: Uint8Array): string {
  // Names are UTF-8 in every writer graft cares about (Python, PyTorch, Keras set or imply it).
  return new TextDecoder('utf-8').decode(bytes);
}

/** Names that could escape a destination folder are left out of the listing, never resolved. */
export function isUnsafeEntryName(name: string): boolean {
  if (name.length === 0) return true;
  if (name.includes('\\') || name.includes('\0')) return true;
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return true;
  return name.split('/').some((seg) => seg === '..');
}

function readCentralDirectory(src: ByteSource): ZipEntry[] {
  const file = src.path;
  const corrupt = (why: string) => new GraftError('CORRUPT', `zip archive ${why}`, { file });
  if (src.size < EOCD_SIZE) {
    throw new GraftError('UNKNOWN_FORMAT', `is too short (${src.size} bytes) to be a zip archive`, { file });
  }
  // The end-of-central-directory record sits in the last 22 + (up to 65535 comment) bytes.
  const tailLength = Math.min(src.size, EOCD_SIZE + MAX_COMMENT);
  const tailStart = src.size - tailLength;
  const tail = src.read(tailStart, tailLength);
  const tailView = dv(tail);
  let eocd = -1;
  for (let i = tailLength - EOCD_SIZE; i >= 0; i--) {
    if (tailView.getUint32(i, true) === SIG_EOCD && i + EOCD_SIZE + tailView.getUint16(i + 20, true) <= tailLength) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new GraftError('UNKNOWN_FORMAT', 'has no zip end-of-central-directory record (not a zip archive, or truncated)', { file });
  }
  const eocdAbs = tailStart + eocd;
  let diskNumber = tailView.getUint16(eocd + 4, true);
  let cdDisk = tailView.getUint16(eocd + 6, true);
  let count = tailView.getUint16(eocd + 10, true);
  let cdSize = tailView.getUint32(eocd + 12, true);
  let cdOffset = tailView.getUint32(eocd + 16, true);

  // A zip64 locator directly precedes the EOCD when any field overflowed (or the writer forced it).
  if (eocdAbs >= EOCD64_LOCATOR_SIZE) {
    const locator = src.read(eocdAbs - EOCD64_LOCATOR_SIZE, EOCD64_LOCATOR_SIZE);
    const lv = dv(locator);
    if (lv.getUint32(0, true) === SIG_EOCD64_LOCATOR) {
      const eocd64Offset = readU64(lv, 8);
      if (eocd64Offset + EOCD64_MIN_SIZE > eocdAbs - EOCD64_LOCATOR_SIZE) throw corrupt(`zip64 end record offset ${eocd64Offset} is out of range`);
      const rec = dv(src.read(eocd64Offset, EOCD64_MIN_SIZE));
      if (rec.getUint32(0, true) !== SIG_EOCD64) throw corrupt('zip64 end record has a bad signature');
      diskNumber = rec.getUint32(16, true);
      cdDisk = rec.getUint32(20, true);
      count = readU64(rec, 32);
      cdSize = readU64(rec, 40);
      cdOffset = readU64(rec, 48);
    }
  }
  if (diskNumber !== 0 || cdDisk !== 0) {
    throw new GraftError('UNSUPPORTED', 'is a multi-part (spanned) zip archive', { file });
  }
  if (cdOffset + cdSize > eocdAbs) {
    throw corrupt(`central directory (${cdSize} bytes at ${cdOffset}) lies outside the file (size ${src.size}); the archive is truncated`);
  }
  if (count * CENTRAL_HEADER_SIZE > cdSize) {
    throw corrupt(`claims ${count} entries but its central directory holds only ${cdSize} bytes`);
  }
  const cd = src.read(cdOffset, cdSize);
  const view = dv(cd);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_HEADER_SIZE > cdSize) throw corrupt(`central directory entry ${i} runs past its end`);
    if (view.getUint32(p, true) !== SIG_CENTRAL) throw corrupt(`central directory entry ${i} has a bad signature`);
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let compressedSize = view.getUint32(p + 20, true);
    let uncompressedSize = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    let startDisk = view.getUint16(p + 34, true);
    let localHeaderOffset = view.getUint32(p + 42, true);
    const end = p + CENTRAL_HEADER_SIZE + nameLength + extraLength + commentLength;
    if (end > cdSize) throw corrupt(`central directory entry ${i} runs past its end`);
    const name = decodeName(cd.subarray(p + CENTRAL_HEADER_SIZE, p + CENTRAL_HEADER_SIZE + nameLength));
    // Zip64 extra: 8-byte values present only for the fields that hold 0xFFFFFFFF, in this order.
    let x = p + CENTRAL_HEADER_SIZE + nameLength;
    const extraEnd = x + extraLength;
    while (x + 4 <= extraEnd) {
      const id = view.getUint16(x, true);
      const size = view.getUint16(x + 2, true);
      const body = x + 4;
      if (body + size > extraEnd) throw corrupt(`entry '${printable(name)}' has a malformed extra field`);
      if (id === ZIP64_EXTRA_ID) {
        let q = body;
        const take8 = (): number => {
          if (q + 8 > body + size) throw corrupt(`entry '${printable(name)}' has a short zip64 extra field`);
          const v = readU64(view, q);
          q += 8;
          return v;
        };
        if (uncompressedSize === U32_MAX) uncompressedSize = take8();
        if (compressedSize === U32_MAX) compressedSize = take8();
        if (localHeaderOffset === U32_MAX) localHeaderOffset = take8();
        if (startDisk === U16_MAX) {
          if (q + 4 > body + size) throw corrupt(`entry '${printable(name)}' has a short zip64 extra field`);
          startDisk = view.getUint32(q, true);
        }
      }
      x = body + size;
    }
    p = end;
    if (name.endsWith('/') && uncompressedSize === 0) continue; // directory entry
    if (isUnsafeEntryName(name)) continue;
    if (flags & FLAG_ENCRYPTED) {
      throw new GraftError('UNSUPPORTED', `zip entry '${printable(name)}' is encrypted`, { file });
    }
    if (startDisk !== 0) throw new GraftError('UNSUPPORTED', 'is a multi-part (spanned) zip archive', { file });
    if (localHeaderOffset + LOCAL_HEADER_SIZE > cdOffset || localHeaderOffset + LOCAL_HEADER_SIZE + compressedSize > cdOffset) {
      throw corrupt(`entry '${printable(name)}' (${compressedSize} bytes at ${localHeaderOffset}) lies outside the file's data area (size ${src.size}); the archive is truncated or damaged`);
    }
    if (method === METHOD_STORED && compressedSize !== uncompressedSize) {
      throw corrupt(`stored entry '${printable(name)}' has compressed size ${compressedSize} but uncompressed size ${uncompressedSize}`);
    }
    if (method === METHOD_DEFLATE && uncompressedSize > compressedSize * 1032 + 1024) {
      // Deflate cannot expand data by more than ~1032:1; a larger claim is a lie.
      throw corrupt(`entry '${printable(name)}' claims ${uncompressedSize} bytes from ${compressedSize} compressed bytes`);
    }
    entries.push({ name, method, compressedSize, uncompressedSize, crc32: crc, localHeaderOffset });
  }
  return entries;
}

export { crc32 };

/** True when the first bytes are a zip local file header (or an empty archive's end record). */
export function looksLikeZip(head: Uint8Array): boolean {
  if (head.length < 4) return false;
  const sig = dv(head).getUint32(0, true);
  return sig === SIG_LOCAL || sig === SIG_EOCD;
}
