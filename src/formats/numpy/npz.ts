import { GraftError } from '../../errors';
import { rawTensor } from '../../io/bytes';
import { NPY_PREFIX_V2, NpyHeader, infoOf, normalizeNpyData, npyHeaderEnd, parseNpyHeader } from './npy';
import { FormatHandler, OpenOptions, RawTensor, TensorInfo, WeightReader } from '../types';
import type { StridedRange } from '../types';
import { METHOD_STORED, ZipArchive, ZipEntry, looksLikeZip } from '../../io/zip';

/**
 * NumPy .npz: a zip (stored by np.savez, deflated by np.savez_compressed, zip64 extras always)
 * of .npy members. Listing reads only each member's header; data is read on demand: stored
 * little-endian C-order members straight from the file in the pieces the caller asks for, others
 * (deflated, big-endian, Fortran order) decoded whole once and kept until another member is read.
 */

interface Member {
  entry: ZipEntry;
  header: NpyHeader;
}

class NpzReader implements WeightReader {
  /** The last member decoded whole for strided reads, so its pieces do not each decode it again. */
  private decoded?: { name: string; data: Uint8Array };
  readonly format = 'npz';
  readonly path: string;
  readonly metadata: Record<string, unknown>;
  private readonly zip: ZipArchive;
  private readonly members: Map<string, Member>;

  constructor(path: string, zip: ZipArchive, members: Map<string, Member>) {
    this.path = path;
    this.zip = zip;
    this.members = members;
    const compressed = [...members.values()].some((m) => m.entry.method !== METHOD_STORED);
    this.metadata = { arrays: members.size, compressed };
  }

  list(): TensorInfo[] {
    return [...this.members.entries()].map(([name, m]) => infoOf(name, m.header));
  }

  async read(name: string): Promise<RawTensor> {
    return this.readSync(name);
  }

  private readSync(name: string): RawTensor {
    const m = this.members.get(name);
    if (!m) throw new GraftError('NOT_FOUND', `has no array named '${name}'`, { file: this.path, tensor: name });
    let data: Uint8Array;
    try {
      data = this.zip.readRange(m.entry, m.header.dataOffset, m.header.byteSize);
    } catch (e) {
      if (e instanceof GraftError) throw new GraftError(e.code, stripFile(e.message, this.path), { file: this.path, tensor: name });
      throw e;
    }
    return rawTensor(infoOf(name, m.header), normalizeNpyData(m.header, data), this.path);
  }

  async readStrided(name: string, r: StridedRange, target: Uint8Array): Promise<void> {
    this.readStridedSync(name, r, target);
  }

  /** Copies `count` runs of `runBytes`, the i-th at `start + i·stride` within the array's data, into `target`. */
  readStridedSync(name: string, r: StridedRange, target: Uint8Array): void {
    const m = this.members.get(name);
    if (!m) throw new GraftError('NOT_FOUND', `has no array named '${name}'`, { file: this.path, tensor: name });
    const { start, runBytes, stride, count } = r;
    const last = start + (count - 1) * stride + runBytes;
    if (![start, runBytes, stride, count].every((v) => Number.isSafeInteger(v) && v >= 0) || count * runBytes > target.length || (count > 0 && last > m.header.byteSize)) {
      throw new GraftError('CORRUPT', `strided read ${JSON.stringify(r)} lies outside the array's ${m.header.byteSize} bytes`, { file: this.path, tensor: name });
    }
    if (m.entry.method === METHOD_STORED && !m.header.bigEndian && !m.header.fortranOrder) {
      try {
        // In a sweep (see StridedRange) the member's CRC-32 is computed on the way and checked when
        // the read reaching the data's end returns, not in a pass of its own first.
        const deferCheck = r.sweep === true && (start === 0 || this.zip.checkingFrontToBack(m.entry));
        for (let i = 0; i < count; i++) {
          this.zip.readStoredInto(m.entry, m.header.dataOffset + start + i * stride, target.subarray(i * runBytes, (i + 1) * runBytes), { deferCheck });
        }
        if (deferCheck && count > 0 && last === m.header.byteSize) this.zip.finishStoredCheck(m.entry);
      } catch (e) {
        if (e instanceof GraftError) throw new GraftError(e.code, stripFile(e.message, this.path), { file: this.path, tensor: name });
        throw e;
      }
      return;
    }
    if (this.decoded?.name !== name) {
      this.decoded = undefined;
      this.decoded = { name, data: this.readSync(name).data };
    }
    const data = this.decoded.data;
    for (let i = 0; i < count; i++) {
      target.set(data.subarray(start + i * stride, start + i * stride + runBytes), i * runBytes);
    }
  }

  async close(): Promise<void> {
    this.decoded = undefined;
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
        members.set(name, { entry, header: readMemberHeader(zip, entry, name) });
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
