/** io/zip.ts: the bounded zip reader every zip-based format (npz, .pt, .keras) uses, and CRC-32. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { GraftError } from '../src/errors';
import { ZipArchive, crc32 } from '../src/io/zip';
import { fixture } from './helpers/realworld';
import { tempDir } from './helpers/temp';

const expected = JSON.parse(fs.readFileSync(fixture('formats/expected.json'), 'utf8'));

function tmpFile(name: string, bytes: Uint8Array): string {
  const dir = tempDir('graft-fmt-');
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

function assertCorrupt(fn: () => unknown, file: string, reason?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof GraftError, `expected GraftError, got ${String(e)}`);
    assert.equal(e.code, 'CORRUPT', e.message);
    assert.ok(e.message.includes(file), `message should name the file: ${e.message}`);
    if (reason) assert.match(e.message, reason);
    return true;
  });
}

// ------------------------------------------------------------------ zip

for (const kind of ['stored', 'deflated', 'forced_zip64', 'zip64']) {
  test(`zip: reads every member of the ${kind} fixture archive (Python zipfile, or stdlib-built zip64)`, () => {
    const zip = ZipArchive.open(fixture(`formats/zip/${kind}.zip`));
    try {
      const members = expected.zip.members as Record<string, { size: number; crc32: number; hex_head: string }>;
      assert.deepEqual(zip.entries.map((e) => e.name).sort(), Object.keys(members).sort());
      for (const [name, facts] of Object.entries(members)) {
        const entry = zip.entry(name)!;
        assert.equal(entry.uncompressedSize, facts.size);
        assert.equal(entry.crc32, facts.crc32);
        const data = zip.read(entry);
        assert.equal(data.length, facts.size);
        assert.equal(crc32(data), facts.crc32);
        assert.equal(Buffer.from(data.subarray(0, 16)).toString('hex'), facts.hex_head);
        if (facts.size >= 20) {
          const part = zip.readRange(entry, 5, 10);
          assert.deepEqual(Array.from(part), Array.from(data.subarray(5, 15)));
          assert.deepEqual(Array.from(zip.read(entry, 7)), Array.from(data.subarray(0, 7)));
        }
      }
      assert.equal(Buffer.from(zip.read(zip.entry('a/text.txt')!)).toString('utf8'), expected.zip.text);
      const off = zip.dataOffset(zip.entry('bytes.bin')!);
      assert.ok(off > 0 && off < fs.statSync(zip.path).size);
    } finally {
      zip.close();
    }
  });
}

test('zip: entries with absolute, drive-letter, backslash or .. names are left out', () => {
  const zip = ZipArchive.open(fixture('formats/zip/unsafe.zip'));
  try {
    assert.deepEqual(zip.entries.map((e) => e.name), expected.zip.unsafe_kept);
    assert.equal(zip.entry('../escape.txt'), undefined);
  } finally {
    zip.close();
  }
});

test('zip: not a zip is UNKNOWN_FORMAT; truncation and lies are CORRUPT naming the file', () => {
  const notZip = tmpFile('plain.zip', new TextEncoder().encode('hello, this is not an archive at all, just text'));
  assert.throws(() => ZipArchive.open(notZip), (e: unknown) => e instanceof GraftError && e.code === 'UNKNOWN_FORMAT' && e.message.includes(notZip));

  const good = fs.readFileSync(fixture('formats/zip/deflated.zip'));
  // Cut the archive in half, keeping its end record: the central directory now points past the data.
  const eocdAt = good.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const cut = Buffer.concat([good.subarray(0, 100), good.subarray(eocdAt)]);
  const cutPath = tmpFile('cut.zip', cut);
  assertCorrupt(() => ZipArchive.open(cutPath), cutPath);

  // Central directory claims an entry a gigabyte long.
  const huge = Buffer.from(good);
  const cdAt = huge.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  huge.writeUInt32LE(0x40000000, cdAt + 20);
  huge.writeUInt32LE(0x40000000, cdAt + 24);
  const hugePath = tmpFile('huge.zip', huge);
  assertCorrupt(() => ZipArchive.open(hugePath), hugePath);

  // A flipped data byte in a deflated entry: inflate error or CRC mismatch, never garbage.
  const flipped = Buffer.from(good);
  flipped[60] ^= 0xff;
  const flippedPath = tmpFile('flipped.zip', flipped);
  const zip = ZipArchive.open(flippedPath);
  try {
    assert.throws(() => zip.entries.forEach((e) => zip.read(e)), (e: unknown) => e instanceof GraftError && e.code === 'CORRUPT' && e.message.includes(flippedPath));
  } finally {
    zip.close();
  }

  // Declared uncompressed size smaller than what the stream holds.
  const shrunk = Buffer.from(good);
  const textCd = shrunk.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  shrunk.writeUInt32LE(100, textCd + 24);
  const shrunkPath = tmpFile('shrunk.zip', shrunk);
  const z2 = ZipArchive.open(shrunkPath);
  try {
    assertCorrupt(() => z2.read(z2.entry('a/text.txt')!), shrunkPath, /more than its declared/);
  } finally {
    z2.close();
  }
});

/** CRC-32 by its bitwise definition (reflected polynomial 0xEDB88320), as an independent reference. */
function crc32Bitwise(data: Uint8Array, seed = 0): number {
  let c = (seed ^ 0xffffffff) >>> 0;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (0xedb88320 ^ (c >>> 1)) >>> 0 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

test('crc32: the standard check value, the bitwise definition at every length 0–300, and chaining', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  let x = 12345;
  const data = Uint8Array.from({ length: 300 }, () => (x = (x * 1103515245 + 12345) >>> 0) >>> 24);
  for (let n = 0; n <= data.length; n++) assert.equal(crc32(data.subarray(0, n)), crc32Bitwise(data.subarray(0, n)), `length ${n}`);
  for (const cut of [0, 1, 7, 150, 300]) {
    assert.equal(crc32(data.subarray(cut), crc32(data.subarray(0, cut))), crc32(data), `chained at ${cut}`);
  }
  // The CRC of nothing more is the CRC so far.
  assert.equal(crc32(new Uint8Array(0), 0xdeadbeef), 0xdeadbeef);
});
