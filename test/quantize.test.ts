/**
 * Quantized output (--quantize float16|uint8|uint16): manifests tfjs dequantizes by itself, codes
 * as tensorflowjs_converter computes them, and honest error reports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '../src/backend';
import { convert, ConvertReport } from '../src/convert';
import { loadLayersModelFromDir } from '../src/output/load';
import { affineParams, halfBits, halfTable, roundHalfEven, weightPattern, WeightQuantizer } from '../src/output/quantize';
import { GraftError } from '../src/errors';
import { floatToHalfBits } from '../src/transforms/dtype';
import { graft } from './helpers/cli';
import { fixture } from './helpers/realworld';
import { maxAbsDiff, permuted, predictArray, readNpy, tempDir } from './helpers/models';

const convBn = fixture('torch/conv_bn');
const base = { source: path.join(convBn, 'model.safetensors'), target: path.join(convBn, 'target.json'), from: 'torch' as const };

test('float16 codes round to nearest even like NumPy, across normals, subnormals, ties and overflow', () => {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const values = [0, -0, 1, -1, 0.1, 1 / 3, 65504, 65519.99, 65520, 1e6, -1e6, 6.1e-5, 5.96e-8, 2.98e-8, 2.99e-8, 1e-9, NaN, Infinity, -Infinity, 1.00048828125, 1.00146484375, 2049, 2051];
  for (let i = 0; i < 2000; i++) values.push((Math.sin(i * 12.9898) * 43758.5453) % 70000, Math.sin(i) * 2 ** -(i % 30));
  for (const v of values) {
    f[0] = v;
    assert.equal(halfBits(u[0]), floatToHalfBits(f[0]), `half bits of ${v}`);
  }
  // Ties: 1 + 2^-11 lies halfway between 1 and the next half (1 + 2^-10): rounds to the even, 1.
  assert.equal(halfTable()[halfBits(new Uint32Array(Float32Array.of(1 + 2 ** -11).buffer)[0])], 1);
  assert.equal(roundHalfEven(2.5), 2);
  assert.equal(roundHalfEven(3.5), 4);
  assert.equal(roundHalfEven(0.5), 0);
  assert.equal(roundHalfEven(1.5), 2);
  assert.equal(roundHalfEven(0.49), 0);
});

test('uint8/uint16 ranges follow tensorflowjs_converter: scale over the range, zero nudged onto a code', () => {
  // min -1, max 2 over 255 codes: scale 3/255, zero at code round(85) = 85 → min = -85·scale.
  const r = affineParams(-1, 2, 'uint8');
  assert.equal(r.scale, 3 / 255);
  assert.equal(r.min, -85 * (3 / 255));
  assert.equal(r.max, 255 * (3 / 255) - 85 * (3 / 255));
  // All-positive ranges are not nudged; constant weights get scale 1.
  assert.deepEqual(affineParams(1, 3, 'uint16'), { min: 1, max: 3, scale: 2 / 65535 });
  assert.deepEqual(affineParams(0.5, 0.5, 'uint8'), { min: 0.5, max: 0.5, scale: 1 });
  // Zero survives quantization exactly, and every error stays within half a step.
  const data = Float32Array.from([-1, -0.5, 0, 0.25, 1, 2]);
  const q = new WeightQuantizer('uint8', { min: -1, max: 2 }, { name: 'w' });
  const codes = q.encode(data, 'w');
  const decoded = Array.from(codes, (c) => Math.fround(c * q.spec.scale! + q.spec.min!));
  assert.equal(decoded[2], 0);
  assert.ok(q.maxError <= q.spec.scale! / 2 + 1e-7, `error ${q.maxError}`);
  assert.equal(q.maxError, Math.max(...decoded.map((d, i) => Math.abs(d - data[i]))));
  assert.throws(() => new WeightQuantizer('uint8', { min: NaN, max: NaN }, { name: 'w' }), (e: unknown) => e instanceof GraftError && e.code === 'UNSUPPORTED');
});

test('--quantize-weights patterns: globs over whole names, /regexes/', () => {
  assert.ok(weightPattern('conv*/kernel').test('conv2d_1/kernel'));
  assert.ok(!weightPattern('conv*/kernel').test('conv2d_1/bias'));
  assert.ok(!weightPattern('kernel').test('dense/kernel'), 'globs match whole names');
  assert.ok(weightPattern('*kernel').test('dense/kernel'));
  assert.ok(weightPattern('dense_?/bias').test('dense_1/bias'));
  assert.ok(weightPattern('dense_[!0]/bias').test('dense_1/bias'));
  assert.ok(!weightPattern('dense_[!0]/bias').test('dense_0/bias'));
  assert.ok(weightPattern('a.b').test('a.b') && !weightPattern('a.b').test('axb'), 'dots are literal');
  assert.ok(weightPattern('/kernel$/').test('dense/kernel'));
  assert.ok(weightPattern('/KERNEL/i').test('dense/kernel'));
  assert.throws(() => weightPattern('/(/'), (e: unknown) => e instanceof GraftError && e.code === 'USAGE');
});

/** Reference output of the unquantized conversion: weights by name and the prediction. */
async function unquantized(): Promise<{ weights: Map<string, Float32Array>; out: Float32Array; input: ReturnType<typeof permuted> }> {
  const out = path.join(tempDir(), 'plain');
  await convert({ ...base, out });
  const model = await loadLayersModelFromDir(out);
  const input = permuted(readNpy(path.join(convBn, 'input.npy')), [0, 2, 3, 1]);
  const result = {
    weights: new Map(model.weights.map((w) => [w.originalName, Float32Array.from(w.read().dataSync() as Float32Array)])),
    out: predictArray(model, input).data as Float32Array,
    input,
  };
  model.dispose();
  return result;
}

// Tolerances: about ten times the shift measured on this model (outputs up to 0.87).
for (const [dtype, bytesPer, tolerance] of [['float16', 2, 4e-3], ['uint16', 2, 2e-4], ['uint8', 1, 0.05]] as const) {
  test(`--quantize ${dtype}: plain tfjs loads the model; errors are as reported; prediction stays close`, async () => {
    await initBackend();
    const ref = await unquantized();
    const out = path.join(tempDir(), dtype);
    const report: ConvertReport = await convert({ ...base, out, quantize: dtype });
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8')).weightsManifest[0].weights as { name: string; shape: number[]; dtype: string; quantization?: Record<string, unknown> }[];
    for (const w of manifest) {
      assert.equal(w.dtype, 'float32');
      assert.equal(w.quantization?.dtype, dtype, w.name);
      assert.equal(w.quantization?.original_dtype, 'float32');
      if (dtype === 'float16') assert.deepEqual(Object.keys(w.quantization!).sort(), ['dtype', 'original_dtype']);
      else assert.ok(typeof w.quantization?.min === 'number' && typeof w.quantization?.scale === 'number', w.name);
    }
    const q = report.quantization!;
    const floats = [...ref.weights.values()].reduce((s, w) => s + w.length, 0);
    assert.equal(q.bytesBefore, floats * 4);
    assert.equal(q.bytesAfter, floats * bytesPer);
    assert.equal(q.bytesSaved, floats * (4 - bytesPer));
    assert.equal(report.bytes, floats * bytesPer, 'shards hold the quantized bytes');
    assert.equal(q.weights.length, manifest.length);

    const model = await loadLayersModelFromDir(out);
    let worst = 0;
    for (const w of model.weights) {
      const got = w.read().dataSync() as Float32Array;
      const err = maxAbsDiff(got, ref.weights.get(w.originalName)!);
      // The report's error per weight is exactly what tfjs decodes.
      assert.equal(err, q.weights.find((x) => x.name === w.originalName)!.maxError, w.originalName);
      worst = Math.max(worst, err);
    }
    assert.equal(q.maxError, worst);
    assert.ok(worst > 0, 'quantization changed something');
    const diff = maxAbsDiff(predictArray(model, ref.input).data, ref.out);
    assert.ok(diff < tolerance, `prediction moved by ${diff}`);
    model.dispose();
  });
}

test('--quantize-weights limits quantization to matching weights; a pattern matching nothing is a usage error', async () => {
  await initBackend();
  const out = path.join(tempDir(), 'some');
  const r = await convert({ ...base, out, quantize: 'uint8', quantizeWeights: ['*/kernel'] });
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8')).weightsManifest[0].weights as { name: string; quantization?: unknown }[];
  const quantized = manifest.filter((w) => w.quantization).map((w) => w.name);
  assert.ok(quantized.length === 2 && quantized.every((n) => n.endsWith('/kernel')), quantized.join());
  assert.deepEqual(r.quantization!.weights.map((w) => w.name).sort(), quantized.sort());
  await assert.rejects(
    convert({ ...base, out: path.join(tempDir(), 'x'), quantize: 'uint8', quantizeWeights: ['nothing/*'] }),
    (e: unknown) => e instanceof GraftError && e.code === 'USAGE' && /matches no float32 weight/.test(e.message),
  );
  await assert.rejects(convert({ ...base, dryRun: true, quantizeWeights: ['*'] }), (e: unknown) => e instanceof GraftError && e.code === 'USAGE');
});

test('quantized output is the same from the streaming and the tfjs engine', async () => {
  await initBackend();
  for (const quantize of ['uint8', 'float16'] as const) {
    const a = path.join(tempDir(), 'a');
    const b = path.join(tempDir(), 'b');
    await convert({ ...base, out: a, quantize, engine: 'stream' });
    await convert({ ...base, out: b, quantize, engine: 'tfjs' });
    for (const f of fs.readdirSync(a)) assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), `${quantize}: ${f}`);
  }
});

test('float16 refuses values beyond its range instead of writing infinities', async () => {
  const q = new WeightQuantizer('float16', undefined, { name: 'big' });
  assert.throws(() => q.encode(Float32Array.of(1, 70000), 'big'), (e: unknown) => e instanceof GraftError && e.code === 'UNSUPPORTED' && /65504/.test(e.message));
});

test('graft convert --quantize prints the size saved and the largest error, and reports them', () => {
  const parent = tempDir();
  const report = path.join(parent, 'report.json');
  const r = graft(['convert', base.source, '--target', base.target, '--from', 'torch', '--out', path.join(parent, 'o'), '--quantize', 'uint16', '--report', report, '--verbose']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /quantized 12 weight\(s\) to uint16: .* → .* \(saved .*\); largest error \d/);
  assert.match(r.stderr, /engine: stream/);
  assert.match(r.stderr, /backend: none \(streaming\)/);
  const doc = JSON.parse(fs.readFileSync(report, 'utf8'));
  assert.equal(doc.quantization.dtype, 'uint16');
  assert.equal(doc.quantization.weights.length, 12);
  assert.ok(doc.quantization.bytesSaved > 0 && doc.quantization.maxError > 0);
  assert.equal(doc.backend, 'none (streaming)');
  const bad = graft(['convert', base.source, '--target', base.target, '--out', path.join(parent, 'p'), '--quantize', 'int4']);
  assert.equal(bad.code, 2);
});
