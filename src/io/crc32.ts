import { crc32 as zlibCrc32 } from 'zlib';

/**
 * CRC-32 (IEEE 802.3, as zip uses it), computed by Node's zlib (Node >= 20.15). `seed`, a previous
 * result, continues it over more data. The browser bundle swaps in crc32.browser.ts.
 */
export function crc32(data: Uint8Array, seed = 0): number {
  // Node 20's zlib.crc32 answers 0 for empty data whatever the seed; the CRC of nothing more is the seed.
  return data.length === 0 ? seed >>> 0 : zlibCrc32(data, seed);
}
