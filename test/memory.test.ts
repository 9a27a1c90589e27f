/**
 * The library on files held in memory (issue 16): convertInMemory / inspectInMemory read the same
 * fixtures as convert() / `graft inspect` and must give the same bytes, the same report and the
 * same one-line errors; each call's files stay its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import '../src/layers';
import { convert } from '../src/convert';
import { convertInMemory, inspectInMemory, MemoryFile } from '../src/convert/memory';
import { formatError, GraftError } from '../src/errors';
import { openWeights } from '../src/formats';
import { MemoryVolume } from '../src/io/volume';
import { parseMappingTable } from '../src/mapping/table';
import { graft } from './helpers/cli';
import { tempDir } from './helpers/models';

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const fixture = (rel: string) => path.join(FIXTURES, rel);
const memoryFile = (rel: string): MemoryFile => ({ name: path.basename(rel), data: new Uint8Array(fs.readFileSync(fixture(rel))) });

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('expected a rejection');
}

/** The same conversion through convert() into a folder and convertInMemory: byte for byte the same. */
async function assertSameAsFolder(source: string, target?: string, companions: string[] = [], extra: Record<string, unknown> = {}): Promise<void> {
  const out = path.join(tempDir('graft-memory-'), 'out');
  const report = await convert({ source: fixture(source), target: target && fixture(target), out, ...extra });
  const m = await convertInMemory({ source: memoryFile(source), target: target ? memoryFile(target) : undefined, companions: companions.map(memoryFile), ...extra });
  assert.deepEqual(m.files.map((f) => f.name), report.files, source);
  for (const f of m.files) assert.ok(Buffer.from(f.data).equals(fs.readFileSync(path.join(out, f.name))), `${source}: ${f.name} differs from the CLI's`);
  const onDisk = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
  assert.deepEqual(m.modelJson, onDisk);
  assert.deepEqual(m.weightSpecs, onDisk.weightsManifest[0].weights);
  const shards = Buffer.concat(onDisk.weightsManifest[0].paths.map((p: string) => fs.readFileSync(path.join(out, p))));
  assert.ok(Buffer.from(m.weightData).equals(shards), `${source}: weightData is not the shards back to back`);
  // The report is the CLI's, but for where the files went.
  const where = { out: undefined, target: undefined, source: undefined };
  assert.deepEqual({ ...m.report, ...where }, { ...report, ...where });
  assert.ok(m.report.assigned.length > 0, `${source}: nothing was assigned`);
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
}

test('PyTorch (.pt zip and legacy), safetensors, .npz and ONNX weights with a target: the same files as convert()', async () => {
  for (const src of ['model.pt', 'model_legacy.pt', 'model.safetensors', 'model.npz', 'model.onnx']) {
    await assertSameAsFolder(`torch/mlp/${src}`, 'torch/mlp/target.json');
  }
});

test('Keras 2 .h5 and Keras 3 .keras without a target (their own topology): the same files as convert()', async () => {
  await assertSameAsFolder('layers/keras/files/keras2_self_attention_groupnorm.h5');
  await assertSameAsFolder('layers/keras/files/keras2_mha.h5');
  // The .keras weights member is read into h5wasm's in-memory file system, not a temporary file.
  await assertSameAsFolder('layers/keras/files/keras3_mha.keras');
});

test('an ONNX graph without a target (built from the graph), small shards and quantization: the same files as convert()', async () => {
  await assertSameAsFolder('onnx-graph/mlp/model.onnx', undefined, [], { shardBytes: 1000 });
  await assertSameAsFolder('torch/mlp/model.pt', 'torch/mlp/target.json', [], { quantize: 'uint8', shardBytes: 777 });
});

test('a target with weights of its own (given as companions) keeps what is not restored, on both engines, as convert() does', async () => {
  const dir = tempDir('graft-memory-own-');
  const withWeights = path.join(dir, 'target');
  await convert({ source: fixture('torch/mlp/model.safetensors'), target: fixture('torch/mlp/target.json'), out: withWeights });
  const shards = fs.readdirSync(withWeights).filter((f) => f.endsWith('.bin'));
  for (const engine of ['stream', 'tfjs'] as const) {
    const out = path.join(dir, `out-${engine}`);
    const report = await convert({ source: fixture('torch/mlp/model.pt'), target: path.join(withWeights, 'model.json'), include: ['^fc1/'], engine, out });
    const m = await convertInMemory({
      source: memoryFile('torch/mlp/model.pt'),
      target: { name: 'model.json', data: fs.readFileSync(path.join(withWeights, 'model.json')) },
      companions: shards.map((f) => ({ name: f, data: fs.readFileSync(path.join(withWeights, f)) })),
      include: ['^fc1/'],
      engine,
    });
    const where = { out: undefined, target: undefined, source: undefined };
    assert.deepEqual({ ...m.report, ...where }, { ...report, ...where }, engine);
    assert.equal(m.report.engine, engine);
    assert.ok(m.report.assigned.length === 2 && m.report.skipped.length > 0, engine);
    for (const f of m.files) assert.ok(Buffer.from(f.data).equals(fs.readFileSync(path.join(out, f.name))), `${engine}: ${f.name}`);
  }
  // Without the shards its manifest names, the target's own weights cannot be read: the same error as on disk.
  const lonely = path.join(dir, 'lonely');
  fs.mkdirSync(lonely);
  fs.copyFileSync(path.join(withWeights, 'model.json'), path.join(lonely, 'model.json'));
  const onDisk = await rejection(convert({ source: fixture('torch/mlp/model.pt'), target: path.join(lonely, 'model.json'), include: ['^fc1/'], engine: 'tfjs', out: path.join(dir, 'o') }));
  const inMemory = await rejection(convertInMemory({ source: memoryFile('torch/mlp/model.pt'), target: { name: 'model.json', data: fs.readFileSync(path.join(lonely, 'model.json')) }, include: ['^fc1/'], engine: 'tfjs' }));
  assert.ok(onDisk instanceof GraftError && inMemory instanceof GraftError);
  assert.equal(inMemory.code, onDisk.code);
});

test('a target given as parsed JSON and a mapping table given as an object work like files', async () => {
  const targetJson = JSON.parse(fs.readFileSync(fixture('torch/mlp/target.json'), 'utf8'));
  const viaObject = await convertInMemory({ source: memoryFile('torch/mlp/model.pt'), target: targetJson });
  const viaFile = await convertInMemory({ source: memoryFile('torch/mlp/model.pt'), target: memoryFile('torch/mlp/target.json') });
  assert.deepEqual(viaObject.files.map((f) => Buffer.from(f.data).toString('base64')), viaFile.files.map((f) => Buffer.from(f.data).toString('base64')));
  const e = await rejection(convertInMemory({ source: memoryFile('torch/mlp/model.pt'), target: targetJson, map: { tensors: 'not a list' } }));
  assert.ok(e instanceof GraftError && e.code === 'MAPPING', formatError(e));
});

test('companions: sharded safetensors read through their index; a missing shard is NOT_FOUND', async () => {
  const dir = 'formats/safetensors/sharded';
  const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'].map((s) => memoryFile(`${dir}/${s}`));
  const inspected = await inspectInMemory(memoryFile(`${dir}/model.safetensors.index.json`), shards);
  const cli = graft(['inspect', '--json', fixture(`${dir}/model.safetensors.index.json`)]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.deepEqual(inspected, JSON.parse(cli.stdout));
  const e = await rejection(inspectInMemory(memoryFile(`${dir}/model.safetensors.index.json`), shards.slice(0, 1)));
  assert.ok(e instanceof GraftError && e.code === 'NOT_FOUND' && /model-00002-of-00002/.test(e.message), String(e));
});

test('every fixture under formats/ (npy, npz, safetensors, a tfjs model with shards): inspectInMemory equals `graft inspect --json`', async () => {
  const tfjs = 'formats/tfjs/quantized';
  const shards = fs.readdirSync(fixture(tfjs)).filter((f) => f.endsWith('.bin')).map((f) => memoryFile(`${tfjs}/${f}`));
  const cases: [string, MemoryFile[]][] = [[`${tfjs}/model.json`, shards]];
  for (const dir of ['formats/npy', 'formats/npz', 'formats/safetensors']) {
    for (const f of fs.readdirSync(fixture(dir)).filter((n) => /\.(npy|npz|safetensors)$/.test(n))) cases.push([`${dir}/${f}`, []]);
  }
  assert.ok(cases.length > 15);
  for (const [rel, companions] of cases) {
    const cli = graft(['inspect', '--json', path.basename(rel)], { cwd: path.dirname(fixture(rel)) });
    let mine: unknown;
    try {
      mine = await inspectInMemory(memoryFile(rel), companions);
    } catch (e) {
      assert.equal(formatError(e), cli.stderr.trim(), rel);
      continue;
    }
    assert.equal(cli.code, 0, `${rel}: ${cli.stderr}`);
    assert.deepEqual(mine, JSON.parse(cli.stdout), rel);
  }
});

test('each call has its own files: a companion given to one call is not seen by the next', async () => {
  const dir = 'formats/safetensors/sharded';
  const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'].map((s) => memoryFile(`${dir}/${s}`));
  await inspectInMemory(memoryFile(`${dir}/model.safetensors.index.json`), shards);
  const e = await rejection(inspectInMemory(memoryFile(`${dir}/model.safetensors.index.json`)));
  assert.ok(e instanceof GraftError && e.code === 'NOT_FOUND', String(e));
  // Nor does a name in memory reach the disk: the shards beside the working folder stay unread.
  const cwd = process.cwd();
  process.chdir(fixture(dir));
  try {
    const e2 = await rejection(inspectInMemory({ name: 'model.safetensors.index.json', data: fs.readFileSync('model.safetensors.index.json') }));
    assert.ok(e2 instanceof GraftError && e2.code === 'NOT_FOUND', String(e2));
  } finally {
    process.chdir(cwd);
  }
});

/** `graft inspect <name>` run beside the file, so the CLI names it exactly as the memory volume does. */
function cliErrorLine(rel: string): string | undefined {
  const r = graft(['inspect', path.basename(rel)], { cwd: path.dirname(fixture(rel)) });
  return r.code === 0 ? undefined : r.stderr.trim();
}

test('hostile and damaged files: the same one-line error as the CLI', async () => {
  const files = [
    'hostile/pt/evil_reduce_os_system.pt', 'hostile/pt/evil_legacy_eval.pt', 'hostile/pt/numel_huge.pt', 'hostile/pt/bad_view.pt',
    'hostile/npy/object_pickle.npy', 'hostile/npy/huge_shape.npy', 'hostile/npz/traversal.npz', 'hostile/npz/claims_100gb.npz',
    'hostile/safetensors/offsets_beyond.safetensors', 'hostile/safetensors/header_2e60.safetensors',
    'hostile/onnx/huge_dims_raw.onnx', 'hostile/onnx/negative_dim.onnx', 'hostile/h5/huge_dataspace.h5', 'hostile/h5/deep_config.keras',
    'hostile/onnx/external/dotdot.onnx', 'hostile/onnx/external/absolute.onnx',
  ];
  let compared = 0;
  for (const rel of files) {
    const cli = cliErrorLine(rel);
    if (cli === undefined) continue; // inspect accepts it (the damage shows only on convert)
    const e = await rejection(inspectInMemory(memoryFile(rel)));
    assert.ok(e instanceof GraftError, `${rel}: ${String(e)}`);
    assert.equal(formatError(e), cli, rel);
    compared++;
  }
  assert.ok(compared >= 12, `only ${compared} hostile files failed in the CLI`);
});

test('ONNX external data given as a companion: read like the file beside the model; hostile locations fail as in the CLI', async () => {
  const edge = 'pytorch-edge/onnx/external';
  const dataFiles = fs.readdirSync(fixture(edge)).filter((f) => !f.endsWith('.onnx') && !f.endsWith('.json'));
  const inspected = await inspectInMemory(memoryFile(`${edge}/model.onnx`), dataFiles.map((f) => memoryFile(`${edge}/${f}`)));
  const cli = graft(['inspect', '--json', 'model.onnx'], { cwd: fixture(edge) });
  assert.equal(cli.code, 0, cli.stderr);
  assert.deepEqual(inspected, JSON.parse(cli.stdout));
  assert.equal(inspected.metadata?.externalData, true);
  const hostile = 'hostile/onnx/external';
  let compared = 0;
  for (const f of fs.readdirSync(fixture(hostile)).filter((n) => n.endsWith('.onnx'))) {
    const line = cliErrorLine(`${hostile}/${f}`);
    if (line === undefined) continue;
    const e = await rejection(inspectInMemory(memoryFile(`${hostile}/${f}`), [memoryFile(`${hostile}/weights.bin`)]));
    assert.equal(formatError(e), line, f);
    compared++;
  }
  assert.ok(compared >= 8, `only ${compared} hostile ONNX files compared`);
});

test('HDF5 in memory keeps the confinement: external links, external storage and virtual datasets are refused even with the other file given', async () => {
  const companions = () => [new Uint8Array(fs.readFileSync(fixture('hostile/h5/inner/secret.txt'))), new Uint8Array(fs.readFileSync(fixture('hostile/h5/outside.h5')))];
  for (const [rel, why] of [['external_link.h5', /refers to another file .* external link/], ['virtual.h5', /virtual dataset/], ['external_storage.h5', /refers to another file|external/]] as const) {
    const volume = new MemoryVolume();
    volume.add(rel, new Uint8Array(fs.readFileSync(fixture(`hostile/h5/inner/${rel}`))));
    const [secret, outside] = companions();
    volume.add('secret.txt', secret);
    volume.add('outside.h5', outside);
    const e = await rejection((async () => {
      const reader = await openWeights(rel, { volume });
      try {
        for (const t of reader.list()) await reader.read(t.name);
      } finally {
        await reader.close();
      }
    })());
    assert.ok(e instanceof GraftError && ['UNSAFE', 'UNSUPPORTED', 'CORRUPT'].includes(e.code), `${rel}: ${String(e)}`);
    assert.match(e.message, why, rel);
    assert.ok(e.message.startsWith(`${rel}:`), e.message);
  }
});

test('TF checkpoints in memory: the .index with its .data shards as companions converts as on disk; inspect equals the CLI\'s; a missing shard fails as in the CLI', async () => {
  const dir = 'tf-ckpt/saver';
  const data = fs.readdirSync(fixture(dir)).filter((f) => f.includes('.data-')).map((f) => memoryFile(`${dir}/${f}`));
  const out = path.join(tempDir('graft-memory-'), 'out');
  const map = 'scopes:\n  outputs/: output/\n';
  const report = await convert({ source: fixture(`${dir}/model.ckpt.index`), target: fixture('torch/seed_mlp/target.json'), map: parseMappingTable(map), out });
  const m = await convertInMemory({ source: memoryFile(`${dir}/model.ckpt.index`), companions: data, target: memoryFile('torch/seed_mlp/target.json'), map: { name: 'map.yaml', data: new TextEncoder().encode(map) } });
  assert.equal(m.report.assigned.length, 10);
  assert.deepEqual(m.files.map((f) => f.name), report.files);
  for (const f of m.files) assert.ok(Buffer.from(f.data).equals(fs.readFileSync(path.join(out, f.name))), f.name);
  for (const d of ['tf-ckpt/sharded', 'tf-ckpt/tf2', 'tf-ckpt/bigendian']) {
    const names = fs.readdirSync(fixture(d)).filter((f) => /\.index$|\.data-/.test(f));
    const index = names.find((f) => f.endsWith('.index'))!;
    const cli = graft(['inspect', '--json', index], { cwd: fixture(d) });
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(await inspectInMemory(memoryFile(`${d}/${index}`), names.filter((f) => f !== index).map((f) => memoryFile(`${d}/${f}`))), JSON.parse(cli.stdout), d);
  }
  // Without its data shard: the same error as `graft inspect` on an index alone in a folder.
  const lonely = tempDir('graft-memory-ckpt-');
  fs.copyFileSync(fixture(`${dir}/model.ckpt.index`), path.join(lonely, 'model.ckpt.index'));
  const cli = graft(['convert', 'model.ckpt.index', '--target', fixture('torch/seed_mlp/target.json'), '--dry-run'], { cwd: lonely });
  const e = await rejection(convertInMemory({ source: memoryFile(`${dir}/model.ckpt.index`), target: memoryFile('torch/seed_mlp/target.json'), dryRun: true }));
  assert.equal(formatError(e), cli.stderr.trim());
  assert.match(formatError(e), /is missing/);
});

test('bad names and duplicate names in memory are USAGE errors', async () => {
  const data = new Uint8Array(8);
  for (const name of ['../x.pt', '/abs.pt', '']) {
    const e = await rejection(inspectInMemory({ name, data }));
    assert.ok(e instanceof GraftError, `${name}: ${String(e)}`);
  }
  const e = await rejection(inspectInMemory({ name: 'a.pt', data }, [{ name: 'a.pt', data }]));
  assert.ok(e instanceof GraftError && e.code === 'USAGE' && /share this name/.test(e.message));
});
