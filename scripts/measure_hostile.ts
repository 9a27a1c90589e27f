/**
 * Time and peak memory of graft on the worst hostile inputs of issue 13 (the figures quoted in
 * reports). Each case runs in its own process under /usr/bin/time: open the file with
 * openWeights, list it and read every tensor (or, for a topology, analyse it), as a conversion
 * would. Builds the large cases in a temporary folder; committed ones come from fixtures/hostile.
 *
 *   npm run build && npx tsx scripts/measure_hostile.ts     # all cases, a table on stdout
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PickleWriter, npyHeader, zerosDeflated, zipArchive } from '../test/helpers/hostile-build';

const ROOT = path.resolve(__dirname, '..');
const hostile = (rel: string) => path.join(ROOT, 'fixtures', 'hostile', rel);

/**
 * One case, run by plain node on the built dist/ (as the CLI runs; tsx's loader would transpile
 * h5wasm's large bundle and add seconds and hundreds of MiB to every HDF5 case).
 */
const ONE_CASE = `
const [kind, file] = process.argv.slice(1);
const dist = ${JSON.stringify(path.join(ROOT, 'dist'))};
(async () => {
  const t0 = Date.now();
  try {
    if (kind === 'topology') {
      const { weightSpecsFromTopology } = require(dist + '/topology/weight-specs');
      const vars = weightSpecsFromTopology(JSON.parse(require('fs').readFileSync(file, 'utf8')));
      console.log('ok: ' + (vars ? vars.length : 0) + ' variables');
    } else {
      const { openWeights } = require(dist + '/formats');
      const reader = await openWeights(file);
      try {
        let n = 0;
        for (const t of reader.list()) {
          if (kind === 'weights') await reader.read(t.name);
          n++;
        }
        console.log('ok: ' + n + (kind === 'weights' ? ' tensors read' : ' tensors listed'));
      } finally {
        await reader.close();
      }
    }
  } catch (e) {
    console.log((e.name === 'GraftError' ? 'refused' : 'FAILED') + ': ' + String(e.message).split('\\n')[0].slice(0, 160));
  }
})();
`;

function build(dir: string): [string, string, string][] {
  const w = (name: string, bytes: Uint8Array): string => {
    const f = path.join(dir, name);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, bytes);
    return f;
  };
  const cases: [string, string, string][] = [];
  const torch = (pkl: Uint8Array) => zipArchive([{ name: 'archive/data.pkl', stored: pkl }]);
  const amplify = (call: (p: PickleWriter) => void, pairs = false, text = false) => {
    const p = new PickleWriter();
    if (text) p.str('x'.repeat(100_000));
    else {
      p.mark();
      for (let i = 0; i < 100_000; i++) p.op(...(pairs ? [0x4b, i & 0xff, 0x4b, 1, 0x86] : [0x4b, i & 0xff]));
      p.op(0x6c);
    }
    p.put(0).op(0x30, 0x5d);
    for (let i = 0; i < 10_000; i++) {
      call(p);
      p.op(0x61);
    }
    return p.bytes();
  };
  cases.push(['pickle: set(memo) ×10,000', 'weights', w('set.pt', torch(amplify((p) => p.global('builtins', 'set').get(0).op(0x85, 0x52))))]);
  cases.push(['pickle: OrderedDict(memo) ×10,000', 'weights', w('od.pt', torch(amplify((p) => p.global('collections', 'OrderedDict').get(0).op(0x85, 0x52), true)))]);
  cases.push(['pickle: _codecs.encode(memo) ×10,000', 'weights', w('codecs.pt', torch(amplify((p) => p.global('_codecs', 'encode').get(0).str('latin1').op(0x86, 0x52), false, true)))]);
  cases.push(['zip: data.pkl deflated to 800 MiB', 'weights', w('pkl800.pt', zipArchive([{ name: 'archive/data.pkl', deflate: zerosDeflated(800 << 20) }]))]);
  const header = npyHeader([1 << 28]);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const zlib = require('zlib') as typeof import('zlib');
  const flushed = (b: Uint8Array) => zlib.deflateRawSync(b, { finishFlush: zlib.constants.Z_FULL_FLUSH });
  const gib = zerosDeflated(1 << 30);
  cases.push(['zip: .npz array deflated to 1 GiB', 'weights', w('gib.npz', zipArchive([{ name: 'w.npy', deflate: { data: Buffer.concat([flushed(header), gib.data]), size: header.length + gib.size, crc: 0 } }]))]);
  const z16 = zerosDeflated(16 << 20);
  const h16 = npyHeader([4 << 20]);
  cases.push(['zip: savez_compressed-style .npz, 200 zero arrays (list only)', 'list', w('zeros200.npz', zipArchive(Array.from({ length: 200 }, (_, i) => ({ name: `a${i}.npy`, deflate: { data: Buffer.concat([flushed(h16), z16.data]), size: h16.length + z16.size, crc: 0 } }))))]);
  const views = new PickleWriter().op(0x7d).mark();
  for (let i = 0; i < 200; i++) views.str(`v${i}`).tensor('0', 8 << 20, (8 << 20) - 1024 * (i + 1), [1024]);
  views.op(0x75);
  cases.push(['zip: one deflated 32 MiB .pt storage, 200 views', 'weights', w('views.pt', zipArchive([{ name: 'archive/data.pkl', stored: views.bytes() }, { name: 'archive/data/0', deflate: zerosDeflated(32 << 20) }]))]);
  cases.push(['.keras: config.json deflated to 240 MiB', 'weights', w('cfg.keras', zipArchive([{ name: 'metadata.json', stored: Buffer.from('{}') }, { name: 'config.json', deflate: zerosDeflated(240 << 20) }, { name: 'model.weights.h5', stored: fs.readFileSync(hostile('h5/hardlink_cycle.weights.h5')) }]))]);
  cases.push(['.keras: weights member deflated to 1 GiB, not HDF5', 'weights', w('w.keras', zipArchive([{ name: 'metadata.json', stored: Buffer.from('{}') }, { name: 'config.json', stored: Buffer.from('{"class_name": "Sequential", "config": {"layers": []}}') }, { name: 'model.weights.h5', deflate: zerosDeflated(1 << 30) }]))]);
  // ONNX: 40,000 inputs; 5 M packed int64.
  const varint = (n: number): Buffer => {
    const out: number[] = [];
    for (;;) {
      const b = n & 0x7f;
      n = Math.floor(n / 128);
      if (n) out.push(b | 0x80);
      else return Buffer.from([...out, b]);
    }
  };
  const f = (num: number, payload: Buffer | number): Buffer => (typeof payload === 'number' ? Buffer.concat([varint(num << 3), varint(payload)]) : Buffer.concat([varint((num << 3) | 2), varint(payload.length), payload]));
  const model = (inits: Buffer[], nodes: Buffer[]) => Buffer.concat([f(1, 7), f(7, Buffer.concat([...nodes.map((n) => f(1, n)), ...inits.map((t) => f(5, t))]))]);
  const winit = Buffer.concat([f(1, Buffer.from([1])), f(2, 1), f(8, Buffer.from('w')), f(9, Buffer.from(new Float32Array([3]).buffer))]);
  cases.push(['ONNX: a node with 40,000 inputs', 'weights', w('wide.onnx', model([winit], [Buffer.concat([...Array.from({ length: 40_000 }, () => f(1, Buffer.from('w'))), f(2, Buffer.from('y')), f(4, Buffer.from('Sum'))])]))]);
  cases.push(['ONNX: 5 MB of packed int64_data', 'weights', w('int64.onnx', model([Buffer.concat([f(1, varint(5_000_000)), f(2, 7), f(7, Buffer.alloc(5_000_000, 1)), f(8, Buffer.from('ids'))])], []))]);
  // safetensors index spelling one shard 6,000 ways.
  const st: Record<string, unknown> = {};
  for (let i = 0; i < 6000; i++) st[`t${i}`] = { dtype: 'F32', shape: [1], data_offsets: [i * 4, i * 4 + 4] };
  let text = JSON.stringify(st);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  w('spelt/s.safetensors', Buffer.concat([len, Buffer.from(text), Buffer.alloc(6000 * 4)]));
  const map: Record<string, string> = {};
  for (let i = 0; i < 6000; i++) map[`t${i}`] = `.${'/.'.repeat(i % 60)}/s.safetensors`;
  cases.push(['safetensors: index spelling one shard 6,000 ways', 'weights', w('spelt/model.safetensors.index.json', Buffer.from(JSON.stringify({ weight_map: map })))]);
  w('tfjs/s.bin', new Uint8Array(64 << 10));
  cases.push(['tfjs: one 64 KiB shard listed 16,384 times', 'weights', w('tfjs/model.json', Buffer.from(JSON.stringify({ format: 'layers-model', modelTopology: {}, weightsManifest: [{ paths: Array(16_384).fill('s.bin'), weights: [{ name: 'w', shape: [1 << 28], dtype: 'float32' }] }] })))]);
  // Topology: 20,000-layer functional chain, listed in reverse.
  const layers: unknown[] = [{ class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 2] }, inbound_nodes: [] }];
  for (let i = 0; i < 20_000; i++) layers.push({ class_name: 'Dense', config: { name: `d${i}`, units: 2 }, inbound_nodes: [[[i ? `d${i - 1}` : 'in', 0, 0, {}]]] });
  cases.push(['topology: 20,000-layer chain in reverse order', 'topology', w('chain.json', Buffer.from(JSON.stringify({ class_name: 'Model', config: { name: 'c', layers: layers.reverse(), input_layers: [['in', 0, 0]], output_layers: [['d19999', 0, 0]] } })))]);
  for (const [name, rel] of [
    ['HDF5: 1 GiB chunks (committed)', 'h5/big_chunk.h5'],
    ['HDF5: gzip chunks decoding to 80 MiB (committed)', 'h5/zeros_80mib.h5'],
    ['Keras 2: layer_names × 2,000 (committed)', 'h5/repeated_names.h5'],
    ['Keras 3: hard-link cycles (committed)', 'h5/hardlink_cycle.weights.h5'],
    ['TF checkpoint: data shard linked outside (committed)', 'tf-ckpt/escape/inner/model.ckpt'],
  ]) cases.push([name, 'weights', hostile(rel)]);
  return cases;
}

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-measure-'));
  try {
    const cases = build(dir);
    // The TF checkpoint prefix bomb is built by its test (it needs a table writer); not here.
    console.log('| case | input | outcome | wall s | peak RSS MiB |\n| --- | --- | --- | --- | --- |');
    for (const [name, kind, file] of cases) {
      const size = fs.statSync(file.endsWith('model.ckpt') ? `${file}.index` : file).size;
      const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %M', process.execPath, '-e', ONE_CASE, kind, file], { encoding: 'utf8', cwd: ROOT });
      const m = /TIME ([\d.]+) (\d+)/.exec(r.stderr);
      const outcome = r.stdout.split('\n')[0].replace(file, '<file>').replace(/\|/g, '/');
      console.log(`| ${name} | ${size < 1 << 20 ? `${(size / 1024).toFixed(0)} KiB` : `${(size / 2 ** 20).toFixed(1)} MiB`} | ${outcome.slice(0, 110)} | ${m?.[1] ?? '?'} | ${m ? (Number(m[2]) / 1024).toFixed(0) : '?'} |`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (!fs.existsSync(path.join(ROOT, 'dist', 'formats', 'index.js'))) {
  console.error('build first: npm run build');
  process.exitCode = 1;
} else main();
