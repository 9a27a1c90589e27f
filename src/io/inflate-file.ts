import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { crc32 } from './crc32';

/**
 * A deflated zip entry inflated into a private temporary file, by Node's native zlib, in bounded
 * pieces: compressed bytes through one reused input buffer, output in 256 KiB pieces straight to
 * the file. Where Node's zlib handle can be driven synchronously (checked once, see SyncZlib), that
 * happens when the entry is first awaited, into reused buffers: no garbage, so memory stays flat
 * however large the archive. Otherwise a zlib stream inflates it on libuv's thread pool, its output
 * pieces left to V8's garbage collector. The inflation fails, and the file is never read, when the
 * stream is damaged or truncated, produces more than the declared size (stopped at once: a bomb
 * writes no byte beyond it) or less, or its CRC-32 differs. The file is unlinked as soon as it is
 * created, so it disappears with its descriptor however graft ends (a crash, kill -9).
 *
 * The browser bundle swaps in inflate-file.browser.ts: no disk there, ZipArchive inflates in memory.
 */

const READ_CHUNK = 1 << 20;
const OUTPUT_CHUNK = 256 << 10;
/** Compressed bytes read at a time by a synchronous inflation (nothing to overlap: smaller). */
const SYNC_READ_CHUNK = 256 << 10;

export interface InflatedFile {
  /** Settles when the inflation has ended; never rejects (see `failure`). */
  readonly ready: Promise<void>;
  /** Whether the inflation has ended (either way). */
  readonly done: boolean;
  /** Why the inflation failed (one line, to follow the entry's name), once `ready` has settled. */
  readonly failure?: string;
  /** Whether it failed writing or reading the temporary file (a full disk), not on the archive's bytes. */
  readonly failedOnDisk?: boolean;
  /** Whether it inflates on the thread pool, started at once (else when `ready` is first awaited). */
  readonly inBackground: boolean;
  /** Reads from the inflated bytes: only after `ready` settled without failure. */
  readInto(offset: number, target: Uint8Array): void;
  /** Closes the file (after the inflation ends, if it still runs). */
  close(): void;
}

/** What both ways of inflating share: the temporary file, how a failure reads, the reads after. */
abstract class TempFileInflation implements InflatedFile {
  abstract readonly ready: Promise<void>;
  abstract readonly inBackground: boolean;
  done = false;
  failure?: string;
  failedOnDisk?: boolean;

  constructor(
    protected fd: number | null,
    protected readonly size: number,
  ) {}

  /** Records why the inflation failed, in one line to follow the entry's name. */
  protected fail(e: unknown): void {
    const reason = (e as { reason?: string })?.reason;
    // A system error (ENOSPC, EIO …) is the disk's, not the archive's; zlib's errors carry Z_ codes.
    this.failedOnDisk = !reason && typeof (e as NodeJS.ErrnoException)?.syscall === 'string';
    this.failure = reason ?? (this.failedOnDisk ? `cannot be inflated into a temporary file in ${os.tmpdir()} (${firstLine(e)})` : `has a damaged deflate stream (${firstLine(e)})`);
  }

  readInto(offset: number, target: Uint8Array): void {
    if (!this.done || this.failure || this.fd === null) throw new Error('internal: inflated file read before it was ready');
    if (offset < 0 || offset + target.length > this.size) throw new Error(`internal: read ${offset}+${target.length} outside ${this.size} inflated bytes`);
    for (let at = 0; at < target.length; ) {
      const n = fs.readSync(this.fd, target, at, target.length - at, offset + at);
      if (n <= 0) throw new Error('internal: inflated file ended early');
      at += n;
    }
  }

  abstract close(): void;

  protected closeFile(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }
}

/**
 * The inflated bytes on their way to the file: each piece checked against the declared size (a
 * bomb stops at the first piece beyond it, nothing of it written) and added to the CRC-32; at the
 * end, the size and the CRC-32 checked.
 */
class InflatedOutput {
  produced = 0;
  private crc = 0;

  constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly expectedCrc: number,
  ) {}

  /** Writes `bytes`' first `n` bytes (all of them by default) after those written so far. */
  put(bytes: Uint8Array, n = bytes.length): void {
    if (this.produced + n > this.size) throw failure(`inflates to more than its declared ${this.size} bytes`);
    this.crc = crc32(n === bytes.length ? bytes : bytes.subarray(0, n), this.crc);
    for (let at = 0; at < n; ) at += fs.writeSync(this.fd, bytes, at, n - at, this.produced + at);
    this.produced += n;
  }

  finish(): void {
    if (this.produced !== this.size) throw failure(`inflates to ${this.produced} bytes, fewer than the ${this.size} declared`);
    if (this.crc !== this.expectedCrc) throw failure('fails its CRC-32 check');
  }
}

class TempInflation extends TempFileInflation {
  readonly ready: Promise<void>;
  readonly inBackground = true;
  private closeWhenDone = false;
  /** Set by close() while inflating: the inflation stops at its next piece (nobody will read it). */
  private abandoned = false;
  private inflater?: import('zlib').InflateRaw;

  constructor(fd: number, file: string, offset: number, compressedSize: number, size: number, crc: number) {
    super(fd, size);
    this.ready = this.run(file, offset, compressedSize, crc).then(
      () => undefined,
      (e: unknown) => this.fail(e),
    ).finally(() => {
      this.done = true;
      if (this.failure || this.closeWhenDone) this.closeFile();
    });
  }

  private async run(file: string, offset: number, compressedSize: number, expectedCrc: number): Promise<void> {
    if (compressedSize === 0) throw failure('has an empty deflate stream');
    // Loaded on first use: the CLI's start-up never pays for it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createInflateRaw } = require('zlib') as typeof import('zlib');
    const output = new InflatedOutput(this.fd!, this.size, expectedCrc);
    let stopped: Error | undefined;
    const inflater = (this.inflater = createInflateRaw({ chunkSize: OUTPUT_CHUNK }));
    const ended = new Promise<void>((resolve, reject) => {
      inflater.on('end', resolve);
      inflater.on('error', reject);
      inflater.on('close', resolve); // destroyed by close(): checked below
    });
    ended.catch(() => undefined); // awaited below; not unhandled meanwhile
    inflater.on('data', (chunk: Buffer) => {
      if (stopped) return;
      try {
        output.put(chunk);
      } catch (e) {
        // A bomb (or a failed write): stop at once, nothing more is written.
        stopped = e as Error;
        inflater.destroy(stopped);
      }
    });
    // The compressed bytes go through one reused buffer, refilled once zlib has consumed it (the
    // write's callback): a buffer per read would be garbage as large as the archive.
    const input = Buffer.allocUnsafe(Math.min(READ_CHUNK, compressedSize));
    // Opened again (a descriptor of its own for the pool's reads) as every input is: without
    // blocking, and only if it still is a regular file.
    const source = await fs.promises.open(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
    try {
      if (!(await source.stat()).isFile()) throw failure('is no longer in a regular file');
      for (let pos = 0; pos < compressedSize && !stopped && !inflater.destroyed; ) {
        if (this.abandoned) throw failure('was not read to the end (its archive was closed)');
        const { bytesRead } = await source.read(input, 0, Math.min(input.length, compressedSize - pos), offset + pos);
        if (bytesRead <= 0) throw failure('is cut short by the end of the file');
        pos += bytesRead;
        await new Promise<void>((resolve, reject) => inflater.write(input.subarray(0, bytesRead), (e) => (e ? reject(e) : resolve())));
      }
      inflater.end();
      await ended;
      if (this.abandoned) throw failure('was not read to the end (its archive was closed)');
    } catch (e) {
      inflater.destroy();
      throw stopped ?? e;
    } finally {
      await source.close();
    }
    if (stopped) throw stopped;
    output.finish();
  }

  close(): void {
    if (this.done) this.closeFile();
    else {
      this.closeWhenDone = true;
      this.abandoned = true;
      this.inflater?.destroy();
    }
  }
}

/**
 * Node's native zlib handle (what `zlib.inflateRawSync` drives), used directly: each `writeSync`
 * inflates into a buffer the caller owns, and reports what is left of the input and the output in
 * `state`. zlib errors arrive through `onerror`, synchronously. It is not a documented API, so it
 * is checked once on a known stream (inflated through a tiny output buffer); if anything differs,
 * graft keeps to the documented stream (TempInflation).
 */
interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOffset: number, inLength: number, out: Uint8Array, outOffset: number, outLength: number): void;
  onerror: (message: string, errno: number, code: string) => void;
  close(): void;
}

class SyncZlib {
  private constructor(
    private readonly stream: import('zlib').InflateRaw,
    private readonly handle: ZlibHandle,
    private readonly state: Uint32Array,
    private readonly finishFlag: number,
    private readonly noFlush: number,
  ) {}

  private static usable: boolean | undefined;

  /** Whether this Node's handle behaves as expected (checked once). GRAFT_NO_SYNC_ZLIB=1 says no, so tests cover the other way. */
  static available(): boolean {
    if (SyncZlib.usable === undefined) SyncZlib.usable = process.env.GRAFT_NO_SYNC_ZLIB !== '1' && SyncZlib.selfTest();
    return SyncZlib.usable;
  }

  /** A raw inflater, or undefined where this Node's handle does not behave as expected. */
  static create(): SyncZlib | undefined {
    return SyncZlib.available() ? SyncZlib.open() : undefined;
  }

  private static open(): SyncZlib | undefined {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const zlib = require('zlib') as typeof import('zlib');
    const stream = zlib.createInflateRaw();
    const inner = stream as unknown as { _handle?: Partial<ZlibHandle>; _writeState?: unknown };
    const handle = inner._handle;
    const state = inner._writeState;
    if (!handle || typeof handle.writeSync !== 'function' || typeof handle.close !== 'function' || !(state instanceof Uint32Array) || state.length < 2) {
      stream.close();
      return undefined;
    }
    return new SyncZlib(stream, handle as ZlibHandle, state, zlib.constants.Z_FINISH, zlib.constants.Z_NO_FLUSH);
  }

  private static selfTest(): boolean {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const zlib = require('zlib') as typeof import('zlib');
      const plain = new Uint8Array(3000).map((_, i) => (i * 7919) % 251);
      const packed = zlib.deflateRawSync(plain);
      const z = SyncZlib.open();
      if (!z) return false;
      const got: number[] = [];
      const out = new Uint8Array(97);
      try {
        // Two input pieces, the last finishing: as an entry is fed.
        const half = packed.length >> 1;
        z.feed(packed.subarray(0, half), false, out, (n) => got.push(...out.subarray(0, n)));
        z.feed(packed.subarray(half), true, out, (n) => got.push(...out.subarray(0, n)));
      } finally {
        z.close();
      }
      return got.length === plain.length && got.every((b, i) => b === plain[i]);
    } catch {
      return false;
    }
  }

  /**
   * Inflates `input` (the entry's next compressed bytes; `last` for its final piece) through `out`,
   * calling `take(n)` for each `n` bytes produced at its start. Throws zlib's error (a damaged
   * stream; a last piece that does not end it is "unexpected end of file"). Returns whether the
   * deflate stream has ended.
   */
  feed(input: Uint8Array, last: boolean, out: Uint8Array, take: (n: number) => void): boolean {
    let error: Error | undefined;
    this.handle.onerror = (message, errno, code) => {
      error = Object.assign(new Error(message), { errno, code });
    };
    let at = 0;
    for (;;) {
      const inLength = input.length - at;
      this.handle.writeSync(last ? this.finishFlag : this.noFlush, input, at, inLength, out, 0, out.length);
      if (error) throw error;
      const outLeft = this.state[0];
      const inLeft = this.state[1];
      at += inLength - inLeft;
      if (out.length > outLeft) take(out.length - outLeft);
      // Output room left over: zlib took all it could from this input (or the stream ended).
      if (outLeft > 0) return inLeft > 0 || last;
    }
  }

  close(): void {
    this.stream.close();
  }
}

/**
 * An entry inflated synchronously (SyncZlib) when first awaited, into the temporary file: the
 * same checks as TempInflation, with no garbage per piece. Entries read ahead are only opened.
 */
class SyncInflation extends TempFileInflation {
  readonly inBackground = false;
  private settled?: Promise<void>;

  constructor(fd: number, private readonly file: string, private readonly offset: number, private readonly compressedSize: number, size: number, private readonly crc: number) {
    super(fd, size);
  }

  get ready(): Promise<void> {
    this.settled ??= Promise.resolve().then(() => this.inflate());
    return this.settled;
  }

  private inflate(): void {
    try {
      this.run();
    } catch (e) {
      this.fail(e);
      this.closeFile();
    } finally {
      this.done = true;
    }
  }

  private run(): void {
    if (this.compressedSize === 0) throw failure('has an empty deflate stream');
    if (this.fd === null) throw failure('was not read to the end (its archive was closed)');
    const z = SyncZlib.create();
    if (!z) throw new Error('internal: synchronous inflation became unavailable');
    const { input, out } = syncBuffers();
    const output = new InflatedOutput(this.fd, this.size, this.crc);
    // Opened again, as every input is: without blocking, and only if it still is a regular file.
    const source = fs.openSync(this.file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
    try {
      if (!fs.fstatSync(source).isFile()) throw failure('is no longer in a regular file');
      const take = (n: number): void => output.put(out, n);
      for (let pos = 0; pos < this.compressedSize; ) {
        const n = fs.readSync(source, input, 0, Math.min(SYNC_READ_CHUNK, this.compressedSize - pos), this.offset + pos);
        if (n <= 0) throw failure('is cut short by the end of the file');
        pos += n;
        if (z.feed(input.subarray(0, n), pos >= this.compressedSize, out, take)) break;
      }
    } finally {
      z.close();
      fs.closeSync(source);
    }
    output.finish();
  }

  close(): void {
    this.closeFile();
  }
}

/** A raw deflate stream inflated synchronously into the caller's buffers (see SyncZlib.feed). */
export interface SyncInflater {
  feed(input: Uint8Array, last: boolean, out: Uint8Array, take: (n: number) => void): boolean;
  close(): void;
}

/** A synchronous raw inflater (no garbage per piece), or undefined where Node's handle is not usable. */
export function syncInflater(): SyncInflater | undefined {
  return SyncZlib.create();
}

let shared: { input: Buffer; out: Buffer } | undefined;

/** The synchronous inflations' buffers: one pair for all (they never overlap), not garbage per entry. */
function syncBuffers(): { input: Buffer; out: Buffer } {
  shared ??= { input: Buffer.allocUnsafe(SYNC_READ_CHUNK), out: Buffer.allocUnsafe(OUTPUT_CHUNK) };
  return shared;
}

function failure(reason: string): Error {
  return Object.assign(new Error(reason), { reason });
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

/**
 * Starts inflating the raw deflate stream of `compressedSize` bytes at `offset` of `file` (a file
 * on disk), which must give exactly `size` bytes with CRC-32 `crc`.
 */
export function inflateToFile(file: string, offset: number, compressedSize: number, size: number, crc: number): InflatedFile | undefined {
  const dest = path.join(os.tmpdir(), `graft-inflate-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  let fd: number;
  try {
    fd = fs.openSync(dest, 'wx+', 0o600);
  } catch {
    return undefined; // no writable temporary folder: the caller inflates in memory
  }
  try {
    fs.unlinkSync(dest);
  } catch {
    // Left for the system's own clean-up of its temporary folder; the inflation works the same.
  }
  if (SyncZlib.available()) return new SyncInflation(fd, file, offset, compressedSize, size, crc);
  return new TempInflation(fd, file, offset, compressedSize, size, crc);
}
