import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { GraftError } from '../src/errors';
import { Hdf5File } from '../src/io/hdf5';
import { ZipArchive } from '../src/io/zip';
import { fixture, FIXTURES_DIR, REALWORLD_DIR } from './helpers/realworld';

/**
 * graft's own HDF5 parser (src/io/hdf5-native.ts) against h5wasm, the reference: on every HDF5
 * file among the fixtures and the shared real-world files, both give the same groups, attributes
 * and dataset bytes, or the native parser declines and h5wasm answers.
 */

function hdf5Files(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const visit = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) visit(p);
      else if (/\.(h5|hdf5|keras)$/i.test(e.name)) out.push(p);
    }
  };
  visit(dir);
  return out.sort();
}

/** The HDF5 bytes of a file: itself, or a .keras zip's weights member. */
function hdf5Bytes(file: string): Uint8Array | undefined {
  const bytes = new Uint8Array(fs.readFileSync(file));
  if (bytes[0] !== 0x50 || bytes[1] !== 0x4b) return bytes;
  const zip = ZipArchive.open(file);
  try {
    const entry = zip.entry('model.weights.h5');
    return entry ? zip.read(entry) : undefined;
  } finally {
    zip.close();
  }
}

type Outcome<T> = { ok: T } | { error: string };

function outcome<T>(f: () => T): Outcome<T> {
  try {
    return { ok: f() };
  } catch (e) {
    // The code only: h5wasm names refused files by the path it tried, graft by the name in the file.
    return { error: e instanceof GraftError ? e.code : `not a GraftError: ${String(e)}` };
  }
}

/** Everything a caller can see of a file, walked from the root (bounded: hard links may loop). */
function survey(h5: Hdf5File): Map<string, unknown> {
  const seen = new Map<string, unknown>();
  const visit = (p: string, depth: number) => {
    if (seen.size > 3000 || depth > 12) return;
    const kind = outcome(() => h5.kind(p));
    if (!('ok' in kind)) {
      seen.set(p, { kind });
      return;
    }
    const names = h5.attrNames(p);
    const attrs = names.map((n) => [n, outcome(() => h5.attr(p, n))]);
    if (kind.ok === 'dataset') {
      const info = outcome(() => h5.datasetInfo(p));
      const data = outcome(() => Buffer.from(h5.readRaw(p)).toString('base64'));
      seen.set(p, { kind, attrs, info, data });
      return;
    }
    const keys = h5.keys(p);
    seen.set(p, { kind, attrs, keys });
    for (const k of keys) visit(p === '/' ? k : `${p}/${k}`, depth + 1);
  };
  visit('/', 0);
  return seen;
}

const files = [...hdf5Files(FIXTURES_DIR), ...hdf5Files(REALWORLD_DIR)];

test('native HDF5 reads every fixture and real-world file the way h5wasm does, or declines', async (t) => {
  const handled: Record<string, string[]> = { native: [], h5wasm: [] };
  for (const file of files) {
    const bytes = hdf5Bytes(file);
    if (!bytes) continue;
    const name = path.relative(path.dirname(FIXTURES_DIR), file);
    let reference: Hdf5File;
    try {
      reference = await Hdf5File.openBytes(bytes, file, { h5wasmOnly: true });
    } catch (e) {
      // h5wasm refuses it: so must graft, with the same code.
      await assert.rejects(Hdf5File.openBytes(bytes, file), (err: unknown) => err instanceof GraftError && err.code === (e as GraftError).code, name);
      continue;
    }
    const h5 = await Hdf5File.openBytes(bytes, file);
    handled[h5.backend].push(`${name}${h5.declined ? ` (${h5.declined})` : ''}`);
    try {
      if (h5.backend === 'native') {
        const want = survey(reference);
        const got = survey(h5);
        assert.deepEqual([...got.keys()], [...want.keys()], `${name}: objects`);
        for (const [p, w] of want) assert.deepEqual(got.get(p), w, `${name}: '${p}'`);
      }
    } finally {
      h5.close();
      reference.close();
    }
  }
  t.diagnostic(`native: ${handled.native.length}, h5wasm: ${handled.h5wasm.length} — ${handled.h5wasm.join('; ')}`);
  assert.ok(handled.native.length > 0);
  // Every real Keras file h5py wrote is read natively; only the hostile chunked ones and the dense
  // storage fixture fall back.
  for (const f of handled.h5wasm) assert.match(f, /hostile\/h5\/(big_chunk|huge_dataspace|zeros_80mib)\.h5 \(chunked storage\)|hdf5\/dense\.h5 \(dense/);
  for (const f of ['fixtures/hdf5/earliest.h5', 'fixtures/hdf5/latest.h5', 'fixtures/keras/userblock.h5', 'fixtures/keras/chunked_fp16.h5']) assert.ok(handled.native.includes(f), f);
  if (fs.existsSync(REALWORLD_DIR)) assert.ok(handled.native.filter((f) => !f.startsWith('fixtures')).length >= 60, handled.native.join('\n'));
});

test('a file on disk is read natively: same bytes from a positioned read as from h5wasm', async () => {
  const file = fixture('layers/keras/files/keras2_mha.h5');
  const h5 = await Hdf5File.open(file);
  const ref = await Hdf5File.open(file, file, undefined, { h5wasmOnly: true });
  try {
    assert.equal(h5.backend, 'native');
    assert.equal(ref.backend, 'h5wasm');
    const ds = 'model_weights/mha/mha/query/kernel:0';
    assert.equal(h5.kind(ds), 'dataset');
    const info = h5.datasetInfo(ds);
    assert.deepEqual(info, ref.datasetInfo(ds));
    const whole = ref.readRaw(ds);
    assert.deepEqual(h5.readRaw(ds), whole);
    // A hyperslab of the middle rows, and a byte range, straight from the file.
    const rowBytes = whole.length / info.shape[0];
    const block = new Uint8Array(rowBytes * 2);
    h5.readBlockInto(ds, [1, ...info.shape.slice(1).map(() => 0)], [2, ...info.shape.slice(1)], block);
    assert.deepEqual(block, whole.subarray(rowBytes, rowBytes * 3));
    const part = new Uint8Array(8);
    assert.equal(h5.readBytesInto(ds, 4, part), true);
    assert.deepEqual(part, whole.subarray(4, 12));
    assert.equal(ref.readBytesInto(ds, 4, part), false);
  } finally {
    h5.close();
    ref.close();
  }
});
