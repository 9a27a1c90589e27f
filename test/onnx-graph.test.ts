/**
 * ONNX graphs built into tfjs layers models (no --target): every fixture under
 * fixtures/onnx-graph was exported by torch 1.13 at opset 13 (scripts/make_onnx_graph_fixtures.py)
 * with PyTorch's own output for a fixed input; the converted model must reproduce it within
 * 1e-4 × max(1, max|y|). Also: refusals, layer names, --input-shape, freezing and fine-tuning.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import '../src/layers';
import { initBackend } from '../src/backend';
import { convert } from '../src/convert';
import { GraftError } from '../src/errors';
import { loadLayersModelFromDir } from '../src/output/load';
import { finetune } from '../src/transfer';
import { openWeights } from '../src/formats';
import { graft } from './helpers/cli';
import { mutateAndRead } from './helpers/mutate';
import { fixture, realworld } from './helpers/realworld';
import { maxAbsDiff, permuted, predictArray, readNpy, tempDir } from './helpers/models';

interface CaseInfo {
  inputDtype: 'float32' | 'int32';
  inputPerm: number[] | null;
  outputPerm: number[] | null;
}

const DIR = fixture('onnx-graph');
/** Cases that must be refused (checked below) or need --input-shape. */
const SPECIAL = new Set(['unsupported', 'dynamic_hw', 'softmax_opset11_axis1']);
const cases = fs.readdirSync(DIR).filter((c) => fs.existsSync(path.join(DIR, c, 'case.json')) && !SPECIAL.has(c)).sort();

function caseInfo(name: string): CaseInfo {
  return JSON.parse(fs.readFileSync(path.join(DIR, name, 'case.json'), 'utf8')) as CaseInfo;
}

/** Largest error against PyTorch's output, and the tolerance 1e-4 × max(1, max|y|). */
async function parity(out: string, name: string, info = caseInfo(name)): Promise<{ err: number; tol: number }> {
  const model = await loadLayersModelFromDir(out);
  const x = permuted(readNpy(path.join(DIR, name, 'input.npy'), info.inputDtype), info.inputPerm);
  const want = permuted(readNpy(path.join(DIR, name, 'output.npy')), info.outputPerm);
  const got = predictArray(model, x);
  assert.deepEqual(got.shape, want.shape, 'output shape');
  const maxY = want.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return { err: maxAbsDiff(got.data, want.data), tol: 1e-4 * Math.max(1, maxY) };
}

test('the held-out set is all there', () => {
  for (const c of ['mlp', 'cnn_gap', 'cnn_flatten', 'dw_pw', 'conv_transpose', 'lstm', 'gru', 'birnn', 'emb_conv1d_ln', 'unet', 'bilstm_emb', 'mobilenet_v2', 'shufflenet_v2_x0_5', 'tiny_resnet', 'misc_ops',
    'lstm_reverse_layout1', 'lstm_reverse_layout0_h', 'gru_reverse_layout0', 'gru_reverse_layout1_h']) {
    assert.ok(cases.includes(c), `fixture ${c} is missing`);
  }
});

for (const name of cases) {
  test(`${name}: built from the ONNX graph alone, matches PyTorch`, async () => {
    await initBackend();
    const out = path.join(tempDir(), 'model');
    const report = await convert({ source: path.join(DIR, name, 'model.onnx'), out });
    assert.deepEqual(report.missing, []);
    assert.deepEqual(report.unused, [], 'every initializer fills a variable');
    assert.ok(report.graph, 'the report describes the built graph');
    const info = caseInfo(name);
    assert.deepEqual(report.graph!.inputs[0].perm, info.inputPerm, 'input layout');
    const { err, tol } = await parity(out, name, info);
    assert.ok(err <= tol, `max |tfjs - torch| = ${err} > ${tol}`);
  });
}

/**
 * Another held-out set: the ONNX exports other tests convert onto hand-written targets
 * (fixtures/torch, fixtures/rnn; some exported with do_constant_folding=False or
 * training=PRESERVE), here built from their graphs alone.
 */
const REFUSED_OTHERS: Record<string, RegExp> = {
  'torch/conv3d/model.onnx': /3-D convolutions are not built/,
  'torch/gru/model.onnx': /W is computed inside the graph, not an initializer \(an export with do_constant_folding=False\?\)/,
  'torch/lstm/model.onnx': /W is computed inside the graph, not an initializer/,
};
const otherExports = ['torch', 'rnn'].flatMap((family) => fs.readdirSync(fixture(family)).flatMap((c) => {
  const dir = fixture(`${family}/${c}`);
  if (!fs.existsSync(path.join(dir, 'output.npy'))) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.onnx')).map((f) => `${family}/${c}/${f}`);
}));
test('the ONNX exports made for the target-based tests build from their graphs and match PyTorch too', async () => {
  await initBackend();
  assert.ok(otherExports.length >= 20);
  for (const rel of otherExports) {
    const file = fixture(rel);
    const dir = path.dirname(file);
    const out = path.join(tempDir(), 'model');
    if (REFUSED_OTHERS[rel]) {
      await assert.rejects(convert({ source: file, out }), REFUSED_OTHERS[rel]);
      continue;
    }
    const report = await convert({ source: file, out });
    assert.deepEqual(report.missing, [], rel);
    const info = fs.existsSync(path.join(dir, 'case.json')) ? JSON.parse(fs.readFileSync(path.join(dir, 'case.json'), 'utf8')) as CaseInfo : { inputDtype: 'float32', inputPerm: null, outputPerm: null } as CaseInfo;
    const model = await loadLayersModelFromDir(out);
    const got = predictArray(model, permuted(readNpy(path.join(dir, 'input.npy'), info.inputDtype), info.inputPerm));
    const want = permuted(readNpy(path.join(dir, 'output.npy')), info.outputPerm);
    const tol = 1e-4 * Math.max(1, want.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0));
    assert.ok(maxAbsDiff(got.data, want.data) <= tol, `${rel}: max |tfjs - torch| = ${maxAbsDiff(got.data, want.data)}`);
    model.dispose();
  }
});

test('ops graft cannot build: exit before writing, one line with counts and first nodes', async () => {
  const out = path.join(tempDir(), 'never');
  await assert.rejects(convert({ source: path.join(DIR, 'unsupported', 'model.onnx'), out }), (e: unknown) => {
    assert.ok(e instanceof GraftError && e.code === 'UNSUPPORTED');
    assert.match(e.message, /CumSum×2 \(first: '\/CumSum'\)/);
    assert.match(e.message, /ArgMax×1 \(first: '\/ArgMax'\)/);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
  assert.ok(!fs.existsSync(out));
  // With a target the graph only names initializers, as before.
  await initBackend();
  const target = tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [6], name: 'fc' })] });
  const targetFile = path.join(tempDir(), 'target.json');
  fs.writeFileSync(targetFile, JSON.stringify({ modelTopology: target.toJSON(null, false) }));
  const report = await convert({ source: path.join(DIR, 'unsupported', 'model.onnx'), target: targetFile, out });
  assert.deepEqual(report.assigned.map((a) => a.target).sort(), ['fc/bias', 'fc/kernel']);
  assert.equal(report.graph, undefined);
});

test('the Transformer stretch case builds: attention folds the batch with the heads, graft keeps them apart for any batch size', async () => {
  await initBackend();
  const out = path.join(tempDir(), 'model');
  const report = await convert({ source: path.join(DIR, 'transformer', 'model.onnx'), out });
  const layers = report.graph!.layers.map((l) => l.layer);
  for (const name of ['emb', 'enc.self_attn', 'enc.norm1', 'enc.linear1', 'enc.linear2', 'enc.norm2', 'fc']) assert.ok(layers.includes(name), `layer ${name}`);
  const model = await loadLayersModelFromDir(out);
  assert.ok(model.layers.some((l) => l.getClassName() === 'GraftMatMul'));
  // One sample alone gives the same row as in the batch of two PyTorch saw.
  const x = readNpy(path.join(DIR, 'transformer', 'input.npy'), 'int32');
  const want = readNpy(path.join(DIR, 'transformer', 'output.npy'));
  const cols = want.shape[1];
  const got = predictArray(model, { shape: [1, x.shape[1]], data: x.data.slice(x.shape[1]) });
  assert.ok(maxAbsDiff(got.data, want.data.slice(cols)) <= 1e-4);
});

test('the exporter\'s layer-norm pattern (ReduceMean/Sub/Pow/Sqrt/Div, Mul γ, Add β) becomes one LayerNormalization', async () => {
  await initBackend();
  const out = path.join(tempDir(), 'model');
  const report = await convert({ source: path.join(DIR, 'emb_conv1d_ln', 'model.onnx'), out });
  const ln = report.assigned.filter((a) => a.target.startsWith('ln/')).map((a) => `${a.target}<-${a.source}`).sort();
  assert.deepEqual(ln, ['ln/beta<-ln.bias', 'ln/gamma<-ln.weight']);
  const model = await loadLayersModelFromDir(out);
  assert.equal(model.getLayer('ln').getClassName(), 'LayerNormalization');
  assert.ok(Math.abs((model.getLayer('ln').getConfig() as { epsilon: number }).epsilon - 1e-5) < 1e-12, 'PyTorch\'s epsilon, not Keras\' 1e-3');
});

test('an opset-11 Softmax over more than the last axis is refused, not built as today\'s Softmax', async () => {
  await assert.rejects(convert({ source: path.join(DIR, 'softmax_opset11_axis1', 'model.onnx'), dryRun: true }), /Softmax of opset 11 over axes 1… of a rank-3 tensor is not built/);
});

test('open spatial dimensions need --input-shape; with it the model builds and matches', async () => {
  const source = path.join(DIR, 'dynamic_hw', 'model.onnx');
  await assert.rejects(convert({ source, dryRun: true }), /graph input 'input' has open dimensions \[batch, 3, height, width\]; fix them with --input-shape input=1,3,<height>,<width>/);
  await initBackend();
  const out = path.join(tempDir(), 'model');
  const report = await convert({ source, out, inputShapes: { input: [1, 3, 16, 16] } });
  assert.deepEqual(report.graph!.inputs[0].tfjsShape, [null, 16, 16, 3]);
  const { err, tol } = await parity(out, 'dynamic_hw');
  assert.ok(err <= tol, `max |tfjs - torch| = ${err}`);
});

test('layers take PyTorch module names, so --freeze speaks them', async () => {
  await initBackend();
  const out = path.join(tempDir(), 'model');
  const report = await convert({ source: path.join(DIR, 'tiny_resnet', 'model.onnx'), out, freeze: ['^(conv1|layer1)(\\.|$)'] });
  const layers = report.graph!.layers.map((l) => l.layer);
  for (const name of ['conv1', 'layer1.0.conv1', 'layer1.1.conv2', 'layer2.0.downsample.0', 'fc']) assert.ok(layers.includes(name), `layer ${name}`);
  // BatchNorm was folded into the convolutions by the exporter: conv1 carries bn1's effect.
  assert.ok(report.frozen.includes('conv1'));
  assert.ok(report.frozen.includes('layer1.0.conv1') && report.frozen.includes('layer1.1.conv2'));
  assert.ok(!report.frozen.some((n) => n.startsWith('layer2') || n === 'fc'));
  const model = await loadLayersModelFromDir(out);
  assert.equal(model.getLayer('conv1').trainable, false);
  assert.equal(model.getLayer('fc').trainable, true);
  const { err, tol } = await parity(out, 'tiny_resnet');
  assert.ok(err <= tol);
});

test('a converted CNN trains: lower layers frozen, graft finetune, frozen weights bit-identical', async () => {
  await initBackend();
  const work = tempDir();
  const converted = path.join(work, 'converted');
  await convert({ source: path.join(DIR, 'cnn_gap', 'model.onnx'), out: converted, freeze: ['^conv[12]$'] });
  // 40 random 16×16 RGB images, 5 classes.
  const rng = (() => {
    let s = 7;
    return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  })();
  const n = 40;
  const xs = Float32Array.from({ length: n * 16 * 16 * 3 }, () => rng() * 2 - 1);
  const ys = Int32Array.from({ length: n }, (_, i) => i % 5);
  const dataFile = path.join(work, 'x.npy');
  const labelFile = path.join(work, 'y.npy');
  fs.writeFileSync(dataFile, npy(xs, [n, 16, 16, 3], '<f4'));
  fs.writeFileSync(labelFile, npy(ys, [n], '<i4'));
  const before = await loadLayersModelFromDir(converted);
  const weights = (m: tf.LayersModel, layer: string) => m.getLayer(layer).getWeights().map((w) => Buffer.from((w.dataSync() as Float32Array).buffer).toString('hex'));
  const trained = path.join(work, 'trained');
  const result = await finetune({ model: converted, data: dataFile, labels: labelFile, out: trained, epochs: 3, batchSize: 8, learningRate: 0.01 });
  assert.equal(result.history.length, 3);
  assert.ok(result.fromLogits, "the converted model ends in logits");
  const after = await loadLayersModelFromDir(trained);
  for (const layer of ['conv1', 'conv2']) assert.deepEqual(weights(after, layer), weights(before, layer), `${layer} unchanged`);
  assert.notDeepEqual(weights(after, 'fc'), weights(before, 'fc'), 'the head trained');
});

test('a real-world ONNX export (matthieu_mnist_dwconv) builds and outputs log-probabilities', { skip: !realworld('pytorch/matthieu_mnist_dwconv/onnx_model.onnx') }, async () => {
  await initBackend();
  const out = path.join(tempDir(), 'model');
  const report = await convert({ source: realworld('pytorch/matthieu_mnist_dwconv/onnx_model.onnx')!, out });
  assert.deepEqual(report.unused, []);
  assert.equal(report.assigned.length, 26);
  const model = await loadLayersModelFromDir(out);
  const y = tf.tidy(() => tf.exp(model.predict(tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 3)) as tf.Tensor).sum(1).dataSync());
  for (const s of y) assert.ok(Math.abs(s - 1) < 1e-5, `probabilities sum to ${s}`);
});

test('CLI: inspect lists the graph ops; convert refuses unbuildable ops with exit 1, builds and reports layouts otherwise', () => {
  let r = graft(['inspect', path.join(DIR, 'unsupported', 'model.onnx')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /graph ops \(graft cannot build CumSum, ArgMax\)/);
  assert.match(r.stdout, /CumSum\s+2\s+no\s+\/CumSum/);
  assert.match(r.stdout, /Gemm\s+1\s+yes\s+\/fc\/Gemm/);
  const out = path.join(tempDir(), 'never');
  r = graft(['convert', path.join(DIR, 'unsupported', 'model.onnx'), '--out', out]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /cannot build ops CumSum×2 \(first: '\/CumSum'\), ArgMax×1 \(first: '\/ArgMax'\)/);
  assert.ok(!fs.existsSync(out));
  const built = path.join(tempDir(), 'model');
  const report = path.join(tempDir(), 'report.json');
  r = graft(['convert', path.join(DIR, 'unet', 'model.onnx'), '--out', built, '--report', report]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /input 'input': ONNX \[N, 3, 16, 16\] → tfjs \[N, 16, 16, 3\] \(NCHW → NHWC, perm \[0,2,3,1\]\)/);
  assert.match(r.stdout, /output 'output': ONNX \[N, 1, 16, 16\] → tfjs \[N, 16, 16, 1\]/);
  const json = JSON.parse(fs.readFileSync(report, 'utf8')) as { graph: { outputs: { perm: number[] }[] } };
  assert.deepEqual(json.graph.outputs[0].perm, [0, 2, 3, 1]);
  // model.json keeps the layouts for whoever feeds the model later.
  const modelJson = JSON.parse(fs.readFileSync(path.join(built, 'model.json'), 'utf8'));
  assert.equal(modelJson.userDefinedMetadata.graft.layouts.inputs[0].layout, 'NCHW → NHWC');
  // PyTorch-layout reference data checks the channels-last model.
  r = graft(['verify', built, '--input', path.join(DIR, 'unet', 'input.npy'), '--expect', path.join(DIR, 'unet', 'output.npy'), '--channels-first']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  r = graft(['convert', path.join(DIR, 'dynamic_hw', 'model.onnx'), '--out', path.join(tempDir(), 'm'), '--input-shape', 'input=1,3,x,16']);
  assert.equal(r.code, 2);
});

test('damaged graphs: building either works or fails with a one-line GraftError, never a crash', async () => {
  const files = ['mlp', 'lstm', 'emb_conv1d_ln', 'misc_ops', 'unet', 'bilstm_emb'].map((c) => path.join(DIR, c, 'model.onnx'));
  const refused = await mutateAndRead(files, async (p) => {
    const reader = await openWeights(p);
    try {
      reader.opSummary?.();
      reader.buildTopology?.();
    } catch (e) {
      await reader.close();
      throw e;
    }
    return reader;
  }, 14, 40);
  assert.ok(refused > 0, 'some mutations are refused');
});

/** A minimal .npy file (version 1.0, C order). */
function npy(data: Float32Array | Int32Array, shape: number[], descr: string): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}
