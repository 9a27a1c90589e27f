/**
 * Benchmark: graft's protobuf decoder (src/io/protobuf.ts, a descriptor interpreter) against
 * protobufjs's reflection decoder (code generated with Function(), what graft used before) on
 * the same ONNX descriptor, in one process, alternating, medians of --runs:
 *   - the largest ONNX fixtures, whole (raw_data as views) and as the reader decodes them
 *     (raw_data stripped by formats/onnx/locate.ts);
 *   - two synthetic ModelProtos built here: a graph of 50 000 nodes with attributes (many small
 *     messages: the interpreter's per-field cost), and 16 Mi floats in packed float_data plus
 *     1 Mi int64_data values (bulk scalars).
 *
 *   npx tsx scripts/bench-protobuf.ts [--runs 7] [more.onnx ...]
 */
import * as fs from 'fs';
import * as path from 'path';
import * as os from 'os';
import * as protobuf from 'protobufjs/light';
import { ONNX_DESCRIPTOR, decodeModel } from '../src/formats/onnx/schema';
import { stripInitializerData } from '../src/formats/onnx/locate';
import { openSource } from '../src/io/bytes';

const ROOT = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const RUNS = runsAt >= 0 ? Number(args.splice(runsAt, 2)[1]) : 7;

/** Minimal wire writer for the synthetic models. */
class Wire {
  private chunks: Uint8Array[] = [];
  private cur: number[] = [];
  varint(v: number): this {
    while (v > 0x7f) {
      this.cur.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    this.cur.push(v);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }
  raw(b: Uint8Array): this {
    this.flush();
    this.chunks.push(b);
    return this;
  }
  bytesField(field: number, b: Uint8Array): this {
    return this.tag(field, 2).varint(b.length).raw(b);
  }
  text(field: number, s: string): this {
    return this.bytesField(field, new TextEncoder().encode(s));
  }
  private flush(): void {
    if (this.cur.length) this.chunks.push(Uint8Array.from(this.cur));
    this.cur = [];
  }
  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

function model(graph: Uint8Array): Uint8Array {
  return new Wire().tag(1, 0).varint(8).text(2, 'bench').bytesField(7, graph).bytesField(8, new Wire().tag(2, 0).varint(17).finish()).finish();
}

function manyNodes(n: number): Uint8Array {
  const g = new Wire();
  for (let i = 0; i < n; i++) {
    const ints = new Wire();
    for (const v of [1, 1, 3, 3]) ints.varint(v);
    const attrA = new Wire().text(1, 'kernel_shape').bytesField(8, ints.finish()).tag(20, 0).varint(7).finish();
    const attrB = new Wire().text(1, 'group').tag(3, 0).varint(1).tag(20, 0).varint(2).finish();
    const node = new Wire().text(1, `x${i}`).text(1, `w${i}`).text(1, `b${i}`).text(2, `x${i + 1}`).text(3, `Conv_${i}`).text(4, 'Conv')
      .bytesField(5, attrA).bytesField(5, attrB).finish();
    g.bytesField(1, node);
  }
  return model(g.text(2, 'nodes').finish());
}

function bulkScalars(floats: number, int64s: number): Uint8Array {
  const f = new Uint8Array(floats * 4);
  const dv = new DataView(f.buffer);
  for (let i = 0; i < floats; i++) dv.setFloat32(i * 4, Math.sin(i), true);
  const t1 = new Wire().tag(1, 0).varint(floats).tag(2, 0).varint(1).bytesField(4, f).text(8, 'floats').finish();
  const ints = new Wire();
  for (let i = 0; i < int64s; i++) ints.varint(i * 37);
  const t2 = new Wire().tag(1, 0).varint(int64s).tag(2, 0).varint(7).bytesField(7, ints.finish()).text(8, 'int64s').finish();
  return model(new Wire().bytesField(5, t1).bytesField(5, t2).text(2, 'bulk').finish());
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const reference = protobuf.Root.fromJSON(ONNX_DESCRIPTOR).lookupType('onnx.ModelProto');

const inputs: [string, Uint8Array][] = [];
const fixtures = ['onnx-graph/shufflenet_v2_x0_5/model.onnx', 'onnx-graph/mobilenet_v2/model.onnx'].map((p) => path.join(ROOT, 'fixtures', p));
for (const file of [...fixtures, ...args]) {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const name = path.relative(ROOT, file);
  inputs.push([`${name} (whole, ${(bytes.length / 2 ** 20).toFixed(1)} MiB)`, bytes]);
  const src = openSource(file);
  const stripped = stripInitializerData(src);
  src.close();
  if (stripped) inputs.push([`${name} (raw_data stripped, ${(stripped.bytes.length / 1024).toFixed(0)} KiB)`, stripped.bytes]);
}
const nodes = manyNodes(50_000);
inputs.push([`synthetic: 50 000 Conv nodes with 2 attributes (${(nodes.length / 2 ** 20).toFixed(1)} MiB)`, nodes]);
const bulk = bulkScalars(16 << 20, 1 << 20);
inputs.push([`synthetic: 16 Mi packed float_data + 1 Mi int64_data (${(bulk.length / 2 ** 20).toFixed(1)} MiB)`, bulk]);

console.log(`Machine: ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cores; Node ${process.version}; load before: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}`);
console.log(`Medians of ${RUNS} alternating runs after one warm-up each.\n`);
console.log('| input | graft (interpreter) | protobufjs (generated) | ratio |');
console.log('|---|---|---|---|');
for (const [name, bytes] of inputs) {
  decodeModel(bytes);
  reference.decode(bytes);
  const mine: number[] = [];
  const ref: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    decodeModel(bytes);
    mine.push(performance.now() - t);
    t = performance.now();
    reference.decode(bytes);
    ref.push(performance.now() - t);
  }
  const a = median(mine);
  const b = median(ref);
  console.log(`| ${name} | ${a.toFixed(2)} ms | ${b.toFixed(2)} ms | ${(a / b).toFixed(2)} |`);
}
console.log(`\nload after: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}`);
