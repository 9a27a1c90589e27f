/**
 * Where a layers model's files go. The same shard-splitting code (writeLayersModelTo) fills a
 * folder on disk (output/folder-sink.ts) or memory (MemorySink), so both hold the same bytes.
 */
export interface ModelSink {
  /** Called once, before any file, with the bytes all shards together will hold. */
  start(shardBytesTotal: number): void;
  /** Starts the file `name` of exactly `size` bytes; the writes that follow fill it in order. */
  begin(name: string, size: number): void;
  write(bytes: Uint8Array, offset: number, length: number): void;
  /** Ends the current file. Called even when writing fails (to release it). */
  end(): void;
}

/** A layers model's files held in memory: every shard is a view into one buffer, `weightData`. */
export class MemorySink implements ModelSink {
  readonly files: { name: string; data: Uint8Array }[] = [];
  weightData = new ArrayBuffer(0);
  private shardsAt = 0;
  private current?: { data: Uint8Array; at: number };

  start(shardBytesTotal: number): void {
    this.weightData = new ArrayBuffer(shardBytesTotal);
    this.shardsAt = 0;
  }

  begin(name: string, size: number): void {
    let data: Uint8Array;
    if (name === 'model.json') data = new Uint8Array(size);
    else {
      data = new Uint8Array(this.weightData, this.shardsAt, size);
      this.shardsAt += size;
    }
    this.files.push({ name, data });
    this.current = { data, at: 0 };
  }

  write(bytes: Uint8Array, offset: number, length: number): void {
    const c = this.current!;
    c.data.set(bytes.subarray(offset, offset + length), c.at);
    c.at += length;
  }

  end(): void {
    this.current = undefined;
  }
}
