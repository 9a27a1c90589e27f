/**
 * Crafted hostile inputs (fixtures/hostile, written by scripts/make_hostile_fixtures.py): each
 * ends quickly in the expected GraftError naming the file, or — for the controls written the
 * same way — in the correct tensors. Nothing is executed, nothing outside the model's folder is
 * read, and the built CLI reports each in one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { GraftError } from '../src/errors';
import { openWeights } from '../src/formats';
import { fixture } from './helpers/realworld';
import { CLI, graft } from './helpers/cli';
import { tempDir } from './helpers/temp';

const hostile = (rel: string) => fixture(path.join('hostile', rel));
/** The command the malicious pickles try to run. */
const PWNED = '/tmp/graft-pwned';
/** Per-file bound: generous for a loaded 2-core machine; typical times are milliseconds. */
const BOUND_MS = 10_000;

type Expect = { code: string; says: RegExp; on?: 'open' | 'read' | 'topology' } | { ok: Record<string, number[]> };

/** Opens, reads every tensor, and reports where and how it ended. */
async function attempt(file: string): Promise<{ stage: 'open' | 'read' | 'topology' | 'done'; error?: unknown; values?: Record<string, number[]>; ms: number }> {
  const t0 = Date.now();
  let reader;
  try {
    reader = await openWeights(file);
  } catch (error) {
    return { stage: 'open', error, ms: Date.now() - t0 };
  }
  try {
    try {
      void reader.topology;
    } catch (error) {
      return { stage: 'topology', error, ms: Date.now() - t0 };
    }
    const values: Record<string, number[]> = {};
    for (const t of reader.list()) {
      try {
        const raw = await reader.read(t.name);
        values[t.name] = raw.dtype === 'float32' ? [...new Float32Array(raw.data.slice().buffer)] : [...raw.data];
      } catch (error) {
        return { stage: 'read', error, ms: Date.now() - t0 };
      }
    }
    return { stage: 'done', values, ms: Date.now() - t0 };
  } finally {
    await reader.close();
  }
}

const CASES: Record<string, Expect> = {
  // safetensors
  'safetensors/header_2e60.safetensors': { code: 'CORRUPT', says: /header claims 1152921504606847000 bytes/ },
  'safetensors/huge_shape.safetensors': { code: 'CORRUPT', says: /span 8 bytes but shape \[1000000, 1000000\]/ },
  'safetensors/offsets_beyond.safetensors': { code: 'CORRUPT', says: /lie beyond the data section/ },
  'safetensors/negative_offsets.safetensors': { code: 'CORRUPT', says: /not a pair of non-negative integers/ },
  'safetensors/escape/inside/dotdot.safetensors.index.json': { code: 'UNSAFE', says: /'\.\.\/secret\.safetensors', outside its own folder/ },
  'safetensors/escape/inside/absolute.safetensors.index.json': { code: 'UNSAFE', says: /'\/etc\/passwd', outside its own folder/ },
  // numpy
  'npy/huge_shape.npy': { code: 'CORRUPT', says: /implausibly large/ },
  'npy/terabyte.npy': { code: 'CORRUPT', says: /needs 4398046511104 bytes of data/ },
  'npy/header_length_4gb.npy': { code: 'CORRUPT', says: /header claims 4294967280 bytes/ },
  'npy/object_pickle.npy': { code: 'UNSAFE', says: /Python objects/ },
  'npy/negative_dim.npy': { code: 'CORRUPT', says: /invalid dimension -1/ },
  'npz/bomb_small_claim.npz': { code: 'CORRUPT', says: /inflates to more than its declared 1152 bytes/, on: 'read' },
  'npz/claims_100gb.npz': { code: 'CORRUPT', says: /claims 107374182400 bytes from 300 compressed bytes/ },
  'npz/stored_size_lie.npz': { code: 'CORRUPT', says: /compressed size 136 but uncompressed size 1099511627776/ },
  'npz/traversal.npz': { ok: { ok: [1.5, -2] } },
  // PyTorch: sizes
  'pt/control.pt': { ok: { w: [1, 2, 3, 4] } },
  'pt/legacy_control.pt': { ok: { w: [1, 2, 3, 4] } },
  'pt/numel_huge.pt': { code: 'CORRUPT', says: /implausibly large|more than the file could hold/ },
  'pt/expand_bomb.pt': { code: 'CORRUPT', says: /claims 4398046511104 bytes, more than the file could hold/ },
  'pt/bad_view.pt': { code: 'CORRUPT', says: /reaches element 6 of a storage holding 4/, on: 'read' },
  'pt/legacy_numel_huge.pt': { code: 'CORRUPT', says: /records 4 elements where the pickle says 1125899906842624/ },
  // PyTorch: malicious pickles
  'pt/evil_reduce_os_system.pt': { code: 'UNSAFE', says: /refused pickle global 'os\.system'/ },
  'pt/evil_reduce_posix_system.pt': { code: 'UNSAFE', says: /refused pickle global 'posix\.system'/ },
  'pt/evil_inst_os_system.pt': { code: 'UNSAFE', says: /refused pickle global 'os\.system'/ },
  'pt/evil_obj_subprocess.pt': { code: 'UNSAFE', says: /'subprocess\.check_output'/ },
  'pt/evil_stack_global_eval.pt': { code: 'UNSAFE', says: /'builtins\.eval'/ },
  'pt/evil_getattr_chain.pt': { code: 'UNSAFE', says: /'builtins\.getattr'/ },
  'pt/evil_rebuild_from_type_wraps_system.pt': { code: 'UNSAFE', says: /'os\.system'/ },
  'pt/evil_rebuild_from_type_subclass.pt': { code: 'UNSAFE', says: /'__main__\.EvilTensor'/ },
  'pt/evil_ext_opcode.pt': { code: 'UNSAFE', says: /EXT opcode/ },
  'pt/evil_load_from_bytes.pt': { code: 'UNSAFE', says: /_load_from_bytes/ },
  'pt/evil_build_setstate.pt': { code: 'UNSAFE', says: /'os\.system'/ },
  'pt/evil_persid_eval.pt': { code: 'CORRUPT', says: /unknown persistent id/ },
  'pt/evil_legacy_eval.pt': { code: 'UNSAFE', says: /'builtins\.eval'/ },
  // PyTorch: pickles built to exhaust the stack, memory or time
  'pt/frozenset_200k.pt': { code: 'UNSUPPORTED', says: /holds no tensors/ },
  'pt/deep_list.pt': { code: 'UNSUPPORTED', says: /holds no tensors/ },
  'pt/billion_laughs.pt': { code: 'UNSUPPORTED', says: /holds no tensors/ },
  'pt/huge_int_text.pt': { code: 'CORRUPT', says: /integer text of 10000 characters/ },
  // ONNX
  'onnx/huge_dims_raw.onnx': { code: 'CORRUPT', says: /raw_data holds 4 bytes where dims \[1000000, 1000000\]/ },
  'onnx/huge_dims_nodata.onnx': { code: 'CORRUPT', says: /float_data holds 0 values where dims \[1000000, 1000000\]/ },
  'onnx/negative_dim.onnx': { code: 'CORRUPT', says: /invalid dimension -1/ },
  'onnx/external/control.onnx': { ok: { w: [1, 2, 3, 4] } },
  'onnx/external/nul.onnx': { code: 'UNSAFE', says: /holds a NUL byte/ },
  'onnx/external/long_name.onnx': { code: 'CORRUPT', says: /10000 characters long/ },
  'onnx/external/offset_beyond.onnx': { code: 'CORRUPT', says: /1099511627776\+16 lies outside 'weights\.bin' \(size 16\)/ },
  'onnx/external/length_beyond.onnx': { code: 'CORRUPT', says: /0\+1099511627776 lies outside 'weights\.bin'/ },
  'onnx/external/negative.onnx': { code: 'CORRUPT', says: /offset '-1' is not a byte count/ },
  'onnx/external/dotdot.onnx': { code: 'UNSAFE', says: /leaves the model's folder/ },
  'onnx/external/absolute.onnx': { code: 'UNSAFE', says: /is an absolute path/ },
  'onnx/external/backslash.onnx': { code: 'UNSAFE', says: /leaves the model's folder/ },
  'onnx/external/directory.onnx': { code: 'UNSAFE', says: /external data location '\.'/ },
  // tfjs
  'tfjs/dotdot/model.json': { code: 'UNSAFE', says: /'\.\.\/secret\.bin', outside its own folder/ },
  'tfjs/absolute/model.json': { code: 'UNSAFE', says: /'\/etc\/passwd', outside its own folder/ },
  'tfjs/huge_shape/model.json': { code: 'CORRUPT', says: /4398046511104 bytes at 0\) runs past the end of its shard files/ },
  'tfjs/deep/model.json': { code: 'CORRUPT', says: /nests more than 256 levels/ },
  // TensorFlow checkpoints (named by prefix)
  'tf-ckpt/control/model.ckpt': { ok: { w: [1, 2, 3, 4] } },
  'tf-ckpt/entry_huge/model.ckpt': { code: 'CORRUPT', says: /0\+4398046511104 lies beyond the end of its data shard/ },
  'tf-ckpt/size_lies/model.ckpt': { code: 'CORRUPT', says: /size 1152921504606846976, which is not a usable/ },
  'tf-ckpt/offset_huge/model.ckpt': { code: 'CORRUPT', says: /offset 1152921504606846976, which is not a usable/ },
  'tf-ckpt/shards_huge/model.ckpt': { code: 'CORRUPT', says: /claims 2147483647 data shards/ },
  // HDF5 / Keras
  'h5/huge_dataspace.h5': { code: 'CORRUPT', says: /claims 4000000000000 bytes, more than a \d+-byte file can hold/ },
  'h5/inner/external_link.h5': { code: 'UNSAFE', says: /another file \('[^']*outside\.h5'\) through an HDF5 external link/ },
  'h5/inner/external_storage.h5': { code: 'UNSAFE', says: /another file \('[^']*secret\.txt'\)/, on: 'read' },
  'h5/inner/virtual.h5': { code: 'UNSAFE', says: /virtual dataset/ },
  'h5/hardlink_cycle.weights.h5': { code: 'CORRUPT', says: /hard-link cycles/ },
  // Checked on config.json's text before it is parsed, so the archive is refused when opened.
  'h5/deep_config.keras': { code: 'CORRUPT', says: /'config\.json' nests more than 256 levels deep/ },
};

for (const [rel, want] of Object.entries(CASES)) {
  test(`hostile ${rel}`, async () => {
    const file = hostile(rel);
    const pwnedBefore = fs.existsSync(PWNED);
    const r = await attempt(file);
    assert.ok(r.ms < BOUND_MS, `took ${r.ms} ms`);
    if (!pwnedBefore) assert.equal(fs.existsSync(PWNED), false, 'a pickle payload ran');
    if ('ok' in want) {
      assert.equal(r.stage, 'done', `failed at ${r.stage}: ${String(r.error)}`);
      assert.deepEqual(r.values, want.ok);
      return;
    }
    assert.ok(r.error instanceof GraftError, `expected a GraftError, got ${r.stage === 'done' ? 'success' : String(r.error)}`);
    assert.equal(r.error.code, want.code, r.error.message);
    assert.match(r.error.message, want.says);
    assert.equal(r.stage, want.on ?? 'open', `ended at ${r.stage}: ${r.error.message}`);
    // The message names the file the user gave (tf checkpoints name their index or shard).
    assert.ok(r.error.message.startsWith(file), r.error.message);
  });
}

test('HDF5 confinement: the external-storage file is refused even when it exists where HDF5 looks', async () => {
  // HDF5 resolves external raw files against the working folder: run from the file's folder.
  const cwd = process.cwd();
  process.chdir(hostile('h5/inner'));
  try {
    const r = await attempt(hostile('h5/inner/external_storage.h5'));
    assert.ok(r.error instanceof GraftError && r.error.code === 'UNSAFE', String(r.error));
    assert.equal(r.values, undefined);
  } finally {
    process.chdir(cwd);
  }
});

test('a FIFO where a weight file, a shard or an index should be is refused at once, not waited on', { skip: process.platform === 'win32' && 'no mkfifo' }, async () => {
  const dir = tempDir('graft-fifo-');
  try {
    const fifo = (name: string) => execFileSync('mkfifo', [path.join(dir, name)]);
    fifo('weights.npy');
    fs.cpSync(fixture('formats/tfjs/quantized'), path.join(dir, 'tfjs'), { recursive: true });
    fs.rmSync(path.join(dir, 'tfjs', 'group1-shard2of2.bin'));
    fifo(path.join('tfjs', 'group1-shard2of2.bin'));
    fifo('model.ckpt.index');
    for (const [file, names] of [['weights.npy', 'weights.npy'], ['tfjs/model.json', 'group1-shard2of2.bin'], ['model.ckpt', 'model.ckpt']]) {
      const r = await attempt(path.join(dir, file));
      assert.ok(r.ms < BOUND_MS, `${file}: ${r.ms} ms`);
      assert.ok(r.error instanceof GraftError && r.error.code === 'NOT_FOUND', `${file}: ${String(r.error)}`);
      assert.ok(r.error.message.includes(names), r.error.message);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the built CLI reports hostile files in one line, exit 1, and never runs a payload', { skip: !fs.existsSync(CLI) && 'dist/ not built' }, () => {
  const pwnedBefore = fs.existsSync(PWNED);
  const out = tempDir('graft-hostile-cli-');
  try {
    const cases: [string[], RegExp][] = [
      [['inspect', hostile('pt/evil_reduce_os_system.pt')], /UNSAFE|refused pickle global 'os\.system'/],
      [['inspect', hostile('pt/evil_legacy_eval.pt')], /refused pickle global 'builtins\.eval'/],
      [['inspect', hostile('onnx/external/nul.onnx')], /weights\.bin\\x00\.\.\/\.\.\/.*holds a NUL byte/],
      [['inspect', hostile('h5/inner/external_link.h5')], /through an HDF5 external link/],
      [['convert', hostile('pt/expand_bomb.pt'), '--target', fixture('torch/mlp/target.json'), '--out', path.join(out, 'o')], /more than the file could hold/],
    ];
    for (const [args, says] of cases) {
      const r = graft(args, { timeoutMs: 60_000 });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^graft: /);
      assert.match(lines[0], says);
      assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
    }
    assert.deepEqual(fs.readdirSync(out), [], 'a failed conversion left something behind');
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
  if (!pwnedBefore) assert.equal(fs.existsSync(PWNED), false);
});

// Inputs that once ended in "internal error" (fixtures/hostile/contract, scripts/make_contract_fixtures.py).
test('contract: a pickle UNICODE code point beyond U+10FFFF is CORRUPT naming the file', async () => {
  const file = hostile('contract/bad_code_point.pt');
  const r = await attempt(file);
  assert.ok(r.error instanceof GraftError, String(r.error));
  assert.equal(r.error.code, 'CORRUPT');
  assert.match(r.error.message, /code point 0x110000/);
  assert.ok(r.error.message.startsWith(file), r.error.message);
});

test('contract: the built CLI refuses both crash inputs in one line, exit 1, naming the file', { skip: !fs.existsSync(CLI) && 'dist/ not built' }, () => {
  const out = tempDir('graft-contract-cli-');
  try {
    const deep = hostile('contract/deep_target.json');
    const cases: [string[], string, RegExp][] = [
      [['inspect', hostile('contract/bad_code_point.pt')], hostile('contract/bad_code_point.pt'), /code point 0x110000/],
      [['convert', fixture('torch/mlp/model.pt'), '--target', deep, '--out', path.join(out, 'o')], deep, /nests more than 256 levels/],
    ];
    for (const [args, file, says] of cases) {
      const r = graft(args, { timeoutMs: 60_000 });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(lines[0].startsWith(`graft: ${file}: `), lines[0]);
      assert.match(lines[0], says);
      assert.doesNotMatch(r.stderr, /internal error/);
    }
    assert.deepEqual(fs.readdirSync(out), [], 'a failed conversion left something behind');
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
