/**
 * The converter page in real headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core): files are chosen in the page, converted there, and downloaded; the downloads
 * must be byte-identical to what `convert()` writes in Node for the same inputs, and the models
 * must reproduce the source framework's outputs (PyTorch, a NumPy forward pass of the Keras file)
 * within 1e-5. Also: the CLI's error line for hostile files, no request off the page's origin, and
 * the tab's memory while a 100 MB safetensors file converts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import '../src/layers';
import { initBackend } from '../src/backend';
import { convert } from '../src/convert';
import { openWeights } from '../src/formats';
import { parseMappingTable } from '../src/mapping/table';
import { loadLayersModelFromDir } from '../src/output/load';
import { startWebServer, type RunningWebServer } from '../src/cli/web-server';
import { safetensorsPrefix } from './helpers/hostile-build';
import { maxAbsDiff, predictArray, readNpy, tempDir, type LoadedArray } from './helpers/models';
import type { Browser, BrowserContext, Page } from 'playwright-core';

const ROOT = path.join(__dirname, '..');
const FIX = path.join(ROOT, 'fixtures');
const WEB = path.join(ROOT, 'dist', 'web');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

/** CHROMIUM_PATH when set (and then only it), else Debian's chromium. */
function findChromium(): string | undefined {
  if (process.env.CHROMIUM_PATH) return fs.existsSync(process.env.CHROMIUM_PATH) ? process.env.CHROMIUM_PATH : undefined;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (fs.existsSync(p)) return p;
  }
  const r = spawnSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

const CHROMIUM = findChromium();
const SKIP = CHROMIUM ? false : `no chromium${process.env.CHROMIUM_PATH ? ` at CHROMIUM_PATH=${process.env.CHROMIUM_PATH}` : ' on this machine'} (apt-get install chromium; .ci/run does)`;

let browser: Browser;
let context: BrowserContext;
let server: RunningWebServer;
/** Every URL any page or worker of the context asked for. */
const requests: string[] = [];

before(async () => {
  if (SKIP) return;
  assert.ok(fs.existsSync(path.join(WEB, 'graft.js')) && fs.existsSync(path.join(WEB, 'index.html')), 'dist/web is not built: npm run build (npm test does)');
  await initBackend();
  server = await startWebServer({ root: WEB, port: 0 });
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  context = await browser.newContext({ acceptDownloads: true });
  context.on('request', (r) => requests.push(r.url()));
  // CSP violations would mean the page tried something its policy forbids: recorded, asserted none.
  await context.addInitScript(() => {
    (window as unknown as { cspViolations: string[] }).cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => (window as unknown as { cspViolations: string[] }).cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
});

after(async () => {
  await context?.close();
  await browser?.close();
  await server?.close();
});

/** Closes a page after checking it broke none of its Content-Security-Policy. */
async function closePage(page: Page): Promise<void> {
  assert.deepEqual(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations), [], 'CSP violations');
  await page.close();
}

async function openPage(): Promise<Page> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(server.url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 }).catch((e: Error) => {
    throw new Error(`the page did not start: ${errors.join('; ') || e.message}`);
  });
  return page;
}

/** Chooses the files (weight file first, then companions) and waits for inspect or an error. */
async function choose(page: Page, files: string[], target?: string, map?: string): Promise<void> {
  if (target) await page.setInputFiles('#target-input', target);
  if (map) await page.setInputFiles('#map-input', map);
  await page.setInputFiles('#source-input', files);
  await page.waitForFunction(() => !document.getElementById('inspect-section')!.hidden || !document.getElementById('error')!.hidden, undefined, { timeout: 30_000 });
}

async function errorShown(page: Page): Promise<string | undefined> {
  return page.evaluate(() => {
    const el = document.getElementById('error')!;
    return el.hidden ? undefined : el.textContent ?? '';
  });
}

async function convertInPage(page: Page): Promise<void> {
  await page.click('#convert');
  await page.waitForFunction(() => !document.getElementById('download-section')!.hidden || !document.getElementById('error')!.hidden, undefined, { timeout: 60_000 });
  const error = await errorShown(page);
  assert.equal(error, undefined, `the page showed an error: ${error}`);
}

/** "Download all": one click, every file downloaded in turn. */
async function downloadWithButton(page: Page): Promise<string> {
  const dir = tempDir('graft-web-dl-');
  const names = await page.$$eval('#downloads a[data-file]', (as) => as.map((a) => (a as HTMLElement).dataset.file ?? ''));
  const got: string[] = [];
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Download all gave ${got.join(', ')} of ${names.join(', ')}`)), 60_000);
    page.on('download', (d) => {
      void d.saveAs(path.join(dir, d.suggestedFilename())).then(() => {
        got.push(d.suggestedFilename());
        if (got.length === names.length) {
          clearTimeout(timer);
          resolve();
        }
      }, reject);
    });
  });
  await page.click('#download-all');
  await done;
  assert.deepEqual(got.sort(), [...names].sort());
  return dir;
}

/** Clicks every download link and saves what the browser downloads into a fresh folder. */
async function downloadAll(page: Page): Promise<string> {
  const dir = tempDir('graft-web-dl-');
  const links = await page.$$('#downloads a[data-file]');
  assert.ok(links.length >= 2, 'model.json and at least one shard');
  for (const [i, link] of links.entries()) {
    const name = await link.getAttribute('data-file');
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 60_000 }).catch((e: Error) => {
        throw new Error(`no download of ${name} (link ${i + 1} of ${links.length}): ${e.message.split('\n')[0]}`);
      }),
      link.click(),
    ]);
    assert.equal(download.suggestedFilename(), name);
    await download.saveAs(path.join(dir, download.suggestedFilename()));
  }
  return dir;
}

/** Asserts the two folders hold the same files with the same bytes. */
function assertSameFiles(browserDir: string, nodeDir: string): void {
  const names = fs.readdirSync(nodeDir).sort();
  assert.deepEqual(fs.readdirSync(browserDir).sort(), names);
  for (const name of names) {
    assert.ok(fs.readFileSync(path.join(browserDir, name)).equals(fs.readFileSync(path.join(nodeDir, name))), `${name} differs from the Node output`);
  }
}

/** The inspect table as the page shows it, against the Node reader's list. */
async function assertInspectMatches(page: Page, file: string, expectTopology: boolean): Promise<void> {
  const rows = await page.$$eval('#inspect-table tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)));
  const reader = await openWeights(file);
  try {
    const want = reader.list().map((t) => [t.name, t.dtype, `[${t.shape.join(', ')}]`]);
    assert.deepEqual(rows.map((r) => r.slice(0, 3)), want);
    const summary = await page.textContent('#inspect-summary');
    assert.ok(summary?.includes(reader.format), `${summary} names the format ${reader.format}`);
    assert.match(summary ?? '', expectTopology ? /no target model\.json needed/ : /no model topology/);
  } finally {
    await reader.close();
  }
}

/** The page's report table: target, source, transform for each assignment. */
async function assignedRows(page: Page): Promise<string[][]> {
  return page.$$eval('#assigned-table tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')));
}

async function predictionError(dir: string, x: LoadedArray, want: LoadedArray): Promise<number> {
  const model = await loadLayersModelFromDir(dir);
  try {
    const got = predictArray(model, x);
    assert.deepEqual(got.shape, want.shape);
    return maxAbsDiff(got.data, want.data);
  } finally {
    model.dispose();
  }
}

async function tryIt(page: Page): Promise<string> {
  await page.click('#try');
  await page.waitForFunction(() => /predicted in|graft:/.test(document.getElementById('try-output')!.textContent ?? ''), undefined, { timeout: 30_000 });
  return (await page.textContent('#try-output')) ?? '';
}

test('PyTorch .pt with a target model.json: converted in the page, byte-identical to Node, matches PyTorch', { skip: SKIP }, async () => {
  const dir = path.join(FIX, 'torch', 'mlp');
  const source = path.join(dir, 'model.pt');
  const target = path.join(dir, 'target.json');
  const page = await openPage();
  await choose(page, [source], target);
  await assertInspectMatches(page, source, false);
  await convertInPage(page);
  const got = await downloadAll(page);

  const nodeOut = path.join(tempDir(), 'model');
  const report = await convert({ source, target, out: nodeOut });
  assertSameFiles(got, nodeOut);
  assert.deepEqual(await assignedRows(page), report.assigned.map((a) => [a.target, a.source, a.transform]));
  assert.ok(report.assigned.some((a) => a.transform.includes('transpose')), 'Linear weights are transposed');

  const err = await predictionError(got, readNpy(path.join(dir, 'input.npy')), readNpy(path.join(dir, 'output.npy')));
  assert.ok(err <= 1e-5, `max |tfjs - PyTorch| = ${err}`);
  assert.match(await tryIt(page), /output 0: shape \[1, 5\], values (-?\d\.\d+(e[-+]\d+)?, ){4}-?\d\.\d+/);
  await closePage(page);
});

test('quantize float16 and a bad shard size from the page\'s options: the same bytes as convert(), the CLI\'s kind of error line', { skip: SKIP }, async () => {
  const dir = path.join(FIX, 'torch', 'mlp');
  const source = path.join(dir, 'model.safetensors');
  const target = path.join(dir, 'target.json');
  const page = await openPage();
  await choose(page, [source], target);
  await page.fill('#shard-mib', '0.5');
  await page.click('#convert');
  await page.waitForFunction(() => !document.getElementById('error')!.hidden);
  assert.equal(await errorShown(page), 'graft: --shard-size must be a whole number of MiB from 1 to 1024, not "0.5"');
  await page.fill('#shard-mib', '1');
  await page.selectOption('#quantize', 'float16');
  await convertInPage(page);
  assert.match((await page.textContent('#report-summary')) ?? '', /float16 quantization saved/);
  const got = await downloadAll(page);
  const nodeOut = path.join(tempDir(), 'model');
  await convert({ source, target, out: nodeOut, quantize: 'float16', shardBytes: 1024 * 1024 });
  assertSameFiles(got, nodeOut);
  const manifest = JSON.parse(fs.readFileSync(path.join(got, 'model.json'), 'utf8')).weightsManifest[0].weights as { dtype: string; quantization?: { dtype: string } }[];
  assert.ok(manifest.every((w) => w.quantization?.dtype === 'float16'), 'every weight stored as float16');
  await closePage(page);
});

test('Keras .h5 without a target: the page builds the model from the file, same bytes as Node, matches NumPy', { skip: SKIP }, async () => {
  const dir = path.join(FIX, 'layers', 'keras', 'files');
  const source = path.join(dir, 'keras2_self_attention_groupnorm.h5');
  const expected = JSON.parse(fs.readFileSync(path.join(dir, 'keras2_self_attention_groupnorm.expected.json'), 'utf8')) as { inputs: { shape: number[]; values: number[] }[]; output: { shape: number[]; values: number[] } };
  // graft reads this file itself: h5wasm's chunk (the one large chunk) is not fetched for it.
  const h5wasmChunk = fs.readdirSync(WEB).find((f) => /^graft-chunk-.*\.js$/.test(f) && fs.statSync(path.join(WEB, f)).size > 1 << 20);
  assert.ok(h5wasmChunk);
  const requestsBefore = requests.length;
  const page = await openPage();
  await choose(page, [source]);
  await assertInspectMatches(page, source, true);
  await convertInPage(page);
  const got = await downloadAll(page);

  const nodeOut = path.join(tempDir(), 'model');
  await convert({ source, out: nodeOut });
  assertSameFiles(got, nodeOut);

  const x = { shape: expected.inputs[0].shape, data: Float32Array.from(expected.inputs[0].values) };
  const err = await predictionError(got, x, { shape: expected.output.shape, data: Float32Array.from(expected.output.values) });
  assert.ok(err <= 1e-5, `max |tfjs - NumPy| = ${err}`);
  assert.match(await tryIt(page), /output 0: shape \[1, \d+, \d+\]/);
  await closePage(page);
  assert.ok(!requests.slice(requestsBefore).some((u) => u.endsWith(`/${h5wasmChunk}`)), 'h5wasm was loaded for a file graft reads natively');
});

test('ONNX graph without a target: built in the page, downloaded with Download all, same bytes as Node, matches PyTorch', { skip: SKIP }, async () => {
  const dir = path.join(FIX, 'onnx-graph', 'mlp');
  const source = path.join(dir, 'model.onnx');
  const page = await openPage();
  await choose(page, [source]);
  await assertInspectMatches(page, source, true);
  await convertInPage(page);
  const got = await downloadWithButton(page);

  const nodeOut = path.join(tempDir(), 'model');
  await convert({ source, out: nodeOut });
  assertSameFiles(got, nodeOut);
  const err = await predictionError(got, readNpy(path.join(dir, 'input.npy')), readNpy(path.join(dir, 'output.npy')));
  assert.ok(err <= 1e-5, `max |tfjs - PyTorch| = ${err}`);
  await closePage(page);
});

test('TF checkpoint chosen as three files, with a target and a YAML mapping table: the page picks the .index, same bytes as Node, matches PyTorch', { skip: SKIP }, async () => {
  const dir = path.join(FIX, 'tf-ckpt', 'saver');
  const seed = path.join(FIX, 'torch', 'seed_mlp');
  const map = path.join(tempDir(), 'scopes.yaml');
  fs.writeFileSync(map, 'scopes:\n  outputs/: output/\n');
  const page = await openPage();
  // Chosen together, in an order that does not put the weight file first.
  await choose(page, ['model.ckpt.data-00000-of-00001', 'checkpoint', 'model.ckpt.index'].map((f) => path.join(dir, f)), path.join(seed, 'target.json'), map);
  assert.match((await page.textContent('#source-select option:checked')) ?? '', /^model\.ckpt\.index /);
  assert.match((await page.textContent('#companions')) ?? '', /2 companion file\(s\): model\.ckpt\.data-00000-of-00001, checkpoint/);
  await convertInPage(page);
  const got = await downloadAll(page);

  const nodeOut = path.join(tempDir(), 'model');
  // The CLI given the same file names writes the same bytes (model.json names its source file).
  const report = await convert({ source: path.join(dir, 'model.ckpt.index'), target: path.join(seed, 'target.json'), map: parseMappingTable(fs.readFileSync(map, 'utf8')), out: nodeOut });
  assertSameFiles(got, nodeOut);
  assert.deepEqual(await assignedRows(page), report.assigned.map((a) => [a.target, a.source, a.transform]));
  assert.ok((await assignedRows(page)).some(([target, source]) => target === 'output/kernel' && source === 'outputs/weights'), 'the table remapped outputs/ onto output/');
  const err = await predictionError(got, readNpy(path.join(seed, 'input.npy')), readNpy(path.join(seed, 'output.npy')));
  assert.ok(err <= 1e-5, `max |tfjs - PyTorch| = ${err}`);
  await closePage(page);
});

test('files dropped on the drop zone are chosen as if picked: the weight file among them is inspected', { skip: SKIP }, async () => {
  const dir = path.join(FIX, 'torch', 'mlp');
  const files = ['target.json', 'model.safetensors'].map((name) => ({ name, bytes: [...fs.readFileSync(path.join(dir, name))] }));
  const page = await openPage();
  // A real drop carries a DataTransfer of Files; the page cannot tell this one from the OS's.
  await page.evaluate((list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([new Uint8Array(f.bytes)], f.name));
    const zone = document.getElementById('drop')!;
    zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, files);
  await page.waitForFunction(() => !document.getElementById('inspect-section')!.hidden || !document.getElementById('error')!.hidden, undefined, { timeout: 30_000 });
  assert.equal(await errorShown(page), undefined);
  assert.match((await page.textContent('#source-select option:checked')) ?? '', /^model\.safetensors /);
  await assertInspectMatches(page, path.join(dir, 'model.safetensors'), false);
  await closePage(page);
});

test('hostile files: the page shows the CLI\'s one-line error and offers nothing to download', { skip: SKIP }, async () => {
  const cases = [
    { file: path.join(FIX, 'hostile', 'pt', 'evil_reduce_os_system.pt'), target: path.join(FIX, 'torch', 'mlp', 'target.json'), pattern: /refused pickle global 'os\.system'/ },
    { file: path.join(FIX, 'hostile', 'safetensors', 'header_2e60.safetensors'), pattern: /header claims \d+ bytes/ },
    { file: path.join(FIX, 'hostile', 'h5', 'huge_dataspace.h5'), pattern: /claims 4000000000000 bytes, more than a \d+-byte file can hold/ },
    { file: path.join(FIX, 'hostile', 'onnx', 'huge_dims_raw.onnx'), pattern: /raw_data holds 4 bytes where dims \[1000000, 1000000\]/ },
  ];
  for (const c of cases) {
    // The CLI run from the file's folder names the file as the page does: by its name alone.
    const cli = spawnSync(process.execPath, [CLI, 'inspect', path.basename(c.file)], { cwd: path.dirname(c.file), encoding: 'utf8' });
    assert.equal(cli.status, 1);
    const cliLine = cli.stderr.trim();
    assert.match(cliLine, c.pattern);
    const page = await openPage();
    await choose(page, [c.file], c.target);
    assert.equal(await errorShown(page), cliLine, path.basename(c.file));
    // Converting anyway fails with the same line, and no download appears.
    await page.click('#convert');
    await page.waitForFunction(() => !document.getElementById('error')!.hidden, undefined, { timeout: 30_000 });
    assert.equal(await errorShown(page), cliLine);
    assert.equal(await page.$$eval('#downloads a', (a) => a.length), 0);
    assert.equal(await page.isHidden('#download-section'), true);
    await closePage(page);
  }
});

/** xorshift32 floats in [-0.5, 0.5): cheap, reproducible, not constant. */
function fillRandom(a: Float32Array, seed: number): void {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    a[i] = s / 4294967296 - 0.5;
  }
}

/** A torch-named safetensors file of `layers` Linear(n, n) layers, and the matching tfjs target. */
function writeBigSafetensors(dir: string, layers: number, n: number): { file: string; target: string; bytes: number } {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (let l = 0; l < layers; l++) {
    header[`fc${l}.weight`] = { dtype: 'F32', shape: [n, n], data_offsets: [offset, offset + n * n * 4] };
    offset += n * n * 4;
    header[`fc${l}.bias`] = { dtype: 'F32', shape: [n], data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  const file = path.join(dir, 'big.safetensors');
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, safetensorsPrefix(header));
  const weight = new Float32Array(n * n);
  const bias = new Float32Array(n);
  for (let l = 0; l < layers; l++) {
    fillRandom(weight, 1000 + l);
    fillRandom(bias, 2000 + l);
    fs.writeSync(fd, new Uint8Array(weight.buffer));
    fs.writeSync(fd, new Uint8Array(bias.buffer));
  }
  fs.closeSync(fd);
  const target = path.join(dir, 'target.json');
  fs.writeFileSync(target, JSON.stringify({
    format: 'layers-model',
    modelTopology: {
      class_name: 'Sequential',
      config: {
        name: 'big',
        layers: Array.from({ length: layers }, (_, l) => ({
          class_name: 'Dense',
          config: { name: `fc${l}`, trainable: true, dtype: 'float32', units: n, activation: 'linear', use_bias: true, ...(l === 0 ? { batch_input_shape: [null, n] } : {}) },
        })),
      },
      keras_version: 'tfjs-layers 4.22.0',
      backend: 'tensor_flow.js',
    },
  }));
  return { file, target, bytes: fs.statSync(file).size };
}

function vm(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

test('a 100 MB safetensors file converts in the page within ~3x its size of tab memory', { skip: SKIP || (!fs.existsSync('/proc/self/status') && 'needs /proc to read the tab\'s memory') }, async () => {
  const dir = tempDir('graft-web-big-');
  // 6 Linear(2048, 2048): 6 × (16 MiB + 8 KiB) ≈ 100.7 MB.
  const big = writeBigSafetensors(dir, 6, 2048);
  assert.ok(big.bytes > 100e6);
  const page = await openPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const browserCdp = await browser.newBrowserCDPSession();
  const renderers = async () => ((await browserCdp.send('SystemInfo.getProcessInfo')) as { processInfo: { type: string; id: number }[] }).processInfo.filter((p) => p.type === 'renderer').map((p) => p.id);
  const before = new Map((await renderers()).map((pid) => [pid, vm(pid, 'VmRSS')]));

  let heapPeak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const m = (await cdp.send('Performance.getMetrics')).metrics.find((x) => x.name === 'JSHeapUsedSize');
      heapPeak = Math.max(heapPeak, m?.value ?? 0);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const started = Date.now();
  await choose(page, [big.file], big.target);
  await page.fill('#shard-mib', '32');
  // The progress bar moves while the worker converts: every value it takes is recorded.
  await page.evaluate(() => {
    const bar = document.getElementById('progress') as HTMLProgressElement;
    const seen: number[] = ((window as unknown as { progressSeen: number[] }).progressSeen = []);
    new MutationObserver(() => seen.push(bar.value)).observe(bar, { attributes: true, attributeFilter: ['value'] });
  });
  await convertInPage(page);
  const seconds = (Date.now() - started) / 1000;
  sampling = false;
  await sampler;

  // The tab's renderer is the one that grew: peak resident memory (VmHWM) against its size before.
  const grown = [...before].map(([pid, rss]) => ({ pid, rss, hwm: vm(pid, 'VmHWM') })).sort((a, b) => (b.hwm - b.rss) - (a.hwm - a.rss))[0];
  const peakGrowth = grown.hwm - grown.rss;
  const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
  console.log(`# 100 MB page conversion: file ${mb(big.bytes)}, ${seconds.toFixed(1)} s; tab renderer RSS before ${mb(grown.rss)}, peak ${mb(grown.hwm)} (+${mb(peakGrowth)}, ${(peakGrowth / big.bytes).toFixed(2)}x the file); JS heap peak ${mb(heapPeak)}`);
  assert.ok(peakGrowth < 3 * big.bytes, `the tab grew by ${mb(peakGrowth)} for a ${mb(big.bytes)} file`);
  const progress = await page.evaluate(() => (window as unknown as { progressSeen: number[] }).progressSeen);
  assert.ok(progress.filter((v) => v > 0 && v < 1).length >= 3, `the bar showed progress on the way: ${progress.join(', ')}`);
  assert.equal(progress.at(-1), 1);

  // What the page made is what Node writes, byte for byte (downloaded after the measurement).
  const nodeOut = path.join(dir, 'node');
  await convert({ source: big.file, target: big.target, out: nodeOut, shardBytes: 32 * 1024 * 1024 });
  assert.equal(fs.readdirSync(nodeOut).length, 5, 'model.json and four 32 MiB shards');
  assertSameFiles(await downloadAll(page), nodeOut);
  await cdp.detach();
  await browserCdp.detach();
  await closePage(page);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('no request left the page\'s origin (this run\'s every request, and one more conversion of each kind of chunk)', { skip: SKIP }, async () => {
  const page = await openPage();
  await choose(page, [path.join(FIX, 'layers', 'keras', 'files', 'keras2_self_attention_groupnorm.h5')]);
  await convertInPage(page);
  await tryIt(page);
  await closePage(page);
  const origin = new URL(server.url).origin;
  for (const file of ['index.html', 'page.js', 'worker.js', 'graft.js']) assert.ok(requests.some((u) => new URL(u).pathname === `/${file === 'index.html' ? '' : file}`), `${file} was requested`);
  assert.ok(requests.some((u) => /\/graft-chunk-[^/]+\.js$/.test(u)), 'the HDF5 chunk was requested');
  const foreign = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('blob:') && !u.startsWith('data:'));
  assert.deepEqual(foreign, []);
});
