/**
 * convert/assign.ts: the tfjs engine's assignment of a plan into a live model — every source read
 * and transformed first, then written, so a failure leaves the model as it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { assertPlanUsable, assignPlan, convertAssignment } from '../src/convert/assign';
import { GraftError } from '../src/errors';
import type { DType, RawTensor, TensorInfo, WeightReader } from '../src/formats/types';
import { planGraft, Plan } from '../src/mapping/plan';
import { targetVariables } from '../src/topology/live-model';

/** A reader over tensors held in memory; `failOn` makes one read fail as a damaged file would. */
function memoryReader(tensors: Record<string, { shape: number[]; values: number[]; dtype?: DType }>, failOn?: string): WeightReader {
  const info = (name: string): TensorInfo => {
    const t = tensors[name];
    const dtype = t.dtype ?? 'float32';
    return { name, dtype, shape: t.shape, byteSize: t.values.length * (dtype === 'float64' ? 8 : 4) };
  };
  return {
    format: 'memory',
    path: 'memory.bin',
    list: () => Object.keys(tensors).map(info),
    async read(name: string): Promise<RawTensor> {
      if (name === failOn) throw new GraftError('CORRUPT', 'damaged', { file: 'memory.bin', tensor: name });
      const t = tensors[name];
      const data = (t.dtype ?? 'float32') === 'float64' ? new Float64Array(t.values) : t.dtype === 'int32' ? new Int32Array(t.values) : new Float32Array(t.values);
      return { ...info(name), data: new Uint8Array(data.buffer) };
    },
    async close() {},
  };
}

function model(): tf.LayersModel {
  return tf.sequential({ layers: [tf.layers.dense({ name: 'fc', units: 2, inputShape: [3] })] });
}

/** PyTorch's Linear(3, 2): weight [out, in] = [[1, 2, 3], [4, 5, 6]], bias [0.5, -0.5]. */
const LINEAR = { 'fc.weight': { shape: [2, 3], values: [1, 2, 3, 4, 5, 6] }, 'fc.bias': { shape: [2], values: [0.5, -0.5] } };

test('assignPlan writes each target variable its transformed source (a torch Linear weight transposed)', async () => {
  await initBackend();
  const m = model();
  const reader = memoryReader(LINEAR);
  const plan = planGraft(reader.list(), targetVariables(m), { convention: 'torch' });
  assert.deepEqual(plan.errors, []);
  const converted = await assignPlan(m, reader, plan);
  assert.deepEqual(converted.map((c) => c.assignment.target).sort(), ['fc/bias', 'fc/kernel']);
  const [kernel, bias] = m.getWeights();
  // kernel[i][o] = weight[o][i]
  assert.deepEqual(Array.from(kernel.dataSync()), [1, 4, 2, 5, 3, 6]);
  assert.deepEqual(kernel.shape, [3, 2]);
  assert.deepEqual(Array.from(bias.dataSync()), [0.5, -0.5]);
  m.dispose();
});

test('a failing read leaves every variable untouched (all sources converted before any write)', async () => {
  await initBackend();
  const m = model();
  const before = m.getWeights().map((w) => Array.from(w.dataSync()));
  // The bias is read after the kernel here, so the kernel was already converted when the bias fails.
  const reader = memoryReader(LINEAR, 'fc.bias');
  const plan = planGraft(reader.list(), targetVariables(m), { convention: 'torch' });
  await assert.rejects(assignPlan(m, reader, plan), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && e.tensor === 'fc.bias');
  assert.deepEqual(m.getWeights().map((w) => Array.from(w.dataSync())), before);
  m.dispose();
});

test('float64 sources are narrowed to float32; an int32 target takes identity transforms only', async () => {
  const reader = memoryReader({ w: { shape: [2], values: [0.1, 1e-40], dtype: 'float64' }, i: { shape: [2], values: [7, -8], dtype: 'int32' } });
  const assignment = (source: string, kind: 'identity' | 'transpose') => ({
    target: 't', layer: 'l', sources: [source], transform: { kind } as never, sourceShapes: [[2]], targetShape: [2], origin: 'table' as const,
  });
  assert.deepEqual(Array.from(await convertAssignment(reader, assignment('w', 'identity'))), [Math.fround(0.1), Math.fround(1e-40)]);
  assert.deepEqual(Array.from(await convertAssignment(reader, assignment('i', 'identity'), 'int32')), [7, -8]);
  await assert.rejects(convertAssignment(reader, assignment('i', 'transpose'), 'int32'), (e: unknown) => e instanceof GraftError && e.code === 'UNSUPPORTED' && /only takes identity/.test(e.message));
});

test('assertPlanUsable: a clean plan passes; shape errors are SHAPE_MISMATCH, others MAPPING, all named on one line', () => {
  const plan = (messages: string[]): Plan => ({
    convention: 'torch', assignments: [], missing: [], unused: [], skipped: [], ignored: [],
    errors: messages.map((message, i) => ({ target: `t${i}`, layer: 'l', sources: ['s'], message })),
  });
  assertPlanUsable(plan([]), 'f');
  assert.throws(() => assertPlanUsable(plan(["source 's' [2, 3] does not fit target 't0' [4]", 'another']), 'f'), (e: unknown) =>
    e instanceof GraftError && e.code === 'SHAPE_MISMATCH' && /does not fit/.test(e.message) && /\(and 1 more: t1\)/.test(e.message) && !e.message.includes('\n'));
  assert.throws(() => assertPlanUsable(plan(["mapping table maps 'x' to 't0', but the source has no such tensor"]), 'f'), (e: unknown) => e instanceof GraftError && e.code === 'MAPPING');
});
