/**
 * Benchmark: transfer learning with and without the frozen-output cache, timed through
 * `finetune()`, the function `graft finetune --cache / --no-cache` runs (model and data read from
 * disk, model written at the end). Synthetic data (10 random prototype inputs plus noise), so it
 * needs no downloads; accuracy only shows both paths learn alike.
 *
 *   npx tsx scripts/bench-cache.ts [--rounds R] [--epochs E] [--quick] [--only a|b|b']
 *
 * Each case runs R rounds of (cache, no cache), alternating, E epochs each (default 5), after one
 * uncounted warm-up run per path. Per case it reports, as medians over the rounds:
 * - the whole run: cache fill plus every epoch (what a user waits for; the uncached run has no fill);
 * - the steady-state epoch: the median of epochs 2..E of every round;
 * - the first epoch, to show whether it still carries a warm-up penalty;
 * - the CPU time (user + system) of the whole finetune() call, model read and write included:
 *   on a machine shared with other jobs, wall times stretch with the load while CPU time much
 *   less (the wasm backend runs one thread), so its ratio is the steadier one.
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
  /** Per round: every epoch's seconds. */
  rounds: number[][];
  cacheSeconds: number[];
  /** Per round: CPU seconds of the whole finetune() call. */
  cpuSeconds: number[];
  accuracy: number;
  loss: number;
}

/** Whole runs (fill + epochs), steady-state epochs (2..E) and first epochs, as medians over rounds. */
function summarise(m: Measured): { whole: number; steady: number; first: number; fill: number; cpu: number } {
  return {
    cpu: median(m.cpuSeconds),
    whole: median(m.rounds.map((epochs, r) => m.cacheSeconds[r] + epochs.reduce((a, b) => a + b, 0))),
    steady: median(m.rounds.flatMap((epochs) => (epochs.length > 1 ? epochs.slice(1) : epochs))),
    first: median(m.rounds.map((epochs) => epochs[0])),
    fill: median(m.cacheSeconds),
  };
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
    const cached: Measured = { rounds: [], cacheSeconds: [], cpuSeconds: [], accuracy: NaN, loss: NaN };
    const uncached: Measured = { rounds: [], cacheSeconds: [], cpuSeconds: [], accuracy: NaN, loss: NaN };
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
        const cpuBefore = process.cpuUsage();
        const report = await run(cache, epochs);
        const cpu = process.cpuUsage(cpuBefore);
        const m = cache ? cached : uncached;
        m.cpuSeconds.push((cpu.user + cpu.system) / 1e6);
        m.rounds.push(report.history.map((h) => h.seconds));
        m.cacheSeconds.push(report.cacheSeconds);
        const last = report.history[report.history.length - 1];
        m.accuracy = last.accuracy;
        m.loss = last.loss;
        process.stderr.write(`  ${c.id} ${cache ? 'cache   ' : 'no cache'} round ${round + 1}: fill ${report.cacheSeconds.toFixed(3)} s, epochs ${report.history.map((h) => h.seconds.toFixed(3)).join(' ')} s, CPU ${m.cpuSeconds[m.cpuSeconds.length - 1].toFixed(3)} s\n`);
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
  const rounds = roundsAt >= 0 ? Number(args[roundsAt + 1]) : quick ? 1 : 3;
  const epochsAt = args.indexOf('--epochs');
  const epochs = epochsAt >= 0 ? Number(args[epochsAt + 1]) : quick ? 2 : 5;
  const onlyAt = args.indexOf('--only');
  const cases = onlyAt >= 0 ? CASES.filter((c) => c.id.startsWith(`(${args[onlyAt + 1]})`)) : CASES;
  const backend = await initBackend();
  const cpu = os.cpus();
  const load = os.loadavg().map((l) => l.toFixed(2)).join(', ');
  const rows: string[][] = [];
  for (const c of cases) {
    const { cached, uncached } = await runCase(c, rounds, epochs);
    const a = summarise(cached);
    const b = summarise(uncached);
    rows.push([
      c.id,
      `${a.whole.toFixed(2)} (fill ${a.fill.toFixed(2)})`,
      b.whole.toFixed(2),
      `**${(b.whole / a.whole).toFixed(1)}×**`,
      a.steady.toFixed(3),
      b.steady.toFixed(3),
      `**${(b.steady / a.steady).toFixed(1)}×**`,
      `${a.first.toFixed(3)} / ${b.first.toFixed(3)}`,
      `${a.cpu.toFixed(2)} / ${b.cpu.toFixed(2)} (**${(b.cpu / a.cpu).toFixed(1)}×**)`,
      `${cached.accuracy.toFixed(3)} / ${uncached.accuracy.toFixed(3)}`,
    ]);
  }
  const out = [
    `backend: ${backend}; CPU: ${cpu[0]?.model ?? 'unknown'} × ${cpu.length} cores; Node ${process.version}; tfjs ${tf.version.tfjs}; load average at start ${load}, at end ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}`,
    `${SAMPLES} synthetic samples, batch ${BATCH}, Adam, ${epochs} epochs per run; one uncounted warm-up run per path, then ${rounds} alternating round(s) per path; medians over rounds (steady-state epoch: over epochs 2..${epochs} of every round)`,
    '',
    ...cases.map((c) => `- ${c.id}: ${c.description}; learning rate ${c.learningRate}`),
    '',
    `| case | whole run with cache, fill included (s) | whole run without cache (s) | whole-run speed-up | steady-state epoch with cache (s) | without cache (s) | steady-state speed-up | first epoch with / without cache (s) | CPU time of the finetune() call with / without cache (s) | final train accuracy (cache / no cache) |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

void main();
