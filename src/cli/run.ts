import { installSignalCleanup } from '../io/temp';
import { GraftError } from '../errors';

/** Flags every command shares. */
export interface CommonFlags {
  debug?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export function isDebug(): boolean {
  return process.argv.includes('--debug') || process.env.GRAFT_DEBUG === '1';
}

/** Longest error line printed; messages quoting file contents are cut beyond it. */
const MAX_LINE = 2000;
/** Line breaks, other control characters and bidi marks: never printed raw from a message. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * The one line the CLI prints for an error. Messages can quote names taken from hostile files
 * (tensor names, zip entries, pickle globals): control characters are escaped so the output stays
 * one line and cannot steer the terminal, and overlong messages are cut.
 */
export function errorLine(e: unknown): string {
  const text = e instanceof GraftError ? e.message : `internal error: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  const safe = text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  return `graft: ${safe.length > MAX_LINE ? `${safe.slice(0, MAX_LINE)}…` : safe}`;
}

/**
 * Runs a command body and turns failures into one line on stderr and an exit code:
 * 2 for usage errors, 1 for everything else. Stack traces only with --debug.
 * Ctrl-C exits with 130 after removing any half-written output.
 */
export async function runCommand(body: () => Promise<number | void>): Promise<void> {
  installSignalCleanup();
  try {
    const code = await body();
    process.exitCode = code ?? EXIT_OK;
  } catch (e) {
    process.exitCode = reportError(e);
  }
}

export function reportError(e: unknown): number {
  if (e instanceof GraftError) {
    process.stderr.write(`${errorLine(e)}\n`);
    if (isDebug() && e.stack) process.stderr.write(`${e.stack}\n`);
    return e.code === 'USAGE' ? EXIT_USAGE : EXIT_FAILURE;
  }
  process.stderr.write(`${errorLine(e)}${isDebug() ? '' : ' (run with --debug for details)'}\n`);
  if (isDebug() && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return EXIT_FAILURE;
}

/** Collects a repeatable option into a list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
