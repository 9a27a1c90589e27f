import { GraftError } from '../errors';

/**
 * Work and memory budgets proportional to the input. A crafted file of a few kilobytes must not
 * make graft inflate gigabytes, build gigabytes of objects or run for hours, so every reader
 * measures what a file makes it do against what a file of that size can legitimately need,
 * and stops with a one-line error naming the file and the budget when it is exceeded.
 * The figures are documented in the README's Security section; keep them in step.
 */

const MiB = 1024 * 1024;

/**
 * Bytes a zip archive may inflate to in one run, over all its members (re-reads count again):
 * 32× the archive's size, at least 64 MiB. Real weights compress 1–3×; only runs of zeros
 * compress further, and deflate's 1032:1 best case would let a 1 MB file become 1 GB.
 */
export const INFLATE_RATIO = 32;
export const INFLATE_FLOOR = 64 * MiB;

export function inflateBudget(fileSize: number): number {
  return Math.max(INFLATE_FLOOR, fileSize * INFLATE_RATIO);
}

/** Largest pickle (data.pkl, or a legacy .pt's pickles) graft unpickles: metadata, not weights. */
export const MAX_PICKLE_BYTES = 64 * MiB;

/**
 * Pickle work: every opcode counts 1, every element or byte copied by a container or a
 * constructor counts 1. A pickle may do this many units of work per byte (plus a floor of
 * 2^20): building a container from the stack costs about one opcode per item, so honest
 * pickles stay far below; copying one memoised list a thousand times does not.
 */
export const PICKLE_WORK_PER_BYTE = 16;
export const PICKLE_WORK_FLOOR = 1 << 20;

/** Largest JSON document (model.json, config.json, manifests, indexes) graft parses. */
export const MAX_JSON_BYTES = 64 * MiB;
/** Deepest nesting of a JSON document, checked on the text before parsing. */
export const MAX_JSON_DEPTH = 256;

/** Largest HDF5 chunk h5wasm is asked to decode at once (it holds whole chunks in wasm memory). */
export const MAX_HDF5_CHUNK_BYTES = 64 * MiB;

export function mib(bytes: number): string {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(bytes % MiB === 0 ? 0 : 1)} MiB` : `${bytes} bytes`;
}

/** The one-line error for an exceeded budget. */
export function budgetError(file: string, what: string, budget: string): GraftError {
  return new GraftError('UNSUPPORTED', `${what}, beyond graft's budget of ${budget}; refused as a likely crafted input`, { file });
}

/**
 * Parses JSON text after checking its size and nesting depth on the raw text (one linear scan,
 * no allocation), so a 240 MiB or 100,000-deep document is refused before any object is built.
 */
export function parseJsonBudgeted(text: string, file: string, what = 'JSON document'): unknown {
  if (text.length > MAX_JSON_BYTES) throw budgetError(file, `${what} is ${mib(text.length)} long`, `${mib(MAX_JSON_BYTES)} for JSON`);
  if (jsonTextDepthExceeds(text, MAX_JSON_DEPTH)) {
    throw new GraftError('CORRUPT', `${what} nests more than ${MAX_JSON_DEPTH} levels deep`, { file });
  }
  return JSON.parse(text);
}

/** Whether brackets outside strings nest deeper than `max`. Invalid JSON is left to JSON.parse. */
export function jsonTextDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
