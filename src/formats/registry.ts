import { asCorrupt, GraftError } from '../errors';
import { readHead } from '../io/bytes';
import * as path from '../io/posix';
import type { Volume } from '../io/volume';
import type { FormatHandler, OpenOptions, WeightReader } from './types';

const handlers: FormatHandler[] = [];

/** Adds a format. Later registrations are tried first, so a plug-in can override a built-in. */
export function registerFormat(handler: FormatHandler): void {
  const existing = handlers.findIndex((h) => h.format === handler.format);
  if (existing >= 0) handlers.splice(existing, 1);
  handlers.unshift(handler);
}

export function registeredFormats(): readonly FormatHandler[] {
  return handlers;
}

/**
 * Picks the reader for a file by its first bytes; the extension only breaks ties for formats
 * with no magic number of their own. Handlers that name the file's extension are asked first
 * (in registry order), so a reader loaded on first sniff is usually the one that opens the file.
 */
export function detectFormat(filePath: string, head: Uint8Array, volume?: Volume): FormatHandler | undefined {
  const name = filePath.toLowerCase();
  const named = (h: FormatHandler) => h.extensions.some((e) => name.endsWith(e.toLowerCase()));
  for (const h of [...handlers.filter(named), ...handlers.filter((h) => !named(h))]) {
    let hit = false;
    try {
      hit = h.sniff(head, filePath, volume);
    } catch {
      hit = false;
    }
    if (hit) return h;
  }
  return undefined;
}

/** Opens any supported weight file. `format` forces a reader by its id. */
export async function openWeights(filePath: string, options: OpenOptions & { format?: string } = {}): Promise<WeightReader> {
  if (options.format) {
    const forced = handlers.find((h) => h.format === options.format);
    if (!forced) {
      throw new GraftError('USAGE', `unknown format '${options.format}' (known: ${handlers.map((h) => h.format).join(', ')})`);
    }
    return sealedOpen(forced, filePath, options);
  }
  const head = headFor(filePath, options.volume);
  const handler = detectFormat(filePath, head, options.volume);
  if (!handler) {
    const ext = path.extname(filePath);
    throw new GraftError('UNKNOWN_FORMAT', `not a weight file graft recognises${ext ? ` (extension '${ext}')` : ''}; supported: ${handlers.map((h) => h.format).join(', ')}`, { file: filePath });
  }
  return sealedOpen(handler, filePath, options);
}

/**
 * The error contract of every reader: whatever a reader throws while opening, listing or reading
 * reaches the caller as a GraftError naming the file. Anything else (a RangeError from a lying
 * length, a stack overflow on absurd nesting) is damage graft did not foresee: CORRUPT.
 */
async function sealedOpen(handler: FormatHandler, filePath: string, options: OpenOptions): Promise<WeightReader> {
  let reader: WeightReader;
  try {
    reader = await handler.open(filePath, options);
  } catch (e) {
    throw asCorrupt(e, { file: filePath });
  }
  return sealReader(reader, filePath);
}

/** Wraps a reader's methods so a non-GraftError they throw becomes CORRUPT naming the file (and tensor). */
export function sealReader<R extends WeightReader>(reader: R, filePath: string): R {
  const r = reader as unknown as Record<string, unknown>;
  const wrap = (method: string, tensorArg: boolean): void => {
    const original = r[method];
    if (typeof original !== 'function') return;
    const call = original as (...args: unknown[]) => unknown;
    const contextOf = (first: unknown) => ({ file: filePath, tensor: tensorArg && typeof first === 'string' ? first : undefined });
    // `arguments` passed straight to apply: no array or context object per call (readStridedSync
    // runs thousands of times per large tensor, and its garbage would grow the JS heap).
    const sealed = function (): unknown {
      let result: unknown;
      try {
        // eslint-disable-next-line prefer-rest-params
        result = call.apply(reader, arguments as unknown as unknown[]);
      } catch (e) {
        // eslint-disable-next-line prefer-rest-params
        throw asCorrupt(e, contextOf(arguments[0]));
      }
      // eslint-disable-next-line prefer-rest-params
      const first: unknown = arguments[0];
      return result instanceof Promise ? result.catch((e: unknown) => Promise.reject(asCorrupt(e, contextOf(first)))) : result;
    };
    Object.defineProperty(reader, method, { value: sealed, configurable: true, writable: true });
  };
  wrap('list', false);
  wrap('read', true);
  wrap('readStrided', true);
  wrap('readStridedSync', true);
  wrap('dataOffset', true);
  return reader;
}

/**
 * The first bytes of a source. A TensorFlow checkpoint is named by its prefix (`model.ckpt`),
 * which is not a file itself: then the head is empty and handlers sniff by sibling files.
 */
function headFor(filePath: string, volume?: Volume): Uint8Array {
  try {
    return readHead(filePath, 512, volume);
  } catch (e) {
    if (e instanceof GraftError && e.code === 'NOT_FOUND' && !/directory/.test(e.message)) {
      // Let prefix-named formats claim it; everything else reports NOT_FOUND below.
      const h = handlers.find((x) => safeSniff(x, new Uint8Array(0), filePath, volume));
      if (h) return new Uint8Array(0);
    }
    throw e;
  }
}

function safeSniff(h: FormatHandler, head: Uint8Array, p: string, volume?: Volume): boolean {
  try {
    return h.sniff(head, p, volume);
  } catch {
    return false;
  }
}

export function startsWith(head: Uint8Array, magic: ArrayLike<number>): boolean {
  if (head.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (head[i] !== magic[i]) return false;
  return true;
}
