import type { Command } from 'commander';
import { GraftError, escapeUnprintable } from '../../errors';
import type { FinetuneReport } from '../../transfer/finetune';
import type { EpochStats } from '../../transfer/train';
import { bytesText } from '../format';
import { collect, printErr, printJson, printOut, runCommand } from '../run';

interface FinetuneFlags {
  data?: string;
  labels?: string;
  freeze?: string[];
  cache?: boolean;
  epochs?: string;
  batchSize?: string;
  learningRate?: string;
  validationSplit?: string;
  out?: string;
  json?: boolean;
  force?: boolean;
}

function positiveInteger(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  // Huge values (99999999999999999999) are not counts: up to 2^31 - 1.
  if (!/^\d{1,10}$/.test(text.trim()) || n < 1 || n > 0x7fffffff) throw new GraftError('USAGE', `${flag} must be a positive integer up to 2147483647, not ${JSON.stringify(text)}`);
  return n;
}

function number(text: string | undefined, flag: string, fallback: number, valid: (n: number) => boolean, what: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || !valid(n)) throw new GraftError('USAGE', `${flag} must be ${what}, not ${JSON.stringify(text)}`);
  return n;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function epochLine(s: EpochStats): string {
  const parts = [`epoch ${s.epoch}/${s.epochs}`, `loss ${s.loss.toFixed(4)}`, `accuracy ${s.accuracy.toFixed(4)}`];
  if (s.valLoss !== undefined) parts.push(`val_loss ${s.valLoss.toFixed(4)}`, `val_accuracy ${s.valAccuracy!.toFixed(4)}`);
  parts.push(`${s.seconds.toFixed(3)} s`);
  return parts.join('  ');
}

/** The one JSON object `--json` prints. */
export function finetuneJson(r: FinetuneReport): Record<string, unknown> {
  const last = r.history[r.history.length - 1];
  const doc: Record<string, unknown> = {
    secondsPerEpoch: r.history.map((h) => h.seconds),
    cacheSeconds: r.cacheSeconds,
    loss: last.loss,
    accuracy: last.accuracy,
  };
  if (last.valLoss !== undefined) {
    doc.valLoss = last.valLoss;
    doc.valAccuracy = last.valAccuracy;
  }
  Object.assign(doc, {
    cache: r.cache,
    epochs: r.history.length,
    samples: r.trainCount,
    validationSamples: r.valCount,
    lossFunction: r.loss,
    fromLogits: r.fromLogits,
    frozen: r.split.frozen,
    cachedLayer: r.split.boundary,
    trained: r.split.headLayers.filter((l) => l.trainableWeights.length > 0).map((l) => l.name),
    backend: r.backend,
    out: r.out,
    files: r.files,
  });
  return doc;
}

const esc = (text: string): string => escapeUnprintable(text);

function summaryText(r: FinetuneReport): string {
  const last = r.history[r.history.length - 1];
  const trained = r.split.headLayers.filter((l) => l.trainableWeights.length > 0).map((l) => esc(l.name));
  // Layer names come from model.json: escaped before they are laid out in lines.
  const frozen = r.split.frozen.map(esc).join(', ');
  const per = median(r.history.map((h) => h.seconds));
  const lines = [
    r.cache
      ? `frozen: ${frozen}; cached the output of '${esc(r.split.boundary)}' [${r.split.featureShape.join(', ')}] for ${r.trainCount + r.valCount} samples in ${r.cacheSeconds.toFixed(2)} s`
      : `frozen: ${frozen}; no cache: they run on every batch`,
    `trained ${trained.join(', ')} for ${r.history.length} epoch(s) on ${r.trainCount} samples (${r.loss}${r.fromLogits ? ', from logits' : ''}): loss ${last.loss.toFixed(4)}, accuracy ${last.accuracy.toFixed(4)}` +
      (last.valLoss !== undefined ? `, val_loss ${last.valLoss.toFixed(4)}, val_accuracy ${last.valAccuracy!.toFixed(4)} on ${r.valCount}` : '') +
      `; ${per.toFixed(3)} s per epoch (median)`,
    `wrote ${esc(r.out)}: ${r.files.map(esc).join(', ')} (${bytesText(r.bytes)})`,
  ];
  return lines.join('\n');
}

export function registerFinetune(program: Command): void {
  program
    .command('finetune')
    .description('Transfer learning: freeze the lower layers of a layers-model, cache their outputs once, train the layers above on your data')
    .argument('<model.json>', 'tfjs layers-model (model.json or its folder), e.g. the output of graft convert')
    .option('--data <X.npy>', 'inputs, samples first')
    .option('--labels <y.npy>', 'labels: integer class ids [N] or one-hot rows [N, classes]')
    .option('--freeze <re>', 'freeze layers whose names match (repeatable; layers already frozen in the model stay frozen)', collect)
    .option('--cache', 'train on cached outputs of the frozen layers (default)')
    .option('--no-cache', 'run the frozen layers on every batch instead')
    .option('--epochs <n>', 'passes over the data (default 10)')
    .option('--batch-size <n>', 'samples per step (default 32)')
    .option('--learning-rate <r>', "Adam's learning rate (default 0.001)")
    .option('--validation-split <f>', 'fraction of samples, from the end, held out for validation (default 0)')
    .option('-o, --out <dir>', 'output folder for the trained model (written atomically; must be empty or absent unless --force)')
    .option('--json', 'print one JSON object: secondsPerEpoch, cacheSeconds, loss, accuracy, valLoss, valAccuracy, …')
    .option('-f, --force', 'replace a non-empty output folder')
    .action((model: string, flags: FinetuneFlags) =>
      runCommand(async () => {
        if (!flags.data) throw new GraftError('USAGE', 'finetune needs --data <X.npy>');
        if (!flags.labels) throw new GraftError('USAGE', 'finetune needs --labels <y.npy>');
        if (!flags.out) throw new GraftError('USAGE', 'finetune needs --out <dir>');
        const epochs = positiveInteger(flags.epochs, '--epochs', 10);
        const batchSize = positiveInteger(flags.batchSize, '--batch-size', 32);
        const learningRate = number(flags.learningRate, '--learning-rate', 0.001, (n) => n > 0, 'a positive number');
        const validationSplit = number(flags.validationSplit, '--validation-split', 0, (n) => n >= 0 && n < 1, 'a fraction in [0, 1)');
        // Progress goes to stderr, so it never mixes with --json on stdout.
        const progress = process.stderr.isTTY === true;
        // tfjs loads only when a command needs it, so inspect/convert start fast.
        const { finetune } = await import('../../transfer/finetune');
        const report = await finetune({
          model,
          data: flags.data,
          labels: flags.labels,
          freeze: flags.freeze,
          cache: flags.cache ?? true,
          epochs,
          batchSize,
          learningRate,
          validationSplit,
          out: flags.out,
          force: flags.force,
          onEpoch: progress ? (s) => printErr(epochLine(s)) : undefined,
        });
        if (flags.json) printJson(finetuneJson(report));
        else printOut(summaryText(report));
      }),
    );
}
