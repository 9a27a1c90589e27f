import { GraftError } from '../errors';
import { bytesOf, DEFAULT_SHARD_BYTES, manifestBytes, WeightToWrite } from '../output/writer';
import type { ManifestWeight } from '../topology/model-json';
import { minMax, QuantizeDType, quantizedBytes, WeightQuantizer } from '../output/quantize';
import type { ReadsStrided, StridedRange, TensorInfo, WeightReader } from '../formats/types';
import type { Assignment } from '../mapping/plan';
import type { TargetVariable } from '../topology/variables';
import { applyTransform } from '../transforms';
import { bits, convPermutation, permute, product, SIMD_MAX_BYTES, SimdTransposer, transposeBand, transposeRowsInto } from '../transforms/layout';
import { toFloat32, toInt32 } from '../transforms/dtype';

/**
 * Streaming conversion: every target weight is read, transformed and handed to the shard writer
 * one at a time and in pieces, so memory holds a few MiB of source and one output piece, never the
 * model (nor, for readers that can read parts of a tensor, a whole large tensor). No tfjs here: the
 * variables come from the topology (checkpoint/weight-specs.ts), the data from the readers.
 */

/** Output pieces of 1 MiB: large enough for few write calls, small next to a big tensor. */
export const PIECE_ELEMENTS = 256 * 1024;
/** Bytes of one output band of a large transpose: its working memory, beside one block of rows. */
export const BAND_BYTES = 4 * 1024 * 1024;
/**
 * Shortest run read when a transpose reads its source a band of columns at a time (one read per
 * row): below this, system-call overhead outweighs the memory saved, and the band widens.
 */
export const MIN_RUN_BYTES = 2048;

/**
 * Whole source rows read at a time when a transpose reads its source by rows: a block small enough
 * to stay in cache while its columns are scattered into the output band.
 */
export const STAGE_BYTES = 256 * 1024;
/**
 * What one positioned read costs beyond copying its bytes, counted in bytes copied (about 2 µs
 * against about 6 GB/s on the benchmark machine). It decides how a transpose reads its source.
 */
export const READ_CALL_BYTES = 12 * 1024;

/**
 * How a [rows, cols] float32 transpose reads its source, building output bands of `width` source
 * columns: 'rows' reads the whole source in blocks of `stageRows` contiguous rows once per band
 * (few calls, more bytes copied); 'columns' reads each band's runs with one call per row. Whichever
 * copies fewer bytes, counting each call as READ_CALL_BYTES.
 */
export interface TransposeReads {
  mode: 'rows' | 'columns';
  width: number;
  stageRows: number;
}

export function transposeReads(rows: number, cols: number): TransposeReads {
  const rowBytes = cols * 4;
  const columnWidth = bandColumns(rows, cols);
  const columnCost = Math.ceil(cols / columnWidth) * rows * (READ_CALL_BYTES + columnWidth * 4);
  // By rows, the band's width follows from BAND_BYTES alone (no run length to keep up), evened out
  // over the sweeps it takes: their count stays, the band's memory shrinks to what they need.
  let rowWidth = Math.min(cols, Math.max(1, Math.floor(BAND_BYTES / (rows * 4))));
  if (rowWidth > 4) rowWidth -= rowWidth % 4;
  if (rowWidth < cols) {
    const sweeps = Math.ceil(cols / rowWidth);
    const even = Math.ceil(cols / sweeps);
    rowWidth = Math.min(rowWidth, even + ((4 - (even % 4)) % 4));
  }
  const stageRows = Math.max(1, Math.floor(STAGE_BYTES / rowBytes));
  const rowCost = Math.ceil(cols / rowWidth) * (rows * rowBytes + Math.ceil(rows / stageRows) * READ_CALL_BYTES);
  return rowCost <= columnCost ? { mode: 'rows', width: rowWidth, stageRows } : { mode: 'columns', width: columnWidth, stageRows: 0 };
}

/** `count` runs of `runBytes`, the i-th at byte `start + i·stride` of a tensor's data. */
function canReadStrided(reader: WeightReader): reader is WeightReader & ReadsStrided {
  return typeof (reader as Partial<ReadsStrided>).readStrided === 'function';
}

/**
 * Kernel copies (the read and write system calls) run several times slower on some CPUs when the
 * destination lies 1–31 bytes past the source modulo 4 KiB (measured on this project's AMD EPYC
 * machine: reads 5×, writes 2×; `rep movsb` meeting 4K aliasing). WebAssembly memory starts
 * page-aligned, so buffers there are placed by the file positions they are read from or written
 * to: the destination then trails the source by 0–63 bytes, never leads it.
 */
const PAGE = 4096;

/** Page offset for a buffer filled from file position `from`: its own, rounded down to 64 bytes. */
function readPhase(from: number): number {
  return (from % PAGE) & ~63;
}

/** Page offset for a buffer written to file position `to`: its own, rounded up to 64 bytes. */
function writePhase(to: number): number {
  return (((to % PAGE) + 63) & ~63) % PAGE;
}

/** Page offset for one buffer both filled from `from` and written to `to` (either may be unknown). */
function sharedPhase(from: number | undefined, to: number | undefined): number | undefined {
  if (from === undefined) return to === undefined ? undefined : writePhase(to);
  const p = readPhase(from);
  if (to === undefined) return p;
  const lead = (((to - p) % PAGE) + PAGE) % PAGE;
  // 64 bytes further back is still a fast read, and puts the write's lead at 65–95 bytes.
  return lead >= 1 && lead <= 31 ? (p + PAGE - 64) % PAGE : p;
}

/** Where a region's source bytes and output piece should start, as page offsets (see PAGE). */
interface Placement {
  input?: number;
  piece?: number;
}

/**
 * The conversion's working memory, reused for every tensor: source bytes first, then one output
 * piece. It lives in the SIMD transposer's WebAssembly memory when that is available (so the kernel
 * transposes the source where it was read to, and buffers can be placed by page offset), else in a
 * plain buffer. It only grows.
 */
class Arena {
  private simd: SimdTransposer | null | undefined;
  private plain = new ArrayBuffer(0);

  private transposer(bytes: number): SimdTransposer | undefined {
    if (bytes > SIMD_MAX_BYTES) return undefined;
    if (this.simd === undefined) this.simd = SimdTransposer.create() ?? null;
    return this.simd ?? undefined;
  }

  /**
   * Room for `bytes` of source and a piece of `pieceBytes` after it, placed as asked where the
   * memory's alignment is known. Views from an earlier call are invalid afterwards.
   */
  region(bytes: number, pieceBytes: number, at: Placement = {}): Region {
    const worst = PAGE + align(bytes) + PAGE + pieceBytes;
    const simd = this.transposer(worst);
    if (simd) {
      if (this.plain.byteLength) this.plain = new ArrayBuffer(0);
      const inputOffset = at.input ?? 0;
      const after = align(inputOffset + bytes);
      const pieceOffset = at.piece === undefined ? after : after + ((((at.piece - after) % PAGE) + PAGE) % PAGE);
      simd.reserve(pieceOffset + pieceBytes);
      return { buffer: simd.buffer, simd, inputOffset, pieceOffset, input: new Uint8Array(simd.buffer, inputOffset, bytes) };
    }
    const pieceOffset = align(bytes);
    if (this.plain.byteLength < pieceOffset + pieceBytes) this.plain = new ArrayBuffer(pieceOffset + pieceBytes);
    return { buffer: this.plain, inputOffset: 0, pieceOffset, input: new Uint8Array(this.plain, 0, bytes) };
  }
}

interface Region {
  buffer: ArrayBuffer;
  simd?: SimdTransposer;
  /** Source bytes, at inputOffset. */
  input: Uint8Array;
  inputOffset: number;
  /** Where output pieces go. */
  pieceOffset: number;
}

/** Piece starts stay 64-byte aligned. */
function align(bytes: number): number {
  return Math.ceil(bytes / 64) * 64;
}

/**
 * Output pieces of the transpose of a [rows, cols] int32/float32 matrix: `src` when given, else the
 * region's input. Each piece holds whole output rows (source columns); pieces reuse one buffer.
 */
function* transposePieces(region: Region, rows: number, cols: number, pieceElements: number, src?: Int32Array): Iterable<Float32Array> {
  const band = Math.max(1, Math.floor(pieceElements / rows));
  for (let c0 = 0; c0 < cols; c0 += band) {
    const c1 = Math.min(cols, c0 + band);
    if (!src && region.simd) region.simd.band(region.inputOffset, rows, cols, c0, c1, region.pieceOffset);
    else transposeBand(src ?? new Int32Array(region.buffer, region.inputOffset, rows * cols), rows, cols, c0, c1, new Int32Array(region.buffer, region.pieceOffset, (c1 - c0) * rows));
    yield new Float32Array(region.buffer, region.pieceOffset, (c1 - c0) * rows);
  }
}

/** Source columns per band when transposing a [rows, cols] float32 tensor read in bands. */
export function bandColumns(rows: number, cols: number): number {
  if (rows * cols * 4 <= BAND_BYTES) return cols;
  let w = Math.max(Math.floor(BAND_BYTES / (rows * 4)), MIN_RUN_BYTES / 4);
  w -= w % 4;
  return Math.min(cols, w);
}

/** What a weight contributes to the quantization report. */
export interface QuantizedWeight {
  name: string;
  dtype: QuantizeDType;
  /** Largest |decoded - original| over the weight's values. */
  maxError: number;
  /** Bytes as float32, and as stored. */
  bytes: number;
  storedBytes: number;
}

export interface QuantizeOptions {
  dtype: QuantizeDType;
  /** Which float32 weights to quantize (by name). */
  selected: (name: string) => boolean;
}

type Pieces = Iterable<Float32Array | Int32Array> | AsyncIterable<Float32Array | Int32Array>;

/** A weight's values in file order, in pieces, and how to learn their range before reading them. */
export interface ProducedValues {
  chunks: Pieces;
  /** Smallest and largest value: what uint8/uint16 codes must cover. Default: from the pieces. */
  range?: () => Promise<{ min: number; max: number }>;
}

/**
 * A weight for the shard writer whose values come from `produce` when the writer reaches it,
 * quantized on the way when selected. Quantization facts are appended to `quantized` as each weight
 * is written.
 */
export function streamedWeight(
  spec: ManifestWeight,
  produce: () => Promise<ProducedValues>,
  quantize: QuantizeOptions | undefined,
  quantized: QuantizedWeight[],
): WeightToWrite {
  const q = quantize && spec.dtype === 'float32' && quantize.selected(spec.name) ? quantize.dtype : undefined;
  // The size must be known before any data: min and scale follow once the values are seen.
  if (q) spec.quantization = { dtype: q, original_dtype: 'float32' };
  const chunks = async function* (): AsyncGenerator<Uint8Array> {
    const produced = await produce();
    if (!q) {
      for await (const c of produced.chunks) yield bytesOf(c);
      return;
    }
    const range = q === 'float16' ? undefined : produced.range ? await produced.range() : await rangeOf(produced.chunks);
    const quantizer = new WeightQuantizer(q, range, { name: spec.name });
    spec.quantization = quantizer.spec;
    let count = 0;
    for await (const c of produced.chunks) {
      if (!(c instanceof Float32Array)) throw new Error(`internal: quantizing non-float weight ${spec.name}`);
      count += c.length;
      yield quantizer.encode(c, spec.name);
    }
    quantized.push({ name: spec.name, dtype: q, maxError: quantizer.maxError, bytes: count * 4, storedBytes: count * quantizedBytes(q) });
  };
  return {
    spec,
    chunks,
    bytes: async () => {
      const all = new Uint8Array(manifestBytes(spec));
      let at = 0;
      for await (const c of chunks()) {
        all.set(c, at);
        at += c.byteLength;
      }
      return all;
    },
  };
}

/** The range of values an iterable gives; only for pieces that can be iterated twice (arrays). */
async function rangeOf(pieces: Pieces): Promise<{ min: number; max: number }> {
  if (!Array.isArray(pieces)) throw new Error('internal: the range of streamed pieces must be given');
  let r = { min: Infinity, max: -Infinity };
  for (const p of pieces as (Float32Array | Int32Array)[]) r = minMax(p instanceof Float32Array ? p : Float32Array.from(p), r);
  return r;
}

export interface StreamPlan {
  reader: WeightReader;
  variables: readonly TargetVariable[];
  /** Variable names in the order tfjs saves them (`model.weights`). */
  saveOrder: readonly string[];
  assignments: readonly Assignment[];
  /** Values for variables nothing restores: the target model.json's own weights, by name. */
  kept?: WeightReader;
  quantize?: QuantizeOptions;
  pieceElements?: number;
  /** The writer's shard size: where each output byte lands in its shard file (see PAGE). */
  shardBytes?: number;
}

/**
 * The writer's list of weights for a streaming conversion: restored ones from the source through
 * their transforms, the rest from the target's own weights, in tfjs's save order.
 */
export function streamWeights(plan: StreamPlan, quantized: QuantizedWeight[]): WeightToWrite[] {
  const { reader } = plan;
  const infos = new Map<string, TensorInfo>(reader.list().map((t) => [t.name, t]));
  const variables = new Map(plan.variables.map((v) => [v.name, v]));
  const assignments = new Map(plan.assignments.map((a) => [a.target, a]));
  const arena = new Arena();
  const pieceElements = plan.pieceElements ?? PIECE_ELEMENTS;
  const shardBytes = plan.shardBytes ?? DEFAULT_SHARD_BYTES;
  // Each weight's first byte in the output stream, filled in below before anything is produced.
  const starts = new Map<string, number>();

  const weights = plan.saveOrder.map((name) => {
    const v = variables.get(name);
    if (!v) throw new Error(`internal: save order names unknown variable ${name}`);
    const spec: ManifestWeight = { name, shape: v.shape.slice(), dtype: v.dtype };
    const a = assignments.get(name);
    const produce = async (): Promise<ProducedValues> => {
      if (!a) return keptValues(plan.kept, v);
      if (v.dtype === 'int32') {
        if (a.transform.kind !== 'identity') throw new GraftError('UNSUPPORTED', `int32 target '${a.target}' only takes identity transforms`, { file: reader.path });
        return { chunks: [toInt32(await reader.read(a.sources[0]), reader.path)] };
      }
      const info = infos.get(a.sources[0]);
      const kind = a.transform.kind;
      if (a.sources.length === 1 && info?.dtype === 'float32' && (kind === 'identity' || kind === 'transpose') && canReadStrided(reader)) {
        checkCount(product(info.shape), product(a.sourceShapes[0]), a, reader.path);
        const fileAt = (byte: number) => (starts.get(name)! + byte) % shardBytes;
        return bandedValues(reader, arena, a, pieceElements, fileAt);
      }
      const floats: Float32Array[] = [];
      for (const s of a.sources) floats.push(toFloat32(await reader.read(s), reader.path));
      checkCount(floats[0].length, product(a.sourceShapes[0]), a, reader.path);
      if (kind === 'transpose') {
        // Read whole (no strided reads here), but written out through one reused piece.
        const [rows, cols] = a.sourceShapes[0];
        const region = arena.region(0, Math.max(pieceElements, rows) * 4);
        return { chunks: transposePieces(region, rows, cols, Math.max(pieceElements, rows), bits(floats[0])), range: async () => minMax(floats[0]) };
      }
      const out = kind === 'conv' || kind === 'conv-transpose'
        ? permute(floats[0], a.sourceShapes[0], convPermutation(a.sourceShapes[0].length))
        : applyTransform(a.transform, floats, a.sourceShapes, a.targetShape);
      checkCount(out.length, product(a.targetShape), a, reader.path);
      return { chunks: [out] };
    };
    return streamedWeight(spec, produce, plan.quantize, quantized);
  });
  let at = 0;
  for (const w of weights) {
    starts.set(w.spec.name, at);
    at += manifestBytes(w.spec);
  }
  return weights;
}

/**
 * Identity or transpose of one float32 source read in parts: contiguous pieces, or for a transpose
 * bands of whole source columns (one positioned read per row), each transposed into output rows.
 */
function bandedValues(reader: WeightReader & ReadsStrided, arena: Arena, a: Assignment, pieceElements: number, fileAt: (byte: number) => number): ProducedValues {
  const name = a.sources[0];
  const shape = a.sourceShapes[0];
  const total = product(shape) * 4;
  const source = reader.dataOffset?.(name);
  // Contiguous reads in output-piece sizes: a reader's own buffer (HDF5's, in wasm memory) stays small.
  const step = pieceElements * 4;
  const contiguous = async function* (): AsyncGenerator<Float32Array> {
    for (let at = 0; at < total; at += step) {
      const n = Math.min(step, total - at);
      const region = arena.region(n, 0, { input: sharedPhase(source === undefined ? undefined : source + at, fileAt(at)) });
      await reader.readStrided(name, { start: at, runBytes: n, stride: n, count: 1 }, region.input);
      yield new Float32Array(region.buffer, region.inputOffset, n / 4);
    }
  };
  const range = async (): Promise<{ min: number; max: number }> => {
    let r = { min: Infinity, max: -Infinity };
    for await (const piece of contiguous()) r = minMax(piece, r);
    return r;
  };
  if (a.transform.kind === 'identity') return { chunks: contiguous(), range };
  const [rows, cols] = shape;
  const piece = Math.max(pieceElements, rows);
  const plan = transposeReads(rows, cols);
  if (plan.mode === 'rows') return { chunks: transposedByRows(reader, arena, name, rows, cols, plan, source, fileAt), range };
  const width = plan.width;
  const chunks = async function* (): AsyncGenerator<Float32Array> {
    for (let b0 = 0; b0 < cols; b0 += width) {
      const w = Math.min(width, cols - b0);
      const region = arena.region(rows * w * 4, piece * 4);
      await reader.readStrided(name, { start: b0 * 4, runBytes: w * 4, stride: cols * 4, count: rows }, region.input);
      yield* transposePieces(region, rows, w, piece);
    }
  };
  return { chunks: chunks(), range };
}

/**
 * The transpose of a [rows, cols] float32 tensor as output bands of `width` source columns, each
 * built from the whole source read in blocks of contiguous rows (the source is read once per band).
 */
async function* transposedByRows(
  reader: WeightReader & ReadsStrided,
  arena: Arena,
  name: string,
  rows: number,
  cols: number,
  plan: TransposeReads,
  source: number | undefined,
  fileAt: (byte: number) => number,
): AsyncGenerator<Float32Array> {
  const rowBytes = cols * 4;
  const stageBytes = Math.min(plan.stageRows, rows) * rowBytes;
  // Room before the rows read, to place each block by its own page offset (see PAGE).
  const slack = source === undefined ? 0 : PAGE - 64;
  // One range object for all the reads (thousands for a large tensor): no garbage per read. The
  // first band's reads sweep the tensor front to back, and nothing leaves here before the last of
  // them returns.
  const range: StridedRange = { start: 0, runBytes: 0, stride: 0, count: 1, sweep: true };
  for (let b0 = 0; b0 < cols; b0 += plan.width) {
    const w = Math.min(plan.width, cols - b0);
    const region = arena.region(slack + stageBytes, w * rows * 4, { piece: writePhase(fileAt(b0 * rows * 4)) });
    const out = region.simd ? undefined : new Int32Array(region.buffer, region.pieceOffset, w * rows);
    let input = region.input;
    range.sweep = b0 === 0;
    for (let r0 = 0; r0 < rows; r0 += plan.stageRows) {
      const k = Math.min(plan.stageRows, rows - r0);
      const bytes = k * rowBytes;
      range.start = r0 * rowBytes;
      range.runBytes = range.stride = bytes;
      const shift = region.simd && source !== undefined ? readPhase(source + range.start) : 0;
      // A view per block only when its placement or size changes (rarely): no garbage per read.
      if (input.byteOffset !== region.inputOffset + shift || input.length !== bytes) input = new Uint8Array(region.buffer, region.inputOffset + shift, bytes);
      if (reader.readStridedSync) reader.readStridedSync(name, range, input);
      else await reader.readStrided(name, range, input);
      if (region.simd) region.simd.rowsInto(input.byteOffset, k, cols, b0, b0 + w, region.pieceOffset, rows, r0);
      else transposeRowsInto(new Int32Array(region.buffer, input.byteOffset, k * cols), k, cols, b0, b0 + w, out!, rows, r0);
    }
    yield new Float32Array(region.buffer, region.pieceOffset, w * rows);
  }
}

function checkCount(got: number, want: number, a: Assignment, file: string): void {
  if (got !== want) {
    throw new GraftError('SHAPE_MISMATCH', `transform ${a.transform.kind} produced ${got} values for target '${a.target}' [${a.targetShape}]`, { file, tensor: a.sources[0] });
  }
}

/** A variable nothing restores keeps the target's own value. */
async function keptValues(kept: WeightReader | undefined, v: TargetVariable): Promise<ProducedValues> {
  if (!kept) throw new Error(`internal: no value for unrestored variable ${v.name}`);
  const raw = await kept.read(v.name);
  if (v.dtype === 'int32') return { chunks: [toInt32(raw, kept.path)] };
  return { chunks: [toFloat32(raw, kept.path)] };
}

