/**
 * No silent wrong model: every conversion that succeeds computes what the source computed
 * (PyTorch's outputs in fixtures/safety, from scripts/make_safety_fixtures.py), and every one that
 * cannot is refused in one line or warned about in one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import '../src/layers';
import { initBackend } from '../src/backend';
import { convert, ConvertOptions, ConvertReport } from '../src/convert';
import { GraftError } from '../src/errors';
import { loadLayersModelFromDir } from '../src/output/load';
import { fixture } from './helpers/realworld';
import { graft } from './helpers/cli';
import { permuted, predictArray, readNpy, tempDir } from './helpers/models';

const SAFETY = fixture('safety');

interface Outcome {
  report: ConvertReport;
  /** Largest |tfjs − PyTorch| / max(1, |PyTorch|) over the outputs. */
  relError: number;
  absError: number;
}

/** Converts a fixture case and runs the result on PyTorch's input. */
async function convertCase(name: string, source: string, target = 'target.json', extra: Partial<ConvertOptions> = {}): Promise<Outcome> {
  await initBackend();
  const dir = path.join(SAFETY, name);
  const info = JSON.parse(fs.readFileSync(path.join(dir, 'case.json'), 'utf8')) as { inputPerm: number[] | null; outputPerm: number[] | null; inputDtype: 'float32' | 'int32' };
  const out = path.join(tempDir(), 'model');
  const report = await convert({ source: path.join(dir, source), target: path.join(dir, target), out, ...extra });
  const model = await loadLayersModelFromDir(out);
  const got = predictArray(model, permuted(readNpy(path.join(dir, 'input.npy'), info.inputDtype), info.inputPerm));
  const expected = permuted(readNpy(path.join(dir, 'output.npy')), info.outputPerm);
  model.dispose();
  assert.deepEqual(got.shape, expected.shape);
  let relError = 0;
  let absError = 0;
  for (let i = 0; i < got.data.length; i++) {
    const d = Math.abs(got.data[i] - expected.data[i]);
    absError = Math.max(absError, d);
    relError = Math.max(relError, d / Math.max(1, Math.abs(expected.data[i])));
  }
  return { report, relError, absError };
}

function assertMatches(o: Outcome, what: string): void {
  assert.ok(o.relError <= 1e-4, `${what}: |tfjs − PyTorch| reaches ${o.relError.toExponential(2)} × max(1, |y|)`);
}

function kernelLine(r: ConvertReport, target: string) {
  const a = r.assigned.find((x) => x.target === target);
  assert.ok(a, `${target} is assigned`);
  return a;
}

// ---------------------------------------------------------------------------------------------
// The Flatten rule

for (const [name, kernel] of [['lstm_flatten', 'fc/kernel'], ['seq_head', 'head/kernel'], ['seq_input', 'head/kernel'], ['emb_flatten', 'fc/kernel']] as const) {
  test(`${name}: a Flatten of a sequence keeps the Dense kernel's rows, and matches PyTorch`, async () => {
    const o = await convertCase(name, 'model.pt');
    assertMatches(o, name);
    const line = kernelLine(o.report, kernel);
    assert.equal(line.transform, 'transpose');
    assert.match(line.note ?? '', /rows kept: the Flatten takes the output of/);
  });
}

for (const [name, origin] of [['image_flatten', /input/], ['conv_pool_flatten', /MaxPooling2D 'pool'/]] as const) {
  test(`${name}: a Flatten of a channels-first feature map reorders the rows, and matches PyTorch`, async () => {
    const o = await convertCase(name, 'model.pt');
    assertMatches(o, name);
    const line = kernelLine(o.report, 'fc/kernel');
    assert.match(line.transform, /^dense-after-flatten/);
    assert.match(line.note ?? '', /rows reordered from channels-first/);
    assert.match(line.note ?? '', origin);
  });
}

test('the tfjs engine (a live model) applies the same Flatten rule', async () => {
  for (const [name, reordered] of [['lstm_flatten', false], ['seq_head', false], ['conv_pool_flatten', true], ['image_flatten', true]] as const) {
    const o = await convertCase(name, 'model.pt', 'target.json', { engine: 'tfjs' });
    assert.equal(o.report.engine, 'tfjs');
    assertMatches(o, `${name} (tfjs engine)`);
    const line = o.report.assigned.find((a) => /^(fc|head)\/kernel$/.test(a.target))!;
    assert.equal(/^dense-after-flatten/.test(line.transform), reordered, `${name}: ${line.transform}`);
  }
});

test("a table's transform overrides the Flatten rule (and the rule was right: overriding it breaks parity)", async () => {
  const map = { tensors: [{ source: 'head.weight', target: 'head/kernel', transform: 'dense-after-flatten' }] };
  const o = await convertCase('seq_input', 'model.pt', 'target.json', { map: tableFile(map) });
  assert.match(kernelLine(o.report, 'head/kernel').transform, /^dense-after-flatten\(C=8,S=12\)/);
  assert.ok(o.relError > 1e-2, `reordering a sequence's rows must change the outputs (got ${o.relError})`);
});

function tableFile(table: unknown): string {
  const file = path.join(tempDir(), 'map.json');
  fs.writeFileSync(file, JSON.stringify(table));
  return file;
}

// ---------------------------------------------------------------------------------------------
// ONNX sources named by what wrote them

test('cnn_bn: the state dict and the TrainingMode.PRESERVE export convert onto a BatchNorm target and match PyTorch', async () => {
  for (const source of ['model.pt', 'model_preserve.onnx']) {
    const o = await convertCase('cnn_bn', source);
    assertMatches(o, source);
    assert.deepEqual(o.report.missing, []);
  }
});

test('cnn_bn: a BN-folded ONNX export resolves nested node names (/layer1/layer1.0/conv1/Conv) onto a target without BatchNorm', async () => {
  const o = await convertCase('cnn_bn', 'model_folded.onnx', 'target_nobn.json');
  assertMatches(o, 'folded export onto conv+bias target');
  assert.match(kernelLine(o.report, 'layer1_0_conv1/bias').source, /^onnx::Conv_/);
  assert.deepEqual(o.report.missing, []);
});

test('cnn_bn: a BN-folded ONNX export onto a BatchNorm target is refused with the reason and the fix, even with allowMissing', async () => {
  const dir = path.join(SAFETY, 'cnn_bn');
  const out = path.join(tempDir(), 'model');
  for (const allowMissing of [false, true]) {
    await assert.rejects(
      convert({ source: path.join(dir, 'model_folded.onnx'), target: path.join(dir, 'target.json'), out, allowMissing }),
      (e: unknown) => e instanceof GraftError && /folded BatchNorm into the convolutions/.test(e.message) && /TrainingMode\.PRESERVE/.test(e.message) && /do_constant_folding=False/.test(e.message),
    );
    assert.ok(!fs.existsSync(out), 'nothing written');
  }
  const r = graft(['convert', path.join(dir, 'model_folded.onnx'), '--target', path.join(dir, 'target.json'), '--out', out]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /layer1_0_bn1/);
  const dry = graft(['convert', path.join(dir, 'model_folded.onnx'), '--target', path.join(dir, 'target.json'), '--dry-run']);
  assert.equal(dry.code, 1, 'a dry run exits as the real run would');
  assert.match(dry.stdout, /dry run: nothing written/);
});

for (const exporter of ['keras2onnx', 'tf2onnx']) {
  test(`keras_onnx: a ${exporter}-named ONNX file converts with default flags and matches`, async () => {
    const o = await convertCase('keras_onnx', `model_${exporter}.onnx`);
    assertMatches(o, exporter);
    assert.equal(kernelLine(o.report, 'dense/kernel').transform, 'identity');
    assert.deepEqual(o.report.missing, []);
  });
}

test('tf2onnx_cnn: a Keras CNN exported by tf2onnx keeps its HWIO kernel and its channels-last flatten order', async () => {
  const o = await convertCase('tf2onnx_cnn', 'model.onnx');
  assertMatches(o, 'tf2onnx cnn');
  assert.equal(kernelLine(o.report, 'conv2d/kernel').transform, 'identity');
  assert.equal(kernelLine(o.report, 'dense/kernel').transform, 'identity');
  assert.match(kernelLine(o.report, 'dense/kernel').note ?? '', /Keras model \(exported by tf2onnx\)/);
  assertMatches(await convertCase('tf2onnx_cnn', 'model.onnx', 'target.json', { match: 'order' }), 'tf2onnx cnn by order');
});

test('keras_onnx: a table entry for an ONNX MatMul kernel honours its [in, out] layout', async () => {
  const map = tableFile({ tensors: [{ source: 'dense/kernel:0', target: 'dense/kernel' }, { source: 'dense_1/kernel:0', target: 'dense_1/kernel' }] });
  const o = await convertCase('keras_onnx', 'model_keras2onnx.onnx', 'target.json', { map });
  assertMatches(o, 'table');
  assert.equal(kernelLine(o.report, 'dense/kernel').transform, 'identity');
});

test('cntk_onnx: --match order pairs layers in data-flow order (file order is not), squeezes [8, 1, 1] and [1, 10] biases, reorders an [in, out] kernel after a channels-first flatten', async () => {
  const o = await convertCase('cntk_onnx', 'model.onnx', 'target.json', { match: 'order' });
  assertMatches(o, 'cntk');
  assert.equal(kernelLine(o.report, 'conv/kernel').source, 'Parameter5');
  assert.equal(kernelLine(o.report, 'conv/bias').source, 'Parameter6');
  assert.match(kernelLine(o.report, 'conv/bias').transform, /squeeze/);
  assert.match(kernelLine(o.report, 'fc/kernel').transform, /^dense-after-flatten\(C=8,S=3x3,in-out\)/);
});

test('cntk_onnx: by name, the refusal says the file names no layers and points to --match order', async () => {
  const dir = path.join(SAFETY, 'cntk_onnx');
  const r = graft(['convert', path.join(dir, 'model.onnx'), '--target', path.join(dir, 'target.json'), '--out', path.join(tempDir(), 'm')]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /CNTK/);
  assert.match(r.stderr, /--match order/);
});

// ---------------------------------------------------------------------------------------------
// Strict by default

test('strict by default: target variables with no source and no value of their own fail before writing; --allow-missing accepts them', async () => {
  const dir = path.join(SAFETY, 'lstm_flatten');
  const out = path.join(tempDir(), 'model');
  // Only the LSTM is in the source: the table renames fc.* away.
  const map = tableFile({ rename: [{ from: '^fc\\.(.*)$', to: 'head.$1' }] });
  const args = ['convert', path.join(dir, 'model.pt'), '--target', path.join(dir, 'target.json'), '--map', map, '--out', out];
  const refused = graft(args);
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  assert.match(refused.stderr, /2 selected target variable\(s\) get no source tensor/);
  assert.match(refused.stderr, /fc\/kernel, fc\/bias/);
  assert.match(refused.stderr, /--allow-missing/);
  assert.ok(!fs.existsSync(out));

  const dry = graft([...args.slice(0, -2), '--dry-run']);
  assert.equal(dry.code, 1, 'dry run exits as the real run would');
  assert.match(dry.stdout, /missing \(2\)/);
  assert.match(dry.stderr, /get no source tensor/);

  const allowed = graft([...args, '--allow-missing', '--report', path.join(out + '-report.json')]);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stdout, /missing \(2, kept fresh initialisation\): fc\/kernel, fc\/bias/);
  const report = JSON.parse(fs.readFileSync(out + '-report.json', 'utf8'));
  assert.deepEqual(report.missing, ['fc/kernel', 'fc/bias']);
  assert.equal(report.missingKept, 'fresh initialisation');
});

test("variables kept from the target's own weights are reported as kept, not missing", async () => {
  const dir = path.join(SAFETY, 'lstm_flatten');
  // A target with weights of its own: the full conversion's output.
  const full = path.join(tempDir(), 'full');
  await convert({ source: path.join(dir, 'model.pt'), target: path.join(dir, 'target.json'), out: full });
  const map = tableFile({ rename: [{ from: '^fc\\.(.*)$', to: 'head.$1' }] });
  const report = await convert({ source: path.join(dir, 'model.pt'), target: path.join(full, 'model.json'), map, out: path.join(tempDir(), 'm') });
  assert.deepEqual(report.missing, []);
  assert.deepEqual(report.kept, ['fc/kernel', 'fc/bias']);
  // --strict refuses even those.
  await assert.rejects(
    convert({ source: path.join(dir, 'model.pt'), target: path.join(full, 'model.json'), map, out: path.join(tempDir(), 'm'), strict: true }),
    (e: unknown) => e instanceof GraftError && /no source for 2 target variable\(s\) \(they would keep the target's own weights; --strict refuses that\): fc\/kernel, fc\/bias/.test(e.message),
  );
});

// ---------------------------------------------------------------------------------------------
// Traps in hand-written targets: each warning is deserved (the error is measured against PyTorch)

const TRAPS: [name: string, source: string, pattern: RegExp, minError: number][] = [
  ['trap_bn_eps', 'model.pt', /layer 'bn': epsilon 0\.001 but PyTorch's BatchNorm uses 1e-5 unless the model set eps.*: set "epsilon": 1e-5 in the target$/, 0.05],
  ['trap_bn_eps', 'model.onnx', /layer 'bn': epsilon 0\.001 but the ONNX BatchNormalization node uses 1e-5: set "epsilon": 1e-5 in the target$/, 0.05],
  ['trap_lstm_activation', 'model.pt', /layer 'lstm': recurrent_activation 'hard_sigmoid' but PyTorch's LSTM gates use sigmoid: set "recurrent_activation": "sigmoid"/, 1e-3],
  ['trap_same_stride2', 'model.pt', /layer 'conv': padding 'same' at stride 2 pads 0 before and 1 after on size 8, PyTorch pads both sides alike: use a ZeroPadding2D/, 0.1],
  ['trap_same_stride2', 'model.onnx', /layer 'conv': padding 'same' at stride 2 pads 0 before and 1 after on size 8, the ONNX Conv pads 1 and 1/, 0.1],
];

for (const [name, source, pattern, minError] of TRAPS) {
  test(`${name} (${source}): the trap is named in the report, and the error it warns of is real`, async () => {
    const trapped = await convertCase(name, source, 'target_trap.json');
    assert.equal(trapped.report.warnings.length, 1, trapped.report.warnings.join('\n'));
    assert.match(trapped.report.warnings[0], pattern);
    assert.ok(trapped.absError > minError, `the trap costs ${trapped.absError}`);
    const fixed = await convertCase(name, source, 'target.json');
    assert.deepEqual(fixed.report.warnings, []);
    assertMatches(fixed, `${name} fixed`);
  });
}

test('traps are one line each on stderr and in the --report file', () => {
  const dir = path.join(SAFETY, 'trap_lstm_activation');
  const out = path.join(tempDir(), 'm');
  const r = graft(['convert', path.join(dir, 'model.pt'), '--target', path.join(dir, 'target_trap.json'), '--out', out, '--report', `${out}.json`]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^graft: warning: layer 'lstm': recurrent_activation/);
  assert.equal(JSON.parse(fs.readFileSync(`${out}.json`, 'utf8')).warnings.length, 1);
});
