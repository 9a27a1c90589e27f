/**
 * A single tensor larger than 2 GiB converts: a sparse safetensors file holding one
 * 603,000 × 1,024 float32 Embedding table (2.30 GiB of zeros plus a few known values, written
 * with ftruncate so it costs no disk or memory to make) goes through the built CLI; the output's
 * manifest and shards are read back at the known positions (either side of the 2 GiB mark
 * included), and the CLI's peak RSS, from /usr/bin/time, stays under 512 MiB.
 *
 * It writes 2.3 GiB of shards and takes tens of seconds, so it runs only with GRAFT_BIG_TENSOR=1
 * (`GRAFT_BIG_TENSOR=1 node --import tsx --test test/big-tensor.test.ts`, after `npm run build`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tempDir } from './helpers/temp';

const CLI = path.resolve(__dirname, '..', 'dist', 'cli', 'main.js');
const TIME = '/usr/bin/time';
const ROWS = 603_000;
const DIM = 1024;
const COUNT = ROWS * DIM;
const MAX_RSS_MIB = 512;

/** Element index → value written there; the rest of the table is zero. */
function knownValues(): Map<number, number> {
  const twoGiB = 2 ** 31 / 4;
  const at = [0, 1, DIM - 1, DIM, twoGiB - 1, twoGiB, twoGiB + 1, COUNT - DIM, COUNT - 2, COUNT - 1];
  for (let k = 1; k <= 20; k++) at.push(Math.floor((COUNT / 21) * k) + k);
  return new Map(at.map((i, k) => [i, Math.fround((k + 1) * 1.5 - 7.25)]));
}

test('a 2.3 GiB tensor converts into shards tfjs reads, values in place, peak RSS under 512 MiB', { skip: process.env.GRAFT_BIG_TENSOR !== '1' && 'set GRAFT_BIG_TENSOR=1 (writes 2.3 GiB)' }, () => {
  assert.ok(fs.existsSync(CLI), 'run npm run build first');
  assert.ok(fs.existsSync(TIME), `${TIME} measures the peak RSS`);
  const dir = tempDir('graft-big-');
  try {
    const source = path.join(dir, 'embedding.safetensors');
    let header = Buffer.from(JSON.stringify({ 'emb.weight': { dtype: 'F32', shape: [ROWS, DIM], data_offsets: [0, COUNT * 4] } }));
    header = Buffer.concat([header, Buffer.alloc((8 - (header.length % 8)) % 8, 0x20)]);
    const dataStart = 8 + header.length;
    const fd = fs.openSync(source, 'w');
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    fs.writeSync(fd, length, 0, 8, 0);
    fs.writeSync(fd, header, 0, header.length, 8);
    fs.ftruncateSync(fd, dataStart + COUNT * 4);
    const values = knownValues();
    for (const [i, v] of values) {
      const b = Buffer.alloc(4);
      b.writeFloatLE(v);
      fs.writeSync(fd, b, 0, 4, dataStart + i * 4);
    }
    fs.closeSync(fd);
    const target = path.join(dir, 'target.json');
    fs.writeFileSync(target, JSON.stringify({
      format: 'layers-model',
      modelTopology: { class_name: 'Sequential', config: { name: 'big', layers: [{ class_name: 'Embedding', config: { name: 'emb', input_dim: ROWS, output_dim: DIM, batch_input_shape: [null, 4] } }] } },
    }));
    const out = path.join(dir, 'out');
    const started = Date.now();
    const r = spawnSync(TIME, ['-f', '%M', process.execPath, CLI, 'convert', source, '--target', target, '--from', 'torch', '--out', out, '--quiet'], { encoding: 'utf8', timeout: 600_000 });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stderr.trim().split('\n');
    const rssMiB = Number(lines[lines.length - 1]) / 1024;
    process.stderr.write(`  2.3 GiB tensor: ${seconds.toFixed(1)} s, peak RSS ${rssMiB.toFixed(0)} MiB\n`);
    assert.ok(rssMiB > 0 && rssMiB < MAX_RSS_MIB, `peak RSS ${rssMiB.toFixed(0)} MiB`);

    const doc = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[] };
    assert.equal(doc.weightsManifest.length, 1);
    const [group] = doc.weightsManifest;
    assert.deepEqual(group.weights, [{ name: 'emb/embeddings', shape: [ROWS, DIM], dtype: 'float32' }]);
    // tfjs reads a group's shards in order as one byte sequence: value i sits at byte 4·i of it.
    const shards = group.paths.map((p) => ({ file: path.join(out, p), size: fs.statSync(path.join(out, p)).size }));
    assert.equal(shards.reduce((s, x) => s + x.size, 0), COUNT * 4);
    const valueAt = (i: number): number => {
      let at = i * 4;
      for (const s of shards) {
        if (at < s.size) {
          const b = Buffer.alloc(4);
          const f = fs.openSync(s.file, 'r');
          fs.readSync(f, b, 0, 4, at);
          fs.closeSync(f);
          return b.readFloatLE(0);
        }
        at -= s.size;
      }
      throw new Error(`value ${i} lies beyond the shards`);
    };
    for (const [i, v] of values) assert.equal(valueAt(i), v, `value ${i}`);
    for (const i of [2, 12345, 536_870_910, 536_870_914, COUNT - 3]) if (!values.has(i)) assert.equal(valueAt(i), 0, `value ${i}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
