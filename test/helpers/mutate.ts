import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { GraftError } from '../../src/errors';
import type { WeightReader } from '../../src/formats/types';
import { tempDir } from './temp';

/**
 * Seeded damage for one reader: for each fixture, `perFile` copies with 1–4 random bytes changed
 * (a fifth of them also truncated) are opened, listed and fully read. Each must either read
 * consistently or fail with a GraftError. Returns how many were refused.
 */
export async function mutateAndRead(files: string[], open: (p: string) => Promise<WeightReader>, seed: number, perFile = 120): Promise<number> {
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const dir = tempDir('graft-mutate-');
  let refused = 0;
  try {
    for (const file of files) {
      const orig = fs.readFileSync(file);
      for (let i = 0; i < perFile; i++) {
        const b = Buffer.from(orig);
        for (let k = 1 + Math.floor(rnd() * 4); k > 0; k--) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
        const p = path.join(dir, `m${i}${path.extname(file)}`);
        fs.writeFileSync(p, rnd() < 0.2 ? b.subarray(0, Math.floor(rnd() * b.length)) : b);
        try {
          const r = await open(p);
          for (const t of r.list()) assert.equal((await r.read(t.name)).data.length, t.byteSize);
          await r.close();
        } catch (e) {
          assert.ok(e instanceof GraftError, `${path.basename(file)} mutation ${i}: ${String(e)}`);
          refused++;
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return refused;
}
