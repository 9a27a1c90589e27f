/**
 * The fuzz suite in CI: seeded, so a finding replays with
 *   npx tsx scripts/fuzz.ts --seed <seed> --case <n> --keep <dir>
 * GRAFT_FUZZ_SEED picks another seed; GRAFT_FUZZ_CASES and GRAFT_FUZZ_CLI_CASES scale the file
 * cases and the CLI cases.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CASE_MEMORY_BUDGET_BYTES, CASE_TIME_BUDGET_MS, FuzzRunner, fuzzFiles, fuzzPickles, fuzzTargets, makeCase, MUTATORS, overBudget, Rng, textPickle, verdict } from '../scripts/fuzz';
import { CLI } from './helpers/cli';
import { fixture } from './helpers/realworld';
import { tempDir } from './helpers/temp';

const SEED = Number(process.env.GRAFT_FUZZ_SEED ?? 20240611);
const FILE_CASES = Number(process.env.GRAFT_FUZZ_CASES ?? 1500);
const PICKLE_STREAMS = 1000;
const TIMEOUT_MS = 2000;

function report(findings: { index: number; target?: string; mutations?: string[]; reason: string }[]): string {
  return findings
    .slice(0, 10)
    .map((f) => `case ${f.index}${f.target ? ` (${f.target})` : ''}: ${f.reason}${f.mutations ? `\n    after ${f.mutations.join(' | ')}` : ''}`)
    .join('\n');
}

test('the harness reports each kind of finding: raw errors, hangs, huge allocations, leaked temp files, unnamed files', async () => {
  const runner = new FuzzRunner({ timeoutMs: 1500 });
  try {
    const dir = '/some/case/dir';
    const raw = await runner.run({ kind: 'selftest', fault: 'raw' });
    assert.match(verdict(raw, dir) ?? '', /raw TypeError escaped: deliberate/);
    const hang = await runner.run({ kind: 'selftest', fault: 'hang' });
    assert.equal(hang.status, 'timeout');
    assert.match(verdict(hang, dir) ?? '', /no result within/);
    // The worker was replaced after the hang: the next case runs normally.
    const alloc = await runner.run({ kind: 'selftest', fault: 'alloc' });
    assert.match(verdict(alloc, dir) ?? '', /allocation beyond the limit: new Float64Array\(1073741824\)/);
    const leak = await runner.run({ kind: 'selftest', fault: 'tempLeak' });
    assert.match(verdict(leak, dir) ?? '', /temporary files left behind: graft-leak-/);
    const unnamed = await runner.run({ kind: 'selftest', fault: 'graftNoFile' });
    assert.match(verdict(unnamed, dir) ?? '', /does not name a file of the case/);
    // Every outcome carries the case's peak memory growth; past a budget it is a finding.
    assert.equal(typeof unnamed.peakRssBytes, 'number');
    assert.match(overBudget({ status: 'ok', tensors: 1, ms: CASE_TIME_BUDGET_MS + 1, findings: [] }) ?? '', /over the time budget/);
    assert.match(overBudget({ status: 'ok', tensors: 1, ms: 5, findings: [], peakRssBytes: CASE_MEMORY_BUDGET_BYTES + 1 }) ?? '', /over the memory budget/);
    assert.equal(overBudget({ status: 'ok', tensors: 1, ms: 5, findings: [], peakRssBytes: 1 << 20 }), undefined);
  } finally {
    await runner.close();
  }
});

test('mutators are seeded and change their input', () => {
  const input = new Uint8Array(fs.readFileSync(fixture('torch/mlp/model.safetensors')));
  for (const [name, mutate] of Object.entries(MUTATORS)) {
    const a = mutate(input, new Rng(7, 1), [input])[0];
    const b = mutate(input, new Rng(7, 1), [input])[0];
    assert.deepEqual(a, b, `${name} is not deterministic`);
    assert.notDeepEqual(a, input, `${name} left its input unchanged`);
  }
});

test(`every reader ends ${FILE_CASES} mutated fixtures in success or a GraftError naming the file, within ${TIMEOUT_MS} ms each`, async (t) => {
  const t0 = Date.now();
  const summary = await fuzzFiles({ seed: SEED, cases: FILE_CASES, timeoutMs: TIMEOUT_MS });
  assert.equal(summary.cases, FILE_CASES);
  assert.equal(summary.findings.length, 0, `seed ${SEED}:\n${report(summary.findings)}`);
  // Both outcomes occur: the mutations are neither all harmless nor all fatal.
  assert.ok((summary.byStatus.ok ?? 0) > 0 && (summary.byStatus.graft ?? 0) > 0, JSON.stringify(summary.byStatus));
  // Every target was exercised (round-robin).
  assert.ok(FILE_CASES >= fuzzTargets().length);
  // Time and peak memory of every case were recorded; the worst stay within the budgets.
  assert.equal(summary.perCase.length, FILE_CASES);
  assert.ok(summary.slowestMs <= CASE_TIME_BUDGET_MS && summary.peakRssBytes <= CASE_MEMORY_BUDGET_BYTES, `slowest ${summary.slowestMs} ms, peak ${summary.peakRssBytes} bytes`);
  const heaviest = summary.perCase.reduce((a, b) => (b.peakRssBytes > a.peakRssBytes ? b : a));
  t.diagnostic(`file fuzz: ${JSON.stringify(summary.byStatus)}, slowest case ${summary.slowestMs} ms, largest peak memory growth ${(summary.peakRssBytes / 2 ** 20).toFixed(1)} MiB (case ${heaviest.index}, ${heaviest.target}), ${Date.now() - t0} ms in all`);
});

test(`the restricted unpickler: ${PICKLE_STREAMS} random and mutated opcode streams resolve nothing off the allow-list and run nothing`, async () => {
  const sentinel = path.join(os.tmpdir(), `graft-pwned-${process.pid}`);
  fs.rmSync(sentinel, { force: true });
  const summary = await fuzzPickles({ seed: SEED, streams: PICKLE_STREAMS, timeoutMs: TIMEOUT_MS, sentinel });
  assert.equal(summary.streams, PICKLE_STREAMS);
  assert.equal(summary.findings.length, 0, `seed ${SEED}:\n${report(summary.findings)}`);
  assert.equal(fs.existsSync(sentinel), false);
  // The streams reach the refusals (hostile globals) as well as clean results.
  assert.ok((summary.byStatus.graft ?? 0) > PICKLE_STREAMS / 2, JSON.stringify(summary.byStatus));
});

test(`the unpickler's text opcodes: ${PICKLE_STREAMS} protocol-0 and not-quite-UTF-8 streams end in a value or a GraftError`, async () => {
  // The generator reaches what crashed once: a `\U` escape past U+10FFFF (raw RangeError before issue 11).
  const beyond = Array.from({ length: PICKLE_STREAMS }, (_, i) => new TextDecoder('latin1').decode(textPickle(new Rng(SEED, 2_000_000 + i))))
    .filter((text) => [...text.matchAll(/V[^\n]*?\\U([0-9a-f]{8})/g)].some((m) => parseInt(m[1], 16) > 0x10ffff)).length;
  assert.ok(beyond > PICKLE_STREAMS / 20, `only ${beyond} streams hold a code point past U+10FFFF`);
  const sentinel = path.join(os.tmpdir(), `graft-pwned-text-${process.pid}`);
  const summary = await fuzzPickles({ seed: SEED, streams: PICKLE_STREAMS, timeoutMs: TIMEOUT_MS, sentinel, generator: 'text' });
  assert.equal(summary.findings.length, 0, `seed ${SEED}:\n${report(summary.findings)}`);
  // Both outcomes occur: values and refusals.
  assert.ok((summary.byStatus.ok ?? 0) > 0 && (summary.byStatus.graft ?? 0) > 0, JSON.stringify(summary.byStatus));
});

interface Spawned {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function run(args: string[], cwd: string): Promise<Spawned> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

function assertCleanExit(r: Spawned, what: string): void {
  assert.equal(r.signal, null, `${what}: killed by ${r.signal}`);
  assert.ok(r.code === 0 || r.code === 1, `${what}: exit ${r.code}\n${r.stderr}`);
  if (r.code === 1) {
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, `${what}: stderr is not one line:\n${r.stderr}`);
    assert.match(lines[0], /^graft: /, what);
    assert.doesNotMatch(lines[0], /internal error/, what);
  }
}

test('the built CLI on mutated torch files: exit 0 or 1, one line, no model.json from a failure, no temp folder', { skip: !fs.existsSync(CLI) && 'dist/ not built' }, async () => {
  const mlp = ['pt:mlp', 'pt-legacy:mlp', 'onnx:mlp', 'npz:mlp', 'safetensors:mlp'];
  const targets = fuzzTargets().filter((t) => mlp.includes(t.name));
  const root = tempDir('graft-fuzz-cli-');
  const cases = Number(process.env.GRAFT_FUZZ_CLI_CASES ?? 10);
  try {
    const jobs = Array.from({ length: cases }, (_, i) => async () => {
      const c = makeCase(targets, SEED, 5_000_000 + i, root);
      fs.copyFileSync(fixture('torch/mlp/target.json'), path.join(c.dir, 'target.json'));
      const what = `case ${c.index} (${c.target}: ${c.mutations.join(' | ')})`;
      const inspected = await run(['inspect', c.openPath], c.dir);
      assertCleanExit(inspected, `inspect ${what}`);
      const out = path.join(c.dir, 'out');
      const converted = await run(['convert', c.openPath, '--target', 'target.json', '--out', out, '--quiet'], c.dir);
      assertCleanExit(converted, `convert ${what}`);
      if (converted.code === 0) assert.ok(fs.existsSync(path.join(out, 'model.json')), what);
      else assert.equal(fs.existsSync(out), false, `${what}: a failed conversion left ${out}`);
      const temps = fs.readdirSync(c.dir).filter((n) => n.includes('graft-tmp'));
      assert.deepEqual(temps, [], `${what}: temporary folders left`);
    });
    // Two at a time: the machine has two cores.
    const queue = [...jobs];
    await Promise.all([0, 1].map(async () => {
      for (let job = queue.shift(); job; job = queue.shift()) await job();
    }));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
