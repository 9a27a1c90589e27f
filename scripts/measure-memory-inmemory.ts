/**
 * Measures what convertInMemory (the browser page's path) holds at its peak, for a safetensors
 * checkpoint of about 100 MiB: peak RSS of a process that holds the file's bytes and converts
 * them, against a process that loads the same modules and holds the same bytes but converts
 * nothing. The difference over the file size is what conversion in memory costs (the issue asks
 * for at most ~3× the file in the tab, counting the file itself).
 *
 *   npx tsx scripts/measure-memory-inmemory.ts [--layers 6] [--runs 3]
 *
 * The checkpoint: `layers` Linear(2048, 2048) with biases in PyTorch names (`layers.N.weight`
 * [out, in], `layers.N.bias`), float32, written here as the safetensors format defines (an 8-byte
 * header length, the JSON header, the raw data); the target is the matching tfjs Sequential of
 * Dense layers `layers_N`, so every kernel is transposed on the way (the costly path). Peak RSS is
 * `/usr/bin/time -f %M`; medians over `runs`.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const DIM = 2048;
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};

function safetensors(layers: number): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (let i = 0; i < layers; i++) {
    for (const [name, shape] of [[`layers.${i}.weight`, [DIM, DIM]], [`layers.${i}.bias`, [DIM]]] as const) {
      const bytes = shape.reduce((a, b) => a * b, 1) * 4;
      header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
      offset += bytes;
    }
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  // Deterministic values, not zeros: pages of zeros could stay unbacked and hide the cost.
  const data = new Float32Array(out.buffer, 8 + json.length, offset / 4);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  return out;
}

function target(layers: number): Record<string, unknown> {
  const dense = (i: number) => ({ class_name: 'Dense', config: { name: `layers_${i}`, units: DIM, activation: 'linear', use_bias: true, dtype: 'float32', ...(i === 0 ? { batch_input_shape: [null, DIM] } : {}) } });
  return { format: 'layers-model', modelTopology: { class_name: 'Sequential', config: { name: 'mlp', layers: Array.from({ length: layers }, (_, i) => dense(i)) } } };
}

/** Child: hold the file's bytes (as a page holds the File it read), convert them unless `--baseline`. */
async function child(file: string, targetFile: string, baseline: boolean): Promise<void> {
  const { convertInMemory } = await import('../src/convert/memory');
  // Read straight into one buffer (no second copy for the collector to leave behind).
  const data = new Uint8Array(fs.statSync(file).size);
  const fd = fs.openSync(file, 'r');
  for (let at = 0; at < data.length; ) at += fs.readSync(fd, data, at, data.length - at, at);
  fs.closeSync(fd);
  const targetJson = JSON.parse(fs.readFileSync(targetFile, 'utf8'));
  if (baseline) {
    process.stdout.write(JSON.stringify({ bytes: data.length }));
    return;
  }
  const m = await convertInMemory({ source: { name: 'model.safetensors', data }, target: targetJson });
  process.stdout.write(JSON.stringify({ bytes: data.length, out: m.weightData.byteLength, assigned: m.report.assigned.length }));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return child(process.argv[3], process.argv[4], process.argv[5] === '--baseline');
  const layers = arg('--layers', 6);
  const runs = arg('--runs', 3);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-mem-bench-'));
  try {
    const file = path.join(dir, 'model.safetensors');
    const targetFile = path.join(dir, 'target.json');
    fs.writeFileSync(file, safetensors(layers));
    fs.writeFileSync(targetFile, JSON.stringify(target(layers)));
    const size = fs.statSync(file).size;
    const peak = (baseline: boolean): number => {
      const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, '--import', 'tsx', __filename, '--child', file, targetFile, ...(baseline ? ['--baseline'] : [])], { encoding: 'utf8', cwd: path.join(__dirname, '..') });
      if (r.status !== 0) throw new Error(r.stderr);
      const kib = Number(r.stderr.trim().split('\n').pop());
      return kib * 1024;
    };
    const base: number[] = [];
    const conv: number[] = [];
    for (let i = 0; i < runs; i++) {
      base.push(peak(true));
      conv.push(peak(false));
    }
    const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
    const b = median(base);
    const c = median(conv);
    console.log(`safetensors ${mib(size)} (${layers} × Linear(${DIM}, ${DIM}), transposed into Dense kernels), ${runs} runs, load: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    console.log(`peak RSS holding the file, no conversion: ${mib(b)}`);
    console.log(`peak RSS holding the file and converting it in memory: ${mib(c)}`);
    console.log(`conversion adds ${mib(c - b)} = ${((c - b) / size).toFixed(2)}× the file; with the file itself ${((c - b + size) / size).toFixed(2)}×`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
