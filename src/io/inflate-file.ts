import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { crc32 } from './crc32';

/**
 * A deflated zip entry inflated into a private temporary file, by Node's native zlib on libuv's
 * thread pool (so two entries inflate on two cores while the main thread converts), in bounded
 * pieces: the compressed bytes stream through one reused 1 MiB buffer, the output in 256 KiB
 * pieces straight to the file. The inflation fails, and the file is never read, when the stream
 * is damaged or truncated, produces more than the declared size (stopped at once: a bomb writes no
 * byte beyond it) or less, or its CRC-32 differs. The file is unlinked as soon as it is created, so it disappears with its
 * descriptor however graft ends (a crash, kill -9): nothing is left on disk.
 *
 * The browser bundle swaps in inflate-file.browser.ts: no disk there, ZipArchive inflates in memory.
 */

const READ_CHUNK = 1 << 20;
const OUTPUT_CHUNK = 256 << 10;

export interface InflatedFile {
  /** Settles when the inflation has ended; never rejects (see `failure`). */
  readonly ready: Promise<void>;
  /** Whether the inflation has ended (either way). */
  readonly done: boolean;
  /** Why the inflation failed (one line, to follow the entry's name), once `ready` has settled. */
  readonly failure?: string;
  /** Whether it failed writing or reading the temporary file (a full disk), not on the archive's bytes. */
  readonly failedOnDisk?: boolean;
  /** Reads from the inflated bytes: only after `ready` settled without failure. */
  readInto(offset: number, target: Uint8Array): void;
  /** Closes the file (after the inflation ends, if it still runs). */
  close(): void;
}

class TempInflation implements InflatedFile {
  readonly ready: Promise<void>;
  done = false;
  failure?: string;
  failedOnDisk?: boolean;
  private fd: number | null;
  private closeWhenDone = false;
  /** Set by close() while inflating: the inflation stops at its next piece (nobody will read it). */
  private abandoned = false;
  private inflater?: import('zlib').InflateRaw;

  constructor(fd: number, file: string, offset: number, compressedSize: number, private readonly size: number, crc: number) {
    this.fd = fd;
    this.ready = this.run(file, offset, compressedSize, crc).then(
      () => undefined,
      (e: unknown) => {
        const reason = (e as { reason?: string })?.reason;
        // A system error (ENOSPC, EIO …) is the disk's, not the archive's; zlib's errors carry Z_ codes.
        this.failedOnDisk = !reason && typeof (e as NodeJS.ErrnoException)?.syscall === 'string';
        this.failure = reason ?? (this.failedOnDisk ? `cannot be inflated into a temporary file in ${os.tmpdir()} (${firstLine(e)})` : `has a damaged deflate stream (${firstLine(e)})`);
      },
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
    const fd = this.fd!;
    const size = this.size;
    let produced = 0;
    let crc = 0;
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
      if (produced + chunk.length > size) {
        // A bomb: stop at once, nothing beyond the declared size is written.
        stopped = failure(`inflates to more than its declared ${size} bytes`);
        inflater.destroy(stopped);
        return;
      }
      crc = crc32(chunk, crc);
      for (let at = 0; at < chunk.length; ) at += fs.writeSync(fd, chunk, at, chunk.length - at, produced + at);
      produced += chunk.length;
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
    if (produced !== size) throw failure(`inflates to ${produced} bytes, fewer than the ${size} declared`);
    if (crc !== expectedCrc) throw failure('fails its CRC-32 check');
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

  close(): void {
    if (this.done) this.closeFile();
    else {
      this.closeWhenDone = true;
      this.abandoned = true;
      this.inflater?.destroy();
    }
  }

  private closeFile(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }
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
  return new TempInflation(fd, file, offset, compressedSize, size, crc);
}
