/**
 * The browser bundle (scripts/build-web.mjs → graft.js): it builds, holds no Node built-in, the
 * build refuses code that would import one, and the bundle itself — run where tfjs and h5wasm see
 * a browser, not Node — converts fixtures into the same bytes as convert() and fails with the
 * CLI's error lines. (The page's own test drives it in Chromium.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import '../src/layers';
import { convert } from '../src/convert';
import { crc32 as zlibCrc32 } from '../src/io/crc32';
import { crc32 as tableCrc32 } from '../src/io/crc32.browser';
import { tempDir } from './helpers/models';

const ROOT = path.join(__dirname, '..');
const BUILD = path.join(ROOT, 'scripts', 'build-web.mjs');
const FIXTURES = path.join(ROOT, 'fixtures');

function build(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BUILD, '--quiet', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let built: string | undefined;
/** One build for the tests below (a few seconds). */
function bundle(): string {
  if (!built) {
    const out = tempDir('graft-web-');
    const r = build(['--out', out]);
    assert.equal(r.code, 0, r.stderr);
    built = path.join(out, 'graft.js');
  }
  return built;
}

const NODE_BUILTINS = ['fs', 'path', 'os', 'process', 'zlib', 'child_process', 'crypto', 'util', 'buffer', 'stream', 'worker_threads', 'module', 'url'];

test('the bundle builds (graft.js, h5wasm in a chunk of its own) with no import left outside and no Node built-in in it', () => {
  const file = bundle();
  const dir = path.dirname(file);
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text.length > 100_000, 'implausibly small bundle');
  const chunks = fs.readdirSync(dir).filter((f) => /^graft-chunk-.*\.js$/.test(f));
  // h5wasm's inlined wasm is megabytes: it must sit in a chunk loaded on demand, not in graft.js.
  assert.ok(text.length < 3 * 1024 * 1024, `graft.js is ${text.length} bytes: h5wasm went into it`);
  assert.ok(chunks.some((c) => fs.statSync(path.join(dir, c)).size > 3 * 1024 * 1024), `no h5wasm chunk among ${chunks.join(', ')}`);
  // Exports the contract's names.
  const exported = [...text.matchAll(/export\s*\{([^}]*)\}/g)].pop()?.[1] ?? '';
  for (const name of ['convertInMemory', 'inspectInMemory', 'formatError', 'GraftError', 'tf']) assert.match(exported, new RegExp(`\\b${name}\\b`), `bundle does not export ${name}`);
  for (const js of ['graft.js', ...chunks]) {
    const code = fs.readFileSync(path.join(dir, js), 'utf8');
    for (const m of NODE_BUILTINS) {
      const spec = `(node:)?${m}`;
      const uses = new RegExp(`(require\\(\\s*["'\`]${spec}["'\`]\\s*\\)|from\\s*["'\`]${spec}["'\`]|import\\(\\s*["'\`]${spec}["'\`]\\s*\\))`);
      assert.doesNotMatch(code, uses, `${js} imports Node's ${m}`);
    }
    assert.doesNotMatch(code, /["'`]node:[a-z_]+["'`]/, `${js} names a node: module`);
    // Whatever it imports is another file of the bundle.
    const specifiers = [...code.matchAll(/(?:\bimport\s*\{[^}]*\}\s*from|\bimport\s*\*\s*as\s+[\w$]+\s*from|\bimport\s*\(|\bimport)\s*["'`]([^"'`]+)["'`]/g)].map((m) => m[1]);
    for (const spec of specifiers) {
      assert.match(spec, /^\.\/graft-chunk-[\w-]+\.js$/, `${js} imports ${spec}`);
      assert.ok(chunks.includes(spec.slice(2)), `${js} imports ${spec}, which the build did not write`);
    }
    if (js === 'graft.js') assert.ok(specifiers.length > 0, 'graft.js imports no chunk: where is h5wasm?');
  }
  const meta = JSON.parse(fs.readFileSync(path.join(path.dirname(file), 'graft.meta.json'), 'utf8'));
  assert.equal(meta.bytes, fs.statSync(file).size);
  assert.ok(meta.gzipBytes > 0 && meta.gzipBytes < meta.bytes);
});

test('the build fails when anything in the bundle imports a Node built-in, naming the importer', () => {
  const dir = tempDir('graft-web-bad-');
  const cases: [string, string, RegExp][] = [
    ['fs', "import * as fs from 'fs';\nexport const n = fs.readFileSync;\n", /Node built-in 'fs' imported by/],
    ['node:zlib', "import { crc32 } from 'node:zlib';\nexport const c = crc32;\n", /Node built-in 'node:zlib' imported by/],
    ['child_process', "export const spawn = require('child_process').spawn;\n", /Node built-in 'child_process' imported by/],
    // graft's own Node-only module, imported past its browser variant by path from outside src/.
    ['os', `export * from ${JSON.stringify(path.join(ROOT, 'src', 'io', 'temp.ts'))};\n`, /src\/io\/temp\.ts(:\d+: uses Node's global 'process'| imported .*'(os|fs|path)')|Node built-in '(os|fs|path)' imported by src\/io\/temp\.ts/],
  ];
  for (const [mod, source, expected] of cases) {
    const entry = path.join(dir, `entry_${mod.replace(/\W/g, '_')}.ts`);
    fs.writeFileSync(entry, source);
    const r = build(['--entry', entry, '--out', path.join(dir, 'out')]);
    assert.notEqual(r.code, 0, `${mod}: the build succeeded`);
    assert.match(r.stderr, expected, r.stderr);
    assert.ok(!fs.existsSync(path.join(dir, 'out', 'graft.js')), 'a failed build left a bundle behind');
  }
});

test('the build fails when bundled code uses Node globals (Buffer, process, __dirname), naming file and line', () => {
  const dir = tempDir('graft-web-globals-');
  for (const [name, source] of [
    ['Buffer', "// Buffer in a comment is fine\nexport const t = (b: Uint8Array) => Buffer.from(b).toString('latin1');\n"],
    ['process', "export const argv = () => typeof process === 'undefined' ? [] : process.argv;\n"],
    ['__dirname', 'export const here = __dirname;\n'],
  ]) {
    const entry = path.join(dir, `entry_${name}.ts`);
    fs.writeFileSync(entry, source);
    const r = build(['--entry', entry, '--out', path.join(dir, 'out')]);
    assert.notEqual(r.code, 0, `${name}: the build succeeded`);
    assert.match(r.stderr, new RegExp(`entry_${name}\\.ts:2?\\d*:? ?.*uses Node's global '${name}'`), r.stderr);
  }
  // Guarded and commented uses pass.
  const fine = path.join(dir, 'entry_fine.ts');
  fs.writeFileSync(fine, "/* process.exit */\nexport const node = typeof process !== 'undefined';\nexport const x = { process: 1 }.process;\n");
  const ok = build(['--entry', fine, '--out', path.join(dir, 'out-fine')]);
  assert.equal(ok.code, 0, ok.stderr);
});

test('crc32.browser.ts (the bundle\'s CRC-32) equals zlib\'s on random data, in pieces and with seeds', () => {
  let x = 12345;
  const rand = () => (x = (x * 1103515245 + 12345) >>> 0) & 0xff;
  for (const n of [0, 1, 7, 255, 4096, 100_003]) {
    const data = Uint8Array.from({ length: n }, rand);
    assert.equal(tableCrc32(data), zlibCrc32(data), `n=${n}`);
    const cut = n >> 1;
    assert.equal(tableCrc32(data.subarray(cut), tableCrc32(data.subarray(0, cut))), zlibCrc32(data), `n=${n} in two pieces`);
  }
});

/** Runs the bundle in a child Node made to look like a browser (no `process`, a `window`), returning what the script prints. */
function inBrowserLikeNode(bundleFile: string, body: string): string {
  const script = `
    const realProcess = globalThis.process;
    const RealBuffer = globalThis.Buffer;
    const fs = await import('fs');
    // What a browser lacks: Node's process, Buffer and setImmediate.
    globalThis.process = undefined;
    globalThis.Buffer = undefined;
    globalThis.setImmediate = undefined;
    globalThis.window = globalThis;
    globalThis.document = {};
    const g = await import(${JSON.stringify(bundleFile)});
    const out = [];
    const file = (p) => ({ name: p.split('/').pop(), data: new Uint8Array(fs.readFileSync(p)) });
    ${body}
    realProcess.stdout.write(JSON.stringify(out));
  `;
  // As under a page's CSP without 'unsafe-eval': eval and new Function throw.
  const r = spawnSync(process.execPath, ['--disallow-code-generation-from-strings', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr.slice(0, 2000));
  return r.stdout;
}

test('the bundle, run as in a browser, writes the same bytes as convert() and the same error lines as the CLI', async () => {
  const cases: [string, string | undefined][] = [
    ['torch/mlp/model.pt', 'torch/mlp/target.json'],
    ['torch/mlp/model_legacy.pt', 'torch/mlp/target.json'],
    ['torch/mlp/model.npz', 'torch/mlp/target.json'],
    ['torch/mlp/model.safetensors', 'torch/mlp/target.json'],
    ['layers/keras/files/keras2_mha.h5', undefined],
    ['layers/keras/files/keras3_mha.keras', undefined],
    ['onnx-graph/mlp/model.onnx', undefined],
  ];
  const body = `
    for (const [src, target] of ${JSON.stringify(cases.map(([s, t]) => [path.join(FIXTURES, s), t && path.join(FIXTURES, t)]))}) {
      const m = await g.convertInMemory({ source: file(src), target: target ? file(target) : undefined });
      const model = await g.tf.loadLayersModel(g.tf.io.fromMemory({ modelTopology: m.modelJson.modelTopology, weightSpecs: m.weightSpecs, weightData: m.weightData }));
      out.push({ backend: g.tf.getBackend(), outputs: model.outputs.length, files: m.files.map((f) => [f.name, RealBuffer.from(f.data).toString('base64')]) });
    }
    try { await g.inspectInMemory(file(${JSON.stringify(path.join(FIXTURES, 'hostile/pt/evil_reduce_os_system.pt'))})); out.push('no error'); } catch (e) { out.push(g.formatError(e)); }
  `;
  const results = JSON.parse(inBrowserLikeNode(bundle(), body)) as unknown[];
  for (const [i, [src, target]] of cases.entries()) {
    const out = path.join(tempDir('graft-web-cmp-'), 'out');
    const report = await convert({ source: path.join(FIXTURES, src), target: target && path.join(FIXTURES, target), out });
    const r = results[i] as { backend: string; outputs: number; files: [string, string][] };
    assert.equal(r.backend, 'cpu');
    assert.ok(r.outputs >= 1, `${src}: the converted model did not load in the bundle's tfjs`);
    assert.deepEqual(r.files.map(([n]) => n), report.files);
    for (const [name, b64] of r.files) assert.ok(Buffer.from(b64, 'base64').equals(fs.readFileSync(path.join(out, name))), `${src}: ${name} differs from convert()'s`);
  }
  const cli = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli', 'main.js'), 'inspect', 'evil_reduce_os_system.pt'], { cwd: path.join(FIXTURES, 'hostile', 'pt'), encoding: 'utf8' });
  assert.notEqual(cli.status, 0);
  assert.equal(results[cases.length], cli.stderr.trim());
});

test('the browser entry type-checks (src/web/tsconfig.json: tsc does not emit src/web, esbuild bundles it)', () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'src', 'web', 'tsconfig.json')], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
