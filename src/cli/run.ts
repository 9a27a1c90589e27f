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

/**
 * Runs a command body and turns failures into one line on stderr and an exit code:
 * 2 for usage errors, 1 for everything else. Stack traces only with --debug.
 */
export async function runCommand(body: () => Promise<number | void>): Promise<void> {
  try {
    const code = await body();
    process.exitCode = code ?? EXIT_OK;
  } catch (e) {
    process.exitCode = reportError(e);
  }
}

export function reportError(e: unknown): number {
  if (e instanceof GraftError) {
    process.stderr.write(`graft: ${e.message}\n`);
    if (isDebug() && e.stack) process.stderr.write(`${e.stack}\n`);
    return e.code === 'USAGE' ? EXIT_USAGE : EXIT_FAILURE;
  }
  const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
  process.stderr.write(`graft: internal error: ${msg}${isDebug() ? '' : ' (run with --debug for details)'}\n`);
  if (isDebug() && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
  return EXIT_FAILURE;
}

/** Collects a repeatable option into a list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
