/**
 * Benchmark: `graft convert` against a NumPy script doing the same work on the same checkpoint —
 * read every tensor of a safetensors file, transpose the 2-D ones, write the result — measured
 * side by side in one run (alternating), reporting medians of wall time and peak RSS.
 *
 *   npx tsx scripts/bench-convert.ts [--sizes 64,256,1024] [--runs 5] [--cli dist/cli/main.js]
 *
 * Checkpoints are stacks of PyTorch Linear(2048, 2048) with biases (16 MiB + 8 KiB per layer),
 * named `layers.N.weight` / `layers.N.bias`, with a target.json of Dense layers `layers_N`. Graft is
 * the built CLI (`npm run build` first); NumPy is Debian's /usr/bin/python3. Peak RSS comes from
 * `/usr/bin/time -f %M`. Each size is checked once for equal output bytes before timing. Generated
 * files live in a temporary folder that is deleted at the end.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const PYTHON = '/usr/bin/python3';
const TIME = '/usr/bin/time';
const DIM = 2048;
const LAYER_BYTES = DIM * DIM * 4 + DIM * 4;

/** The NumPy side: the straightforward script a user would write. */
const NUMPY_SCRIPT = `
import json, struct, sys
import numpy as np
DTYPES = {'F32': '<f4', 'F16': '<f2', 'F64': '<f8', 'I32': '<i4', 'I64': '<i8'}
src, dst = sys.argv[1], sys.argv[2]
with open(src, 'rb') as f, open(dst, 'wb') as out:
    n = struct.unpack('<Q', f.read(8))[0]
    header = json.loads(f.read(n))
    header.pop('__metadata__', None)
    base = 8 + n
    for name, t in sorted(header.items(), key=lambda kv: kv[1]['data_offsets'][0]):
        begin, end = t['data_offsets']
        f.seek(base + begin)
        a = np.frombuffer(f.read(end - begin), dtype=DTYPES[t['dtype']]).reshape(t['shape'])
        if a.ndim == 2:
            a = np.ascontiguousarray(a.T)
        out.write(a.tobytes())
`;

interface Args {
  sizes: number[];
  runs: number;
  cli: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { sizes: [64, 256, 1024], runs: 5, cli: CLI };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--sizes' && value) {
      args.sizes = value.split(',').map(Number);
      i++;
    } else if (argv[i] === '--runs' && value) {
      args.runs = Number(value);
      i++;
    } else if (argv[i] === '--cli' && value) {
      args.cli = path.resolve(value);
      i++;
    } else {
      throw new Error(`unknown argument ${argv[i]} (use --sizes 64,256,1024 --runs 5)`);
    }
  }
  if (!args.sizes.every((s) => Number.isInteger(s) && s >= 16) || !Number.isInteger(args.runs) || args.runs < 1) {
    throw new Error('--sizes takes MiB values of at least 16; --runs a positive integer');
  }
  return args;
}

/** A safetensors checkpoint of `layers` Linear(2048, 2048) layers, written in 16 MiB pieces. */
function writeCheckpoint(file: string, layers: number): void {
  const header: Record<string, unknown> = {};
  let at = 0;
  for (let i = 0; i < layers; i++) {
    header[`layers.${i}.weight`] = { dtype: 'F32', shape: [DIM, DIM], data_offsets: [at, at + DIM * DIM * 4] };
    at += DIM * DIM * 4;
    header[`layers.${i}.bias`] = { dtype: 'F32', shape: [DIM], data_offsets: [at, at + DIM * 4] };
    at += DIM * 4;
  }
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const fd = fs.openSync(file, 'w');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  fs.writeSync(fd, length);
  fs.writeSync(fd, json);
  const weight = new Float32Array(DIM * DIM);
  let seed = 12345;
  for (let i = 0; i < layers; i++) {
    for (let k = 0; k < weight.length; k++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      weight[k] = seed / 2 ** 32 - 0.5;
    }
    fs.writeSync(fd, new Uint8Array(weight.buffer));
    fs.writeSync(fd, new Uint8Array(weight.buffer, 0, DIM * 4));
  }
  fs.closeSync(fd);
}

function writeTarget(file: string, layers: number): void {
  const config = Array.from({ length: layers }, (_, i) => ({
    class_name: 'Dense',
    config: { name: `layers_${i}`, units: DIM, activation: 'linear', use_bias: true, ...(i === 0 ? { batch_input_shape: [null, DIM] } : {}) },
  }));
  fs.writeFileSync(file, JSON.stringify({ format: 'layers-model', modelTopology: { class_name: 'Sequential', config: { name: 'bench', layers: config } } }));
}

interface Sample {
  seconds: number;
  /** Peak resident set size, MiB (NaN without /usr/bin/time). */
  rssMiB: number;
}

const hasTime = fs.existsSync(TIME);

/** Runs a command, returning wall time (from here) and peak RSS (from /usr/bin/time). */
function measure(command: string, args: string[]): Sample {
  const started = process.hrtime.bigint();
  const r = hasTime
    ? spawnSync(TIME, ['-f', '%M', command, ...args], { encoding: 'utf8' })
    : spawnSync(command, args, { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const lines = (r.stderr ?? '').trim().split('\n');
  const rssKiB = hasTime ? Number(lines[lines.length - 1]) : NaN;
  return { seconds, rssMiB: rssKiB / 1024 };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The graft output's shard bytes in order, compared with the NumPy output file. */
function sameOutput(graftDir: string, numpyFile: string): boolean {
  const doc = JSON.parse(fs.readFileSync(path.join(graftDir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
  const expected = fs.openSync(numpyFile, 'r');
  try {
    let at = 0;
    for (const p of doc.weightsManifest[0].paths) {
      const shard = fs.readFileSync(path.join(graftDir, p));
      const other = Buffer.alloc(shard.length);
      fs.readSync(expected, other, 0, shard.length, at);
      if (!shard.equals(other)) return false;
      at += shard.length;
    }
    return at === fs.fstatSync(expected).size;
  } finally {
    fs.closeSync(expected);
  }
}

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const numpy = spawnSync(PYTHON, ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8' }).stdout.trim();
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}; Node ${process.version}; Python ${spawnSync(PYTHON, ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).stdout.trim()} with NumPy ${numpy}`;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(args.cli)) throw new Error(`${args.cli} is missing: run npm run build first`);
  if (spawnSync(PYTHON, ['-c', 'import numpy'], { encoding: 'utf8' }).status !== 0) throw new Error(`${PYTHON} cannot import numpy`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-bench-'));
  const rows: string[] = [];
  let inspect: Sample[] = [];
  try {
    const script = path.join(work, 'numpy_convert.py');
    fs.writeFileSync(script, NUMPY_SCRIPT);
    for (const mib of args.sizes) {
      const layers = Math.max(1, Math.round((mib * 1024 * 1024) / LAYER_BYTES));
      const source = path.join(work, `linear-${mib}.safetensors`);
      const target = path.join(work, `target-${mib}.json`);
      writeCheckpoint(source, layers);
      writeTarget(target, layers);
      const gib = fs.statSync(source).size / 1024 ** 3;
      const graftOut = path.join(work, `graft-${mib}`);
      const numpyOut = path.join(work, `numpy-${mib}.bin`);
      // Each run writes into a fresh place, so neither side pays for deleting the last output.
      const runGraft = (): Sample => {
        fs.rmSync(graftOut, { recursive: true, force: true });
        return measure(process.execPath, [args.cli, 'convert', source, '--target', target, '--from', 'torch', '--out', graftOut, '--quiet']);
      };
      const runNumpy = (): Sample => {
        fs.rmSync(numpyOut, { force: true });
        return measure(PYTHON, [script, source, numpyOut]);
      };
      // Warm-up (page cache, first-run effects), which also checks both do the same work.
      runGraft();
      runNumpy();
      if (!sameOutput(graftOut, numpyOut)) throw new Error(`graft and NumPy outputs differ at ${mib} MiB`);
      const graft: Sample[] = [];
      const numpy: Sample[] = [];
      for (let i = 0; i < args.runs; i++) {
        // Alternating keeps background load from favouring either side.
        graft.push(runGraft());
        numpy.push(runNumpy());
      }
      if (mib === 256 || (inspect.length === 0 && mib === args.sizes[args.sizes.length - 1])) {
        inspect = Array.from({ length: args.runs }, () => measure(process.execPath, [args.cli, 'inspect', source]));
      }
      const g = { s: median(graft.map((x) => x.seconds)), rss: median(graft.map((x) => x.rssMiB)) };
      const n = { s: median(numpy.map((x) => x.seconds)), rss: median(numpy.map((x) => x.rssMiB)) };
      rows.push(`| ${mib} MiB (${layers} layers) | ${g.s.toFixed(3)} | ${n.s.toFixed(3)} | **${(g.s / n.s).toFixed(2)}** | ${(g.s / gib).toFixed(2)} | ${(n.s / gib).toFixed(2)} | ${g.rss.toFixed(1)} | ${n.rss.toFixed(1)} | **${(g.rss / n.rss).toFixed(2)}** |`);
      fs.rmSync(graftOut, { recursive: true, force: true });
      fs.rmSync(numpyOut, { force: true });
      fs.rmSync(source, { force: true });
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const out = [
    `Machine: ${machine()}`,
    `Medians of ${args.runs} alternating runs after one warm-up each; wall time measured around each process, peak RSS by ${hasTime ? '/usr/bin/time' : '(unavailable)'}.`,
    '',
    '| checkpoint | graft s | NumPy s | time ratio | graft s/GiB | NumPy s/GiB | graft peak RSS MiB | NumPy peak RSS MiB | RSS ratio |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ];
  if (inspect.length) out.push('', `\`graft inspect\` on the ${args.sizes.includes(256) ? 256 : args.sizes[args.sizes.length - 1]} MiB checkpoint: ${median(inspect.map((x) => x.seconds)).toFixed(3)} s, ${median(inspect.map((x) => x.rssMiB)).toFixed(1)} MiB peak RSS (median of ${inspect.length}).`);
  process.stdout.write(`${out.join('\n')}\n`);
}

main();
