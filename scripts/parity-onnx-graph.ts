/**
 * Parity of ONNX-graph-built tfjs models with PyTorch on the held-out set, including the
 * torchvision models too large to commit (resnet18 is 45 MB): exports them with Debian's torch
 * into a temporary folder (scripts/make_onnx_graph_fixtures.py --large), converts each with
 * `convert()` and no target, and prints the largest error against PyTorch's own output and the
 * tolerance 1e-4 × max(1, max|y|). Skips (exit 0) when /usr/bin/python3 cannot import torch.
 *
 *     npx tsx scripts/parity-onnx-graph.ts [--keep DIR] [case ...]
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import '../src/layers';
import { initBackend } from '../src/backend';
import { convert } from '../src/convert';
import { loadLayersModelFromDir } from '../src/output/load';
import { maxAbsDiff, permuted, readNpy } from '../test/helpers/models';

const PYTHON = '/usr/bin/python3';
const COMMITTED = path.resolve(__dirname, '..', 'fixtures', 'onnx-graph');

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let keep: string | undefined;
  if (args[0] === '--keep') {
    keep = args[1];
    args.splice(0, 2);
  }
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log(`skipped: ${PYTHON} cannot import torch and torchvision`);
    return;
  }
  const large = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'graft-onnx-large-'));
  const have = (name: string) => fs.existsSync(path.join(large, name, 'model.onnx'));
  const missing = ['squeezenet1_1', 'mnasnet0_5', 'resnet18', 'efficientnet_b0', 'densenet121', 'regnet_x_400mf'].filter((n) => !have(n) && (!args.length || args.includes(n)));
  if (missing.length) {
    console.log(`exporting ${missing.join(', ')} with torch into ${large} …`);
    const r = spawnSync(PYTHON, [path.join(__dirname, 'make_onnx_graph_fixtures.py'), '--large', large, ...missing], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`export failed: ${r.stderr.split('\n').slice(-3).join(' ')}`);
  }
  await initBackend();
  const dirs = [
    ...fs.readdirSync(COMMITTED).map((n) => path.join(COMMITTED, n)),
    ...fs.readdirSync(large).map((n) => path.join(large, n)),
  ].filter((d) => fs.existsSync(path.join(d, 'case.json')) && !['unsupported', 'dynamic_hw', 'softmax_opset11_axis1'].includes(path.basename(d)));
  const rows: string[] = ['| model | ONNX MB | max error | tolerance | convert s | engine |', '|---|---:|---:|---:|---:|---|'];
  let failed = 0;
  for (const dir of dirs.sort()) {
    const name = path.basename(dir);
    if (args.length && !args.includes(name)) continue;
    const info = JSON.parse(fs.readFileSync(path.join(dir, 'case.json'), 'utf8'));
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-onnx-out-'));
    const t0 = performance.now();
    const report = await convert({ source: path.join(dir, 'model.onnx'), out: path.join(out, 'm') });
    const seconds = (performance.now() - t0) / 1000;
    const model = await loadLayersModelFromDir(path.join(out, 'm'));
    const x = permuted(readNpy(path.join(dir, 'input.npy'), info.inputDtype), info.inputPerm);
    const want = permuted(readNpy(path.join(dir, 'output.npy')), info.outputPerm);
    const got = tf.tidy(() => (model.predict(tf.tensor(x.data, x.shape, info.inputDtype)) as tf.Tensor).dataSync());
    const tol = 1e-4 * Math.max(1, want.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0));
    const err = maxAbsDiff(got, want.data);
    if (!(err <= tol)) failed++;
    const mb = fs.statSync(path.join(dir, 'model.onnx')).size / 1e6;
    rows.push(`| ${name} | ${mb.toFixed(2)} | ${err.toExponential(2)}${err <= tol ? '' : ' FAIL'} | ${tol.toExponential(2)} | ${seconds.toFixed(2)} | ${report.engine} |`);
    model.dispose();
    fs.rmSync(out, { recursive: true, force: true });
  }
  console.log(rows.join('\n'));
  if (!keep) fs.rmSync(large, { recursive: true, force: true });
  if (failed) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
