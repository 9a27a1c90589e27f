/**
 * The checksum HDF5 puts at the end of its version 2 structures (superblock, object headers, their
 * continuation blocks): Bob Jenkins' lookup3 hash of the bytes, byte-wise, with an initial value of 0.
 */
export function lookup3(key: Uint8Array, initial = 0): number {
  let length = key.length;
  let a = (0xdeadbeef + length + initial) | 0;
  let b = a;
  let c = a;
  let i = 0;
  const rot = (x: number, k: number) => (x << k) | (x >>> (32 - k));
  while (length > 12) {
    a = (a + (key[i] | (key[i + 1] << 8) | (key[i + 2] << 16) | (key[i + 3] << 24))) | 0;
    b = (b + (key[i + 4] | (key[i + 5] << 8) | (key[i + 6] << 16) | (key[i + 7] << 24))) | 0;
    c = (c + (key[i + 8] | (key[i + 9] << 8) | (key[i + 10] << 16) | (key[i + 11] << 24))) | 0;
    // mix
    a = (a - c) | 0; a ^= rot(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rot(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 4); b = (b + a) | 0;
    length -= 12;
    i += 12;
  }
  if (length === 0) return c >>> 0;
  // The last 1–12 bytes, little-endian into a, b, c (missing bytes count as zero).
  const tail = [0, 0, 0];
  for (let k = 0; k < length; k++) tail[k >> 2] |= key[i + k] << ((k & 3) * 8);
  a = (a + tail[0]) | 0;
  b = (b + tail[1]) | 0;
  c = (c + tail[2]) | 0;
  // final
  c ^= b; c = (c - rot(b, 14)) | 0;
  a ^= c; a = (a - rot(c, 11)) | 0;
  b ^= a; b = (b - rot(a, 25)) | 0;
  c ^= b; c = (c - rot(b, 16)) | 0;
  a ^= c; a = (a - rot(c, 4)) | 0;
  b ^= a; b = (b - rot(a, 14)) | 0;
  c ^= b; c = (c - rot(b, 24)) | 0;
  return c >>> 0;
}
