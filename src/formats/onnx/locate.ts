import type { ByteSource } from '../../io/volume';
import { MAX_DECODED } from '../../topology/onnx/constants';

/**
 * Locating initializers' raw_data inside an ONNX file without reading it: a bounded walk of the
 * protobuf wire format (ModelProto → graph → initializer TensorProtos) through a small window,
 * which copies every field except large raw_data payloads into a smaller ModelProto. That message
 * decodes as the whole file would, with initializer i's raw_data left on disk at ranges[i].
 *
 * Any structure the walk does not expect (truncated lengths, group wire types, a second graph,
 * an oversized tag) returns undefined: the caller then decodes the whole file as before, so
 * damaged files keep their errors. Every length is checked against the bytes that remain.
 */

export interface ByteRange {
  offset: number;
  length: number;
}

export interface StrippedModel {
  /** The ModelProto with initializers' raw_data payloads left out. */
  bytes: Uint8Array;
  /** Per initializer, in file order: where its raw_data lies in the file (undefined: inline or none). */
  ranges: (ByteRange | undefined)[];
}

const WINDOW = 1 << 16;
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_RAW_DATA = 9;
/**
 * raw_data up to this size stays in the message: the graph builder decodes tensors of up to
 * MAX_DECODED elements (shape arithmetic, pads) of at most 8 bytes each from raw_data.
 */
const KEEP_INLINE_BYTES = MAX_DECODED * 8;

class Damaged extends Error {}

/** A read window over the file: varints and field bounds without holding the file. */
class WireCursor {
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;

  constructor(private readonly src: ByteSource) {}

  private byteAt(pos: number): number {
    if (pos < this.windowStart || pos >= this.windowStart + this.window.length) {
      if (pos >= this.src.size) throw new Damaged();
      this.windowStart = pos;
      this.window = this.src.read(pos, Math.min(WINDOW, this.src.size - pos));
    }
    return this.window[pos - this.windowStart];
  }

  /** A varint at pos that must end before `end`: [value, next position]. */
  varint(pos: number, end: number): [number, number] {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos + i >= end) throw new Damaged();
      const byte = this.byteAt(pos + i);
      v += (byte & 0x7f) * mul;
      mul *= 128;
      if (!(byte & 0x80)) return [v, pos + i + 1];
    }
    throw new Damaged();
  }
}

interface Field {
  number: number;
  wire: number;
  /** Where the field's tag starts, its payload starts (after any length), and it ends. */
  start: number;
  body: number;
  end: number;
}

/** The fields of a message occupying [start, end), one at a time. */
function* fields(cursor: WireCursor, start: number, end: number): Generator<Field> {
  let pos = start;
  while (pos < end) {
    const [tag, afterTag] = cursor.varint(pos, end);
    // protobufjs reads tags as uint32; anything it would read differently is left to it.
    if (tag > 0xffffffff || tag < 8) throw new Damaged();
    const wire = tag & 7;
    let body = afterTag;
    let next: number;
    if (wire === 0) next = cursor.varint(afterTag, end)[1];
    else if (wire === 1) next = afterTag + 8;
    else if (wire === 5) next = afterTag + 4;
    else if (wire === 2) {
      const [length, afterLength] = cursor.varint(afterTag, end);
      body = afterLength;
      next = afterLength + length;
    } else throw new Damaged();
    if (next > end) throw new Damaged();
    yield { number: Math.floor(tag / 8), wire, start: pos, body, end: next };
    pos = next;
  }
}

function varintBytes(n: number): number[] {
  const out: number[] = [];
  while (n >= 128) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** Byte pieces of a message being rebuilt: file ranges (adjacent ones merged) and new bytes. */
class Pieces {
  readonly parts: (ByteRange | Uint8Array)[] = [];
  length = 0;

  copy(start: number, end: number): void {
    const last = this.parts[this.parts.length - 1];
    if (last && !(last instanceof Uint8Array) && last.offset + last.length === start) last.length += end - start;
    else this.parts.push({ offset: start, length: end - start });
    this.length += end - start;
  }

  /** A length-delimited field whose payload is another Pieces. */
  nest(fieldNumber: number, inner: Pieces): void {
    const head = Uint8Array.from([...varintBytes(fieldNumber * 8 + 2), ...varintBytes(inner.length)]);
    this.parts.push(head, ...inner.parts);
    this.length += head.length + inner.length;
  }

  gather(src: ByteSource): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      if (p instanceof Uint8Array) {
        out.set(p, at);
        at += p.length;
      } else {
        src.readInto(p.offset, out.subarray(at, at + p.length));
        at += p.length;
      }
    }
    return out;
  }
}

export function stripInitializerData(src: ByteSource): StrippedModel | undefined {
  const cursor = new WireCursor(src);
  const ranges: (ByteRange | undefined)[] = [];
  const model = new Pieces();
  let graphSeen = false;
  try {
    for (const f of fields(cursor, 0, src.size)) {
      if (f.number !== MODEL_GRAPH || f.wire !== 2) {
        model.copy(f.start, f.end);
        continue;
      }
      if (graphSeen) return undefined;
      graphSeen = true;
      const graph = new Pieces();
      for (const g of fields(cursor, f.body, f.end)) {
        if (g.number !== GRAPH_INITIALIZER || g.wire !== 2) {
          graph.copy(g.start, g.end);
          continue;
        }
        const tensor = new Pieces();
        let raw: ByteRange | undefined;
        let rawFields = 0;
        for (const t of fields(cursor, g.body, g.end)) {
          const isRaw = t.number === TENSOR_RAW_DATA && t.wire === 2;
          // Two raw_data fields (the decoder keeps the last) are left to the whole decode.
          if (isRaw && ++rawFields > 1) return undefined;
          if (isRaw && t.end - t.body > KEEP_INLINE_BYTES) raw = { offset: t.body, length: t.end - t.body };
          else tensor.copy(t.start, t.end);
        }
        graph.nest(GRAPH_INITIALIZER, tensor);
        ranges.push(raw);
      }
      model.nest(MODEL_GRAPH, graph);
    }
  } catch (e) {
    if (e instanceof Damaged) return undefined;
    throw e;
  }
  return { bytes: model.gather(src), ranges };
}
