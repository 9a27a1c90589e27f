/**
 * Proves that every fixtures/torch/<case>/target.json computes the same function as the PyTorch
 * model that wrote output.npy: loads the topology, sets the weights from the Python-computed
 * reference_tfjs_weights.json, predicts on input.npy and compares.
 *
 *   npx tsx scripts/check_targets.ts [case ...]
 *
 * Cases with needsLayers: true are tried too (after registering src/layers if it exists) and
 * reported as SKIP when tfjs cannot build them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'torch');

interface CaseInfo {
  inputPerm: number[] | null;
  outputPerm: number[] | null;
  inputDtype: 'float32' | 'int32';
  tolerance: number;
  needsLayers: boolean;
}

interface Npy {
  dtype: string;
  shape: number[];
  data: Float32Array | Int32Array;
}

/** Minimal .npy reader: versions 1-3, little-endian f4/f8/i4/i8, C order. */
function readNpy(file: string): Npy {
  const bytes = fs.readFileSync(file);
  if (bytes.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = bytes[6];
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = bytes.toString('latin1', headerStart, headerStart + headerLength);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new Error(`${file}: bad header ${header}`);
  if (fortran === 'True') throw new Error(`${file}: Fortran order is not supported`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = headerStart + headerLength;
  // Copy so the typed array is aligned regardless of the header length.
  const body = new Uint8Array(bytes.subarray(offset)).slice().buffer;
  const view = new DataView(body);
  switch (descr) {
    case '<f4':
      return { dtype: 'float32', shape, data: new Float32Array(body, 0, count) };
    case '<f8': {
      const data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat64(i * 8, true);
      return { dtype: 'float32', shape, data };
    }
    case '<i4':
      return { dtype: 'int32', shape, data: new Int32Array(body, 0, count) };
    case '<i8': {
      const data = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const value = view.getBigInt64(i * 8, true);
        if (value > 2147483647n || value < -2147483648n) throw new Error(`${file}: int64 value ${value} overflows int32`);
        data[i] = Number(value);
      }
      return { dtype: 'int32', shape, data };
    }
    default:
      throw new Error(`${file}: unsupported dtype ${descr}`);
  }
}

function toTensor(npy: Npy, dtype: 'float32' | 'int32', perm: number[] | null): tf.Tensor {
  const tensor = tf.tensor(npy.data, npy.shape, dtype);
  return perm ? tf.transpose(tensor, perm) : tensor;
}

async function tryRegisterCustomLayers(): Promise<string> {
  const candidates = [path.join(__dirname, '..', 'src', 'layers', 'index.ts')];
  for (const candidate of candidates) {
    if (!fs.existsSync(candidate)) continue;
    try {
      const mod = (await import(candidate)) as Record<string, unknown>;
      const register = mod.registerGraftLayers ?? mod.registerLayers ?? mod.register;
      if (typeof register === 'function') (register as () => void)();
      return `loaded ${path.relative(process.cwd(), candidate)}`;
    } catch (error) {
      return `failed to load ${candidate}: ${(error as Error).message}`;
    }
  }
  return 'no src/layers/index.ts';
}

type Result = 'PASS' | 'FAIL' | 'SKIP';

let customLayersLoaded = false;

function needsLayers(name: string): boolean {
  const info = JSON.parse(fs.readFileSync(path.join(FIXTURES, name, 'case.json'), 'utf8')) as CaseInfo;
  return info.needsLayers;
}

async function loadTopology(file: string): Promise<tf.LayersModel> {
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { modelTopology: tf.io.ModelJSON['modelTopology'] };
  return tf.models.modelFromJSON({ modelTopology: json.modelTopology } as tf.io.ModelJSON);
}

function describeWeights(model: tf.LayersModel): string {
  return model.weights.map((w) => `    ${w.originalName} [${w.shape.join(',')}]`).join('\n');
}

async function checkCase(name: string): Promise<{ result: Result; detail: string }> {
  const dir = path.join(FIXTURES, name);
  const info = JSON.parse(fs.readFileSync(path.join(dir, 'case.json'), 'utf8')) as CaseInfo;
  let model: tf.LayersModel;
  try {
    model = await loadTopology(path.join(dir, 'target.json'));
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    if (info.needsLayers) return { result: 'SKIP', detail: `needs custom layers: ${message}` };
    return { result: 'FAIL', detail: `modelFromJSON: ${message}` };
  }
  console.log(`  ${name} weights:\n${describeWeights(model)}`);

  for (const extra of fs.readdirSync(dir).filter((f) => /^target_.+\.json$/.test(f))) {
    const other = await loadTopology(path.join(dir, extra));
    console.log(`  ${name}/${extra} weights:\n${describeWeights(other)}`);
    other.dispose();
  }

  const reference = JSON.parse(fs.readFileSync(path.join(dir, 'reference_tfjs_weights.json'), 'utf8')) as Record<
    string,
    { shape: number[]; values: number[] }
  >;
  const used = new Set<string>();
  for (const layer of model.layers) {
    const weights = layer.weights;
    if (weights.length === 0) continue;
    const values = weights.map((w) => {
      // originalName may carry cell scopes (e.g. lstm/lstm_cell/kernel); the last part is the weight.
      const key = `${layer.name}/${w.originalName.split('/').pop()}`;
      const entry = reference[key];
      if (!entry) throw new Error(`reference has no ${key}`);
      if (entry.shape.join(',') !== w.shape.join(',')) {
        throw new Error(`${key}: reference shape [${entry.shape}] vs tfjs [${w.shape}]`);
      }
      used.add(key);
      return tf.tensor(entry.values, entry.shape, 'float32');
    });
    layer.setWeights(values);
    values.forEach((v) => v.dispose());
  }
  const unused = Object.keys(reference).filter((k) => !used.has(k));
  if (unused.length > 0) return { result: 'FAIL', detail: `reference weights not used: ${unused.join(', ')}` };

  const input = toTensor(readNpy(path.join(dir, 'input.npy')), info.inputDtype, info.inputPerm);
  const expected = toTensor(readNpy(path.join(dir, 'output.npy')), 'float32', info.outputPerm);
  const actual = model.predict(input) as tf.Tensor;
  if (actual.shape.join(',') !== expected.shape.join(',')) {
    return { result: 'FAIL', detail: `output shape [${actual.shape}] vs expected [${expected.shape}]` };
  }
  const maxError = (await tf.max(tf.abs(tf.sub(actual, expected))).data())[0];
  const scale = (await tf.max(tf.abs(expected)).data())[0];
  tf.dispose([input, expected, actual]);
  model.dispose();
  const pass = maxError <= info.tolerance;
  return {
    result: pass ? 'PASS' : 'FAIL',
    detail: `max |diff| ${maxError.toExponential(2)} (tolerance ${info.tolerance}, max |output| ${scale.toFixed(3)})`,
  };
}

async function main(): Promise<void> {
  const backend = await initBackend();
  const layersStatus = await tryRegisterCustomLayers();
  customLayersLoaded = layersStatus.startsWith('loaded');
  console.log(`backend: ${backend}; custom layers: ${layersStatus}`);
  const requested = process.argv.slice(2);
  const cases = (requested.length > 0 ? requested : fs.readdirSync(FIXTURES))
    .filter((c) => fs.existsSync(path.join(FIXTURES, c, 'case.json')))
    .sort();
  const summary: string[] = [];
  let failures = 0;
  for (const name of cases) {
    let outcome: { result: Result; detail: string };
    try {
      outcome = await checkCase(name);
    } catch (error) {
      outcome = { result: 'FAIL', detail: (error as Error).message };
    }
    // Stock tfjs builds some of these silently wrong (it ignores Keras' `groups`), so without
    // graft's layers a failure only means the layer is missing.
    if (outcome.result === 'FAIL' && needsLayers(name) && !customLayersLoaded) {
      outcome = { result: 'SKIP', detail: `needs custom layers: ${outcome.detail}` };
    }
    if (outcome.result === 'FAIL') failures++;
    summary.push(`${outcome.result.padEnd(4)} ${name.padEnd(16)} ${outcome.detail}`);
  }
  console.log('\n' + summary.join('\n'));
  process.exitCode = failures > 0 ? 1 : 0;
}

void main();
