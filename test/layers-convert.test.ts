/**
 * Models that need tfjs-graft's layers (GRU with reset_after, grouped convolutions): the converter
 * marks them, and plain tf.loadLayersModel loads them after `import 'tfjs-graft/layers'`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { initBackend } from '../src/backend';
import { convert } from '../src/convert';
import { fixture } from './helpers/realworld';
import { tempDir } from './helpers/models';

for (const name of ['gru', 'grouped_conv', 'grouped_conv1d']) {
  test(`${name}: report and model.json say the layers module is needed`, async () => {
    await initBackend();
    const dir = fixture(`torch/${name}`);
    const out = path.join(tempDir(), 'model');
    const report = await convert({ source: path.join(dir, 'model.pt'), target: path.join(dir, 'target.json'), out });
    assert.equal(report.needsLayers, true);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
    assert.equal(json.userDefinedMetadata.graft.needsLayers, true);
  });
}

test('plain models are not marked', async () => {
  await initBackend();
  const dir = fixture('torch/mlp');
  const report = await convert({ source: path.join(dir, 'model.npz'), target: path.join(dir, 'target.json'), dryRun: true });
  assert.equal(report.needsLayers, false);
});

test("a user's script: require('tfjs-graft/layers') then tf.loadLayersModel loads a converted GRU and matches PyTorch", async () => {
  await initBackend();
  const dir = fixture('torch/gru');
  const out = path.join(tempDir(), 'model');
  await convert({ source: path.join(dir, 'model.onnx'), target: path.join(dir, 'target.json'), out });
  // Run in a separate process that knows nothing of this project but its published entry points.
  const script = `
    const tf = require('@tensorflow/tfjs');
    require('tfjs-graft/layers');
    const { loadModelArtifacts } = require('tfjs-graft');
    const fs = require('fs');
    (async () => {
      await tf.setBackend('cpu');
      const model = await tf.loadLayersModel(tf.io.fromMemory(loadModelArtifacts(${JSON.stringify(out)})));
      const npy = (f) => { const b = fs.readFileSync(f); const h = b.readUInt16LE(8); const hdr = b.subarray(10, 10 + h).toString();
        const shape = JSON.parse(hdr.match(/'shape': \\(([^)]*)\\)/)[1].replace(/,\\s*$/, '').replace(/^/, '[') + ']');
        return tf.tensor(new Float32Array(b.buffer.slice(b.byteOffset + 10 + h, b.byteOffset + b.length)), shape); };
      const y = model.predict(npy(${JSON.stringify(path.join(dir, 'input.npy'))}));
      const want = npy(${JSON.stringify(path.join(dir, 'output.npy'))});
      console.log(tf.max(tf.abs(tf.sub(y, want))).dataSync()[0]);
    })().catch((e) => { console.error(e.message); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: path.resolve(__dirname, '..'), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(Number(r.stdout.trim().split('\n').pop()) <= 1e-4, r.stdout);
});
