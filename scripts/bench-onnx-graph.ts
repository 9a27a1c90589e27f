/**
 * What building the model from the ONNX graph adds to a conversion (torchvision resnet18, 45 MB,
 * exported by Debian's torch into a temporary folder; skipped without torch). Medians of 5 runs
 * after a warm-up, in one process:
 *   build     graph → tfjs topology + the initializer → variable pairs (what no-target adds)
 *   no target `convert(resnet18.onnx)`: build, then the usual plan/assign/write
 *   target    the same conversion given the built topology as --target and the pairs as a table
 *
 *     npx tsx scripts/bench-onnx-graph.ts [--keep DIR]
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import '../src/layers';
import { initBackend } from '../src/backend';
import { convert } from '../src/convert';
import { openWeights } from '../src/formats';
import { EMPTY_TABLE } from '../src/mapping/table';
import { modelFromTopology, targetVariables } from '../src/topology/live-model';
import { resolvePairs } from '../src/topology/onnx-graph';

const PYTHON = '/usr/bin/python3';
const RUNS = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const keep = args[0] === '--keep' ? args[1] : undefined;
  if (spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' }).status !== 0) {
    console.log(`skipped: ${PYTHON} cannot import torch and torchvision`);
    return;
  }
  const dir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'graft-bench-onnx-'));
  const source = path.join(dir, 'resnet18', 'model.onnx');
  if (!fs.existsSync(source)) {
    const r = spawnSync(PYTHON, [path.join(__dirname, 'make_onnx_graph_fixtures.py'), '--large', dir, 'resnet18'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`export failed: ${r.stderr.split('\n').slice(-3).join(' ')}`);
  }
  await initBackend();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-bench-onnx-out-'));

  // The built topology and its pairs, written once as the --target and table of the comparison.
  const reader = await openWeights(source);
  const built = reader.buildTopology!();
  const model = await modelFromTopology(built.topology);
  const table = { ...EMPTY_TABLE, tensors: resolvePairs(built.pairs, targetVariables(model)) };
  model.dispose();
  const targetFile = path.join(work, 'target.json');
  fs.writeFileSync(targetFile, JSON.stringify({ modelTopology: built.topology }));

  const build: number[] = [];
  const noTarget: number[] = [];
  const withTarget: number[] = [];
  let k = 0;
  for (let run = 0; run <= RUNS; run++) {
    const b = await timed(async () => {
      const m = reader.buildTopology!();
      return m.pairs.length;
    });
    const a = await timed(() => convert({ source, out: path.join(work, `a${k++}`) }));
    const t = await timed(() => convert({ source, target: targetFile, map: table, out: path.join(work, `t${k++}`) }));
    if (run === 0) continue; // warm-up
    build.push(b);
    noTarget.push(a);
    withTarget.push(t);
  }
  await reader.close();
  const mb = fs.statSync(source).size / 2 ** 20;
  console.log(`resnet18 (${mb.toFixed(1)} MiB, ${built.layers.length} weighted layers, ${(built.topology.config as { layers: unknown[] }).layers.length} tfjs layers), medians of ${RUNS}:`);
  console.log(`| step | seconds |\n|---|---:|`);
  console.log(`| build topology + pairs from the graph | ${median(build).toFixed(3)} |`);
  console.log(`| convert, no target (builds) | ${median(noTarget).toFixed(3)} |`);
  console.log(`| convert, built topology as --target + pairs as table | ${median(withTarget).toFixed(3)} |`);
  console.log(`| added by building (difference of medians) | ${(median(noTarget) - median(withTarget)).toFixed(3)} |`);
  fs.rmSync(work, { recursive: true, force: true });
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
