// The converter page: wires the form to the graft bundle (graft.js, built from src/web/entry.ts).
// Everything runs in this tab: graft reads and converts in a worker (worker.js) so the page stays
// responsive; the page fetches nothing but its own files.

/** One worker for the page's life; calls are matched to answers by id. */
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const calls = new Map();
let nextId = 1;
/** @type {Promise<{ version?: string }>} */
const workerReady = new Promise((resolve, reject) => {
  worker.addEventListener('message', (ev) => {
    const m = ev.data;
    if (m.ready) { resolve(m); return; }
    const call = calls.get(m.id);
    if (!call) return;
    if (m.progress) { call.onProgress?.(m.progress); return; }
    calls.delete(m.id);
    if (m.error !== undefined) call.reject(new PageError(m.error));
    else call.resolve(m.result);
  });
  // A worker that dies (out of memory, a failed import) fails whatever it was doing, not silently.
  worker.addEventListener('error', (ev) => {
    const e = new PageError(`graft: internal error: the converter stopped (${ev.message || 'worker error'})`);
    reject(e);
    for (const call of calls.values()) call.reject(e);
    calls.clear();
  });
});

/** An error whose message is already the CLI's one line. */
class PageError extends Error {}

async function callWorker(op, args, onProgress) {
  await workerReady;
  return new Promise((resolve, reject) => {
    const id = nextId++;
    calls.set(id, { resolve, reject, onProgress });
    worker.postMessage({ id, op, args });
  });
}

/** The bundle in the page itself: only "try it" needs it (tfjs, with graft's layers registered). */
let graftModule;
function loadGraft() {
  graftModule ??= import('./graft.js');
  return graftModule;
}

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** Shown when an inspect table or list would be too long to be useful. */
const MAX_ROWS = 500;

/** Which of several chosen files is the weight file: the first kind found, the rest are companions. */
const SOURCE_PRIORITY = [
  /\.onnx$/i, /\.(h5|hdf5|keras)$/i, /\.(pt|pth|ckpt|tar)$/i, /\.npz$/i, /\.npy$/i,
  /\.safetensors\.index\.json$/i, /\.safetensors$/i, /\.index$/i, /\.json$/i, /\.bin$/i,
];

const state = {
  /** @type {File[]} */ files: [],
  /** @type {File | undefined} */ source: undefined,
  /** @type {any} */ result: undefined,
  /** Bumped on each new choice so a slow inspect of an old file does not overwrite a newer one. */
  generation: 0,
  busy: false,
  /** Blob URLs handed to downloads of the current result. */
  /** @type {string[]} */ urls: [],
};

function bytesText(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

function shapeText(shape) {
  return `[${(shape ?? []).join(', ')}]`;
}

/** The CLI's one-line error text for anything thrown. */
function errorText(e) {
  if (e instanceof PageError) return e.message;
  return `graft: internal error: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
}

function showError(e) {
  const el = $('error');
  el.textContent = typeof e === 'string' ? e : errorText(e);
  el.hidden = false;
  el.scrollIntoView({ block: 'nearest' });
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

function setStatus(text) {
  $('status').textContent = text;
}

function fillList(id, items) {
  const ul = $(`${id}-list`);
  ul.replaceChildren(...items.slice(0, MAX_ROWS).map((t) => li(t)));
  if (items.length > MAX_ROWS) ul.append(li(`… ${items.length - MAX_ROWS} more`));
  $(`${id}-count`).textContent = `(${items.length})`;
  /** @type {HTMLDetailsElement} */ ($(`${id}-details`)).hidden = items.length === 0;
}

function li(text) {
  const el = document.createElement('li');
  el.textContent = text;
  return el;
}

function row(cells, numeric = []) {
  const tr = document.createElement('tr');
  cells.forEach((c, i) => {
    const td = document.createElement('td');
    td.textContent = c;
    if (numeric.includes(i)) td.className = 'num';
    tr.append(td);
  });
  return tr;
}

function patterns(id) {
  return /** @type {HTMLTextAreaElement} */ ($(id)).value.split('\n').map((s) => s.trim()).filter(Boolean);
}

function pickSource(files) {
  for (const re of SOURCE_PRIORITY) {
    const f = files.find((x) => re.test(x.name));
    if (f) return f;
  }
  return files[0];
}

function companions() {
  return state.files.filter((f) => f !== state.source);
}

function resetOutput() {
  state.result = undefined;
  for (const url of state.urls.splice(0)) URL.revokeObjectURL(url);
  for (const id of ['report-section', 'download-section', 'try-section']) $(id).hidden = true;
  $('try-output').textContent = '';
  $('downloads').replaceChildren();
  clearError();
  setStatus('');
}

function chooseFiles(list) {
  const files = Array.from(list ?? []);
  if (!files.length) return;
  state.files = files;
  state.source = pickSource(files);
  const select = /** @type {HTMLSelectElement} */ ($('source-select'));
  select.replaceChildren(...files.map((f, i) => {
    const o = document.createElement('option');
    o.value = String(i);
    o.textContent = `${f.name} (${bytesText(f.size)})`;
    o.selected = f === state.source;
    return o;
  }));
  $('source-row').hidden = false;
  sourceChanged();
}

function sourceChanged() {
  const others = companions();
  $('companions').textContent = others.length ? `with ${others.length} companion file(s): ${others.map((f) => f.name).join(', ')}` : '';
  resetOutput();
  /** @type {HTMLButtonElement} */ ($('convert')).disabled = !state.source;
  void inspect();
}

async function inspect() {
  const generation = ++state.generation;
  const source = state.source;
  if (!source) return;
  $('inspect-section').hidden = true;
  setStatus(`reading ${source.name}…`);
  try {
    const key = /** @type {HTMLInputElement} */ ($('key')).value.trim();
    const info = await callWorker('inspect', { source, companions: companions(), key: key || undefined });
    if (generation !== state.generation) return;
    const tensors = info.tensors ?? [];
    const total = tensors.reduce((s, t) => s + (t.bytes ?? t.byteSize ?? 0), 0);
    const ops = info.ops ?? [];
    const refused = ops.filter((o) => !o.buildable);
    const buildable = info.hasTopology ? 'with model topology: no target model.json needed'
      : ops.length && !refused.length ? 'a graph graft can build a model from: no target model.json needed'
        : fileOrUndefined('target-input') ? 'no model topology: the target model.json gives the model' : 'no model topology: choose a target model.json';
    $('inspect-summary').textContent =
      `${source.name}: ${info.format}${info.convention ? ` (${info.convention} names)` : ''}, ${tensors.length} tensors, ${bytesText(total)}, ${buildable}`;
    const body = /** @type {HTMLTableElement} */ ($('inspect-table')).tBodies[0];
    body.replaceChildren(...tensors.slice(0, MAX_ROWS).map((t) => row([t.name, t.dtype, shapeText(t.shape), bytesText(t.bytes ?? t.byteSize ?? 0)], [3])));
    $('inspect-more').textContent = tensors.length > MAX_ROWS ? `… and ${tensors.length - MAX_ROWS} more tensors` : '';
    $('inspect-ops').textContent = !ops.length ? '' : `graph ops: ${ops.map((o) => `${o.op} ×${o.count}`).join(', ')}; ` +
      (refused.length ? `graft cannot build ${refused.map((o) => o.op).join(', ')}: choose a target model.json` : 'graft can build a tfjs model from them');
    $('inspect-section').hidden = false;
    setStatus('');
  } catch (e) {
    if (generation !== state.generation) return;
    setStatus('');
    showError(e);
  }
}

function fileOrUndefined(id) {
  const input = /** @type {HTMLInputElement} */ ($(id));
  return input.files && input.files.length ? input.files[0] : undefined;
}

async function convert() {
  if (!state.source || state.busy) return;
  state.busy = true;
  const button = /** @type {HTMLButtonElement} */ ($('convert'));
  button.disabled = true;
  resetOutput();
  const progress = /** @type {HTMLProgressElement} */ ($('progress'));
  progress.value = 0;
  progress.hidden = false;
  setStatus('converting…');
  const started = performance.now();
  try {
    const key = /** @type {HTMLInputElement} */ ($('key')).value.trim();
    const shardText = /** @type {HTMLInputElement} */ ($('shard-mib')).value.trim();
    const shardMiB = Number(shardText);
    if (!/^\d+$/.test(shardText) || shardMiB < 1 || shardMiB > 1024) throw new PageError(`graft: --shard-size must be a whole number of MiB from 1 to 1024, not ${JSON.stringify(shardText)}`);
    const quantize = /** @type {HTMLSelectElement} */ ($('quantize')).value;
    const result = await callWorker('convert', {
      source: state.source,
      companions: companions(),
      target: fileOrUndefined('target-input'),
      map: fileOrUndefined('map-input'),
      include: patterns('include'),
      exclude: patterns('exclude'),
      freeze: patterns('freeze'),
      key: key || undefined,
      allowMissing: /** @type {HTMLInputElement} */ ($('allow-missing')).checked || undefined,
      strict: /** @type {HTMLInputElement} */ ($('strict')).checked || undefined,
      shardBytes: shardMiB * 1024 * 1024,
      quantize: quantize || undefined,
    }, (p) => {
      if (p.totalBytes > 0) progress.value = p.bytes / p.totalBytes;
      setStatus(`${p.weights}/${p.totalWeights} weights, ${bytesText(p.bytes)} of ${bytesText(p.totalBytes)}`);
    });
    state.result = result;
    progress.value = 1;
    const bytes = result.files.reduce((s, f) => s + f.data.byteLength, 0);
    setStatus(`done in ${((performance.now() - started) / 1000).toFixed(1)} s: ${result.files.length} file(s), ${bytesText(bytes)}`);
    showReport(result.report);
    showDownloads(result.files);
    $('try-section').hidden = false;
  } catch (e) {
    progress.hidden = true;
    setStatus('');
    showError(e);
  } finally {
    state.busy = false;
    button.disabled = !state.source;
  }
}

function showReport(r) {
  $('report-summary').textContent =
    `${r.assigned.length} weight(s) assigned from ${r.format}${r.convention ? ` (${r.convention} names)` : ''}` +
    `, ${r.missing.length} missing, ${(r.kept ?? []).length} kept, ${r.unused.length} unused, ${r.skipped.length} skipped, ${(r.ignored ?? []).length} ignored, ${(r.frozen ?? []).length} frozen` +
    (r.quantization ? `; ${r.quantization.dtype} quantization saved ${bytesText(r.quantization.bytesSaved)}, largest error ${r.quantization.maxError.toExponential(2)}` : '') +
    (r.needsLayers ? '. The model uses layers from tfjs-graft/layers: import them before tf.loadLayersModel.' : '.');
  $('report-warnings').replaceChildren(...(r.warnings ?? []).map((w) => li(`warning: ${w}`)));
  const body = /** @type {HTMLTableElement} */ ($('assigned-table')).tBodies[0];
  body.replaceChildren(...r.assigned.slice(0, MAX_ROWS).map((a) => row([a.target, a.source, a.transform + (a.note ? ` (${a.note})` : '')])));
  if (r.assigned.length > MAX_ROWS) body.append(row([`… ${r.assigned.length - MAX_ROWS} more`, '', '']));
  $('assigned-count').textContent = `(${r.assigned.length})`;
  fillList('missing', [...r.missing, ...(r.kept ?? []).map((k) => `${k} (keeps the target's own value)`)]);
  fillList('unused', r.unused);
  fillList('skipped', r.skipped);
  fillList('ignored', r.ignored ?? []);
  fillList('frozen', r.frozen ?? []);
  $('report-section').hidden = false;
}

function showDownloads(files) {
  const items = files.map((f) => {
    const a = document.createElement('a');
    a.href = '#';
    a.textContent = f.name;
    a.dataset.file = f.name;
    // The blob is made on click and released right after: no second copy of every shard sits in memory.
    a.addEventListener('click', (ev) => {
      ev.preventDefault();
      download(f);
    });
    const item = li('');
    item.append(a, ` ${bytesText(f.data.byteLength)}`);
    return item;
  });
  $('downloads').replaceChildren(...items);
  $('download-section').hidden = false;
}

function download(f) {
  const type = f.name.endsWith('.json') ? 'application/json' : 'application/octet-stream';
  const url = URL.createObjectURL(new Blob([f.data], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = f.name;
  document.body.append(a);
  a.click();
  a.remove();
  // Released with the result, not on a timer: a busy browser may start the download late.
  state.urls.push(url);
}

async function downloadAll() {
  if (!state.result) return;
  for (const f of state.result.files) {
    download(f);
    // Browsers drop downloads started in the same instant.
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A random input for one model input: floats in [-1, 1), zeros for integer inputs (token ids). */
function randomInput(tf, input) {
  const shape = input.shape.map((d, i) => (d == null ? (i === 0 ? 1 : 4) : d));
  if (input.dtype === 'int32') return tf.zeros(shape, 'int32');
  return tf.randomUniform(shape, -1, 1, 'float32');
}

async function tryIt() {
  const out = $('try-output');
  const r = state.result;
  if (!r) return;
  out.textContent = 'loading the model…';
  try {
    const { tf } = await loadGraft();
    const model = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: r.modelJson.modelTopology,
      weightSpecs: r.weightSpecs,
      weightData: r.weightData,
    }));
    const xs = model.inputs.map((i) => randomInput(tf, i));
    const started = performance.now();
    const ys = model.predict(xs.length === 1 ? xs[0] : xs);
    const outputs = Array.isArray(ys) ? ys : [ys];
    const lines = [`input ${xs.map((x) => `${shapeText(x.shape)} ${x.dtype}`).join(', ')}`];
    for (const [i, y] of outputs.entries()) {
      const values = Array.from(await y.data());
      const shown = values.slice(0, 8).map((v) => (Number.isInteger(v) ? String(v) : v.toPrecision(5)));
      lines.push(`output ${i}: shape ${shapeText(y.shape)}, values ${shown.join(', ')}${values.length > 8 ? `, … (${values.length})` : ''}`);
    }
    lines.push(`predicted in ${(performance.now() - started).toFixed(0)} ms`);
    out.textContent = lines.join('\n');
    tf.dispose([...xs, ...outputs]);
    model.dispose();
  } catch (e) {
    out.textContent = errorText(e);
  }
}

function init() {
  const drop = $('drop');
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    chooseFiles(ev.dataTransfer?.files);
  });
  // Dropping beside the zone must not make the browser open the file instead.
  window.addEventListener('dragover', (ev) => ev.preventDefault());
  window.addEventListener('drop', (ev) => ev.preventDefault());
  $('source-input').addEventListener('change', (ev) => chooseFiles(/** @type {HTMLInputElement} */ (ev.target).files));
  $('source-select').addEventListener('change', (ev) => {
    state.source = state.files[Number(/** @type {HTMLSelectElement} */ (ev.target).value)];
    sourceChanged();
  });
  for (const id of ['target-input', 'map-input']) $(id).addEventListener('change', () => resetOutput());
  // A nested PyTorch checkpoint lists its tensors only under the right key.
  $('key').addEventListener('change', () => { if (state.source) sourceChanged(); });
  $('convert').addEventListener('click', () => void convert());
  $('download-all').addEventListener('click', () => void downloadAll());
  $('try').addEventListener('click', () => void tryIt());
  workerReady.then((m) => {
    $('version').textContent = m.version ?? '';
    document.body.dataset.ready = 'true';
  }, (e) => showError(e));
}

init();
