import { installSignalCleanup } from '../io/temp';
import { GraftError, escapeUnprintable, formatError } from '../errors';

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

/** The one line the CLI prints for an error (errors.ts: the browser page shows the same line). */
export const errorLine = formatError;

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

/**
 * Everything the CLI prints goes through these: names from files (tensor names in the summary,
 * the unused list, the dry-run plan, inspect tables) reach the terminal escaped. Line breaks
 * are kept (graft composes multi-line output); any other control character is shown escaped.
 */
export function printOut(text: string): void {
  process.stdout.write(`${escapeUnprintable(text, { keepNewlines: true })}\n`);
}

export function printErr(text: string): void {
  process.stderr.write(`${escapeUnprintable(text, { keepNewlines: true })}\n`);
}

/** JSON on stdout; characters JSON.stringify leaves raw (C1 controls, bidi marks) as \uXXXX. */
export function printJson(value: unknown, indent?: number): void {
  process.stdout.write(`${escapeUnprintable(JSON.stringify(value, null, indent), { json: true, keepNewlines: true })}\n`);
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
