/**
 * Numerical parity with PyTorch: every fixture under fixtures/torch holds a model trained or
 * initialised in PyTorch, saved in several formats, with PyTorch's own output for a fixed input.
 * Each format is converted through the public `convert()` API and the tfjs model's prediction
 * must match PyTorch's within the case's tolerance (1e-4).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import '../src/layers';
import { initBackend } from '../src/backend';
import { convert } from '../src/convert';
import { loadLayersModelFromDir } from '../src/output/load';
import { registeredFormats } from '../src/formats';
import { fixture } from './helpers/realworld';
import { maxAbsDiff, permuted, predictArray, readNpy, tempDir } from './helpers/models';

interface CaseInfo {
  inputPerm: number[] | null;
  outputPerm: number[] | null;
  inputDtype: 'float32' | 'int32';
  tolerance: number;
  onnxNames?: string;
}

const TORCH_DIR = fixture('torch');
const cases = fs.readdirSync(TORCH_DIR).filter((c) => fs.existsSync(path.join(TORCH_DIR, c, 'case.json'))).sort();

/** Source files and the format that must read them; formats not yet registered are skipped. */
const SOURCES: [file: string, format: string][] = [
  ['model.npz', 'npz'],
  ['model.safetensors', 'safetensors'],
  ['model.pt', 'pytorch'],
  ['model_legacy.pt', 'pytorch'],
  ['model.onnx', 'onnx'],
];

test('fixtures cover every layer type of the core pipeline', () => {
  for (const c of ['mlp', 'conv_bn', 'depthwise', 'separable', 'conv_transpose', 'lstm', 'emb_conv1d_ln', 'flatten_dense', 'prelu', 'prelu_conv', 'conv1d', 'conv3d', 'seed_mlp']) {
    assert.ok(cases.includes(c), `fixture case ${c} is missing`);
  }
});

/** Recurrent cases (fixtures/rnn): a bidirectional LSTM by name, and PyTorch's default ONNX exports with native W/R/B. */
const RNN_DIR = fixture('rnn');
for (const name of fs.readdirSync(RNN_DIR).sort()) {
  const dir = path.join(RNN_DIR, name);
  for (const file of ['model.npz', 'model.onnx']) {
    test(`${name}: ${file} converts and matches PyTorch's output`, async () => {
      await initBackend();
      const out = path.join(tempDir(), 'model');
      const report = await convert({ source: path.join(dir, file), target: path.join(dir, 'target.json'), out, from: 'torch' });
      assert.deepEqual(report.missing, []);
      assert.deepEqual(report.unused, []);
      const model = await loadLayersModelFromDir(out);
      const got = predictArray(model, readNpy(path.join(dir, 'input.npy')));
      const err = maxAbsDiff(got.data, readNpy(path.join(dir, 'output.npy')).data);
      assert.ok(err <= 1e-4, `max |tfjs - torch| = ${err}`);
    });
  }
}

test('an anonymous ONNX export (initializers 1, 2, …, no node names) converts with --match order', async () => {
  await initBackend();
  const dir = path.join(TORCH_DIR, 'onnx_numbers');
  const out = path.join(tempDir(), 'model');
  // Without --match order nothing in this file says which tensor is which.
  const byName = await convert({ source: path.join(dir, 'model_anonymous.onnx'), target: path.join(dir, 'target.json'), dryRun: true });
  assert.equal(byName.assigned.length, 0);
  const report = await convert({ source: path.join(dir, 'model_anonymous.onnx'), target: path.join(dir, 'target.json'), out, match: 'order' });
  assert.equal(report.assigned.length, 6);
  const model = await loadLayersModelFromDir(out);
  const got = predictArray(model, readNpy(path.join(dir, 'input.npy')));
  assert.ok(maxAbsDiff(got.data, readNpy(path.join(dir, 'output.npy')).data) <= 1e-4);
});

for (const name of cases) {
  const dir = path.join(TORCH_DIR, name);
  const info = JSON.parse(fs.readFileSync(path.join(dir, 'case.json'), 'utf8')) as CaseInfo;
  for (const [file, format] of SOURCES) {
    const source = path.join(dir, file);
    if (!fs.existsSync(source)) continue;
    const numbersOnly = format === 'onnx' && info.onnxNames === 'numbers';
    test(`${name}: ${file} converts and matches PyTorch's output`, async (t) => {
      if (!registeredFormats().some((h) => h.format === format)) return t.skip(`${format} reader not registered`);
      await initBackend();
      const out = path.join(tempDir(), 'model');
      const report = await convert({
        source,
        target: path.join(dir, 'target.json'),
        out,
        from: 'torch',
        map: numbersOnly ? path.join(dir, 'map.json') : undefined,
      });
      assert.deepEqual(report.missing, [], `missing targets: ${report.missing.join(', ')}`);
      const model = await loadLayersModelFromDir(out);
      const input = permuted(readNpy(path.join(dir, 'input.npy'), info.inputDtype), info.inputPerm);
      const expected = permuted(readNpy(path.join(dir, 'output.npy')), info.outputPerm);
      const got = predictArray(model, input);
      assert.deepEqual(got.shape, expected.shape);
      const err = maxAbsDiff(got.data, expected.data);
      assert.ok(err <= info.tolerance, `max |tfjs - torch| = ${err} > ${info.tolerance}`);
      model.dispose();
    });
  }
}
