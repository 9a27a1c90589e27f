/**
 * Table-driven CRC-32 over a reflected polynomial, slicing-by-8: eight 256-entry tables let the
 * main loop consume 8 bytes per step, which matters for multi-gigabyte shards. CRC-32C (TensorFlow,
 * LevelDB) uses it always; CRC-32 (zip) only in the browser, where Node's zlib is absent.
 */
export type Crc = (data: Uint8Array, seed?: number) => number;

function buildTables(polyReflected: number): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ polyReflected : c >>> 1;
    t0[i] = c >>> 0;
  }
  tables.push(t0);
  // Table k advances a byte that sits k positions further from the end of an 8-byte group.
  for (let k = 1; k < 8; k++) {
    const prev = tables[k - 1];
    const t = new Uint32Array(256);
    for (let i = 0; i < 256; i++) t[i] = (prev[i] >>> 8) ^ t0[prev[i] & 0xff];
    tables.push(t);
  }
  return tables;
}

/**
 * The CRC of a reflected polynomial. `seed` is a previous result, to checksum data arriving in
 * pieces: crc(b, crc(a)) === crc(a ++ b).
 */
export function slicingBy8Crc(polyReflected: number): Crc {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = buildTables(polyReflected);
  return (data: Uint8Array, seed = 0): number => {
    let crc = ~seed >>> 0;
    let i = 0;
    const n = data.length;
    const end8 = n - (n % 8);
    while (i < end8) {
      const lo = (crc ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24))) >>> 0;
      crc =
        t7[lo & 0xff] ^
        t6[(lo >>> 8) & 0xff] ^
        t5[(lo >>> 16) & 0xff] ^
        t4[lo >>> 24] ^
        t3[data[i + 4]] ^
        t2[data[i + 5]] ^
        t1[data[i + 6]] ^
        t0[data[i + 7]];
      i += 8;
    }
    while (i < n) crc = t0[(crc ^ data[i++]) & 0xff] ^ (crc >>> 8);
    return ~crc >>> 0;
  };
}
