/**
 * Seeded fuzzer for every weight reader.
 *
 * Each case copies one fixture (or fixture folder: shards, checkpoints, external data) into a
 * fresh temporary folder, damages one or two of its files with 1–3 seeded mutations (truncation,
 * bit flips, splices from other fixtures, huge values in length fields, duplicated or deleted
 * regions, path escapes in manifests), then opens it with `openWeights`, lists it and reads every
 * tensor in a worker thread under a watchdog. A case passes when it ends, within the time bound,
 * in success or in a GraftError whose message names a file of the case; anything else (a raw
 * TypeError/RangeError, a hang, an allocation beyond the limit, a leaked temp file) is a finding.
 *
 *   npx tsx scripts/fuzz.ts --cases 5000 --seed 7          # long run
 *   npx tsx scripts/fuzz.ts --seed 7 --case 1234 --keep /tmp/f   # replay one case, keep its files
 *   options: --timeout <ms> (2000); --only <target name substring> (case numbers then count within
 *   the chosen targets: replay with the same --only); --pickles <n> (streams for the unpickler
 *   fuzz, default cases/2; as many again of text-opcode pickles)
 *
 * test/fuzz.test.ts imports this module and runs 1500 file cases and 1000 pickle streams in CI.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { isMainThread, parentPort, Worker, workerData } from 'worker_threads';
import { zipSync } from 'fflate';

export const ROOT = path.resolve(__dirname, '..');
export const FIXTURES = path.join(ROOT, 'fixtures');

// ---------------------------------------------------------------------------------------------
// Seeded random numbers (sfc32): the same seed and case index always give the same case.

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    this.a = 0x9e3779b9 ^ seed;
    this.b = 0x243f6a88 ^ Math.imul(stream, 0x85ebca6b);
    this.c = 0xb7e15162 ^ Math.imul(seed, 0xc2b2ae35);
    this.d = 1 ^ stream;
    for (let i = 0; i < 16; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.u32() / 2 ** 32) * n);
  }

  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

// ---------------------------------------------------------------------------------------------
// The corpus: which fixtures each format is fuzzed from.

export interface FuzzTarget {
  /** Short unique name, e.g. 'pt:mlp'. */
  name: string;
  /** Files of the case, relative name → bytes (copied from fixtures or built). */
  files: () => Record<string, Uint8Array>;
  /** What openWeights is given, relative to the case folder. */
  open: string;
  /** Files the mutator may damage. */
  mutable: string[];
}

function fromDir(dir: string, names: string[]): () => Record<string, Uint8Array> {
  return () => Object.fromEntries(names.map((n) => [n, new Uint8Array(fs.readFileSync(path.join(dir, n)))]));
}

function single(name: string, file: string, as = path.basename(file)): FuzzTarget {
  return { name, files: fromDir(path.dirname(file), [path.basename(file)]), open: as, mutable: [as] };
}

function renamed(name: string, file: string, as: string): FuzzTarget {
  return { name, files: () => ({ [as]: new Uint8Array(fs.readFileSync(file)) }), open: as, mutable: [as] };
}

function folder(name: string, dir: string, open: string, mutable?: string[]): FuzzTarget {
  const names = fs.readdirSync(dir).filter((n) => fs.statSync(path.join(dir, n)).isFile());
  return { name, files: fromDir(dir, names), open, mutable: mutable ?? names };
}

/** A minimal `.keras` zip around the Keras 3 weights fixture (there is no `.keras` fixture). */
function kerasZip(): Record<string, Uint8Array> {
  const weights = new Uint8Array(fs.readFileSync(path.join(FIXTURES, 'keras', 'keras3_nested.weights.h5')));
  const text = (s: string) => new TextEncoder().encode(s);
  const zip = zipSync(
    {
      'metadata.json': text('{"keras_version": "3.3.3", "date_saved": "2024-01-01@00:00:00"}'),
      'config.json': text('{"class_name": "Sequential", "config": {"name": "seq", "layers": []}}'),
      'model.weights.h5': weights,
    },
    { level: 0 },
  );
  return { 'model.keras': zip };
}

export function fuzzTargets(): FuzzTarget[] {
  const f = (...p: string[]) => path.join(FIXTURES, ...p);
  const t: FuzzTarget[] = [];
  for (const n of ['le_f4', 'be_f2', 'fortran_be_i4', 'v2_f4', 'v3_f4', 'scalar_f8', 'empty_f4', 'le_b1']) t.push(single(`npy:${n}`, f('formats', 'npy', `${n}.npy`)));
  for (const n of ['stored', 'deflated', 'zip64']) t.push(single(`npz:${n}`, f('formats', 'npz', `${n}.npz`)));
  for (const c of ['mlp', 'conv_bn']) t.push(renamed(`npz:${c}`, f('torch', c, 'model.npz'), 'model.npz'));
  for (const c of ['mlp', 'conv_bn', 'lstm']) t.push(renamed(`safetensors:${c}`, f('torch', c, 'model.safetensors'), 'model.safetensors'));
  t.push(single('safetensors:all_dtypes', f('formats', 'safetensors', 'all_dtypes.safetensors')));
  t.push(folder('safetensors:sharded', f('formats', 'safetensors', 'sharded'), 'model.safetensors.index.json'));
  t.push(folder('tfjs:quantized', f('formats', 'tfjs', 'quantized'), 'model.json'));
  for (const c of ['mlp', 'conv_bn', 'gru']) t.push(renamed(`pt:${c}`, f('torch', c, 'model.pt'), 'model.pt'));
  for (const n of ['big_endian', 'nested_state_dict', 'my_custom_folder', 'evil_os_system', 'evil_load_from_bytes']) t.push(single(`pt:${n}`, f('pytorch-edge', `${n}.pt`)));
  for (const c of ['mlp', 'conv_bn']) t.push(renamed(`pt-legacy:${c}`, f('torch', c, 'model_legacy.pt'), 'model_legacy.pt'));
  for (const n of ['edge_legacy', 'evil_os_system_legacy']) t.push(single(`pt-legacy:${n}`, f('pytorch-edge', `${n}.pt`)));
  for (const c of ['mlp', 'conv_bn', 'lstm']) t.push(renamed(`onnx:${c}`, f('torch', c, 'model.onnx'), 'model.onnx'));
  for (const n of ['typed', 'seqnet', 'convnet']) t.push(single(`onnx:${n}`, f('pytorch-edge', 'onnx', `${n}.onnx`)));
  t.push(folder('onnx:external', f('pytorch-edge', 'onnx', 'external'), 'model.onnx', ['model.onnx', 'weights.bin']));
  for (const n of ['userblock.h5', 'chunked_fp16.h5', 'keras3_nested.weights.h5']) t.push(single(`keras:${n}`, f('keras', n)));
  t.push({ name: 'keras:zip', files: kerasZip, open: 'model.keras', mutable: ['model.keras'] });
  for (const d of ['saver', 'sharded', 'bigendian', 'dtypes']) {
    const names = fs.readdirSync(f('tf-ckpt', d)).filter((n) => n.startsWith('model.ckpt'));
    t.push(folder(`tf-ckpt:${d}`, f('tf-ckpt', d), 'model.ckpt', names));
  }
  t.push(folder('tf-ckpt:tf2', f('tf-ckpt', 'tf2'), 'ckpt-1', fs.readdirSync(f('tf-ckpt', 'tf2')).filter((n) => n.startsWith('ckpt-1'))));
  return t;
}

// ---------------------------------------------------------------------------------------------
// Mutators. Each returns a new array and a short description (for reproducing a finding).

export type Mutator = (b: Uint8Array, rng: Rng, donors: readonly Uint8Array[]) => [Uint8Array, string];

/** A position biased towards the start, where headers and length fields live. */
function position(rng: Rng, length: number): number {
  if (length === 0) return 0;
  const r = rng.int(10);
  if (r < 4) return rng.int(Math.min(length, 128));
  if (r < 5) return Math.max(0, length - 1 - rng.int(Math.min(length, 128)));
  return rng.int(length);
}

function regionLength(rng: Rng, max: number): number {
  const n = rng.chance(0.7) ? 1 + rng.int(16) : 1 + rng.int(512);
  return Math.max(1, Math.min(n, max));
}

const INTERESTING: bigint[] = [
  0n, 1n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n,
  2n ** 53n - 1n, 2n ** 53n + 1n, 2n ** 60n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n,
];

function writeInt(out: Uint8Array, at: number, value: bigint, width: number, bigEndian: boolean): void {
  for (let i = 0; i < width && at + i < out.length; i++) {
    const byte = Number((value >> BigInt(8 * i)) & 0xffn);
    out[bigEndian ? at + width - 1 - i : at + i] = byte;
  }
}

function digitRuns(b: Uint8Array): [number, number][] {
  const runs: [number, number][] = [];
  for (let i = 0; i < b.length && runs.length < 4096; i++) {
    if (b[i] >= 0x30 && b[i] <= 0x39) {
      let j = i;
      while (j < b.length && b[j] >= 0x30 && b[j] <= 0x39) j++;
      runs.push([i, j]);
      i = j;
    }
  }
  return runs;
}

function replace(b: Uint8Array, start: number, end: number, insert: Uint8Array): Uint8Array {
  start = Math.max(0, Math.min(start, b.length));
  end = Math.max(start, Math.min(end, b.length));
  const out = new Uint8Array(b.length - (end - start) + insert.length);
  out.set(b.subarray(0, start));
  out.set(insert, start);
  out.set(b.subarray(end), start + insert.length);
  return out;
}

const ascii = (s: string) => new TextEncoder().encode(s);
const HUGE_NUMBERS = ['99999999999999999999', '1099511627776', '1152921504606846976', '18446744073709551616', '4294967296', '-1', '-4294967296', '0', '1e308', '2147483647'];
const ESCAPES = ['../outside.bin', '/etc/passwd', '..\\outside.bin', 'a/../../outside.bin', 'x\u0000.bin', 'C:\\Windows\\win.ini', ''];
const ZIP_SIGS: [number, number[]][] = [
  // signature, offsets of its size/offset/count fields
  [0x04034b50, [18, 22, 26, 28]], // local: compressed, uncompressed, name len, extra len
  [0x02014b50, [20, 24, 28, 30, 42]], // central: compressed, uncompressed, name len, extra len, local offset
  [0x06054b50, [10, 12, 16, 20]], // EOCD: count, cd size, cd offset, comment len
  [0x06064b50, [32, 40, 48]], // zip64 EOCD: count, cd size, cd offset
  [0x07064b50, [8]], // zip64 locator: EOCD64 offset
];

export const MUTATORS: Record<string, Mutator> = {
  truncate(b, rng) {
    const at = rng.chance(0.3) ? position(rng, b.length) : rng.int(b.length);
    return [b.slice(0, at), `truncate@${at}`];
  },
  bitflip(b, rng) {
    const out = b.slice();
    const flips = 1 + rng.int(4);
    const at: number[] = [];
    for (let i = 0; i < flips && out.length; i++) {
      const p = position(rng, out.length);
      out[p] ^= 1 << rng.int(8);
      at.push(p);
    }
    return [out, `bitflip@${at.join(',')}`];
  },
  randomBytes(b, rng) {
    const out = b.slice();
    const p = position(rng, out.length);
    const n = Math.min(out.length - p, 1 + rng.int(8));
    for (let i = 0; i < n; i++) out[p + i] = rng.int(256);
    return [out, `random@${p}+${n}`];
  },
  hugeInt(b, rng) {
    const out = b.slice();
    const p = position(rng, out.length);
    const width = rng.pick([2, 4, 8]);
    const value = rng.chance(0.2) ? BigInt(b.length + rng.int(3) - 1) : rng.pick(INTERESTING);
    writeInt(out, p, value, width, rng.chance(0.2));
    return [out, `int${width * 8}@${p}=${value}`];
  },
  zipField(b, rng) {
    const hits: [number, number[]][] = [];
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i + 4 <= b.length; i++) {
      const sig = view.getUint32(i, true);
      const known = ZIP_SIGS.find(([s]) => s === sig);
      if (known) hits.push([i, known[1]]);
    }
    if (hits.length === 0) return MUTATORS.hugeInt(b, rng, []);
    const [at, fields] = rng.pick(hits);
    const out = b.slice();
    const field = at + rng.pick(fields);
    const value = rng.chance(0.3) ? BigInt(rng.int(b.length * 2)) : rng.pick(INTERESTING);
    writeInt(out, field, value, rng.chance(0.5) ? 4 : 8, false);
    return [out, `zipField@${field}=${value}`];
  },
  safetensorsLength(b, rng) {
    const out = b.slice();
    const value = rng.chance(0.5) ? rng.pick(INTERESTING) : BigInt(rng.int(b.length * 2));
    writeInt(out, 0, value, 8, false);
    return [out, `u64@0=${value}`];
  },
  textNumber(b, rng) {
    const runs = digitRuns(b);
    if (runs.length === 0) return MUTATORS.bitflip(b, rng, []);
    const [s, e] = rng.pick(runs);
    const text = rng.chance(0.8) ? rng.pick(HUGE_NUMBERS) : String(rng.int(1 << 20));
    return [replace(b, s, e, ascii(text)), `number@${s}=${text}`];
  },
  pathEscape(b, rng) {
    // Replaces a quoted file name (manifest paths, shard names) with an escaping one.
    const text = new TextDecoder('latin1').decode(b);
    const names = [...text.matchAll(/"([^"\\]{1,200}\.(?:bin|safetensors))"/g)];
    if (names.length === 0) return MUTATORS.randomBytes(b, rng, []);
    const m = rng.pick(names);
    const to = rng.pick(ESCAPES);
    const start = m.index! + 1;
    return [replace(b, start, start + m[1].length, ascii(to)), `path@${start}=${JSON.stringify(to)}`];
  },
  splice(b, rng, donors) {
    const donor = rng.pick(donors);
    const n = regionLength(rng, donor.length);
    const from = rng.int(donor.length - n + 1);
    const at = position(rng, b.length);
    const chunk = donor.subarray(from, from + n);
    if (rng.chance(0.5)) return [replace(b, at, Math.min(b.length, at + n), chunk), `splice-over@${at}+${n}`];
    return [replace(b, at, at, chunk), `splice-in@${at}+${n}`];
  },
  duplicate(b, rng) {
    if (b.length === 0) return [b, 'duplicate(empty)'];
    const n = regionLength(rng, b.length);
    const from = rng.int(b.length - n + 1);
    const at = position(rng, b.length);
    return [replace(b, at, at, b.slice(from, from + n)), `dup ${from}+${n}@${at}`];
  },
  deleteRegion(b, rng) {
    if (b.length === 0) return [b, 'delete(empty)'];
    const n = regionLength(rng, b.length);
    const at = position(rng, b.length - n + 1);
    return [replace(b, at, at + n, new Uint8Array(0)), `delete@${at}+${n}`];
  },
  zeroRegion(b, rng) {
    const out = b.slice();
    const n = regionLength(rng, Math.max(1, out.length));
    const at = position(rng, out.length);
    out.fill(0, at, at + n);
    return [out, `zero@${at}+${n}`];
  },
  varintHuge(b, rng) {
    // A 10-byte varint of 2^64-1 or 2^63: a protobuf / table length that claims everything.
    const out = b.slice();
    const at = position(rng, out.length);
    const bytes = rng.chance(0.5) ? [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01] : [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
    for (let i = 0; i < bytes.length && at + i < out.length; i++) out[at + i] = bytes[i];
    return [out, `varint@${at}`];
  },
};

const MUTATOR_WEIGHTS: [string, number][] = [
  ['truncate', 3], ['bitflip', 4], ['randomBytes', 2], ['hugeInt', 3], ['zipField', 2], ['safetensorsLength', 1],
  ['textNumber', 2], ['pathEscape', 1], ['splice', 2], ['duplicate', 1], ['deleteRegion', 1], ['zeroRegion', 1], ['varintHuge', 1],
];
const WEIGHT_TOTAL = MUTATOR_WEIGHTS.reduce((s, [, w]) => s + w, 0);

function pickMutator(rng: Rng): string {
  let r = rng.int(WEIGHT_TOTAL);
  for (const [name, w] of MUTATOR_WEIGHTS) {
    if (r < w) return name;
    r -= w;
  }
  return 'bitflip';
}

// ---------------------------------------------------------------------------------------------
// Cases

export interface FuzzCase {
  index: number;
  target: string;
  /** Absolute path of the case's folder. */
  dir: string;
  /** Absolute path given to openWeights. */
  openPath: string;
  /** Human-readable list of what was done to which file. */
  mutations: string[];
}

let donorCache: Uint8Array[] | undefined;

/** Every fixture file of the corpus, as splice material. */
export function donors(targets: FuzzTarget[]): Uint8Array[] {
  if (!donorCache) donorCache = targets.flatMap((t) => Object.values(t.files())).filter((b) => b.length > 0);
  return donorCache;
}

/** Writes case `index` (target chosen round-robin) into `root/case-<index>`. */
export function makeCase(targets: FuzzTarget[], seed: number, index: number, root: string): FuzzCase {
  const rng = new Rng(seed, index);
  const target = targets[index % targets.length];
  const files = target.files();
  const mutations: string[] = [];
  const victims = rng.chance(0.15) && target.mutable.length > 1 ? [rng.pick(target.mutable), rng.pick(target.mutable)] : [rng.pick(target.mutable)];
  for (const name of victims) {
    let bytes = files[name];
    const count = 1 + rng.int(3);
    for (let i = 0; i < count; i++) {
      const op = pickMutator(rng);
      const [next, what] = MUTATORS[op](bytes, rng, donors(targets));
      bytes = next;
      mutations.push(`${name}: ${what}`);
    }
    files[name] = bytes;
  }
  const dir = path.join(root, `case-${index}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), bytes);
  return { index, target: target.name, dir, openPath: path.join(dir, target.open), mutations };
}

// ---------------------------------------------------------------------------------------------
// Random and mutated pickle streams for the restricted unpickler.

/** Globals a hostile pickle reaches for, and the allowed ones it may try to abuse. */
const HOSTILE_GLOBALS: [string, string][] = [
  ['os', 'system'], ['posix', 'system'], ['nt', 'system'], ['builtins', 'eval'], ['builtins', 'exec'], ['__builtin__', 'eval'],
  ['builtins', 'getattr'], ['builtins', '__import__'], ['builtins', 'open'], ['subprocess', 'Popen'], ['subprocess', 'check_output'],
  ['functools', 'partial'], ['operator', 'attrgetter'], ['copyreg', '_reconstructor'], ['pickle', 'loads'], ['runpy', '_run_code'],
  ['torch.storage', '_load_from_bytes'], ['torch', 'load'], ['numpy.testing._private.utils', 'runstring'], ['__main__', 'Evil'],
  ['torch.nn.modules.linear', 'Linear'], ['__torch__', 'Model'], ['webbrowser', 'open'], ['shutil', 'rmtree'],
];
const ALLOWED_GLOBALS: [string, string][] = [
  ['collections', 'OrderedDict'], ['builtins', 'dict'], ['builtins', 'set'], ['_codecs', 'encode'], ['torch._utils', '_rebuild_tensor_v2'],
  ['torch._utils', '_rebuild_parameter'], ['torch._tensor', '_rebuild_from_type_v2'], ['torch', 'FloatStorage'], ['torch', 'Size'],
  ['torch', 'Tensor'], ['torch.nn.parameter', 'Parameter'], ['numpy.core.multiarray', 'scalar'], ['numpy', 'dtype'], ['torch', 'device'],
];

class PickleWriter {
  readonly bytes: number[] = [];
  op(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }
  text(s: string): this {
    for (const c of new TextEncoder().encode(s)) this.bytes.push(c);
    return this;
  }
  shortUnicode(s: string): this {
    const enc = new TextEncoder().encode(s).subarray(0, 255);
    return this.op(0x8c, enc.length, ...enc);
  }
  global(module: string, name: string): this {
    return this.op(0x63).text(`${module}\n${name}\n`);
  }
  u32(v: number): number[] {
    return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  }
}

/** A command that would leave `sentinel` behind if anything ever ran it. */
export function pwnCommand(sentinel: string): string {
  return `touch ${sentinel}`;
}

/**
 * A random opcode stream: a hostile template (call a dangerous global with the sentinel
 * command, via REDUCE / INST / OBJ / NEWOBJ / STACK_GLOBAL / BUILD) interleaved with random
 * opcodes with random arguments.
 */
export function randomPickle(rng: Rng, sentinel: string): Uint8Array {
  const w = new PickleWriter();
  if (rng.chance(0.8)) w.op(0x80, rng.pick([2, 2, 4, 5]));
  const steps = 1 + rng.int(40);
  const cmd = pwnCommand(sentinel);
  for (let i = 0; i < steps; i++) {
    const [mod, name] = rng.chance(0.6) ? rng.pick(HOSTILE_GLOBALS) : rng.pick(ALLOWED_GLOBALS);
    switch (rng.int(24)) {
      case 0: w.global(mod, name).shortUnicode(cmd).op(0x85, 0x52); break; // f(cmd)
      case 1: w.op(0x28).shortUnicode(cmd).op(0x69).text(`${mod}\n${name}\n`); break; // INST
      case 2: w.op(0x28).global(mod, name).shortUnicode(cmd).op(0x6f); break; // OBJ
      case 3: w.shortUnicode(mod).shortUnicode(name).op(0x93).shortUnicode(cmd).op(0x85, 0x52); break; // STACK_GLOBAL
      case 4: w.global(mod, name).op(0x29, 0x81); break; // NEWOBJ
      case 5: w.global(mod, name).op(0x29, 0x7d, 0x92); break; // NEWOBJ_EX
      case 6: w.op(0x7d).global(mod, name).op(0x62); break; // BUILD with a global as state
      case 7: w.global('torch._tensor', '_rebuild_from_type_v2').global(mod, name).global('torch', 'Tensor').op(0x28).shortUnicode(cmd).op(0x74, 0x7d, 0x87 /* TUPLE3 */).op(0x52); break;
      case 8: { // MARK, many items, FROZENSET / ADDITEMS / APPENDS / SETITEMS / TUPLE: bulk stack operations
        w.op(0x28);
        const n = rng.chance(0.3) ? 150_000 + rng.int(100_000) : rng.int(64);
        for (let k = 0; k < n; k++) w.bytes.push(0x4e);
        w.op(rng.pick([0x91, 0x90, 0x65, 0x75, 0x74, 0x6c, 0x64]));
        break;
      }
      case 9: w.op(0x5d).op(0x32).op(0x61); break; // self-referencing list
      case 10: w.op(0x71, rng.int(256)); break; // BINPUT
      case 11: w.op(0x68, rng.int(256)); break; // BINGET
      case 12: w.op(0x94); break; // MEMOIZE
      case 13: w.op(0x4a, ...w.u32(rng.u32())); break; // BININT
      case 14: w.op(0x8a, rng.int(12), ...Array.from({ length: rng.int(12) }, () => rng.int(256))); break; // LONG1
      case 15: w.op(0x58, ...w.u32(rng.chance(0.5) ? rng.u32() : rng.int(8))); break; // BINUNICODE, often absurd length
      case 16: w.op(0x8e, ...w.u32(rng.u32()), ...w.u32(rng.u32())); break; // BINBYTES8
      case 17: w.op(0x51); break; // BINPERSID
      case 18: w.op(0x50).text(`${rng.int(1000)}\n`); break; // PERSID
      case 19: w.op(rng.pick([0x82, 0x83, 0x84]), rng.int(256), rng.int(256), 0, 0); break; // EXT
      case 20: w.op(0x49).text(`${'9'.repeat(1 + rng.int(6000))}\n`); break; // INT text, maybe enormous
      case 21: w.op(0x95, ...w.u32(rng.u32()), ...w.u32(rng.u32())); break; // FRAME
      case 22: w.op(rng.int(256)); break; // any byte
      default: w.op(rng.pick([0x28, 0x29, 0x30, 0x31, 0x32, 0x4e, 0x5d, 0x61, 0x65, 0x6c, 0x73, 0x74, 0x75, 0x7d, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x52, 0x62, 0x81])); break;
    }
  }
  if (rng.chance(0.9)) w.op(0x2e);
  return Uint8Array.from(w.bytes);
}

/** Eight hex digits for a `\U` escape: often past U+10FFFF or a surrogate, the values decoders trip on. */
function escapeCodePoint(rng: Rng): string {
  const code = rng.pick([
    () => rng.int(0x80), () => 0xd800 + rng.int(0x800), () => 0x10ffff, () => 0x110000 + rng.int(0x1000), () => rng.u32(), () => rng.int(0x110000),
  ])();
  return code.toString(16).padStart(8, '0').slice(-8);
}

/** A protocol-0 text argument for UNICODE: plain text mixed with raw-unicode-escapes, some malformed. */
function rawUnicodeText(rng: Rng): string {
  let s = '';
  const n = 1 + rng.int(6);
  for (let i = 0; i < n; i++) {
    switch (rng.int(5)) {
      case 0: s += `\\U${escapeCodePoint(rng)}`; break;
      case 1: s += `\\u${rng.int(0x10000).toString(16).padStart(4, '0')}`; break;
      case 2: s += rng.pick(['\\U', '\\u12', '\\', '\\x41']); break; // truncated or foreign escapes
      case 3: s += String.fromCharCode(0x20 + rng.int(0x5f)); break;
      default: s += rng.pick(['weight', 'bias', 'é', '€', '𝔵']); break;
    }
  }
  return s;
}

/** Random bytes that are often not UTF-8: lone continuation bytes, overlong forms, 0xF4 0x90 (past U+10FFFF). */
function notQuiteUtf8(rng: Rng): number[] {
  const out: number[] = [];
  const n = rng.int(12);
  for (let i = 0; i < n; i++) out.push(...rng.pick([[0x41], [0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x9d, 0x94, 0xb5], [rng.int(256)]]));
  return out;
}

/**
 * A pickle of text-argument opcodes (protocol 0 UNICODE / STRING / INT / LONG / FLOAT / GET / PUT)
 * and length-prefixed strings whose bytes are often not UTF-8: the decoding paths the opcode
 * streams above never reach. It finds an invalid `\U` code point escaping as a raw RangeError.
 */
export function textPickle(rng: Rng): Uint8Array {
  const w = new PickleWriter();
  if (rng.chance(0.3)) w.op(0x80, rng.pick([2, 4]));
  const steps = 1 + rng.int(8);
  for (let i = 0; i < steps; i++) {
    switch (rng.int(9)) {
      case 0: case 1: w.op(0x56).text(`${rawUnicodeText(rng)}\n`); break; // UNICODE
      case 2: { // STRING: a quoted Python repr, sometimes badly quoted
        const q = rng.pick(["'", '"']);
        const body = rng.pick(['abc', '\\x4', '\\x41\\n', "it\\'s", '\\', '\\q']);
        w.op(0x53).text(`${rng.chance(0.9) ? q : ''}${body}${rng.chance(0.9) ? q : ''}\n`);
        break;
      }
      case 3: w.op(0x49).text(`${rng.pick(['00', '01', '-7', '1e3', '0x10', '', ' 5', '123456789012345678901234567890'])}\n`); break; // INT
      case 4: w.op(0x4c).text(`${rng.pick(['5L', '-12L', 'L', '99999999999999999999999L', 'x'])}\n`); break; // LONG
      case 5: w.op(0x46).text(`${rng.pick(['1.5', 'nan', '-inf', '1e400', '', 'abc'])}\n`); break; // FLOAT
      case 6: w.op(rng.pick([0x70, 0x67])).text(`${rng.pick(['0', '1', '-1', '99999999999', 'a'])}\n`); break; // PUT / GET
      case 7: { // BINUNICODE / SHORT_BINUNICODE with bytes that may not be UTF-8
        const b = notQuiteUtf8(rng);
        if (rng.chance(0.5)) w.op(0x8c, b.length, ...b);
        else w.op(0x58, ...w.u32(b.length), ...b);
        break;
      }
      default: w.op(rng.pick([0x28, 0x6c, 0x74, 0x64, 0x61, 0x73, 0x30, 0x4e, 0x2e])); break; // MARK, LIST, TUPLE, DICT, APPEND, SETITEM, POP, NONE, STOP
    }
  }
  if (rng.chance(0.9)) w.op(0x2e);
  return Uint8Array.from(w.bytes);
}

/** A real pickle (a fixture's data.pkl) with a few mutations, often one of them a hostile global. */
export function mutatedPickle(rng: Rng, corpus: readonly Uint8Array[], sentinel: string): Uint8Array {
  let b = rng.pick(corpus);
  const count = 1 + rng.int(3);
  for (let i = 0; i < count; i++) {
    if (rng.chance(0.35)) {
      // Swap one GLOBAL's names for a hostile pair, or splice a hostile call in.
      const text = new TextDecoder('latin1').decode(b);
      const globals = [...text.matchAll(/c([\w.]+)\n([\w]+)\n/g)];
      const [mod, name] = rng.pick(HOSTILE_GLOBALS);
      if (globals.length && rng.chance(0.6)) {
        const g = rng.pick(globals);
        b = replace(b, g.index!, g.index! + g[0].length, ascii(`c${mod}\n${name}\n`));
      } else {
        const call = new PickleWriter().global(mod, name).shortUnicode(pwnCommand(sentinel)).op(0x85, 0x52, 0x30).bytes;
        const at = Math.min(b.length, 2 + rng.int(Math.max(1, b.length - 3)));
        b = replace(b, at, at, Uint8Array.from(call));
      }
    } else {
      b = MUTATORS[pickMutator(rng)](b, rng, corpus)[0];
    }
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// Running cases in a worker thread under a watchdog.

export type Job =
  | { kind: 'open'; path: string }
  | { kind: 'unpickle'; bytes: Uint8Array; file: string }
  /** Deliberate faults, so tests can check that the harness reports each kind of finding. */
  | { kind: 'selftest'; fault: 'hang' | 'raw' | 'alloc' | 'tempLeak' | 'graftNoFile' };

export type Outcome = (
  | { status: 'ok'; tensors: number; ms: number; findings: string[] }
  | { status: 'graft'; code: string; message: string; file?: string; tensor?: string; ms: number; findings: string[] }
  | { status: 'raw'; name: string; message: string; stack: string; ms: number; findings: string[] }
  | { status: 'timeout'; ms: number; findings: string[] }
  | { status: 'crash'; message: string; ms: number; findings: string[] }
) & {
  /** Growth of the process's resident memory during the case, at its peak (sampled every 5 ms). */
  peakRssBytes?: number;
};

/** What one case may cost (issue 13): inputs under 10 MB end within 10 s and 1 GiB. */
export const CASE_TIME_BUDGET_MS = 10_000;
export const CASE_MEMORY_BUDGET_BYTES = 1024 ** 3;

export interface RunnerOptions {
  /** Watchdog per case (ms). */
  timeoutMs?: number;
  /** Largest single typed array / ArrayBuffer a case may allocate (bytes). */
  allocLimit?: number;
}

/**
 * One worker thread running cases one after another. A case that outlives the watchdog (a hang
 * in JS or in wasm) or kills the worker is recorded, and a fresh worker takes over.
 */
export class FuzzRunner {
  private worker?: Worker;
  private ready?: Promise<void>;
  private nextId = 0;
  readonly tmpDir: string;

  constructor(private readonly options: RunnerOptions = {}) {
    this.tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-fuzz-tmp-'));
  }

  private start(): Promise<void> {
    const tsx = require.resolve('tsx/cjs');
    const worker = new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(__filename)});`, {
      eval: true,
      workerData: { graftFuzzWorker: true, tmpDir: this.tmpDir, allocLimit: this.options.allocLimit ?? 64 * 1024 * 1024 },
      resourceLimits: { maxOldGenerationSizeMb: 1024 },
      stdout: true,
      stderr: true,
    });
    // HDF5 prints diagnostics; they are not findings, so the worker's output is dropped.
    worker.stdout.resume();
    worker.stderr.resume();
    this.worker = worker;
    this.ready = new Promise((resolve, reject) => {
      worker.once('message', (m: { ready?: boolean }) => (m.ready ? resolve() : reject(new Error('fuzz worker did not start'))));
      worker.once('error', reject);
    });
    return this.ready;
  }

  async run(job: Job, timeoutMs = this.options.timeoutMs ?? 2000): Promise<Outcome> {
    if (!this.worker) await this.start();
    else await this.ready;
    const worker = this.worker!;
    const id = this.nextId++;
    const t0 = Date.now();
    // Peak memory of the case: resident memory sampled from this (idle) thread while the worker
    // runs it, less what the process held when it started.
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage.rss());
    }, 5);
    return new Promise<Outcome>((resolve) => {
      let done = false;
      const finish = (o: Outcome, restart: boolean) => {
        if (done) return;
        done = true;
        clearInterval(sampler);
        peak = Math.max(peak, process.memoryUsage.rss());
        o.peakRssBytes = peak - baseline;
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        if (restart) {
          this.worker = undefined;
          void worker.terminate();
        }
        resolve(o);
      };
      const onMessage = (m: { id: number; outcome: Outcome }) => {
        if (m.id === id) finish(m.outcome, false);
      };
      const onError = (e: Error) => finish({ status: 'crash', message: `${e.name}: ${e.message}`, ms: Date.now() - t0, findings: [] }, true);
      const onExit = (code: number) => finish({ status: 'crash', message: `worker exited with code ${code}`, ms: Date.now() - t0, findings: [] }, true);
      const timer = setTimeout(() => finish({ status: 'timeout', ms: Date.now() - t0, findings: [] }, true), timeoutMs);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage({ id, job });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
    fs.rmSync(this.tmpDir, { recursive: true, force: true });
  }
}

const GRAFT_CODES = new Set(['USAGE', 'NOT_FOUND', 'UNKNOWN_FORMAT', 'CORRUPT', 'UNSUPPORTED', 'UNSAFE', 'SHAPE_MISMATCH', 'MAPPING', 'OUTPUT', 'VERIFY']);

/** Why an outcome is a finding, or undefined when it is acceptable. */
export function verdict(o: Outcome, caseDir: string): string | undefined {
  if (o.findings.length) return o.findings.join('; ');
  switch (o.status) {
    case 'ok':
      return undefined;
    case 'graft':
      if (!GRAFT_CODES.has(o.code)) return `GraftError with unknown code ${o.code}`;
      if (!o.message.includes(caseDir)) return `GraftError does not name a file of the case: ${o.message}`;
      // The reader's own words must be one line. The file and tensor names it was given as
      // context are the user's and the file's; the CLI escapes those when it prints.
      if (without(o.message, o.file, o.tensor).includes('\n')) return `GraftError message spans lines: ${JSON.stringify(o.message.slice(0, 300))}`;
      if (o.message.length > 4000) return `GraftError message is ${o.message.length} characters long`;
      return undefined;
    case 'raw':
      return `raw ${o.name} escaped: ${o.message}\n${o.stack}`;
    case 'timeout':
      return `no result within ${o.ms} ms`;
    case 'crash':
      return `worker died: ${o.message}`;
  }
}

function without(message: string, ...names: (string | undefined)[]): string {
  let out = message;
  for (const n of names) if (n) out = out.split(n).join('');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Worker side.

class AllocationLimit extends Error {}

/**
 * Wraps the typed-array and ArrayBuffer constructors so that a single allocation beyond
 * `limit` bytes is recorded (and refused): readers must check claimed sizes against the file
 * before allocating. Instances, `instanceof` and static methods behave as before.
 */
function guardAllocations(limit: number, record: (what: string) => void): void {
  const g = globalThis as unknown as Record<string, unknown>;
  const kinds = ['ArrayBuffer', 'Uint8Array', 'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array', 'Uint8ClampedArray'];
  for (const kind of kinds) {
    const Original = g[kind] as { BYTES_PER_ELEMENT?: number } & (new (...a: unknown[]) => object);
    const width = Original.BYTES_PER_ELEMENT ?? 1;
    g[kind] = new Proxy(Original, {
      construct(target, args, newTarget) {
        if (typeof args[0] === 'number' && args[0] * width > limit) {
          const what = `new ${kind}(${args[0]}) = ${args[0] * width} bytes`;
          record(what);
          throw new AllocationLimit(`fuzz allocation limit: ${what}`);
        }
        return Reflect.construct(target, args, newTarget);
      },
    });
  }
}

async function workerMain(): Promise<void> {
  const data = workerData as { tmpDir: string; allocLimit: number };
  // Temp files a reader makes (the .keras extraction) land here, so leaks can be seen.
  process.env.TMPDIR = data.tmpDir;
  // require, not import(): the worker loads TypeScript through tsx's CommonJS hook.
  const { openWeights } = require('../src/formats') as typeof import('../src/formats');
  const { GraftError } = require('../src/errors') as typeof import('../src/errors');
  const { unpickle, PickleTruncated, PyGlobal, resolveGlobal, TorchStorage, TorchStorageType } = require('../src/io/pickle') as typeof import('../src/io/pickle');
  let tripped: string[] = [];
  guardAllocations(data.allocLimit, (what) => tripped.push(what));

  const describe = (e: unknown, ms: number, findings: string[]): Outcome => {
    if (e instanceof GraftError) return { status: 'graft', code: e.code, message: e.message, file: e.file, tensor: e.tensor, ms, findings };
    const err = e instanceof Error ? e : new Error(String(e));
    return { status: 'raw', name: err.name, message: err.message, stack: (err.stack ?? '').split('\n').slice(1, 8).join('\n'), ms, findings };
  };

  const openJob = async (p: string, findings: string[]): Promise<number> => {
    const reader = await openWeights(p);
    try {
      // Readers may refuse a topology with a GraftError (a Lambda layer…); that is their right.
      try {
        void reader.topology;
      } catch (e) {
        if (!(e instanceof GraftError)) throw e;
      }
      const infos = reader.list();
      for (const info of infos) {
        const t = await reader.read(info.name);
        if (t.data.length !== info.byteSize) findings.push(`read('${info.name}') gave ${t.data.length} bytes, list() said ${info.byteSize}`);
      }
      return infos.length;
    } finally {
      await reader.close();
    }
  };

  /** Every PyGlobal reachable from a value must be on the allow-list. */
  const offList = (value: unknown): string[] => {
    const bad: string[] = [];
    const seen = new Set<unknown>();
    const stack = [value];
    while (stack.length && seen.size < 1_000_000) {
      const v = stack.pop();
      if (typeof v !== 'object' || v === null || seen.has(v)) continue;
      seen.add(v);
      if (v instanceof PyGlobal) {
        try {
          resolveGlobal(v.module, v.name);
        } catch {
          bad.push(v.qualifiedName);
        }
      }
      if (Array.isArray(v)) stack.push(...v.slice(0, 100_000));
      else if (v instanceof Map) for (const [k, x] of v) stack.push(k, x);
      else if (!ArrayBuffer.isView(v)) for (const x of Object.values(v)) stack.push(x);
    }
    return bad;
  };

  const unpickleJob = (bytes: Uint8Array, file: string, findings: string[]): number => {
    const storageType = new TorchStorageType('FloatStorage', 'float32', 4);
    try {
      const { value } = unpickle(bytes, { file, persistentLoad: (pid) => new TorchStorage(String(Array.isArray(pid) ? pid[2] : pid), storageType, 4, 'cpu') });
      const bad = offList(value);
      if (bad.length) findings.push(`unpickled value holds globals off the allow-list: ${bad.join(', ')}`);
      return 0;
    } catch (e) {
      // Truncation is reported to the container, which turns it into CORRUPT.
      if (e instanceof PickleTruncated) throw new GraftError('CORRUPT', `truncated (${e.message})`, { file });
      throw e;
    }
  };

  const selftest = (fault: string): number => {
    if (fault === 'hang') for (;;);
    if (fault === 'raw') throw new TypeError('deliberate');
    if (fault === 'alloc') return new Float64Array(1 << 30).length;
    if (fault === 'tempLeak') fs.mkdirSync(path.join(os.tmpdir(), 'graft-leak-'));
    if (fault === 'graftNoFile') throw new GraftError('CORRUPT', 'no file named');
    return 0;
  };

  parentPort!.on('message', async (m: { id: number; job: Job }) => {
    tripped = [];
    const findings: string[] = [];
    const t0 = Date.now();
    let outcome: Outcome;
    try {
      const job = m.job;
      const tensors = job.kind === 'open' ? await openJob(job.path, findings) : job.kind === 'unpickle' ? unpickleJob(job.bytes, job.file, findings) : selftest(job.fault);
      outcome = { status: 'ok', tensors, ms: Date.now() - t0, findings };
    } catch (e) {
      outcome = describe(e, Date.now() - t0, findings);
    }
    if (tripped.length) findings.push(`allocation beyond the limit: ${tripped.join('; ')}`);
    const left = fs.readdirSync(data.tmpDir);
    if (left.length) {
      findings.push(`temporary files left behind: ${left.join(', ')}`);
      for (const f of left) fs.rmSync(path.join(data.tmpDir, f), { recursive: true, force: true });
    }
    parentPort!.postMessage({ id: m.id, outcome });
  });
  parentPort!.postMessage({ ready: true });
}

// ---------------------------------------------------------------------------------------------
// Whole runs.

export interface Finding {
  index: number;
  target: string;
  mutations: string[];
  reason: string;
}

export interface FuzzSummary {
  cases: number;
  byStatus: Record<string, number>;
  findings: Finding[];
  slowestMs: number;
  /** The largest peak memory growth of one case (bytes). */
  peakRssBytes: number;
  /** Time and peak memory of every case, in order. */
  perCase: { index: number; target: string; ms: number; peakRssBytes: number }[];
}

/** A finding when a case went past its time or memory budget. */
export function overBudget(o: Outcome): string | undefined {
  const mem = o.peakRssBytes ?? 0;
  if (o.ms > CASE_TIME_BUDGET_MS) return `over the time budget: ${o.ms} ms > ${CASE_TIME_BUDGET_MS} ms`;
  if (mem > CASE_MEMORY_BUDGET_BYTES) return `over the memory budget: peak ${(mem / 2 ** 20).toFixed(0)} MiB > ${CASE_MEMORY_BUDGET_BYTES / 2 ** 20} MiB`;
  return undefined;
}

export interface FuzzRunOptions extends RunnerOptions {
  seed: number;
  cases: number;
  /** Run only these case indices (replay). */
  only?: number[];
  targetFilter?: string;
  /** Keep the files of failing cases here. */
  keep?: string;
  onCase?: (c: FuzzCase, o: Outcome, reason: string | undefined) => void;
}

/** Runs `cases` file cases, round-robin over the targets, with one worker. */
export async function fuzzFiles(options: FuzzRunOptions, runner?: FuzzRunner): Promise<FuzzSummary> {
  const targets = fuzzTargets().filter((t) => !options.targetFilter || t.name.includes(options.targetFilter));
  const own = !runner;
  const r = runner ?? new FuzzRunner(options);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-fuzz-cases-'));
  const summary: FuzzSummary = { cases: 0, byStatus: {}, findings: [], slowestMs: 0, peakRssBytes: 0, perCase: [] };
  try {
    // Warm up (module loading, the HDF5 wasm) outside the per-case watchdog.
    await r.run({ kind: 'open', path: path.join(FIXTURES, 'keras', 'userblock.h5') }, 60_000);
    const indices = options.only ?? Array.from({ length: options.cases }, (_, i) => i);
    for (const index of indices) {
      const c = makeCase(targets, options.seed, index, root);
      const o = await r.run({ kind: 'open', path: c.openPath });
      const reason = verdict(o, c.dir) ?? overBudget(o);
      summary.cases++;
      summary.byStatus[o.status] = (summary.byStatus[o.status] ?? 0) + 1;
      summary.slowestMs = Math.max(summary.slowestMs, o.ms);
      summary.peakRssBytes = Math.max(summary.peakRssBytes, o.peakRssBytes ?? 0);
      summary.perCase.push({ index, target: c.target, ms: o.ms, peakRssBytes: o.peakRssBytes ?? 0 });
      if (reason) summary.findings.push({ index, target: c.target, mutations: c.mutations, reason });
      // Findings are kept; a replayed case is kept either way.
      if (options.keep && (reason || options.only)) fs.cpSync(c.dir, path.join(options.keep, `case-${index}`), { recursive: true });
      options.onCase?.(c, o, reason);
      fs.rmSync(c.dir, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    if (own) await r.close();
  }
  return summary;
}

/** data.pkl of every torch fixture, as seeds for pickle mutation. */
export function pickleCorpus(): Uint8Array[] {
  const out: Uint8Array[] = [];
  const { unzipSync } = require('fflate') as typeof import('fflate');
  const files = [
    ...['mlp', 'conv_bn', 'gru', 'lstm'].map((c) => path.join(FIXTURES, 'torch', c, 'model.pt')),
    ...['big_endian', 'nested_state_dict', 'edge_legacy', 'two_candidates'].map((n) => path.join(FIXTURES, 'pytorch-edge', `${n}.pt`)),
  ];
  for (const f of files) {
    const bytes = new Uint8Array(fs.readFileSync(f));
    if (bytes[0] !== 0x50) continue; // legacy: not a zip
    for (const [name, data] of Object.entries(unzipSync(bytes))) if (name.endsWith('data.pkl')) out.push(data);
  }
  return out;
}

export interface PickleFuzzSummary {
  streams: number;
  byStatus: Record<string, number>;
  findings: { index: number; reason: string; bytes: string }[];
}

/**
 * Feeds random and mutated opcode streams to the unpickler. Findings: anything but a value or a
 * GraftError, any allowed-list breach, or the sentinel file appearing.
 */
export async function fuzzPickles(options: { seed: number; streams: number; timeoutMs?: number; sentinel: string; generator?: 'opcodes' | 'text' }, runner?: FuzzRunner): Promise<PickleFuzzSummary> {
  const corpus = pickleCorpus();
  const r = runner ?? new FuzzRunner({ timeoutMs: options.timeoutMs });
  const summary: PickleFuzzSummary = { streams: 0, byStatus: {}, findings: [] };
  const file = path.join(os.tmpdir(), 'fuzz.pkl');
  try {
    for (let i = 0; i < options.streams; i++) {
      let bytes: Uint8Array;
      if (options.generator === 'text') bytes = textPickle(new Rng(options.seed, 2_000_000 + i));
      else {
        const rng = new Rng(options.seed, 1_000_000 + i);
        bytes = rng.chance(0.5) ? randomPickle(rng, options.sentinel) : mutatedPickle(rng, corpus, options.sentinel);
      }
      const o = await r.run({ kind: 'unpickle', bytes, file });
      summary.streams++;
      summary.byStatus[o.status] = (summary.byStatus[o.status] ?? 0) + 1;
      let reason = verdict(o, file) ?? overBudget(o);
      if (!reason && fs.existsSync(options.sentinel)) reason = `sentinel ${options.sentinel} appeared`;
      if (reason) summary.findings.push({ index: i, reason, bytes: Buffer.from(bytes).toString('base64') });
    }
  } finally {
    if (!runner) await r.close();
  }
  return summary;
}

// ---------------------------------------------------------------------------------------------
// Command line.

function argValue(args: string[], name: string): string | undefined {
  // The last occurrence wins, so `npm run fuzz -- --cases N` overrides the script's default.
  const i = args.lastIndexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const seed = Number(argValue(args, '--seed') ?? Date.now() % 100000);
  const cases = Number(argValue(args, '--cases') ?? 1000);
  const one = argValue(args, '--case');
  const timeoutMs = Number(argValue(args, '--timeout') ?? 2000);
  const keep = argValue(args, '--keep');
  const pickles = Number(argValue(args, '--pickles') ?? Math.floor(cases / 2));
  const targetFilter = argValue(args, '--only');
  if (keep) fs.mkdirSync(keep, { recursive: true });
  const sentinel = path.join(os.tmpdir(), `graft-pwned-${process.pid}`);
  const t0 = Date.now();
  console.log(`graft fuzz: seed ${seed}, ${one !== undefined ? `case ${one}` : `${cases} file cases, ${pickles} pickle streams`}, ${timeoutMs} ms per case`);
  const runner = new FuzzRunner({ timeoutMs });
  let failed = false;
  try {
    const files = await fuzzFiles(
      {
        seed, cases, timeoutMs, keep, targetFilter,
        only: one !== undefined ? [Number(one)] : undefined,
        onCase: (c, o, reason) => {
          if (reason || one !== undefined) {
            console.log(`\ncase ${c.index} (${c.target}) ${reason ? 'FINDING' : 'ok'}: ${c.mutations.join(' | ')}`);
            console.log(`  → ${reason ?? (o.status === 'graft' ? `${o.code}: ${o.message}` : o.status)}`);
          } else if (c.index % 100 === 99) process.stdout.write('.');
        },
      },
      runner,
    );
    console.log(`\nfile cases: ${files.cases}, ${JSON.stringify(files.byStatus)}, slowest ${files.slowestMs} ms, largest peak memory growth ${(files.peakRssBytes / 2 ** 20).toFixed(0)} MiB, findings ${files.findings.length}`);
    failed = files.findings.length > 0;
    if (one === undefined && pickles > 0) {
      const p = await fuzzPickles({ seed, streams: pickles, timeoutMs, sentinel }, runner);
      console.log(`pickle streams: ${p.streams}, ${JSON.stringify(p.byStatus)}, findings ${p.findings.length}`);
      for (const f of p.findings.slice(0, 20)) console.log(`  stream ${f.index}: ${f.reason}\n    ${f.bytes.slice(0, 200)}`);
      const text = await fuzzPickles({ seed, streams: pickles, timeoutMs, sentinel, generator: 'text' }, runner);
      console.log(`text-opcode pickles: ${text.streams}, ${JSON.stringify(text.byStatus)}, findings ${text.findings.length}`);
      for (const f of text.findings.slice(0, 20)) console.log(`  stream ${f.index}: ${f.reason}\n    ${f.bytes.slice(0, 200)}`);
      failed ||= p.findings.length > 0 || text.findings.length > 0;
    }
  } finally {
    await runner.close();
    fs.rmSync(sentinel, { force: true });
  }
  console.log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s${failed ? ' — FINDINGS (replay with --seed ' + seed + ' --case <n> --keep <dir>)' : ', nothing found'}`);
  process.exitCode = failed ? 1 : 0;
}

if (!isMainThread && (workerData as { graftFuzzWorker?: boolean } | null)?.graftFuzzWorker) {
  void workerMain();
} else if (require.main === module) {
  void main();
}
