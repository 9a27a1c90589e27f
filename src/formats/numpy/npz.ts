import { GraftError } from '../../errors';
import { rawTensor } from '../../io/bytes';
import { NPY_PREFIX_V2, NpyHeader, infoOf, normalizeNpyData, npyHeaderEnd, parseNpyHeader } from './npy';
import { checkStridedRead, copyRuns, FormatHandler, OpenOptions, RawTensor, TensorInfo, WeightReader } from '../types';
import type { StridedRange } from '../types';
import { METHOD_DEFLATE, METHOD_STORED, ZipArchive, ZipEntry, looksLikeZip } from '../../io/zip';

/**
 * NumPy .npz: a zip (stored by np.savez, deflated by np.savez_compressed, zip64 extras always)
 * of .npy members. Listing reads only each member's header; data is read on demand, in the pieces
 * the caller asks for: stored little-endian C-order members straight from the file; deflated ones,
 * when the archive is a file on disk, from a temporary file each is inflated into (see below).
 * Others (big-endian, Fortran order, deflated members of an archive in memory or in a browser) are
 * decoded whole once and kept until another member is read.
 *
 * Why a deflated member goes through a temporary file rather than being inflated straight into
 * the caller's pieces: deflate has no random access, and the streaming engine revisits a tensor — a
 * transpose reads it once per band of columns, (tensor bytes / 4 MiB) bands, so re-inflating per
 * band grows with the square of the tensor's size (4 passes of ~90 ms for one 16 MiB member of the
 * benchmark, 256 passes for a 1 GiB one) — and its CRC-32 is known only at the stream's end, while
 * a plain front-to-back read hands each piece on before it gets there. Inflated once, in bounded
 * pieces, into a file checked before its first byte is read, a member costs one inflation; memory
 * does not follow the member's size (the file lives in the page cache, not in graft). Node's zlib
 * handle inflates it synchronously into reused buffers when it is first read (io/inflate-file.ts),
 * so the peak stays within a few MiB of a stored archive's; where that handle is not usable, a
 * zlib stream inflates on the thread pool, the next member while this one converts, its output
 * pieces left to V8's garbage collector (~35–65 MiB above a stored archive's peak). Either way the
 * reads of such an archive are asynchronous: its reader has no readStridedSync.
 */

interface Member {
  entry: ZipEntry;
  header: NpyHeader;
  /** Position among the archive's .npy members. */
  index: number;
}

/** Whether a member's data lies in its bytes as the array holds it (little-endian, C order). */
function asIs(m: Member): boolean {
  return !m.header.bigEndian && !m.header.fortranOrder;
}

const DEFER_CHECK = { deferCheck: true };
const CHECK_FIRST = { deferCheck: false };

class NpzReader implements WeightReader {
  /** The last member decoded whole for strided reads, so its pieces do not each decode it again. */
  private decoded?: { name: string; data: Uint8Array };
  readonly format = 'npz';
  readonly path: string;
  readonly metadata: Record<string, unknown>;
  /** Synchronous strided reads: only for archives without deflated members (see above). */
  readonly readStridedSync?: (name: string, r: StridedRange, target: Uint8Array) => void;
  private readonly zip: ZipArchive;
  private readonly members: Map<string, Member>;
  private readonly order: Member[];
  /** The member whose temporary file was last found ready (many reads of one member come in a row). */
  private inflatedMember?: Member;

  constructor(path: string, zip: ZipArchive, members: Map<string, Member>) {
    this.path = path;
    this.zip = zip;
    this.members = members;
    this.order = [...members.values()];
    this.order.forEach((m, i) => (m.index = i));
    const compressed = this.order.some((m) => m.entry.method !== METHOD_STORED);
    this.metadata = { arrays: members.size, compressed };
    if (!compressed) this.readStridedSync = (name, r, target) => this.readStoredStrided(this.member(name), name, r, target);
  }

  list(): TensorInfo[] {
    return [...this.members.entries()].map(([name, m]) => infoOf(name, m.header));
  }

  private member(name: string): Member {
    const m = this.members.get(name);
    if (!m) throw new GraftError('NOT_FOUND', `has no array named '${name}'`, { file: this.path, tensor: name });
    return m;
  }

  async read(name: string): Promise<RawTensor> {
    const m = this.member(name);
    if (await this.inflatedToFile(m)) {
      const data = new Uint8Array(m.header.byteSize);
      this.rethrowing(name, () => this.zip.readInflatedInto(m.entry, m.header.dataOffset, data));
      return rawTensor(infoOf(name, m.header), data, this.path);
    }
    return this.readWhole(m, name);
  }

  private readWhole(m: Member, name: string): RawTensor {
    const data = this.rethrowing(name, () => this.zip.readRange(m.entry, m.header.dataOffset, m.header.byteSize));
    return rawTensor(infoOf(name, m.header), normalizeNpyData(m.header, data), this.path);
  }

  async readStrided(name: string, r: StridedRange, target: Uint8Array): Promise<void> {
    const m = this.member(name);
    if (await this.inflatedToFile(m)) {
      checkStridedRead(r, m.header.byteSize, target, this.path, name, 'array');
      const { start, runBytes, stride, count } = r;
      try {
        for (let i = 0; i < count; i++) {
          this.zip.readInflatedInto(m.entry, m.header.dataOffset + start + i * stride, target.subarray(i * runBytes, (i + 1) * runBytes));
        }
      } catch (e) {
        throw this.named(e, name);
      }
      // zlib's callbacks (feeding the next member's inflation) run only when the event loop does.
      if (this.zip.inflatingToFile) await new Promise((resolve) => setImmediate(resolve));
      return;
    }
    this.readStoredStrided(m, name, r, target);
  }

  /** Where a stored member's array data starts in the archive (undefined for deflated members). */
  dataOffset(name: string): number | undefined {
    const m = this.member(name);
    if (m.entry.method !== METHOD_STORED || !asIs(m)) return undefined;
    return this.zip.dataOffset(m.entry) + m.header.dataOffset;
  }

  /** Copies `count` runs of `runBytes`, the i-th at `start + i·stride` within the array's data, into `target`. */
  private readStoredStrided(m: Member, name: string, r: StridedRange, target: Uint8Array): void {
    checkStridedRead(r, m.header.byteSize, target, this.path, name, 'array');
    const { start, runBytes, stride, count } = r;
    const last = start + (count - 1) * stride + runBytes;
    if (m.entry.method === METHOD_STORED && asIs(m)) {
      try {
        // In a sweep (see StridedRange) the member's CRC-32 is computed on the way and checked when
        // the read reaching the data's end returns, not in a pass of its own first.
        const deferCheck = r.sweep === true && (start === 0 || this.zip.checkingFrontToBack(m.entry));
        const options = deferCheck ? DEFER_CHECK : CHECK_FIRST;
        // A read of one run filling the target (a block of rows) makes no view of it: no garbage per read.
        if (count === 1 && runBytes === target.length) this.zip.readStoredInto(m.entry, m.header.dataOffset + start, target, options);
        else {
          for (let i = 0; i < count; i++) {
            this.zip.readStoredInto(m.entry, m.header.dataOffset + start + i * stride, target.subarray(i * runBytes, (i + 1) * runBytes), options);
          }
        }
        if (deferCheck && count > 0 && last === m.header.byteSize) this.zip.finishStoredCheck(m.entry);
      } catch (e) {
        throw this.named(e, name);
      }
      return;
    }
    if (this.decoded?.name !== name) {
      this.decoded = undefined;
      this.decoded = { name, data: this.readWhole(m, name).data };
    }
    copyRuns(this.decoded.data, r, target);
  }

  /**
   * Whether this member is read from a temporary file it has been inflated into (a deflated,
   * little-endian C-order member of an archive on disk), waiting for the inflation and its checks;
   * the next such member starts inflating meanwhile.
   */
  private async inflatedToFile(m: Member): Promise<boolean> {
    if (m === this.inflatedMember) return true;
    if (m.entry.method !== METHOD_DEFLATE || !asIs(m)) return false;
    const name = m.entry.name.slice(0, -4);
    const next = this.order.slice(m.index + 1).find((x) => x.entry.method === METHOD_DEFLATE && asIs(x));
    this.inflatedMember = undefined;
    if (!this.rethrowing(name, () => this.zip.inflateToFiles(m.entry, next ? [next.entry] : []))) return false;
    try {
      await this.zip.inflatedFileReady(m.entry);
    } catch (e) {
      throw this.named(e, name);
    }
    this.inflatedMember = m;
    return true;
  }

  /** Runs `f`, giving a GraftError it throws this file's and the tensor's names. */
  private rethrowing<T>(name: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw this.named(e, name);
    }
  }

  /** A GraftError from the zip layer, naming this file and the tensor; anything else as it is. */
  private named(e: unknown, name: string): unknown {
    return e instanceof GraftError ? new GraftError(e.code, stripFile(e.message, this.path), { file: this.path, tensor: name }) : e;
  }

  async close(): Promise<void> {
    this.decoded = undefined;
    this.inflatedMember = undefined;
    this.zip.close();
  }
}

function stripFile(message: string, file: string): string {
  return message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message;
}

/** Reads just enough of a member to parse its npy header. */
function readMemberHeader(zip: ZipArchive, entry: ZipEntry, name: string): NpyHeader {
  const ctx = { file: zip.path, tensor: name };
  const prefix = zip.read(entry, NPY_PREFIX_V2);
  const end = npyHeaderEnd(prefix, ctx);
  if (end > entry.uncompressedSize) {
    throw new GraftError('CORRUPT', `npy member '${entry.name}' is truncated: header needs ${end} bytes, member holds ${entry.uncompressedSize}`, ctx);
  }
  const header = parseNpyHeader(zip.read(entry, end), ctx);
  if (header.dataOffset + header.byteSize > entry.uncompressedSize) {
    throw new GraftError('CORRUPT', `npy member '${entry.name}' is truncated: shape [${header.shape.join(', ')}] of ${header.dtype} needs ${header.byteSize} bytes of data, member holds ${entry.uncompressedSize - header.dataOffset}`, ctx);
  }
  return header;
}

export const NpzHandler: FormatHandler = {
  format: 'npz',
  extensions: ['.npz'],
  sniff(head: Uint8Array, filePath: string): boolean {
    if (!looksLikeZip(head)) return false;
    // The first local header's name: numpy writes '<key>.npy'. PyTorch ('<prefix>/data.pkl')
    // and Keras ('metadata.json', 'config.json') zips never start with a .npy member.
    if (head.length >= 30) {
      const nameLength = head[26] | (head[27] << 8);
      if (30 + nameLength <= head.length) {
        const first = new TextDecoder().decode(head.subarray(30, 30 + nameLength));
        return first.endsWith('.npy');
      }
    }
    return /\.npz$/i.test(filePath);
  },
  async open(filePath: string, options?: OpenOptions): Promise<WeightReader> {
    const zip = ZipArchive.open(filePath, options?.volume);
    try {
      const members = new Map<string, Member>();
      for (const entry of zip.entries) {
        if (!entry.name.endsWith('.npy')) continue;
        const name = entry.name.slice(0, -4);
        members.set(name, { entry, header: readMemberHeader(zip, entry, name), index: 0 });
      }
      if (members.size === 0 && zip.entries.length > 0) {
        throw new GraftError('UNKNOWN_FORMAT', `is a zip archive without .npy members (entries: ${zip.entries.slice(0, 5).map((e) => e.name).join(', ')}), not an .npz`, { file: filePath });
      }
      return new NpzReader(filePath, zip, members);
    } catch (e) {
      zip.close();
      throw e;
    }
  },
};
