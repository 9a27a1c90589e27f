/**
 * Benchmark: `graft convert` against each format's own Python library doing the same work on the
 * same checkpoint — read every tensor, transpose PyTorch-layout 2-D weights, write the result —
 * measured side by side (alternating), reporting medians of wall time and peak RSS; plus `dd bs=4M`
 * copying the safetensors file, the floor any converter is held against: once started right after
 * the previous output was deleted, once started a few seconds later (see COLD_WAIT_MS).
 *
 *   npx tsx scripts/bench-convert.ts [--sizes 256,1024] [--runs 3] [--formats pt,npz,npz-deflated,onnx,h5,safetensors] [--cli dist/cli/main.js]
 *
 * Checkpoints are stacks of Linear(2048, 2048) with biases (16 MiB + 8 KiB per layer), written by
 * the real libraries from one set of values (Debian /usr/bin/python3): `.pt` by torch.save, `.npz`
 * by np.savez (stored) and np.savez_compressed (deflated), `.onnx` by onnx.save (a Gemm chain,
 * initializers in raw_data), Keras 2 weights `.h5` by h5py in the layout Keras' save_weights writes
 * (kernels [in, out]), safetensors by NumPy (header + raw bytes, as the format defines). The tfjs
 * target (Dense layers `layers_N`) is the same for all. Python references: torch.load, np.load, onnx.load + numpy_helper.to_array,
 * h5py, NumPy on safetensors; each writes its arrays in the target's order, and each graft output
 * is checked byte for byte against it once before timing. Graft is the built CLI (`npm run build`
 * first) run by node directly. Peak RSS comes from `/usr/bin/time -f %M`. Generated files live in
 * a temporary folder deleted at the end. Timed processes run without NODE_EXTRA_CA_CERTS (see
 * TIMED_ENV), and the report says what that variable costs Node's start-up here.
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

/** Writes every format from the same values: layer i's weight and bias from a generator seeded i. */
const GENERATE_SCRIPT = `
import json, sys
import numpy as np
fmt, n, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3]
D = ${DIM}
def layer(i):
    r = np.random.default_rng(i)
    return r.standard_normal((D, D), dtype=np.float32), r.standard_normal(D, dtype=np.float32)
if fmt == 'pt':
    import torch
    sd = {}
    for i in range(n):
        w, b = layer(i)
        sd[f'layers.{i}.weight'] = torch.from_numpy(w)
        sd[f'layers.{i}.bias'] = torch.from_numpy(b)
    torch.save(sd, dst)
elif fmt in ('npz', 'npz-deflated'):
    arrays = {}
    for i in range(n):
        arrays[f'layers.{i}.weight'], arrays[f'layers.{i}.bias'] = layer(i)
    (np.savez if fmt == 'npz' else np.savez_compressed)(dst, **arrays)
elif fmt == 'onnx':
    import onnx
    from onnx import helper, numpy_helper, TensorProto
    inits, nodes, prev = [], [], 'input'
    for i in range(n):
        w, b = layer(i)
        inits += [numpy_helper.from_array(w, f'layers.{i}.weight'), numpy_helper.from_array(b, f'layers.{i}.bias')]
        nodes.append(helper.make_node('Gemm', [prev, f'layers.{i}.weight', f'layers.{i}.bias'], [f'h{i}'], transB=1, name=f'/layers.{i}/Gemm'))
        prev = f'h{i}'
    graph = helper.make_graph(nodes, 'bench', [helper.make_tensor_value_info('input', TensorProto.FLOAT, [1, D])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, D])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)]), dst)
elif fmt == 'h5':
    import h5py
    names = [f'layers_{i}' for i in range(n)]
    with h5py.File(dst, 'w') as f:
        f.attrs['layer_names'] = np.array([s.encode() for s in names])
        f.attrs['backend'] = b'tensorflow'
        f.attrs['keras_version'] = b'2.15.0'
        for i, name in enumerate(names):
            w, b = layer(i)
            g = f.create_group(name)
            g.attrs['weight_names'] = np.array([f'{name}/kernel:0'.encode(), f'{name}/bias:0'.encode()])
            g.create_dataset(f'{name}/kernel:0', data=np.ascontiguousarray(w.T))
            g.create_dataset(f'{name}/bias:0', data=b)
elif fmt == 'safetensors':
    header, at = {}, 0
    for i in range(n):
        header[f'layers.{i}.weight'] = {'dtype': 'F32', 'shape': [D, D], 'data_offsets': [at, at + D * D * 4]}
        at += D * D * 4
        header[f'layers.{i}.bias'] = {'dtype': 'F32', 'shape': [D], 'data_offsets': [at, at + D * 4]}
        at += D * 4
    text = json.dumps(header).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(dst, 'wb') as f:
        f.write(len(text).to_bytes(8, 'little'))
        f.write(text)
        for i in range(n):
            w, b = layer(i)
            f.write(w.tobytes())
            f.write(b.tobytes())
`;

/**
 * The Python side: the straightforward script a user would write with the format's own library,
 * writing the target's arrays (kernels [in, out], then biases) in layer order.
 */
const REFERENCE_SCRIPT = `
import json, re, struct, sys
import numpy as np
fmt, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
def layer_index(name):
    return int(re.search(r'(\\d+)', name).group(1))
def write_torch_layout(out, names, get):
    # One array at a time: only what the library itself holds stays in memory.
    for name in sorted(names, key=lambda k: (layer_index(k), k.endswith('bias'))):
        a = get(name)
        if a.ndim == 2:
            a = np.ascontiguousarray(a.T)
        out.write(a.tobytes())
with open(dst, 'wb') as out:
    if fmt == 'pt':
        import torch
        sd = torch.load(src)
        write_torch_layout(out, list(sd), lambda k: sd[k].numpy())
    elif fmt in ('npz', 'npz-deflated'):
        z = np.load(src)
        write_torch_layout(out, z.files, lambda k: z[k])
    elif fmt == 'onnx':
        import onnx
        from onnx import numpy_helper
        m = onnx.load(src)
        inits = {t.name: t for t in m.graph.initializer}
        write_torch_layout(out, list(inits), lambda k: numpy_helper.to_array(inits[k]))
    elif fmt == 'h5':
        import h5py
        with h5py.File(src, 'r') as f:
            for layer in f.attrs['layer_names']:
                g = f[layer.decode()]
                for w in g.attrs['weight_names']:
                    out.write(g[w.decode()][()].tobytes())
    elif fmt == 'safetensors':
        DTYPES = {'F32': '<f4', 'F16': '<f2', 'F64': '<f8', 'I32': '<i4', 'I64': '<i8'}
        with open(src, 'rb') as f:
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

interface FormatCase {
  id: string;
  label: string;
  reference: string;
  ext: string;
  /** graft's --from for this file's names and layout. */
  from: string;
}

const FORMATS: FormatCase[] = [
  { id: 'pt', label: 'PyTorch zip `.pt`', reference: '`torch.load`', ext: 'pt', from: 'torch' },
  { id: 'npz', label: 'NumPy `.npz` (stored)', reference: '`np.load`', ext: 'npz', from: 'torch' },
  { id: 'npz-deflated', label: 'NumPy `.npz` (deflated)', reference: '`np.load`', ext: 'npz', from: 'torch' },
  { id: 'onnx', label: 'ONNX (raw_data initializers)', reference: '`onnx.load` + `numpy_helper`', ext: 'onnx', from: 'torch' },
  { id: 'h5', label: 'Keras 2 weights `.h5`', reference: '`h5py`', ext: 'h5', from: 'keras' },
  { id: 'safetensors', label: 'safetensors', reference: 'NumPy', ext: 'safetensors', from: 'torch' },
];

interface Args {
  sizes: number[];
  runs: number;
  formats: FormatCase[];
  cli: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { sizes: [256, 1024], runs: 3, formats: FORMATS, cli: CLI };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--sizes' && value) {
      args.sizes = value.split(',').map(Number);
      i++;
    } else if (argv[i] === '--runs' && value) {
      args.runs = Number(value);
      i++;
    } else if (argv[i] === '--formats' && value) {
      const ids = value.split(',');
      args.formats = FORMATS.filter((f) => ids.includes(f.id));
      if (args.formats.length !== ids.length) throw new Error(`--formats takes some of ${FORMATS.map((f) => f.id).join(',')}`);
      i++;
    } else if (argv[i] === '--cli' && value) {
      args.cli = path.resolve(value);
      i++;
    } else {
      throw new Error(`unknown argument ${argv[i]} (use --sizes 256,1024 --runs 3 --formats pt,npz,npz-deflated,onnx,h5,safetensors)`);
    }
  }
  if (!args.sizes.every((s) => Number.isInteger(s) && s >= 16) || !Number.isInteger(args.runs) || args.runs < 1) {
    throw new Error('--sizes takes MiB values of at least 16; --runs a positive integer');
  }
  return args;
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

/**
 * Every timed process runs without NODE_EXTRA_CA_CERTS. Node reads and parses that certificate
 * bundle at every start, before any script runs (on the benchmark machine, whose environment sets
 * it for tools that download, most of Node's start-up); graft makes no network connections, and
 * Python and dd ignore it. What it costs is measured and printed (nodeStartCost).
 */
const TIMED_ENV: NodeJS.ProcessEnv = { ...process.env };
delete TIMED_ENV.NODE_EXTRA_CA_CERTS;

/** Runs a command, returning wall time (from here) and peak RSS (from /usr/bin/time). */
function measure(command: string, args: string[]): Sample {
  const started = process.hrtime.bigint();
  const r = hasTime
    ? spawnSync(TIME, ['-f', '%M', command, ...args], { encoding: 'utf8', env: TIMED_ENV })
    : spawnSync(command, args, { encoding: 'utf8', env: TIMED_ENV });
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

/** The graft output's shard bytes in order, compared with the Python output file. */
function sameOutput(graftDir: string, pythonFile: string): boolean {
  const doc = JSON.parse(fs.readFileSync(path.join(graftDir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
  const expected = fs.openSync(pythonFile, 'r');
  try {
    let at = 0;
    for (const p of doc.weightsManifest.flatMap((g) => g.paths)) {
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

function python(code: string): string {
  return spawnSync(PYTHON, ['-c', code], { encoding: 'utf8' }).stdout.trim();
}

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const versions = python('import platform, numpy, torch, onnx, h5py; print(f"Python {platform.python_version()}, NumPy {numpy.__version__}, torch {torch.__version__}, onnx {onnx.__version__}, h5py {h5py.__version__}")');
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}; Node ${process.version}; ${versions}`;
}

/**
 * How long the dd comparison's second pair waits after deleting the previous output. On a VM whose
 * balloon driver reports free pages, memory freed a moment ago is still backed by the host, and a
 * writer that reuses it at once pays far less per page than one that gets memory handed back
 * (measured here: `dd` of 1 GiB 0.47–1.03 s right after deleting its last copy, 1.86–2.38 s 4 s
 * after). A copy finishes before the reporting catches up; a longer run does not, so the first
 * pair favours the shorter run. After this wait both start alike.
 */
const COLD_WAIT_MS = 5000;

interface Pair {
  graft: number;
  dd: number;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The kernel's free page reporting settings, as the record of which case the machine is. */
function pageReporting(): string {
  const dir = '/sys/module/page_reporting/parameters';
  if (!fs.existsSync(dir)) return 'not present';
  return fs.readdirSync(dir).filter((f) => ['page_reporting_order', 'min_free_ms'].includes(f)).map((f) => `${f} ${fs.readFileSync(path.join(dir, f), 'utf8').trim()}`).join(', ') || 'present';
}

/** Median start-up of a bare `node -e 0` as the caller's environment has it and as timed here. */
function nodeStartCost(): string {
  if (process.env.NODE_EXTRA_CA_CERTS === undefined) return 'NODE_EXTRA_CA_CERTS is not set';
  const withBundle: number[] = [];
  const without: number[] = [];
  const time = (env: NodeJS.ProcessEnv): number => {
    const started = process.hrtime.bigint();
    spawnSync(process.execPath, ['-e', '0'], { env });
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  for (let i = 0; i < 11; i++) {
    withBundle.push(time(process.env));
    without.push(time(TIMED_ENV));
  }
  return `NODE_EXTRA_CA_CERTS is set here and removed for every timed process; \`node -e 0\` starts in ${median(withBundle).toFixed(0)} ms with it, ${median(without).toFixed(0)} ms without (medians of 11)`;
}

const load = (): string => os.loadavg().map((l) => l.toFixed(2)).join(', ');

interface Row {
  format: FormatCase;
  mib: number;
  graft: { s: number; rss: number };
  python: { s: number; rss: number };
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(args.cli)) throw new Error(`${args.cli} is missing: run npm run build first`);
  if (spawnSync(PYTHON, ['-c', 'import numpy, torch, onnx, h5py'], { encoding: 'utf8' }).status !== 0) throw new Error(`${PYTHON} cannot import numpy, torch, onnx and h5py`);
  const loadBefore = load();
  const startCost = nodeStartCost();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-bench-'));
  const rows: Row[] = [];
  const dd: { mib: number; hot: Pair; cold: Pair }[] = [];
  try {
    const generate = path.join(work, 'generate.py');
    const reference = path.join(work, 'reference.py');
    fs.writeFileSync(generate, GENERATE_SCRIPT);
    fs.writeFileSync(reference, REFERENCE_SCRIPT);
    for (const mib of args.sizes) {
      const layers = Math.max(1, Math.round((mib * 1024 * 1024) / LAYER_BYTES));
      const target = path.join(work, `target-${mib}.json`);
      writeTarget(target, layers);
      for (const format of args.formats) {
        const source = path.join(work, `linear-${mib}.${format.ext}`);
        const made = spawnSync(PYTHON, [generate, format.id, String(layers), source], { encoding: 'utf8' });
        if (made.status !== 0) throw new Error(`generating ${source} failed: ${made.stderr}`);
        // The new file's pages are written back to disk now, not during the timed runs.
        spawnSync('sync');
        const graftOut = path.join(work, `graft-${mib}-${format.id}`);
        const pythonOut = path.join(work, `python-${mib}-${format.id}.bin`);
        // Each run writes into a fresh place, so neither side pays for deleting the last output.
        const runGraft = (): Sample => {
          fs.rmSync(graftOut, { recursive: true, force: true });
          return measure(process.execPath, [args.cli, 'convert', source, '--target', target, '--from', format.from, '--out', graftOut, '--quiet']);
        };
        const runPython = (): Sample => {
          fs.rmSync(pythonOut, { force: true });
          return measure(PYTHON, [reference, format.id, source, pythonOut]);
        };
        // Warm-up (page cache, first-run effects), which also checks both do the same work.
        runGraft();
        runPython();
        if (!sameOutput(graftOut, pythonOut)) throw new Error(`graft and ${format.reference} outputs differ on ${format.id} at ${mib} MiB`);
        const graft: Sample[] = [];
        const py: Sample[] = [];
        for (let i = 0; i < args.runs; i++) {
          // Alternating keeps background load from favouring either side.
          graft.push(runGraft());
          py.push(runPython());
        }
        const g = { s: median(graft.map((x) => x.seconds)), rss: median(graft.map((x) => x.rssMiB)) };
        rows.push({ format, mib, graft: g, python: { s: median(py.map((x) => x.seconds)), rss: median(py.map((x) => x.rssMiB)) } });
        process.stderr.write(`  ${mib} MiB ${format.id}: graft ${g.s.toFixed(2)} s; ${format.reference} ${rows[rows.length - 1].python.s.toFixed(2)} s\n`);
        if (format.id === 'safetensors') {
          const copy = path.join(work, 'dd-copy');
          const runDd = (): Sample => {
            fs.rmSync(copy, { force: true });
            return measure('dd', [`if=${source}`, `of=${copy}`, 'bs=4M', 'status=none']);
          };
          // The same pair again, each started COLD_WAIT_MS after its previous output was deleted.
          const idle = (run: () => Sample, output: string): Sample => {
            fs.rmSync(output, { recursive: true, force: true });
            sleep(COLD_WAIT_MS);
            return run();
          };
          runDd();
          const hot = { graft: [] as number[], dd: [] as number[] };
          const cold = { graft: [] as number[], dd: [] as number[] };
          for (let i = 0; i < args.runs; i++) {
            hot.graft.push(runGraft().seconds);
            hot.dd.push(runDd().seconds);
            cold.graft.push(idle(runGraft, graftOut).seconds);
            cold.dd.push(idle(runDd, copy).seconds);
          }
          dd.push({ mib, hot: { graft: median(hot.graft), dd: median(hot.dd) }, cold: { graft: median(cold.graft), dd: median(cold.dd) } });
          fs.rmSync(copy, { force: true });
        }
        fs.rmSync(graftOut, { recursive: true, force: true });
        fs.rmSync(pythonOut, { force: true });
        fs.rmSync(source, { force: true });
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const out = [
    `Machine: ${machine()}`,
    `Load average (1, 5, 15 min) before: ${loadBefore}; after: ${load()} (${os.cpus().length} cores, shared with other work while this ran).`,
    `Medians of ${args.runs} alternating runs after one warm-up each; wall time measured around each process, peak RSS by ${hasTime ? '/usr/bin/time -f %M' : '(unavailable)'}; MiB = 2^20 bytes.`,
    `${startCost}.`,
    '',
    '| format | size | graft | Python reference | time ratio | RSS ratio |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.format.label} | ${r.mib} MiB | ${r.graft.s.toFixed(2)} s, ${r.graft.rss.toFixed(0)} MiB | ${r.format.reference} ${r.python.s.toFixed(2)} s, ${r.python.rss.toFixed(0)} MiB | ${(r.graft.s / r.python.s).toFixed(2)} | ${(r.graft.rss / r.python.rss).toFixed(2)} |`),
  ];
  if (dd.length) {
    const pair = (p: Pair) => `${p.graft.toFixed(2)} s | ${p.dd.toFixed(2)} s | ${(p.graft / p.dd).toFixed(1)}`;
    out.push(
      '',
      `Page reporting (freed guest memory handed back to the host): ${pageReporting()}.`,
      '',
      `| safetensors checkpoint | started right after the last output was deleted: graft convert | \`dd bs=4M\` copy | graft / dd | started ${COLD_WAIT_MS / 1000} s after: graft convert | \`dd bs=4M\` copy | graft / dd |`,
      '|---|---|---|---|---|---|---|',
    );
    for (const d of dd) out.push(`| ${d.mib} MiB | ${pair(d.hot)} | ${pair(d.cold)} |`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main();
