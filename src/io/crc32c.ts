import { Crc, slicingBy8Crc } from './crc-tables';

/** CRC-32C (Castagnoli), as TensorFlow and LevelDB use it to checksum table blocks and tensor data. */
/** Reflected form of the Castagnoli polynomial 0x1EDC6F41. */
const POLY_REFLECTED = 0x82f63b78;

/**
 * CRC-32C of `data`. `seed` is a previous result, to checksum data arriving in pieces:
 * crc32c(b, crc32c(a)) === crc32c(a ++ b).
 */
export const crc32c: Crc = slicingBy8Crc(POLY_REFLECTED);

/** Constant LevelDB/TensorFlow add when masking; see maskCrc. */
const MASK_DELTA = 0xa282ead8;

/**
 * Stored CRCs are "masked" (rotated and offset) because computing the CRC of data that itself
 * embeds CRCs is weak; both LevelDB tables and TensorFlow bundle entries store masked values.
 */
export function maskCrc(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + MASK_DELTA) >>> 0;
}

export function unmaskCrc(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}
