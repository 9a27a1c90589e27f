import type { Command } from 'commander';
import { GraftError } from '../../errors';
import type { VerifyResult } from '../../transfer/verify';

/** The default --atol; kept here so `graft --help` does not load tfjs (src/transfer/verify.ts uses the same value). */
const DEFAULT_ATOL = 1e-4;
import { printOut, runCommand } from '../run';

interface VerifyFlags {
  input?: string;
  expect?: string;
  atol?: string;
  channelsFirst?: boolean;
}

function g(n: number): string {
  return Number.isFinite(n) ? n.toPrecision(6).replace(/\.?0+(e|$)/, '$1') : String(n);
}

export function verifyText(r: VerifyResult): string {
  return (
    `max |output - expected| = ${r.maxAbsError.toExponential(2)} at [${r.at.join(', ')}] (output ${g(r.output)}, expected ${g(r.expected)}); ` +
    `${r.over} of ${r.total} element(s) above atol ${r.atol}: ${r.ok ? 'OK' : 'MISMATCH'}`
  );
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description("Run a layers-model on an input and compare with the expected output (say, the source framework's): exit 1 above --atol")
    .argument('<model.json>', 'tfjs layers-model (model.json or its folder)')
    .option('--input <x.npy>', 'input array, samples first')
    .option('--expect <y.npy>', 'expected output array')
    .option('--atol <a>', `largest absolute error allowed (default ${DEFAULT_ATOL})`)
    .option('--channels-first', "input and expected output are channels-first (PyTorch's NCHW, NCL, NCDHW)")
    .action((model: string, flags: VerifyFlags) =>
      runCommand(async () => {
        if (!flags.input) throw new GraftError('USAGE', 'verify needs --input <x.npy>');
        if (!flags.expect) throw new GraftError('USAGE', 'verify needs --expect <y.npy>');
        let atol = DEFAULT_ATOL;
        if (flags.atol !== undefined) {
          atol = Number(flags.atol);
          if (flags.atol.trim() === '' || !Number.isFinite(atol) || atol < 0) throw new GraftError('USAGE', `--atol must be a non-negative number, not ${JSON.stringify(flags.atol)}`);
        }
        const { verifyModel } = await import('../../transfer/verify');
        const result = await verifyModel({ model, input: flags.input, expect: flags.expect, atol, channelsFirst: flags.channelsFirst });
        printOut(verifyText(result));
        if (!result.ok) {
          throw new GraftError('VERIFY', `${result.over} of ${result.total} output element(s) differ from --expect by more than ${atol} (largest ${result.maxAbsError.toExponential(2)})`);
        }
      }),
    );
}
