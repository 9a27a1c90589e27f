/**
 * The readers' error contract (formats/registry.ts): whatever a reader throws reaches the caller
 * as a GraftError naming the file — a non-GraftError becomes CORRUPT — and a tensor that does not
 * exist is NOT_FOUND in every format.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { GraftError } from '../src/errors';
import { openWeights, registerFormat } from '../src/formats';
import type { FormatHandler, RawTensor, WeightReader } from '../src/formats/types';
import { fixture } from './helpers/realworld';
import { tempDir } from './helpers/temp';

/** One fixture per reader. */
const ONE_PER_FORMAT: [string, string][] = [
  ['npy', 'formats/npy/le_f4.npy'],
  ['npz', 'formats/npz/stored.npz'],
  ['safetensors', 'torch/mlp/model.safetensors'],
  ['safetensors', 'formats/safetensors/sharded/model.safetensors.index.json'],
  ['tfjs', 'formats/tfjs/quantized/model.json'],
  ['pytorch', 'torch/mlp/model.pt'],
  ['pytorch', 'torch/mlp/model_legacy.pt'],
  ['onnx', 'torch/mlp/model.onnx'],
  ['keras3', 'keras/keras3_nested.weights.h5'],
  ['keras-h5', 'keras/chunked_fp16.h5'],
  ['tf-checkpoint', 'tf-ckpt/saver/model.ckpt'],
];

test('every reader: a tensor that does not exist is NOT_FOUND naming the file and the tensor', async () => {
  for (const [format, rel] of ONE_PER_FORMAT) {
    const reader = await openWeights(fixture(rel));
    try {
      assert.equal(reader.format, format, rel);
      assert.ok(reader.list().length > 0, rel);
      await assert.rejects(reader.read('no/such/tensor'), (e: unknown) => {
        assert.ok(e instanceof GraftError, `${rel}: ${String(e)}`);
        assert.equal(e.code, 'NOT_FOUND', `${rel}: ${e.message}`);
        assert.equal(e.tensor, 'no/such/tensor', rel);
        assert.ok(e.file && fs.realpathSync(path.dirname(e.file)).startsWith(fs.realpathSync(path.dirname(fixture(rel)))), `${rel}: ${e.message}`);
        return true;
      });
    } finally {
      await reader.close();
    }
  }
});

/** A format whose reader fails with plain errors at each step, as a reader with a bug would. */
const FAULTY_SUFFIX = '.faulty-test';
let faultAt: 'open' | 'list' | 'read' | 'readStrided' | 'none' = 'none';
const faulty: FormatHandler = {
  format: 'faulty-test',
  extensions: [FAULTY_SUFFIX],
  sniff: (_head, p) => p.endsWith(FAULTY_SUFFIX),
  async open(p): Promise<WeightReader> {
    if (faultAt === 'open') throw new RangeError('Offset is outside the bounds of the DataView');
    const info = { name: 'w', dtype: 'float32' as const, shape: [1], byteSize: 4 };
    return {
      format: 'faulty-test',
      path: p,
      list: () => {
        if (faultAt === 'list') throw new TypeError("Cannot read properties of undefined (reading 'length')");
        return [info];
      },
      async read(name: string): Promise<RawTensor> {
        if (faultAt === 'read') throw new RangeError('Invalid typed array length: -4');
        return { ...info, name, data: new Uint8Array(4) };
      },
      async readStrided(): Promise<void> {
        if (faultAt === 'readStrided') throw new Error('boom');
      },
      async close() {},
    } as WeightReader;
  },
};
registerFormat(faulty);

test('a reader that throws anything but a GraftError is reported as CORRUPT naming the file (and tensor)', async () => {
  const dir = tempDir('graft-contract-');
  const file = path.join(dir, `w${FAULTY_SUFFIX}`);
  fs.writeFileSync(file, 'x');
  const corrupt = (says: RegExp, tensor?: string) => (e: unknown) => {
    assert.ok(e instanceof GraftError, String(e));
    assert.equal(e.code, 'CORRUPT');
    assert.equal(e.file, file);
    assert.equal(e.tensor, tensor);
    assert.ok(e.message.startsWith(file), e.message);
    assert.match(e.message, says);
    return true;
  };
  try {
    faultAt = 'open';
    await assert.rejects(openWeights(file), corrupt(/outside the bounds/));
    faultAt = 'list';
    const r1 = await openWeights(file);
    assert.throws(() => r1.list(), corrupt(/reading 'length'/));
    faultAt = 'read';
    const r2 = await openWeights(file);
    await assert.rejects(r2.read('w'), corrupt(/Invalid typed array length/, 'w'));
    faultAt = 'readStrided';
    const r3 = await openWeights(file);
    await assert.rejects(r3.readStrided!('w', { start: 0, stride: 4, runBytes: 4, count: 1 }, new Uint8Array(4)), corrupt(/boom/, 'w'));
    // A working reader is untouched: values and GraftErrors pass through as they are.
    faultAt = 'none';
    const r4 = await openWeights(file);
    assert.deepEqual(r4.list().map((t) => t.name), ['w']);
    assert.equal((await r4.read('w')).byteSize, 4);
  } finally {
    faultAt = 'none';
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
