/**
 * Every failure a user can cause (bad file, bad flag, mismatched shapes) is a GraftError:
 * the CLI prints its one-line message and exits non-zero without a stack trace.
 * Anything else reaching the CLI is a bug in graft and is reported as such.
 */
export type GraftErrorCode =
  | 'USAGE' // bad flags or arguments (exit 2)
  | 'NOT_FOUND' // a file that does not exist
  | 'UNKNOWN_FORMAT' // the registry recognises no reader for a file
  | 'CORRUPT' // a file whose bytes contradict themselves (truncated, bad offsets, bad checksums)
  | 'UNSUPPORTED' // a valid file using a feature graft does not handle (a dtype, a layer class)
  | 'UNSAFE' // a file that asks for something graft refuses on principle (pickle globals, path escapes)
  | 'SHAPE_MISMATCH' // a source tensor that cannot be made to fit its target variable
  | 'MAPPING' // a mapping table that is malformed or names tensors that do not exist
  | 'OUTPUT' // the output folder cannot be written safely
  | 'VERIFY'; // graft verify found outputs outside tolerance

export interface GraftErrorContext {
  file?: string;
  tensor?: string;
}

export class GraftError extends Error {
  readonly code: GraftErrorCode;
  readonly file?: string;
  readonly tensor?: string;

  constructor(code: GraftErrorCode, message: string, context: GraftErrorContext = {}) {
    super(formatMessage(message, context));
    this.name = 'GraftError';
    this.code = code;
    this.file = context.file;
    this.tensor = context.tensor;
  }
}

function formatMessage(message: string, { file, tensor }: GraftErrorContext): string {
  // Names may come from inside a hostile file: escaped, so a message stays one harmless line.
  const where = [file && printable(file, 400), tensor ? `tensor '${printable(tensor)}'` : undefined].filter(Boolean).join(': ');
  return where ? `${where}: ${message}` : message;
}

export function isGraftError(e: unknown): e is GraftError {
  return e instanceof GraftError;
}

/** Wraps an unexpected low-level failure (RangeError from a truncated buffer, …) as CORRUPT. */
export function asCorrupt(e: unknown, context: GraftErrorContext): GraftError {
  if (e instanceof GraftError) return e;
  const reason = e instanceof Error ? e.message : String(e);
  return new GraftError('CORRUPT', `cannot be read (${reason})`, context);
}

/** Longest error line printed; messages quoting file contents are cut beyond it. */
const MAX_LINE = 2000;

/**
 * The one line graft shows for an error, the CLI on stderr and a page in the browser alike.
 * Messages can quote names taken from hostile files (tensor names, zip entries, pickle globals):
 * control characters are escaped so the output stays one line and cannot steer the terminal,
 * and overlong messages are cut.
 */
export function formatError(e: unknown): string {
  const text = e instanceof GraftError ? e.message : `internal error: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  const safe = escapeUnprintable(text);
  return `graft: ${safe.length > MAX_LINE ? `${safe.slice(0, MAX_LINE)}…` : safe}`;
}

/** Characters that would break a one-line message or steer a terminal (controls, line and bidi marks). */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** The same, keeping line breaks: for multi-line output whose lines graft itself composed. */
const UNPRINTABLE_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * THE helper for text graft prints: every character that could break a line or steer a terminal
 * (escape sequences that retitle the window, clear the screen or forge lines; bidi overrides) is
 * shown escaped. `json` escapes as \uXXXX, valid inside JSON strings; `keepNewlines` leaves '\n'
 * alone, for multi-line text whose line breaks graft put there (names are escaped before).
 */
export function escapeUnprintable(text: string, options: { json?: boolean; keepNewlines?: boolean } = {}): string {
  return text.replace(options.keepNewlines ? UNPRINTABLE_BUT_NEWLINE : UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 && !options.json ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * Text taken from a file (a tensor or entry name, a header excerpt) made safe to quote in a
 * one-line error message: control characters escaped, anything beyond `max` characters cut.
 */
export function printable(text: string, max = 120): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return escapeUnprintable(cut);
}
