/**
 * Every real framework file in ../shared/realworld goes through the whole pipeline and ends in
 * one of: converted (and loadable by plain tfjs), readable but needing --target, or refused with
 * a clear GraftError. Never an internal error. Skipped when the folder is absent.
 *
 * Each file's outcome must match the stored table fixtures/realworld-expected/outcomes.md: its
 * kind and count (`converted: 12 variables`, `readable (pytorch, 49 tensors)`) or its error code
 * (`refused (UNSUPPORTED)`), so no file silently flips from converted to refused. Message wording
 * may change freely. After a deliberate change (a file graft now converts), regenerate the table
 * with one command and commit it:
 *
 *   npm run realworld:table
 *
 * (that is GRAFT_REALWORLD_TABLE=fixtures/realworld-expected/outcomes.md on this test: it writes
 * the table instead of comparing, and lists the rows that changed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import '../src/layers';
import { initBackend } from '../src/backend';
import { convert } from '../src/convert';
import { loadLayersModelFromDir } from '../src/output/load';
import { GraftError } from '../src/errors';
import { openWeights } from '../src/formats';
import { fixture, realworld, REALWORLD_DIR } from './helpers/realworld';
import { maxAbsDiff, permuted, predictArray, readNpy, tempDir } from './helpers/models';

const WEIGHT_FILE = /\.(h5|hdf5|keras|pt|pth|bin|onnx|npz|npy|safetensors|index)$|(^|\/)model\.json$/;

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : WEIGHT_FILE.test(e.name) && !/^group\d|shard/.test(e.name) ? [p] : [];
  });
}

const files = fs.existsSync(REALWORLD_DIR) ? walk(REALWORLD_DIR).sort() : [];
const STORED_TABLE = fixture('realworld-expected/outcomes.md');

/** What must not change about an outcome: its kind and count, or its error code. */
function outcomeKey(outcome: string): string {
  const converted = /^converted: (\d+) variables/.exec(outcome);
  if (converted) return `converted: ${converted[1]} variables`;
  const readable = /^readable \(([^,]+), (\d+) tensors\)/.exec(outcome);
  if (readable) return `readable (${readable[1]}, ${readable[2]} tensors)`;
  const refused = /^refused \(([A-Z_]+)\)/.exec(outcome);
  if (refused) return `refused (${refused[1]})`;
  return outcome;
}

/** file → outcome, from a `| file | outcome |` markdown table. */
function readTable(text: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\| (.+?) \| (.+) \|$/.exec(line);
    if (m && m[1] !== 'file') rows.set(m[1], m[2]);
  }
  return rows;
}

test('every real-world file converts, needs a target, or is refused clearly', { skip: files.length === 0 && 'realworld folder absent', timeout: 600_000 }, async (t) => {
  await initBackend();
  const rows: string[] = [];
  const counts: Record<string, number> = {};
  for (const file of files) {
    const rel = path.relative(REALWORLD_DIR, file);
    const out = path.join(tempDir(), 'model');
    let outcome: string;
    try {
      const r = await convert({ source: file, out });
      const model = await loadLayersModelFromDir(out);
      outcome = `converted: ${r.assigned.length} variables, loads in tfjs (${model.layers.length} layers)`;
      model.dispose();
    } catch (e) {
      if (!(e instanceof GraftError)) throw new Error(`${rel}: internal error ${(e as Error).stack}`);
      assert.ok(e.message.length > 0 && !e.message.includes('\n'), `${rel}: one-line message`);
      assert.ok(!fs.existsSync(out), `${rel}: nothing written on failure`);
      if (e.code === 'USAGE' && /--target/.test(e.message)) {
        const reader = await openWeights(file);
        outcome = `readable (${reader.format}, ${reader.list().length} tensors); weights only, needs --target`;
        await reader.close();
      } else {
        outcome = `refused (${e.code}): ${e.message.slice(e.message.indexOf(': ') + 2)}`;
      }
    }
    const kind = outcome.split(/[:( ]/)[0];
    counts[kind] = (counts[kind] ?? 0) + 1;
    rows.push(`| ${rel} | ${outcome.replace(/\|/g, '/')} |`);
  }
  t.diagnostic(`outcomes: ${JSON.stringify(counts)}`);
  const table = `| file | outcome |\n|---|---|\n${rows.join('\n')}\n`;
  const stored = fs.existsSync(STORED_TABLE) ? readTable(fs.readFileSync(STORED_TABLE, 'utf8')) : new Map<string, string>();
  const now = readTable(table);
  const changed = [...new Set([...stored.keys(), ...now.keys()])].sort()
    .filter((f) => outcomeKey(stored.get(f) ?? 'absent') !== outcomeKey(now.get(f) ?? 'absent'))
    .map((f) => `${f}: ${outcomeKey(stored.get(f) ?? 'absent from the table')} → ${outcomeKey(now.get(f) ?? 'absent from the folder')}`);
  if (process.env.GRAFT_REALWORLD_TABLE) {
    fs.writeFileSync(process.env.GRAFT_REALWORLD_TABLE, table);
    t.diagnostic(`wrote ${process.env.GRAFT_REALWORLD_TABLE}; ${changed.length} row(s) changed${changed.length ? `: ${changed.join('; ')}` : ''}`);
  } else {
    assert.deepEqual(changed, [], `outcomes differ from ${path.relative(process.cwd(), STORED_TABLE)}; if intended, run npm run realworld:table and commit it`);
  }
  assert.ok((counts.converted ?? 0) >= 40, `at least 40 real files convert (got ${counts.converted})`);
});

const cifar = realworld('pytorch/camron_cifar_net_legacy/cifar_net.pth');
test('real legacy-format PyTorch checkpoint (CIFAR tutorial net) converts and matches PyTorch', { skip: !cifar && 'realworld folder absent' }, async () => {
  await initBackend();
  const dir = fixture('realworld-expected/cifar_net');
  const out = path.join(tempDir(), 'model');
  const r = await convert({ source: cifar!, target: path.join(dir, 'target.json'), out });
  assert.equal(r.format, 'pytorch');
  assert.equal(r.assigned.length, 10);
  assert.deepEqual(r.assigned.find((a) => a.target === 'fc1/kernel')?.transform, 'dense-after-flatten(C=16,S=5x5)');
  const model = await loadLayersModelFromDir(out);
  const got = predictArray(model, permuted(readNpy(path.join(dir, 'input.npy')), [0, 2, 3, 1]));
  const err = maxAbsDiff(got.data, readNpy(path.join(dir, 'output.npy')).data);
  assert.ok(err <= 1e-4, `max |tfjs - torch| = ${err}`);
});
