import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { GraftError } from '../src/errors';
import { Hdf5File } from '../src/io/hdf5';
import { BytesSource, NativeHdf5, NotNative } from '../src/io/hdf5-native';
import { DTYPE_BYTES } from '../src/io/tensor';
import { ZipArchive } from '../src/io/zip';
import { keras3Format, kerasH5Format } from '../src/formats/keras/dispatch';
import { openWeights, registerFormat } from '../src/formats/registry';
import type { ReadsStrided, WeightReader } from '../src/formats/types';
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

registerFormat(kerasH5Format);
registerFormat(keras3Format);

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
  // Every real Keras file h5py wrote is read natively; only the hostile chunked ones fall back.
  for (const f of handled.h5wasm) assert.match(f, /hostile\/h5\/(big_chunk|huge_dataspace|zeros_80mib)\.h5 \(chunked storage\)/);
  for (const f of ['earliest', 'latest', 'dense', 'vlen_strings']) assert.ok(handled.native.includes(`fixtures/hdf5/${f}.h5`), f);
  for (const f of ['fixtures/keras/userblock.h5', 'fixtures/keras/chunked_fp16.h5']) assert.ok(handled.native.includes(f), f);
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

// ------------------------------------------------------------------ hostile and damaged input

const earliest = () => new Uint8Array(fs.readFileSync(fixture('hdf5/earliest.h5')));
const latest = () => new Uint8Array(fs.readFileSync(fixture('hdf5/latest.h5')));

/** The native parser alone: it opens, declines (NotNative) or reports CORRUPT/UNSAFE — nothing else. */
function parseNatively(bytes: Uint8Array, name = 'damaged.h5'): NativeHdf5 | NotNative | GraftError {
  try {
    return NativeHdf5.open(new BytesSource(name, bytes), name, 0);
  } catch (e) {
    if (e instanceof NotNative || e instanceof GraftError) return e;
    throw e;
  }
}

const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint32(at, true);
const setU64 = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer, b.byteOffset).setBigUint64(at, BigInt(v), true);

test('native HDF5: the UNSAFE refusals are its own (external link, external raw storage, virtual dataset)', async () => {
  const link = await Hdf5File.open(fixture('hostile/h5/inner/external_link.h5'));
  const storage = await Hdf5File.open(fixture('hostile/h5/inner/external_storage.h5'));
  const virtual = await Hdf5File.open(fixture('hostile/h5/inner/virtual.h5'));
  try {
    for (const h5 of [link, storage, virtual]) assert.equal(h5.backend, 'native');
    assert.deepEqual(link.keys('/'), ['dense']);
    assert.throws(() => link.kind('dense/dense'), (e: unknown) => e instanceof GraftError && e.code === 'UNSAFE' && /another file \('\.\.\/outside\.h5'\) through an HDF5 external link/.test(e.message));
    const ds = 'dense/dense/kernel:0';
    assert.equal(storage.kind(ds), 'dataset');
    assert.throws(() => storage.readRaw(ds), (e: unknown) => e instanceof GraftError && e.code === 'UNSAFE' && /another file \('secret\.txt'\)/.test(e.message));
    assert.throws(() => storage.readBlockInto(ds, [0], [1], new Uint8Array(DTYPE_BYTES[storage.datasetInfo(ds).dtype])), (e: unknown) => e instanceof GraftError && e.code === 'UNSAFE');
    assert.throws(() => virtual.datasetInfo(ds), (e: unknown) => e instanceof GraftError && e.code === 'UNSAFE' && /virtual dataset/.test(e.message));
  } finally {
    for (const h5 of [link, storage, virtual]) h5.close();
  }
});

test('native HDF5: hard-link cycles and soft-link loops resolve without walking forever', async () => {
  for (const bytes of [earliest(), latest()]) {
    const h5 = await Hdf5File.openBytes(bytes, 'cycles.h5');
    try {
      assert.equal(h5.backend, 'native');
      assert.equal(h5.kind('model_weights/dense_1/up/dense_1/up/dense_1/up/dense_1/kernel:0'), 'dataset');
      assert.deepEqual(h5.keys('model_weights/dense_1/up'), ['dense_1']);
      assert.equal(h5.kind('types/loop_a'), undefined);
      assert.equal(h5.kind('types/loop_b/x'), undefined);
      assert.equal(h5.kind('dangling'), undefined);
      assert.deepEqual(h5.readRaw('soft_kernel'), h5.readRaw('model_weights/dense_1/kernel:0'));
      assert.deepEqual(h5.readRaw('model_weights/dense_1/relative_soft'), h5.readRaw('model_weights/dense_1/bias:0'));
    } finally {
      h5.close();
    }
  }
});

test('native HDF5: an object header continuing into a block it already read is CORRUPT, not a hang', async () => {
  const bytes = earliest();
  // A version 1 continuation message (type 0x10, 16 bytes of data); the header holding it starts
  // with version 1, a reference count of 1 and its size, at most a few KiB before it.
  let patched = false;
  for (let m = 0; m + 24 <= bytes.length && !patched; m++) {
    if (bytes[m] !== 0x10 || bytes[m + 1] !== 0 || bytes[m + 2] !== 0x10 || bytes[m + 3] !== 0 || bytes[m + 4] !== 0) continue;
    for (let p = m - 16; p >= Math.max(0, m - 4096); p--) {
      if (bytes[p] === 1 && bytes[p + 1] === 0 && u32(bytes, p + 4) === 1 && p + 16 + u32(bytes, p + 8) > m) {
        setU64(bytes, m + 8, p + 16); // back to the header's own first block
        setU64(bytes, m + 16, u32(bytes, p + 8));
        patched = true;
        break;
      }
    }
  }
  assert.ok(patched, 'no continuation message found to patch');
  const r = parseNatively(bytes);
  assert.ok(r instanceof GraftError && r.code === 'CORRUPT' && /continuation loop/.test(r.message), String(r));
  await assert.rejects(Hdf5File.openBytes(bytes, 'loop.h5'), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && /^loop\.h5: HDF5 object header at \d+ continues into a block it already read/.test(e.message));
});

test('native HDF5: a group B-tree node listing itself as its child is CORRUPT, not a hang', () => {
  const bytes = earliest();
  // The 300-link group's B-tree has one node of level 1: its first child becomes itself.
  let node = -1;
  for (let i = bytes.indexOf(0x54); i >= 0; i = bytes.indexOf(0x54, i + 1)) {
    if (String.fromCharCode(...bytes.subarray(i, i + 4)) === 'TREE' && bytes[i + 4] === 0 && bytes[i + 5] === 1) node = i;
  }
  assert.ok(node > 0);
  setU64(bytes, node + 24 + 8, node);
  const r = parseNatively(bytes);
  assert.ok(r instanceof GraftError && r.code === 'CORRUPT' && /reached twice/.test(r.message), String(r));
});

test('native HDF5: the root group past the end of the file is declined, and h5wasm reports it', async () => {
  const bytes = earliest();
  // Superblock 0: the root's symbol table entry holds its object header address at byte 64.
  setU64(bytes, 64, bytes.length + 4096);
  const r = parseNatively(bytes);
  assert.ok(r instanceof NotNative && /past the end of the file/.test(r.reason), String(r));
  await assert.rejects(Hdf5File.openBytes(bytes, 'root.h5'), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT');
});

test('native HDF5: truncated files are declined before anything is read past their end', async () => {
  for (const [label, whole] of [['earliest', earliest()], ['latest', latest()]] as const) {
    for (const n of [0, 8, 40, 100, 600, 2048, whole.length >> 1, whole.length - 100, whole.length - 1]) {
      const cut = whole.slice(0, n);
      const r = parseNatively(cut);
      assert.ok(r instanceof NotNative, `${label} cut to ${n}: ${String(r)}`);
      await assert.rejects(Hdf5File.openBytes(cut, `${label}-${n}.h5`), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT', `${label} cut to ${n}`);
    }
  }
});

test('native HDF5: random byte damage ends in a clean answer, a decline or a GraftError, quickly', () => {
  let seed = 15;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const dense = new Uint8Array(fs.readFileSync(fixture('hdf5/dense.h5')));
  for (const [label, whole] of [['earliest', earliest()], ['latest', latest()], ['dense', dense]] as const) {
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const bytes = whole.slice();
      const flips = 1 + Math.floor(random() * 4);
      // Mostly metadata (the first few KiB hold the superblock and the root's structures).
      for (let k = 0; k < flips; k++) bytes[Math.floor(random() * (random() < 0.5 ? 4096 : bytes.length))] = Math.floor(random() * 256);
      const started = Date.now();
      const r = parseNatively(bytes);
      if (r instanceof NativeHdf5) {
        // Every lookup and read on what it accepted also ends cleanly.
        const h5 = r;
        const visit = (p: string, depth: number): void => {
          if (depth > 6) return;
          let kind: ReturnType<NativeHdf5['kind']>;
          try {
            kind = h5.kind(p);
            for (const a of h5.attrNames(p)) h5.attr(p, a);
            if (kind === 'dataset') {
              const d = h5.dataset(p);
              const n = d.shape.reduce((a, b) => a * b, 1) * d.elementBytes;
              if (n < 1 << 20) h5.readInto(p, 0, new Uint8Array(n));
            }
          } catch (e) {
            if (!(e instanceof GraftError)) throw e;
            return;
          }
          if (kind === 'group') for (const k of h5.keys(p)) visit(p === '/' ? k : `${p}/${k}`, depth + 1);
        };
        visit('/', 0);
        h5.close();
      }
      const key = r instanceof NativeHdf5 ? 'opened' : r instanceof NotNative ? 'declined' : r.code;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      assert.ok(Date.now() - started < 2000, `${label} case ${i} took ${Date.now() - started} ms`);
    }
    assert.ok(outcomes.declined > 0 && outcomes.opened > 0, `${label}: ${JSON.stringify(outcomes)}`);
  }
});

test('native HDF5: hyperslabs match h5wasm', async () => {
  const file = fixture('layers/keras/files/keras2_mha.h5');
  const h5 = await Hdf5File.open(file);
  const ref = await Hdf5File.open(file, file, undefined, { h5wasmOnly: true });
  try {
    const ds = 'model_weights/mha/mha/query/kernel:0'; // [6, 2, 3] float32
    const cases: [number[], number[]][] = [[[0, 0, 0], [6, 2, 3]], [[2, 1, 0], [3, 1, 3]], [[1, 0, 1], [4, 2, 2]], [[5, 1, 2], [1, 1, 1]], [[0, 0, 0], [0, 2, 3]]];
    for (const [offset, count] of cases) {
      const n = count.reduce((a, b) => a * b, 1) * 4;
      const got = new Uint8Array(n);
      const want = new Uint8Array(n);
      h5.readBlockInto(ds, offset, count, got);
      ref.readBlockInto(ds, offset, count, want);
      assert.deepEqual(got, want, `${offset} + ${count}`);
    }
    assert.throws(() => h5.readBlockInto(ds, [5, 0, 0], [2, 2, 3], new Uint8Array(48)), /lies outside dataspace/);
  } finally {
    h5.close();
    ref.close();
  }
});

test('native HDF5: 3,000 string elements all pointing at one 100,000-character heap string stop at the walk budget', async () => {
  const bytes = new Uint8Array(fs.readFileSync(fixture('hdf5/vlen_strings.h5')));
  const honest = await Hdf5File.openBytes(bytes.slice(), 'vlen_strings.h5');
  try {
    assert.equal(honest.backend, 'native');
    const names = honest.stringListAttr('/', 'names')!;
    assert.equal(names.length, 3001);
    assert.equal(names[0], 'y'.repeat(100_000));
    assert.equal(names[3000], 'name_2999');
  } finally {
    honest.close();
  }
  // Each element: length (u32), heap collection address (u64), object index (u32).
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  let first = -1;
  for (let i = 0; i + 16 <= bytes.length; i++) if (view.getUint32(i, true) === 100_000 && view.getUint32(i + 12, true) === 1) { first = i; break; }
  assert.ok(first > 0);
  for (let k = 1; k <= 3000; k++) bytes.copyWithin(first + 16 * k, first, first + 16);
  const started = Date.now();
  const r = parseNatively(bytes, 'amplified.h5');
  assert.ok(r instanceof GraftError && r.code === 'CORRUPT' && /metadata walk went past \d+ bytes in a 247\d+-byte file/.test(r.message), String(r));
  assert.ok(Date.now() - started < 2000);
});

test('Keras readers on natively read files: strided reads give the bytes read() gives', async () => {
  for (const rel of ['layers/keras/files/keras2_mha.h5', 'layers/keras/files/keras3_mha.keras', 'keras/keras3_nested.weights.h5']) {
    const reader = (await openWeights(fixture(rel))) as WeightReader & ReadsStrided;
    try {
      assert.equal(typeof reader.readStridedSync, 'function', rel);
      for (const info of reader.list()) {
        const whole = (await reader.read(info.name)).data;
        const element = DTYPE_BYTES[info.dtype];
        const rowBytes = info.shape.length ? whole.length / Math.max(1, info.shape[0]) : whole.length;
        const runs = info.shape.length ? info.shape[0] : 1;
        if (whole.length === 0) continue;
        // Every row's first element (a column), and the whole tensor in one run.
        const column = new Uint8Array(runs * element);
        reader.readStridedSync!(info.name, { start: 0, runBytes: element, stride: rowBytes, count: runs }, column);
        for (let i = 0; i < runs; i++) assert.deepEqual(column.subarray(i * element, (i + 1) * element), whole.subarray(i * rowBytes, i * rowBytes + element), `${rel} ${info.name} row ${i}`);
        const all = new Uint8Array(whole.length);
        await reader.readStrided(info.name, { start: 0, runBytes: whole.length, stride: whole.length, count: 1 }, all);
        assert.deepEqual(all, whole, `${rel} ${info.name}`);
      }
    } finally {
      await reader.close();
    }
  }
});
