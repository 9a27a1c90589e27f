/**
 * Deflated .npz members (np.savez_compressed): read through a temporary file each member is
 * inflated into (src/io/inflate-file.ts), in pieces. Byte parity with what np.load gives
 * (fixtures/formats/npz-deflated, scripts/make_npz_deflated_fixtures.py), damaged members failing
 * in one line with no output, and memory bounded by the pieces rather than the member.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { NpzHandler } from '../src/formats/numpy/npz';
import type { ReadsStrided, StridedRange } from '../src/formats/types';
import { graft } from './helpers/cli';
import { npyHeader, zerosDeflated, zipArchive, ZipMember } from './helpers/hostile-build';
import { fixture } from './helpers/realworld';
import { tempDir } from './helpers/temp';

interface Expected {
  arrays: Record<string, { dtype: string; shape: number[]; sha256: string }>;
  order: string[];
  weights_sha256: string;
}

const DIR = fixture('formats/npz-deflated');
const expected = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8')) as Expected;
const sha256 = (bytes: Uint8Array) => crypto.createHash('sha256').update(bytes).digest('hex');

function scratch(t: { after(f: () => void): void }): string {
  const dir = tempDir('graft-npz-deflated-test-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('npz deflated: every array, read whole and in strided pieces, is byte for byte what np.load gives', async () => {
  const reader = await NpzHandler.open(path.join(DIR, 'model.npz'));
  try {
    assert.deepEqual(reader.list().map((t) => t.name), expected.order);
    // Reads of a deflated archive wait for zlib on the thread pool: no synchronous strided reads.
    assert.equal((reader as Partial<ReadsStrided>).readStridedSync, undefined);
    const strided = reader as unknown as ReadsStrided;
    for (const info of reader.list()) {
      const exp = expected.arrays[info.name];
      assert.equal(info.dtype, exp.dtype, info.name);
      assert.deepEqual(info.shape, exp.shape, info.name);
      const whole = (await reader.read(info.name)).data;
      assert.equal(sha256(whole), exp.sha256, `${info.name} read whole`);
      // Front to back in three uneven pieces, then a column band (a transpose's reads).
      const pieces = new Uint8Array(whole.length);
      const cuts = [0, Math.floor(whole.length / 3), Math.floor((2 * whole.length) / 3), whole.length];
      for (let i = 0; i + 1 < cuts.length; i++) {
        const n = cuts[i + 1] - cuts[i];
        await strided.readStrided(info.name, { start: cuts[i], runBytes: n, stride: n, count: 1 }, pieces.subarray(cuts[i]));
      }
      assert.equal(sha256(pieces), exp.sha256, `${info.name} read in pieces`);
      if (info.shape.length === 2 && whole.length > 0) {
        const [rows, cols] = info.shape;
        const width = whole.length / (rows * cols);
        const band = Math.min(3, cols);
        const got = new Uint8Array(rows * band * width);
        await strided.readStrided(info.name, { start: (cols - band) * width, runBytes: band * width, stride: cols * width, count: rows }, got);
        for (let r = 0; r < rows; r++) {
          assert.deepEqual(got.subarray(r * band * width, (r + 1) * band * width), whole.subarray((r * cols + cols - band) * width, (r + 1) * cols * width), `${info.name} band row ${r}`);
        }
      }
    }
  } finally {
    await reader.close();
  }
});

/**
 * The two ways graft inflates on Node: its zlib handle driven synchronously into reused buffers
 * (the default where it passes its self-test), and the documented zlib stream on the thread pool
 * with fflate for headers (GRAFT_NO_SYNC_ZLIB=1, what a Node whose handle differs gets).
 */
const INFLATERS: [string, NodeJS.ProcessEnv][] = [['synchronous zlib', { GRAFT_NO_SYNC_ZLIB: '0' }], ['zlib stream and fflate', { GRAFT_NO_SYNC_ZLIB: '1' }]];

for (const [how, env] of INFLATERS) {
  test(`npz deflated (${how}): graft convert writes the weights np.load + transpose gives`, (t) => {
    const out = path.join(scratch(t), 'out');
    const r = graft(['convert', path.join(DIR, 'model.npz'), '--target', path.join(DIR, 'target.json'), '--from', 'torch', '--out', out, '--quiet'], { env });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
    const hash = crypto.createHash('sha256');
    for (const p of doc.weightsManifest.flatMap((g) => g.paths)) hash.update(fs.readFileSync(path.join(out, p)));
    assert.equal(hash.digest('hex'), expected.weights_sha256);
  });
}

test('npz deflated: without a writable temporary folder the members are inflated in memory, with the same result', (t) => {
  const dir = scratch(t);
  const out = path.join(dir, 'out');
  const r = graft(['convert', path.join(DIR, 'model.npz'), '--target', path.join(DIR, 'target.json'), '--from', 'torch', '--out', out, '--quiet'], { env: { TMPDIR: path.join(dir, 'missing') } });
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
  const hash = crypto.createHash('sha256');
  for (const p of doc.weightsManifest.flatMap((g) => g.paths)) hash.update(fs.readFileSync(path.join(out, p)));
  assert.equal(hash.digest('hex'), expected.weights_sha256);
});

// ------------------------------------------------------------------ damaged members

/** A raw deflate stream of `head` then `zeros` zero bytes (flushed blocks, so parts concatenate). */
function headThenZeros(head: Uint8Array, zeros: number): { data: Buffer; size: number; crc: number } {
  const first = zlib.deflateRawSync(head, { finishFlush: zlib.constants.Z_FULL_FLUSH });
  const rest = zerosDeflated(zeros);
  let crc = zlib.crc32(head);
  const chunk = Buffer.alloc(1 << 20);
  for (let done = 0; done < zeros; done += chunk.length) crc = zlib.crc32(chunk.subarray(0, Math.min(chunk.length, zeros - done)), crc);
  return { data: Buffer.concat([first, rest.data]), size: head.length + zeros, crc };
}

function denseTarget(file: string, units: number, inputs: number): void {
  const layer = { class_name: 'Dense', config: { name: 'layers_0', units, activation: 'linear', use_bias: true, batch_input_shape: [null, inputs] } };
  fs.writeFileSync(file, JSON.stringify({ format: 'layers-model', modelTopology: { class_name: 'Sequential', config: { name: 't', layers: [layer] } } }));
}

function weightNpy(rows: number, cols: number): Buffer {
  const values = new Float32Array(rows * cols).map((_, i) => ((i * 7919) % 1000) / 100 - 5);
  return Buffer.concat([npyHeader([rows, cols]), Buffer.from(values.buffer)]);
}

const bias = (n: number): ZipMember => ({ name: 'layers.0.bias.npy', stored: Buffer.concat([npyHeader([n]), Buffer.alloc(n * 4)]) });

const damaged: { label: string; rows: number; cols: number; member: () => ZipMember; reason: RegExp }[] = [
  {
    label: 'a wrong CRC-32',
    rows: 64, cols: 48,
    member: () => {
      const bytes = weightNpy(64, 48);
      return { name: 'layers.0.weight.npy', deflate: { data: zlib.deflateRawSync(bytes), size: bytes.length, crc: (zlib.crc32(bytes) ^ 0x10) >>> 0 } };
    },
    reason: /fails its CRC-32 check/,
  },
  {
    label: 'a truncated deflate stream',
    rows: 64, cols: 48,
    member: () => {
      const bytes = weightNpy(64, 48);
      const data = zlib.deflateRawSync(bytes);
      return { name: 'layers.0.weight.npy', deflate: { data: data.subarray(0, data.length - 300), size: bytes.length, crc: zlib.crc32(bytes) } };
    },
    reason: /damaged deflate stream|fewer than/,
  },
  {
    label: 'more output than declared (a bomb lying about its size)',
    rows: 64, cols: 48,
    member: () => {
      const real = headThenZeros(npyHeader([64, 48]), 8 << 20);
      return { name: 'layers.0.weight.npy', deflate: { data: real.data, size: npyHeader([64, 48]).length + 64 * 48 * 4, crc: real.crc } };
    },
    reason: /inflates to more than its declared/,
  },
  {
    label: 'a declared size beyond the inflate budget',
    rows: 8192, cols: 8192,
    member: () => ({ name: 'layers.0.weight.npy', deflate: headThenZeros(npyHeader([8192, 8192]), 8192 * 8192 * 4) }),
    reason: /beyond graft's budget/,
  },
];

for (const [how, env] of INFLATERS) for (const c of damaged) {
  test(`npz deflated (${how}): a member with ${c.label} fails in one line naming file and tensor, leaving no output`, (t) => {
    const dir = scratch(t);
    const file = path.join(dir, 'damaged.npz');
    fs.writeFileSync(file, zipArchive([c.member(), bias(c.rows)]));
    const target = path.join(dir, 'target.json');
    denseTarget(target, c.rows, c.cols);
    const out = path.join(dir, 'out');
    const r = graft(['convert', file, '--target', target, '--from', 'torch', '--out', out], { env });
    assert.notEqual(r.code, 0, r.stdout);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /damaged\.npz/);
    assert.match(lines[0], /layers\.0\.weight/);
    assert.match(lines[0], c.reason);
    assert.equal(fs.existsSync(out), false, 'no output folder');
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('graft-tmp')), [], 'no temporary output left');
  });
}

// ------------------------------------------------------------------ memory

/** Child process: reads one member front to back in 1 MiB pieces, reporting its hash and peak RSS growth. */
const READ_SCRIPT = `
import * as crypto from 'crypto';
import * as fs from 'fs';
import { NpzHandler } from ${JSON.stringify(path.resolve(__dirname, '..', 'src', 'formats', 'numpy', 'npz'))};
(async () => {
  const reader = await NpzHandler.open(process.argv[2]);
  const info = reader.list()[0];
  const piece = new Uint8Array(1 << 20);
  const hash = crypto.createHash('sha256');
  // VmHWM, this process's own peak: getrusage's maxRSS would count the parent's at fork time.
  const status = (key: string) => Number(/\\d+/.exec(fs.readFileSync('/proc/self/status', 'utf8').split('\\n').find((l) => l.startsWith(key))!)![0]) * 1024;
  const before = status('VmRSS:');
  const range = { start: 0, runBytes: 0, stride: 0, count: 1 };
  for (let at = 0; at < info.byteSize; at += piece.length) {
    const n = Math.min(piece.length, info.byteSize - at);
    range.start = at;
    range.runBytes = range.stride = n;
    await (reader as any).readStrided(info.name, range, piece.subarray(0, n));
    hash.update(piece.subarray(0, n));
  }
  await reader.close();
  const peak = status('VmHWM:');
  console.log(JSON.stringify({ hash: hash.digest('hex'), growth: peak - before }));
})();
`;

test('npz deflated: reading a 256 MiB member grows peak memory by well under the member (pieces, not the member)', { skip: !fs.existsSync('/proc/self/status') && 'needs /proc/self/status (Linux)' }, (t) => {
  const dir = scratch(t);
  const count = 64 << 20; // float32 values: 256 MiB of data
  const header = npyHeader([count]);
  // Data that deflates about 4:1 (a 32× inflate budget allows it) and has no long runs: 2-bit
  // symbols from an LCG, compressed in flushed 4 MiB parts so that they concatenate.
  const parts: Buffer[] = [zlib.deflateRawSync(header, { finishFlush: zlib.constants.Z_FULL_FLUSH })];
  const hash = crypto.createHash('sha256');
  let crc = zlib.crc32(header);
  let seed = 12345;
  const block = Buffer.alloc(4 << 20);
  const total = count * 4;
  for (let done = 0; done < total; done += block.length) {
    for (let i = 0; i < block.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) | 0;
      block[i] = (seed >>> 28) & 3;
    }
    hash.update(block);
    crc = zlib.crc32(block, crc);
    const last = done + block.length >= total;
    parts.push(zlib.deflateRawSync(block, { level: 1, finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_FULL_FLUSH }));
  }
  const file = path.join(dir, 'big.npz');
  fs.writeFileSync(file, zipArchive([{ name: 'big.npy', deflate: { data: Buffer.concat(parts), size: header.length + total, crc } }]));
  parts.length = 0;
  const script = path.join(dir, 'read.ts');
  fs.writeFileSync(script, READ_SCRIPT);
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, file], { cwd: path.resolve(__dirname, '..'), encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout.trim().split('\n').pop()!) as { hash: string; growth: number };
  assert.equal(got.hash, hash.digest('hex'), 'the member reads back as written');
  // Inflating the member whole (or holding it) would grow the peak by at least its 256 MiB.
  assert.ok(got.growth < total / 2, `peak RSS grew by ${(got.growth / 2 ** 20).toFixed(0)} MiB reading a ${total / 2 ** 20} MiB member`);
});

test('npz deflated: converting an archive of many deflated members peaks within a few MiB of the same archive stored (no garbage per piece)', { skip: !fs.existsSync('/proc/self/status') && 'needs /proc/self/status (Linux)' }, (t) => {
  const dir = scratch(t);
  const rows = 1024;
  const cols = 1024;
  const layers = 24; // 96 MiB of weights
  const stored: ZipMember[] = [];
  const deflated: ZipMember[] = [];
  let seed = 777;
  const target = { format: 'layers-model', modelTopology: { class_name: 'Sequential', config: { name: 't', layers: [] as unknown[] } } };
  for (let i = 0; i < layers; i++) {
    const values = new Uint8Array(rows * cols * 4);
    // Small symbols from an LCG: deflates well, without long runs.
    for (let k = 0; k < values.length; k++) {
      seed = (Math.imul(seed, 1103515245) + 12345) | 0;
      values[k] = (seed >>> 28) & 3;
    }
    for (const [name, shape, data] of [[`layers.${i}.weight.npy`, [rows, cols], values], [`layers.${i}.bias.npy`, [rows], new Uint8Array(rows * 4)]] as const) {
      const bytes = Buffer.concat([npyHeader([...shape]), data]);
      stored.push({ name, stored: bytes });
      deflated.push({ name, deflate: { data: zlib.deflateRawSync(bytes, { level: 1 }), size: bytes.length, crc: zlib.crc32(bytes) } });
    }
    target.modelTopology.config.layers.push({ class_name: 'Dense', config: { name: `layers_${i}`, units: rows, activation: 'linear', use_bias: true, ...(i === 0 ? { batch_input_shape: [null, cols] } : {}) } });
  }
  fs.writeFileSync(path.join(dir, 'stored.npz'), zipArchive(stored));
  fs.writeFileSync(path.join(dir, 'deflated.npz'), zipArchive(deflated));
  fs.writeFileSync(path.join(dir, 'target.json'), JSON.stringify(target));
  // Each process's own peak (VmHWM), appended to a file as it exits: the CLI's is the largest (its
  // clean-up guardian, a bare node, also reports).
  const preload = path.join(dir, 'peak.js');
  fs.writeFileSync(preload, `process.on('exit', () => require('fs').appendFileSync(process.env.PEAK_FILE, require('fs').readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\\s+(\\d+)/)[1] + '\\n'));`);
  const peak = (kind: string): number => {
    const peakFile = path.join(dir, `${kind}.peak`);
    const r = graft(['convert', path.join(dir, `${kind}.npz`), '--target', path.join(dir, 'target.json'), '--from', 'torch', '--out', path.join(dir, `out-${kind}`), '--quiet'], { env: { NODE_OPTIONS: `--require ${preload}`, PEAK_FILE: peakFile, GRAFT_NO_SYNC_ZLIB: '0' } });
    assert.equal(r.code, 0, r.stderr);
    return Math.max(...fs.readFileSync(peakFile, 'utf8').trim().split('\n').map(Number)) / 1024;
  };
  const storedPeak = peak('stored');
  const deflatedPeak = peak('deflated');
  for (const shard of fs.readdirSync(path.join(dir, 'out-stored')).filter((n) => n.endsWith('.bin'))) {
    assert.ok(fs.readFileSync(path.join(dir, 'out-deflated', shard)).equals(fs.readFileSync(path.join(dir, 'out-stored', shard))), shard);
  }
  // With zlib's output pieces left to the garbage collector (the stream way), ~40 MiB higher.
  assert.ok(deflatedPeak < storedPeak + 12, `peak ${deflatedPeak.toFixed(1)} MiB deflated against ${storedPeak.toFixed(1)} MiB stored`);
});
