#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version';
import { registerConvert } from './commands/convert';
import { registerInspect } from './commands/inspect';
import { registerFinetune } from './commands/finetune';
import { registerVerify } from './commands/verify';
import { registerWeb } from './commands/web';
import { EXIT_USAGE } from './run';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('graft')
    .description('Graft pretrained weights from PyTorch, ONNX, NumPy, safetensors, Keras, TensorFlow and tfjs files onto TensorFlow.js layers models.')
    .version(VERSION)
    .option('--debug', 'show stack traces on errors (anywhere on the command line)')
    .showHelpAfterError('(run graft --help for usage)')
    .exitOverride();
  registerInspect(program);
  registerConvert(program);
  registerFinetune(program);
  registerVerify(program);
  registerWeb(program);
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    // --debug is read from process.argv by the error reporter and may stand anywhere.
    await program.parseAsync(process.argv.filter((a) => a !== '--debug'));
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; anything commander rejects is a usage error.
      process.exitCode = e.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    throw e;
  }
}

if (require.main === module) void main();
