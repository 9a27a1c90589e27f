/** io/crc32c.ts: CRC-32C (Castagnoli) and LevelDB masking, as TF checkpoints use them. Kept
 * hand-written: Node's zlib has CRC-32 but no CRC-32C. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c, maskCrc, unmaskCrc } from '../src/io/crc32c';

/** Bit-at-a-time CRC-32C, the textbook definition, to check the table-driven one against. */
function slowCrc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

test('crc32c matches the RFC 3720 test vectors', () => {
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

test('crc32c agrees with the bitwise definition at every length and alignment, and chains', () => {
  const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 17) & 0xff);
  for (let start = 0; start < 9; start++) {
    for (let len = 0; len + start <= 300; len += 7) {
      const piece = data.subarray(start, start + len);
      assert.equal(crc32c(piece), slowCrc32c(piece), `start ${start} length ${len}`);
    }
  }
  for (const cut of [0, 1, 5, 8, 13, 299, 300]) {
    assert.equal(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), crc32c(data), `cut ${cut}`);
  }
});

test('maskCrc and unmaskCrc invert each other and match LevelDB masking', () => {
  for (const c of [0, 1, 0x8a9136aa, 0xffffffff, 0x12345678]) {
    const m = maskCrc(c);
    assert.equal(m, (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0);
    assert.equal(unmaskCrc(m), c);
    assert.ok(m >= 0 && m <= 0xffffffff);
  }
  assert.notEqual(maskCrc(0x12345678), 0x12345678);
});
