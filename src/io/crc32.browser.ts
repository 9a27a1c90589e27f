import { Crc, slicingBy8Crc } from './crc-tables';

/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) for the browser bundle, where Node's zlib
 * is absent. Same contract as crc32.ts.
 */
export const crc32: Crc = slicingBy8Crc(0xedb88320);
