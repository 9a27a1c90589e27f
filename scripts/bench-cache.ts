/**
 * Benchmark: epoch time of transfer learning with and without the frozen-output cache, timed
 * through `finetune()`, the function `graft finetune --cache / --no-cache` runs (model and data
 * read from disk, model written at the end). Synthetic data (10 random prototype inputs plus
 * noise), so it needs no downloads; accuracy only shows both paths learn alike.
 *
 *   npx tsx scripts/bench-cache.ts [--rounds R] [--quick] [--only a|b|b']
 *
 * Each case runs R rounds of (cache, no cache), alternating, and reports medians over all
 * epochs of all rounds; the speed-up is the ratio of the two medians from this one run.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { encodeNpy } from '../src/formats/numpy/npy';
import { finetune, FinetuneReport } from '../src/transfer/finetune';
import { saveLayersModel } from '../src/transfer/save';
import { seededRandom } from '../src/transfer/train';

const SAMPLES = 4096;
const BATCH = 64;
const CLASSES = 10;

interface Case {
  id: string;
  description: string;
  build: () => tf.LayersModel;
  freeze: string[];
  inputShape: number[];
  epochs: number;
  learningRate: number;
}

const seeded = (seed: number) => tf.initializers.glorotUniform({ seed });

/** The frozen convolutional base both conv cases share (same seeds, so the same weights). */
function convBase(): tf.layers.Layer[] {
  return [
    tf.layers.conv2d({ name: 'conv1', filters: 32, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1], kernelInitializer: seeded(11) }),
    tf.layers.conv2d({ name: 'conv2', filters: 64, kernelSize: 3, activation: 'relu', kernelInitializer: seeded(12) }),
  ];
}

const CASES: Case[] = [
  {
    id: '(a) MLP',
    description: '784-300-50-50-50-10, hidden1-hidden2 frozen; head 50-50-50-10',
    freeze: ['^hidden[12]$'],
    inputShape: [784],
    epochs: 8,
    learningRate: 1e-3,
    build: () =>
      tf.sequential({
        layers: [
          tf.layers.dense({ name: 'hidden1', units: 300, activation: 'relu', inputShape: [784], kernelInitializer: seeded(1) }),
          tf.layers.dense({ name: 'hidden2', units: 50, activation: 'relu', kernelInitializer: seeded(2) }),
          tf.layers.dense({ name: 'hidden3', units: 50, activation: 'relu', kernelInitializer: seeded(3) }),
          tf.layers.dense({ name: 'hidden4', units: 50, activation: 'relu', kernelInitializer: seeded(4) }),
          tf.layers.dense({ name: 'output', units: CLASSES, activation: 'softmax', kernelInitializer: seeded(5) }),
        ],
      }),
  },
  {
    id: '(b) conv, global pooling',
    description: 'conv3x3(32)-conv3x3(64) frozen on 28x28x1, GlobalAveragePooling2D; head dense 32-10',
    freeze: ['^conv[12]$'],
    inputShape: [28, 28, 1],
    epochs: 4,
    learningRate: 1e-2,
    build: () =>
      tf.sequential({
        layers: [
          ...convBase(),
          tf.layers.globalAveragePooling2d({ name: 'pool' }),
          tf.layers.dense({ name: 'dense1', units: 32, activation: 'relu', kernelInitializer: seeded(13) }),
          tf.layers.dense({ name: 'output', units: CLASSES, activation: 'softmax', kernelInitializer: seeded(14) }),
        ],
      }),
  },
  {
    id: "(b') conv, 2x2 max pooling",
    description: 'conv3x3(32)-conv3x3(64) frozen on 28x28x1, MaxPooling2D 2x2, Flatten (9216); head dense 10',
    freeze: ['^conv[12]$'],
    inputShape: [28, 28, 1],
    epochs: 4,
    learningRate: 1e-2,
    build: () =>
      tf.sequential({
        layers: [
          ...convBase(),
          tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }),
          tf.layers.flatten({ name: 'flatten' }),
          tf.layers.dense({ name: 'output', units: CLASSES, activation: 'softmax', kernelInitializer: seeded(15) }),
        ],
      }),
  },
];

/**
 * 10 random prototypes, class c scaled by (c + 1) / 10 so classes differ in overall intensity as
 * well as pattern (global pooling keeps the former); each sample is its prototype plus noise.
 */
function syntheticData(inputShape: number[], seed: number): { x: Float32Array; y: Int32Array } {
  const next = seededRandom(seed);
  const size = inputShape.reduce((a, b) => a * b, 1);
  const prototypes = Float32Array.from({ length: CLASSES * size }, (_, i) => next() * (Math.floor(i / size) + 1) / CLASSES);
  const x = new Float32Array(SAMPLES * size);
  const y = new Int32Array(SAMPLES);
  for (let i = 0; i < SAMPLES; i++) {
    const c = Math.floor(next() * CLASSES);
    y[i] = c;
    for (let j = 0; j < size; j++) x[i * size + j] = 0.5 * prototypes[c * size + j] + 0.5 * next();
  }
  return { x, y };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

interface Measured {
  epochs: number[];
  cacheSeconds: number[];
  accuracy: number;
  loss: number;
}

async function runCase(c: Case, rounds: number, epochs: number): Promise<{ cached: Measured; uncached: Measured }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graft-bench-'));
  try {
    const model = c.build();
    await saveLayersModel(model, path.join(dir, 'model'));
    model.dispose();
    const { x, y } = syntheticData(c.inputShape, 7);
    fs.writeFileSync(path.join(dir, 'x.npy'), encodeNpy({ dtype: 'float32', shape: [SAMPLES, ...c.inputShape], data: x }));
    fs.writeFileSync(path.join(dir, 'y.npy'), encodeNpy({ dtype: 'int32', shape: [SAMPLES], data: y }));
    const cached: Measured = { epochs: [], cacheSeconds: [], accuracy: NaN, loss: NaN };
    const uncached: Measured = { epochs: [], cacheSeconds: [], accuracy: NaN, loss: NaN };
    const run = (cache: boolean, n: number): Promise<FinetuneReport> =>
      finetune({
        model: path.join(dir, 'model'),
        data: path.join(dir, 'x.npy'),
        labels: path.join(dir, 'y.npy'),
        freeze: c.freeze,
        cache,
        epochs: n,
        batchSize: BATCH,
        learningRate: c.learningRate,
        out: path.join(dir, 'out'),
        force: true,
      });
    // Warm-up, not measured: the JIT and the backend's kernels start cold, which would count
    // against whichever path ran first.
    await run(true, 2);
    await run(false, 2);
    for (let round = 0; round < rounds; round++) {
      for (const cache of [true, false]) {
        const report = await run(cache, epochs);
        const m = cache ? cached : uncached;
        m.epochs.push(...report.history.map((h) => h.seconds));
        m.cacheSeconds.push(report.cacheSeconds);
        const last = report.history[report.history.length - 1];
        m.accuracy = last.accuracy;
        m.loss = last.loss;
        process.stderr.write(`  ${c.id} ${cache ? 'cache   ' : 'no cache'} round ${round + 1}: epochs ${report.history.map((h) => h.seconds.toFixed(3)).join(' ')} s\n`);
      }
    }
    return { cached, uncached };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const roundsAt = args.indexOf('--rounds');
  const rounds = roundsAt >= 0 ? Number(args[roundsAt + 1]) : quick ? 1 : 2;
  const onlyAt = args.indexOf('--only');
  const cases = onlyAt >= 0 ? CASES.filter((c) => c.id.startsWith(`(${args[onlyAt + 1]})`)) : CASES;
  const backend = await initBackend();
  const cpu = os.cpus();
  const rows: string[][] = [];
  for (const c of cases) {
    const epochs = quick ? 2 : c.epochs;
    const { cached, uncached } = await runCase(c, rounds, epochs);
    const withCache = median(cached.epochs);
    const without = median(uncached.epochs);
    const fill = median(cached.cacheSeconds);
    rows.push([
      c.id,
      withCache.toFixed(3),
      without.toFixed(3),
      `${(without / withCache).toFixed(1)}×`,
      fill.toFixed(2),
      `${((without * epochs) / (withCache * epochs + fill)).toFixed(1)}×`,
      `${cached.accuracy.toFixed(3)} / ${uncached.accuracy.toFixed(3)}`,
    ]);
  }
  const out = [
    `backend: ${backend}; CPU: ${cpu[0]?.model ?? 'unknown'} × ${cpu.length} cores; Node ${process.version}; tfjs ${tf.version.tfjs}`,
    `${SAMPLES} synthetic samples, batch ${BATCH}, Adam; two warm-up epochs per path (not counted), then ${rounds} round(s) per path; medians over all epochs of all rounds`,
    '',
    ...cases.map((c) => `- ${c.id}: ${c.description}; learning rate ${c.learningRate}; ${quick ? 2 : c.epochs} epochs per round`),
    '',
    '| case | epoch with cache (s) | epoch without cache (s) | speed-up (median epoch) | cache fill (s) | speed-up over all epochs, fill included | final train accuracy (cache / no cache) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

void main();
