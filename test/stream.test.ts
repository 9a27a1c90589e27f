/**
 * The streaming engine: streaming conversions must write exactly the bytes the tfjs engine writes
 * (the weight specs it streams by are tested in weight-specs.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import '../src/layers';
import { initBackend } from '../src/backend';
import { convert, ConvertOptions } from '../src/convert';
import { loadLayersModelFromDir } from '../src/output/load';
import { GraftError } from '../src/errors';
import { openWeights, registerFormat } from '../src/formats';
import { SafetensorsHandler } from '../src/formats/safetensors/reader';
import type { FormatHandler, RawTensor, ReadsStrided, TensorInfo, WeightReader } from '../src/formats/types';
import { progressBar } from '../src/cli/progress';
import { bandColumns, BAND_BYTES, StridedRange, streamWeights, transposeReads } from '../src/convert/stream';
import type { Assignment } from '../src/mapping/plan';
import type { TargetVariable } from '../src/topology/variables';
import { transpose2d } from '../src/transforms/layout';
import { fixture } from './helpers/realworld';
import { maxAbsDiff, predictArray, tempDir } from './helpers/models';
import { Json, L, seq } from './helpers/topologies';

// ---------------------------------------------------------------------------------------------
// Streaming vs tfjs engine

/** A safetensors reader that can read parts of tensors, standing in for readers with readStrided. */
const STRIDED_SUFFIX = '.strided.safetensors';
const stridedCalls: StridedRange[] = [];
const StridedSafetensors: FormatHandler = {
  format: 'safetensors-strided-test',
  extensions: [STRIDED_SUFFIX],
  sniff: (_head, p) => p.endsWith(STRIDED_SUFFIX),
  async open(p) {
    const inner = await SafetensorsHandler.open(p);
    const innerSync = (inner as WeightReader & Required<ReadsStrided>).readStridedSync.bind(inner);
    return Object.assign(Object.create(inner) as WeightReader, {
      async readStrided(name: string, r: StridedRange, target: Uint8Array): Promise<void> {
        stridedCalls.push({ ...r });
        const raw: RawTensor = await inner.read(name);
        assert.ok(r.start + (r.count - 1) * r.stride + r.runBytes <= raw.byteSize, 'strided read within the tensor');
        for (let i = 0; i < r.count; i++) target.set(raw.data.subarray(r.start + i * r.stride, r.start + i * r.stride + r.runBytes), i * r.runBytes);
      },
      // Copies of the ranges: the engine reuses one range object for a sweep of row blocks.
      readStridedSync(name: string, r: StridedRange, target: Uint8Array): void {
        stridedCalls.push({ ...r });
        innerSync(name, r, target);
      },
    });
  },
};
registerFormat(StridedSafetensors);

/** Every file of an output folder, by name. */
function folderBytes(dir: string): Map<string, Buffer> {
  return new Map(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f))]));
}

async function bothEngines(options: Omit<ConvertOptions, 'out' | 'engine'>): Promise<{ stream: string; tfjs: string }> {
  const parent = tempDir();
  const stream = path.join(parent, 'stream');
  const tfjsOut = path.join(parent, 'tfjs');
  const s = await convert({ ...options, out: stream, engine: 'stream' });
  assert.equal(s.engine, 'stream');
  assert.equal(s.backend, 'none (streaming)');
  const t = await convert({ ...options, out: tfjsOut, engine: 'tfjs' });
  assert.equal(t.engine, 'tfjs');
  assert.deepEqual(s.assigned, t.assigned);
  return { stream, tfjs: tfjsOut };
}

function assertSameFolders(a: string, b: string, label: string): void {
  const x = folderBytes(a);
  const y = folderBytes(b);
  assert.deepEqual([...x.keys()], [...y.keys()], `${label}: files`);
  for (const [f, bytes] of x) assert.ok(bytes.equals(y.get(f)!), `${label}: ${f} differs`);
}

test('streaming writes the same model.json and shards as the tfjs engine, on every fixtures/torch case', async () => {
  await initBackend();
  const torch = fixture('torch');
  const cases = fs.readdirSync(torch).filter((c) => fs.existsSync(path.join(torch, c, 'case.json')) && c !== 'onnx_numbers');
  assert.ok(cases.length >= 15);
  for (const c of cases) {
    const dir = path.join(torch, c);
    for (const file of ['model.safetensors', 'model.npz']) {
      const source = path.join(dir, file);
      if (!fs.existsSync(source)) continue;
      const { stream, tfjs: t } = await bothEngines({ source, target: path.join(dir, 'target.json'), from: 'torch' });
      assertSameFolders(stream, t, `${c}/${file}`);
    }
    // The same through partial reads (column bands and contiguous pieces).
    const copy = path.join(tempDir(), `model${STRIDED_SUFFIX}`);
    fs.copyFileSync(path.join(dir, 'model.safetensors'), copy);
    stridedCalls.length = 0;
    const { stream, tfjs: t } = await bothEngines({ source: copy, target: path.join(dir, 'target.json'), from: 'torch' });
    assertSameFolders(stream, t, `${c} (strided reads)`);
    assert.ok(stridedCalls.length > 0, `${c}: read through readStrided`);
  }
});

/** A safetensors file of float32 tensors. */
function writeSafetensors(file: string, tensors: [string, number[], Float32Array][]): void {
  const header: Json = {};
  let at = 0;
  for (const [name, shape, data] of tensors) {
    header[name] = { dtype: 'F32', shape, data_offsets: [at, at + data.byteLength] };
    at += data.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, ...tensors.map(([, , d]) => Buffer.from(d.buffer, d.byteOffset, d.byteLength))]));
}

function denseTarget(file: string, layers: { name: string; units: number }[], inputDim: number): void {
  const config = layers.map((l, i) => L('Dense', l.name, { units: l.units, ...(i === 0 ? { batch_input_shape: [null, inputDim] } : {}) }));
  fs.writeFileSync(file, JSON.stringify({ format: 'layers-model', modelTopology: seq('big', config) }));
}

function randomFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 0.2;
  }
  return out;
}

test('a kernel larger than one read band streams in bands with odd edges, read as blocks of whole rows, identical to tfjs', async () => {
  await initBackend();
  // [out=1030, in=1101]: rows not a multiple of 4, more than 4 MiB, last band 1101 - 1016 = 85 columns.
  const [out, inDim] = [1030, 1101];
  assert.ok(out * inDim * 4 > BAND_BYTES);
  const plan = transposeReads(out, inDim);
  assert.equal(plan.mode, 'rows', 'rows of 4.4 KB cost less read whole than one read per row');
  const width = plan.width;
  assert.ok(width < inDim && (inDim - width) % 4 !== 0, `band of ${width} columns`);
  const dir = tempDir();
  const source = path.join(dir, `big${STRIDED_SUFFIX}`);
  writeSafetensors(source, [
    ['fc.weight', [out, inDim], randomFloats(out * inDim, 1)],
    ['fc.bias', [out], randomFloats(out, 2)],
    ['head.weight', [3, out], randomFloats(3 * out, 3)],
    ['head.bias', [3], randomFloats(3, 4)],
  ]);
  const target = path.join(dir, 'target.json');
  denseTarget(target, [{ name: 'fc', units: out }, { name: 'head', units: 3 }], inDim);
  stridedCalls.length = 0;
  const { stream, tfjs: t } = await bothEngines({ source, target, from: 'torch' });
  assertSameFolders(stream, t, 'banded');
  // The kernel is the first tensor: its reads are whole-row blocks, the whole kernel once per band.
  const rowBytes = inDim * 4;
  const kernelReads = stridedCalls.filter((r) => r.count === 1 && r.start % rowBytes === 0 && r.runBytes % rowBytes === 0 && r.runBytes > out * 4);
  // Only the first band's reads are marked as the sweep a reader may check the tensor on.
  const perBand = Math.ceil(out / plan.stageRows);
  assert.ok(kernelReads.every((r, i) => r.sweep === (i < perBand) && r.runBytes <= plan.stageRows * rowBytes));
  assert.ok(kernelReads.slice(0, perBand).every((r, i) => r.start === i * plan.stageRows * rowBytes), 'the first band reads front to back');
  const bands = Math.ceil(inDim / width);
  assert.equal(kernelReads.reduce((s, r) => s + r.runBytes, 0), bands * out * rowBytes, `the kernel read once per band (${bands} bands)`);
  assert.ok(!stridedCalls.some((r) => r.count === out), 'no read per row');
});

/** A reader over tensors in memory that records its strided reads (async or sync). */
function memoryReader(tensors: Map<string, { shape: number[]; data: Float32Array }>, calls: StridedRange[], sync: boolean): WeightReader & ReadsStrided {
  const bytes = (name: string) => {
    const t = tensors.get(name)!;
    return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  };
  const copy = (name: string, r: StridedRange, target: Uint8Array): void => {
    calls.push({ ...r });
    const b = bytes(name);
    assert.ok(r.count === 0 || r.start + (r.count - 1) * r.stride + r.runBytes <= b.length, 'read within the tensor');
    for (let i = 0; i < r.count; i++) target.set(b.subarray(r.start + i * r.stride, r.start + i * r.stride + r.runBytes), i * r.runBytes);
  };
  const list = (): TensorInfo[] => [...tensors].map(([name, t]) => ({ name, dtype: 'float32', shape: t.shape, byteSize: t.data.byteLength }));
  return {
    format: 'memory-test',
    path: 'memory',
    list,
    async read(name: string): Promise<RawTensor> {
      return { ...list().find((i) => i.name === name)!, data: bytes(name).slice() };
    },
    async readStrided(name, r, target) {
      copy(name, r, target);
    },
    ...(sync ? { readStridedSync: copy } : {}),
    async close() {},
  };
}

async function streamedBytes(reader: WeightReader, names: { source: string; target: string; shape: number[]; targetShape: number[]; kind: 'transpose' | 'identity' }[]): Promise<Uint8Array[]> {
  const variables: TargetVariable[] = names.map((n, i) => ({ name: n.target, layer: 'l', className: 'Dense', weight: 'kernel', shape: n.targetShape, dtype: 'float32', indexInLayer: i, layerIndex: 0 }));
  const assignments: Assignment[] = names.map((n) => ({ target: n.target, layer: 'l', sources: [n.source], transform: { kind: n.kind }, sourceShapes: [n.shape], targetShape: n.targetShape, origin: 'convention' }));
  const weights = streamWeights({ reader, variables, saveOrder: names.map((n) => n.target), assignments }, []);
  const out: Uint8Array[] = [];
  for (const w of weights) out.push(await w.bytes());
  return out;
}

test('transposes read by row blocks or by column runs, whichever copies less, give the transpose exactly', async () => {
  // Wide rows (20 KB) against a 1016-column band: one read per row copies less than whole rows.
  const wide = transposeReads(1030, 5000);
  assert.equal(wide.mode, 'columns');
  // Narrow rows: whole rows, read in blocks, once per band.
  const narrow = transposeReads(2048, 2048);
  assert.deepEqual([narrow.mode, narrow.width], ['rows', 512]);
  // Bands share the columns evenly: 1101 columns take two sweeps of 552 (the widest is no wider than needed).
  assert.deepEqual([transposeReads(1030, 1101).mode, transposeReads(1030, 1101).width], ['rows', 552]);
  // A tensor within one band is read once, whole rows at a time.
  assert.deepEqual([transposeReads(300, 700).mode, transposeReads(300, 700).width], ['rows', 700]);
  const cases: [number, number][] = [[1030, 5000], [2051, 1023], [7, 9], [300, 700], [4099, 258]];
  for (const sync of [true, false]) {
    const tensors = new Map(cases.map(([r, c], i) => [`w${i}`, { shape: [r, c], data: randomFloats(r * c, 10 + i) }]));
    tensors.set('b', { shape: [1001], data: randomFloats(1001, 99) });
    const calls: StridedRange[] = [];
    const reader = memoryReader(tensors, calls, sync);
    const names = cases.map(([r, c], i) => ({ source: `w${i}`, target: `l/k${i}`, shape: [r, c], targetShape: [c, r], kind: 'transpose' as const }));
    names.push({ source: 'b', target: 'l/b', shape: [1001], targetShape: [1001], kind: 'identity' });
    const got = await streamedBytes(reader, names);
    cases.forEach(([r, c], i) => {
      const want = transpose2d(tensors.get(`w${i}`)!.data, r, c);
      assert.ok(Buffer.from(got[i]).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength)), `[${r}, ${c}] (${transposeReads(r, c).mode}, sync ${sync})`);
    });
    const b = tensors.get('b')!.data;
    assert.ok(Buffer.from(got[cases.length]).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)));
    assert.ok(calls.some((r) => r.count === 1030 && r.stride === 5000 * 4), 'the wide tensor was read one run per row');
    assert.ok(calls.some((r) => r.count === 1 && r.sweep === true), 'the others in row blocks');
  }
});

test('read buffers and written pieces are placed so the destination never leads the source by 1–31 bytes modulo 4 KiB', async () => {
  // Kernel copies run 2–5× slower on AMD Zen when they do (see PAGE in convert/stream.ts). Offsets
  // are relative to the arena's WebAssembly memory, which starts page-aligned.
  const cases: { shape: number[]; kind: 'transpose' | 'identity'; offset: number }[] = [
    { shape: [5], kind: 'identity', offset: 0 }, // the next weight's output starts 20 bytes into a page
    { shape: [2051, 1023], kind: 'transpose', offset: 4090 }, // rows of 4092 bytes: every block has its own page offset
    { shape: [600, 512], kind: 'transpose', offset: 16 },
    { shape: [300001], kind: 'identity', offset: 3 * 4096 + 8 },
    { shape: [7], kind: 'identity', offset: 100 },
    { shape: [1000, 777], kind: 'transpose', offset: 0 },
  ];
  const tensors = new Map(cases.map((c, i) => [`t${i}`, { shape: c.shape, data: randomFloats(c.shape.reduce((a, b) => a * b, 1), 50 + i) }]));
  const offsets = new Map(cases.map((c, i) => [`t${i}`, c.offset]));
  const leads: { what: string; lead: number }[] = [];
  const calls: StridedRange[] = [];
  const inner = memoryReader(tensors, calls, true);
  const reader: WeightReader & ReadsStrided = {
    ...inner,
    readStridedSync(name, r, target) {
      // The source byte is at offset + start in "the file"; the destination at target.byteOffset.
      leads.push({ what: `read ${name}@${r.start}`, lead: target.byteOffset - (offsets.get(name)! + r.start) });
      inner.readStridedSync!(name, r, target);
    },
    async readStrided(name, r, target) {
      this.readStridedSync!(name, r, target);
    },
    dataOffset: (name) => offsets.get(name),
  };
  const variables: TargetVariable[] = cases.map((c, i) => ({ name: `l/w${i}`, layer: 'l', className: 'Dense', weight: 'kernel', shape: c.kind === 'transpose' ? [c.shape[1], c.shape[0]] : c.shape, dtype: 'float32', indexInLayer: i, layerIndex: 0 }));
  const assignments: Assignment[] = cases.map((c, i) => ({ target: `l/w${i}`, layer: 'l', sources: [`t${i}`], transform: { kind: c.kind }, sourceShapes: [c.shape], targetShape: variables[i].shape, origin: 'convention' }));
  const shardBytes = 1 << 20;
  const weights = streamWeights({ reader, variables, saveOrder: variables.map((v) => v.name), assignments, shardBytes }, []);
  let at = 0;
  for (const [i, w] of weights.entries()) {
    const parts: Uint8Array[] = [];
    for await (const piece of w.chunks!()) {
      // A piece is written at its stream position within its shard.
      leads.push({ what: `write ${w.spec.name}@${at}`, lead: (at % shardBytes) - piece.byteOffset });
      at += piece.byteLength;
      parts.push(piece.slice());
    }
    const got = Buffer.concat(parts);
    const t = tensors.get(`t${i}`)!;
    const want = cases[i].kind === 'transpose' ? transpose2d(t.data, t.shape[0], t.shape[1]) : t.data;
    assert.ok(got.equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength)), `${w.spec.name}: values`);
  }
  const mod = (n: number) => ((n % 4096) + 4096) % 4096;
  const bad = leads.filter((l) => mod(l.lead) >= 1 && mod(l.lead) <= 31);
  assert.deepEqual(bad, [], 'no copy whose destination leads its source by 1–31 bytes');
  assert.ok(leads.filter((l) => l.what.startsWith('read')).length > 20 && leads.some((l) => l.what.startsWith('write')));
  // Placed, not left at page offset 0 (where this first read would lead its source by 6 bytes).
  assert.ok(leads.some((l) => l.what === 'read t1@0' && mod(l.lead) !== mod(0 - 4090)));
});

test('every reader that reports dataOffset points at the bytes of that tensor in its file (ONNX: formats-onnx.test.ts)', async () => {
  const files = [
    fixture('torch/conv_bn/model.safetensors'),
    fixture('torch/conv_bn/model.npz'),
    fixture('torch/conv_bn/model.pt'),
    fixture('torch/conv_bn/model_legacy.pt'),
    fixture('keras/userblock.h5'),
    fixture('keras/keras3_nested.weights.h5'),
  ];
  for (const file of files) {
    const reader = await openWeights(file);
    try {
      const bytes = fs.readFileSync(file);
      let placed = 0;
      for (const info of reader.list()) {
        const at = (reader as WeightReader & ReadsStrided).dataOffset?.(info.name);
        if (at === undefined) continue;
        const n = Math.min(64, info.byteSize);
        const want = (await reader.read(info.name)).data.subarray(0, n);
        assert.deepEqual(new Uint8Array(bytes.subarray(at, at + n)), new Uint8Array(want), `${path.basename(file)}: ${info.name} at ${at}`);
        placed++;
      }
      assert.ok(placed > 0, `${path.basename(file)} reports where its tensors start`);
    } finally {
      await reader.close();
    }
  }
});

test('an output of many small shards loads and predicts like a single-shard one', async () => {
  await initBackend();
  const dir = fixture('torch/conv_bn');
  const parent = tempDir();
  const one = path.join(parent, 'one');
  const many = path.join(parent, 'many');
  await convert({ source: path.join(dir, 'model.safetensors'), target: path.join(dir, 'target.json'), from: 'torch', out: one, shardBytes: 64 * 1024 * 1024 });
  const r = await convert({ source: path.join(dir, 'model.safetensors'), target: path.join(dir, 'target.json'), from: 'torch', out: many, shardBytes: 100 });
  assert.equal(r.engine, 'stream');
  const shards = (JSON.parse(fs.readFileSync(path.join(many, 'model.json'), 'utf8')).weightsManifest[0].paths as string[]);
  assert.ok(shards.length > 20, `${shards.length} shards`);
  for (const s of shards) assert.ok(fs.statSync(path.join(many, s)).size <= 100);
  const concat = Buffer.concat(shards.map((s) => fs.readFileSync(path.join(many, s))));
  assert.ok(concat.equals(fs.readFileSync(path.join(one, 'group1-shard1of1.bin'))), 'the shards hold the single shard\'s bytes');
  const a = await loadLayersModelFromDir(one);
  const b = await loadLayersModelFromDir(many);
  const x = { shape: [2, 9, 9, 3], data: randomFloats(2 * 9 * 9 * 3, 5) };
  assert.equal(maxAbsDiff(predictArray(a, x).data, predictArray(b, x).data), 0);
  a.dispose();
  b.dispose();
});

test('unrestored variables: streamed from a target with weights, else the tfjs engine initialises them', async () => {
  await initBackend();
  const dir = fixture('torch/seed_mlp');
  const source = path.join(dir, 'model.safetensors');
  // A target without weights: hidden4/output must get tfjs's initial values, which only tfjs has.
  const auto = await convert({ source, target: path.join(dir, 'target_new.json'), from: 'torch', include: ['^hidden[123]/'], out: path.join(tempDir(), 'o') });
  assert.equal(auto.engine, 'tfjs');
  assert.match(auto.engineReason ?? '', /initial values/);
  await assert.rejects(
    convert({ source, target: path.join(dir, 'target_new.json'), from: 'torch', include: ['^hidden[123]/'], engine: 'stream', out: path.join(tempDir(), 'o') }),
    (e: unknown) => e instanceof GraftError && e.code === 'UNSUPPORTED' && /cannot stream/.test(e.message),
  );
  // That output has weights of its own: used as the target, it streams, keeping hidden4/output.
  const withWeights = auto.out!;
  const { stream, tfjs: t } = await bothEngines({ source, target: withWeights, from: 'torch', include: ['^hidden[12]/'] });
  assertSameFolders(stream, t, 'target with weights');
  const kept = await loadLayersModelFromDir(withWeights);
  const streamed = await loadLayersModelFromDir(stream);
  for (const name of ['hidden3/kernel', 'hidden4/kernel', 'output/bias']) {
    const w0 = kept.weights.find((w) => w.originalName === name)!.read().dataSync();
    const w1 = streamed.weights.find((w) => w.originalName === name)!.read().dataSync();
    assert.equal(maxAbsDiff(w0, w1), 0, `${name} kept from the target`);
  }
  kept.dispose();
  streamed.dispose();
});

test('backends: forced tfjs backend shows in the report; the streaming engine uses none', async () => {
  const dir = fixture('torch/mlp');
  const base = { source: path.join(dir, 'model.safetensors'), target: path.join(dir, 'target.json'), from: 'torch' as const };
  const s = await convert({ ...base, out: path.join(tempDir(), 'o') });
  assert.equal(s.backend, 'none (streaming)');
  const c = await convert({ ...base, backend: 'cpu', out: path.join(tempDir(), 'o') });
  assert.equal(c.engine, 'tfjs');
  assert.equal(c.backend, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  await assert.rejects(convert({ ...base, backend: 'cpu', engine: 'stream', dryRun: true }), (e: unknown) => e instanceof GraftError && e.code === 'USAGE');
  await assert.rejects(convert({ ...base, backend: 'metal' as never, dryRun: true }), (e: unknown) => e instanceof GraftError && e.code === 'USAGE');
});

/** The @tensorflow modules loaded by requiring `modules` in a fresh process. */
function tfjsLoadedBy(modules: string[]): string[] {
  const script = `${modules.map((m) => `require(${JSON.stringify(m)});`).join(' ')}
    process.stdout.write(JSON.stringify(Object.keys(require.cache).filter((k) => k.includes('@tensorflow'))));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: path.resolve(__dirname, '..'), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

test('the streaming modules load no tfjs', () => {
  assert.deepEqual(tfjsLoadedBy(['./src/convert/stream', './src/topology/weight-specs', './src/output/quantize', './src/output/writer', './src/backend', './src/cli/progress']), []);
});

test('convert() and its CLI command load no tfjs until the tfjs engine runs', () => {
  assert.deepEqual(tfjsLoadedBy(['./src/convert', './src/cli/commands/convert']), []);
});

test('progress bar: on a terminal only, after the delay, throttled, cleared at the end; never when quiet or piped', () => {
  let now = 0;
  const writes: string[] = [];
  const terminal = { isTTY: true, columns: 60, write: (s: string) => writes.push(s) > 0 };
  const bar = progressBar({ stream: terminal, now: () => now, delayMs: 1000, intervalMs: 100 });
  bar.update({ done: 1, total: 10 });
  now = 999;
  bar.update({ done: 2, total: 10 });
  assert.equal(writes.length, 0, 'nothing for short work');
  now = 1000;
  bar.update({ done: 3, total: 10, detail: '3/10 weights' });
  now = 1050;
  bar.update({ done: 4, total: 10 });
  now = 1100;
  bar.update({ done: 5, total: 10 });
  assert.equal(writes.length, 2, 'redrawn at most every 100 ms');
  assert.match(writes[0], /^\r\[#+-+\]  30% .*3\/10 weights/);
  assert.match(writes[1], /50%/);
  assert.ok(writes.every((w) => w.replace(/\r|\x1b\[K/g, '').length < 60), 'fits the terminal');
  bar.stop();
  assert.equal(writes[writes.length - 1], '\r\x1b[K');
  for (const options of [{ stream: { ...terminal, isTTY: false } }, { stream: terminal, quiet: true }]) {
    const count: number = writes.length;
    const other = progressBar({ ...options, now: () => now, delayMs: 0 });
    other.update({ done: 1, total: 2 });
    other.stop();
    assert.equal(writes.length, count);
  }
});
