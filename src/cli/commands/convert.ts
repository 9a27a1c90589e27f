import * as path from 'path';
import type { Command } from 'commander';
import { BACKEND_NAMES, BackendName } from '../../backend';
import { QUANTIZE_DTYPES, QuantizeDType } from '../../output/quantize';
import { convert, ConvertEngine, ConvertReport, reportJson } from '../../convert';
import { GraftError } from '../../errors';
import type { Convention } from '../../formats/types';
import { shapeText, table, bytesText } from '../format';
import { progressBar } from '../progress';
import { collect, printErr, printOut, runCommand } from '../run';
import { prepareFileAtomically, stripTrailingSlashes } from '../../output/atomic';
import { escapeUnprintable, printable } from '../../errors';

interface ConvertFlags {
  out?: string;
  target?: string;
  map?: string;
  from?: string;
  include?: string[];
  exclude?: string[];
  freeze?: string[];
  report?: string;
  force?: boolean;
  dryRun?: boolean;
  key?: string;
  shardSize?: string;
  strict?: boolean;
  allowMissing?: boolean;
  match?: string;
  engine?: string;
  backend?: string;
  quantize?: string;
  quantizeWeights?: string[];
  quiet?: boolean;
  verbose?: boolean;
  inputShape?: string[];
}

/** `--input-shape name=1,3,224,224` (repeatable) → { name: [1, 3, 224, 224] }. */
export function parseInputShapes(specs: string[] | undefined): Record<string, number[]> | undefined {
  if (!specs?.length) return undefined;
  const out: Record<string, number[]> = {};
  for (const spec of specs) {
    const m = /^(.+)=(\d+(?:,\d+)*)$/.exec(spec.trim());
    if (!m) throw new GraftError('USAGE', `--input-shape ${JSON.stringify(spec)} is not like input=1,3,224,224`);
    out[m[1]] = m[2].split(',').map(Number);
    if (out[m[1]].some((d) => d < 1)) throw new GraftError('USAGE', `--input-shape ${JSON.stringify(spec)}: dimensions must be positive`);
  }
  return out;
}

/** Parses `4MB`, `512k`, `1048576`, `1GiB` into bytes. */
export function parseSize(text: string): number {
  const m = /^(\d{1,16}(?:\.\d{1,16})?)\s*([kmg]?)(i?b)?$/i.exec(text.trim());
  if (!m) throw new GraftError('USAGE', `--shard-size ${JSON.stringify(printable(text, 40))} is not a size like 4MB or 1048576`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes < 1024) throw new GraftError('USAGE', '--shard-size must be at least 1 KiB');
  // A shard is one file written from one buffer: beyond 1 GiB is never useful, and huge values
  // (99999999999999999999) are not sizes at all.
  if (!Number.isSafeInteger(bytes) || bytes > MAX_SHARD_BYTES) throw new GraftError('USAGE', `--shard-size must be at most 1 GiB, not ${printable(text, 40)}`);
  return bytes;
}

const MAX_SHARD_BYTES = 1024 ** 3;

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description('Graft the weights of a source file onto a tfjs layers-model and write model.json + shards')
    .argument('<source>', 'source weight file (or TF checkpoint prefix)')
    .option('-o, --out <dir>', 'output folder (written atomically; must be empty or absent unless --force)')
    .option('-t, --target <model.json>', 'target tfjs layers-model JSON, with or without weightsManifest (not needed when the source carries a topology: Keras .h5/.keras, tfjs, ONNX graphs)')
    .option('-m, --map <table>', 'mapping table (JSON or YAML): rename, scopes, tensors, ignore')
    .option('--from <convention>', 'source naming/layout convention: torch | keras | tf (default: inferred)')
    .option('--include <re>', 'restore only target variables matching this regex (repeatable)', collect)
    .option('--exclude <re>', 'do not restore target variables matching this regex (repeatable)', collect)
    .option('--freeze <re>', 'mark layers whose names match as trainable: false (repeatable)', collect)
    .option('--report <file>', 'write a JSON report: assigned, missing, unused, skipped')
    .option('--key <key>', 'for nested PyTorch checkpoints: the key holding the state dict')
    .option('--shard-size <size>', 'maximum shard size, e.g. 4MB (default 4MB)')
    .option('--match <how>', 'pair sources with targets by "name" (default) or by "order" of weighted layers (anonymous ONNX exports)')
    .option('--allow-missing', 'accept selected target variables that no source feeds: they keep fresh initialisation (default: fail before writing)')
    .option('--strict', 'also fail when a variable no source feeds would keep the target\'s own weights')
    .option('-f, --force', 'replace a non-empty output folder')
    .option('-n, --dry-run', 'print the plan and write nothing')
    .option('--quantize <dtype>', `store float32 weights as ${QUANTIZE_DTYPES.join(' | ')} (as tensorflowjs_converter; tfjs dequantizes on load)`)
    .option('--quantize-weights <pattern>', 'quantize only weights whose names match: a glob (dense_*/kernel) or /regex/ (repeatable; default: every float32 weight)', collect)
    .option('--engine <engine>', 'auto (default: stream tensor by tensor when possible, else build the model in tfjs) | stream | tfjs')
    .option('--backend <name>', `tfjs backend for the tfjs engine: ${BACKEND_NAMES.join(' | ')} (implies --engine tfjs)`)
    .option('--input-shape <name=dims>', 'ONNX sources built without --target: fix an input\'s open dimensions, e.g. input=1,3,224,224 (repeatable)', collect)
    .option('-q, --quiet', 'print nothing but errors')
    .option('-v, --verbose', 'also print the engine, backend and timing')
    .action((source: string, flags: ConvertFlags) =>
      runCommand(async () => {
        if (flags.from && !['torch', 'keras', 'tf'].includes(flags.from)) {
          throw new GraftError('USAGE', `--from must be torch, keras or tf, not ${JSON.stringify(flags.from)}`);
        }
        if (flags.match && flags.match !== 'name' && flags.match !== 'order') {
          throw new GraftError('USAGE', `--match must be name or order, not ${JSON.stringify(flags.match)}`);
        }
        if (!flags.out && !flags.dryRun) throw new GraftError('USAGE', 'convert needs --out <dir> (or --dry-run)');
        if (flags.engine && !['auto', 'stream', 'tfjs'].includes(flags.engine)) {
          throw new GraftError('USAGE', `--engine must be auto, stream or tfjs, not ${JSON.stringify(flags.engine)}`);
        }
        if (flags.backend && !(BACKEND_NAMES as readonly string[]).includes(flags.backend)) {
          throw new GraftError('USAGE', `--backend must be ${BACKEND_NAMES.join(', ')}, not ${JSON.stringify(flags.backend)}`);
        }
        if (flags.quantize && !(QUANTIZE_DTYPES as readonly string[]).includes(flags.quantize)) {
          throw new GraftError('USAGE', `--quantize must be ${QUANTIZE_DTYPES.join(', ')}, not ${JSON.stringify(flags.quantize)}`);
        }
        const shardBytes = flags.shardSize ? parseSize(flags.shardSize) : undefined;
        // `out/` is `out`: the symlink refusal must see the link itself, not the folder it names.
        const out = flags.out === undefined ? undefined : stripTrailingSlashes(flags.out);
        // The report's file is created now, so a report that cannot be written fails before
        // --out is committed rather than after.
        // (A report inside --out itself can only be written once --out exists.)
        const reportInOut = out !== undefined && flags.report !== undefined && isInsideFolder(out, flags.report);
        const reportFile = flags.report && !flags.dryRun && !reportInOut ? prepareFileAtomically(flags.report) : undefined;
        const started = process.hrtime.bigint();
        const bar = progressBar({ quiet: flags.quiet || flags.dryRun });
        let report: ConvertReport;
        try {
          report = await convert({
            source,
            out,
            target: flags.target,
            map: flags.map,
            from: flags.from as Convention | undefined,
            include: flags.include,
            exclude: flags.exclude,
            freeze: flags.freeze,
            key: flags.key,
            shardBytes,
            force: flags.force,
            dryRun: flags.dryRun,
            strict: flags.strict,
            allowMissing: flags.allowMissing,
            match: flags.match as 'name' | 'order' | undefined,
            engine: flags.engine as ConvertEngine | undefined,
            backend: flags.backend as BackendName | undefined,
            quantize: flags.quantize as QuantizeDType | undefined,
            quantizeWeights: flags.quantizeWeights,
            inputShapes: parseInputShapes(flags.inputShape),
            onProgress: (p) => bar.update({ done: p.bytes, total: p.totalBytes, detail: `${p.weights}/${p.totalWeights} weights` }),
          });
        } catch (e) {
          reportFile?.discard();
          throw e;
        } finally {
          bar.stop();
        }
        if (reportFile) reportFile.commit(`${JSON.stringify(reportJson(report), null, 2)}\n`);
        else if (flags.report) prepareFileAtomically(flags.report).commit(`${JSON.stringify(reportJson(report), null, 2)}\n`);
        if (!flags.quiet) {
          for (const w of report.warnings) printErr(`graft: warning: ${esc(w)}`);
          if (flags.verbose) printErr(verboseText(report, Number(process.hrtime.bigint() - started) / 1e9));
          if (flags.dryRun) printOut(planText(report));
          else printOut(summaryText(report));
        }
        // A dry run exits as the real run would.
        if (report.refusal) throw report.refusal;
      }),
    );
}

/** A name from a file (or a path), escaped before it is laid out in lines and columns. */
const esc = (text: string): string => escapeUnprintable(text);

function isInsideFolder(dir: string, file: string): boolean {
  const rel = path.relative(path.resolve(dir), path.resolve(file));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

export function planText(r: ConvertReport): string {
  // Names come from files: each escaped (esc) before it is laid out in lines and columns.
  const lines: string[] = [`plan: ${esc(r.source)} (${r.format}, ${r.convention} convention) → ${esc(String(r.target))}`];
  const rows = r.plan.assignments.map((a, i) => [a.sources.map(esc).join(' + '), a.sourceShapes.map(shapeText).join(' + '), r.assigned[i]?.transform ?? a.transform.kind, esc(a.target), shapeText(a.targetShape)]);
  if (rows.length) lines.push(table(rows, ['source', 'shape', 'transform', 'target', 'shape']));
  for (const a of r.assigned) if (a.note) lines.push(`${esc(a.target)}: ${esc(a.note)}`);
  lines.push(...listing(r));
  for (const e of r.plan.errors) lines.push(`error: ${esc(e.message)}`);
  lines.push('(dry run: nothing written)');
  return lines.join('\n');
}

function listing(r: ConvertReport): string[] {
  const out: string[] = [];
  const show = (label: string, items: string[]): void => {
    if (items.length) out.push(`${label} (${items.length}): ${items.map(esc).join(', ')}`);
  };
  if (r.missing.length) out.push(`missing (${r.missing.length}${r.refusal ? '' : ', kept fresh initialisation'}): ${r.missing.map(esc).join(', ')}`);
  if (r.kept.length) out.push(`kept (${r.kept.length}, the target's own weights): ${r.kept.map(esc).join(', ')}`);
  show('unused', r.unused);
  show('skipped', r.skipped);
  show('ignored', r.ignored);
  show('frozen', r.frozen);
  return out;
}

/** `-v`: how the work was done. */
export function verboseText(r: ConvertReport, seconds: number): string {
  const lines = [`engine: ${r.engine}${r.engineReason ? ` (${r.engineReason})` : ''}`, `backend: ${r.backend ?? 'none'}`];
  if (r.bytes !== undefined) lines.push(`time: ${seconds.toFixed(2)} s, ${bytesText(r.bytes)} written (${bytesText(Math.round(r.bytes / Math.max(seconds, 1e-3)))}/s)`);
  else lines.push(`time: ${seconds.toFixed(2)} s`);
  return lines.join('\n');
}

/** Output files: all of them when few, else model.json and the range of shards. */
function filesText(files: string[]): string {
  if (files.length <= 6) return files.map(esc).join(', ');
  const shards = files.filter((f) => f !== 'model.json');
  return `model.json + ${shards.length} shards (${shards[0]} … ${shards[shards.length - 1]})`;
}

function quantizationText(r: ConvertReport): string | undefined {
  const q = r.quantization;
  if (!q) return undefined;
  const worst = q.weights.reduce<{ name: string; maxError: number } | undefined>((w, x) => (!w || x.maxError > w.maxError ? x : w), undefined);
  return `quantized ${q.weights.length} weight(s) to ${q.dtype}: ${bytesText(q.bytesBefore)} → ${bytesText(q.bytesAfter)} (saved ${bytesText(q.bytesSaved)}); largest error ${q.maxError.toPrecision(3)}${worst ? ` (${esc(worst.name)})` : ''}`;
}

/** For models built from an ONNX graph: how each input and output is laid out in tfjs. */
function graphText(r: ConvertReport): string[] {
  if (!r.graph) return [];
  const line = (kind: string, t: NonNullable<ConvertReport['graph']>['inputs'][number]) =>
    `${kind} '${t.name}': ONNX [${t.onnxShape.map((d) => d ?? 'N').join(', ')}] → tfjs [${t.tfjsShape.map((d) => d ?? 'N').join(', ')}]${t.perm ? ` (${t.layout}, perm [${t.perm}])` : ' (same order)'}`;
  return [`built a ${r.graph.layers.length}-weighted-layer model from the graph`, ...r.graph.inputs.map((t) => line('input', t)), ...r.graph.outputs.map((t) => line('output', t))];
}

export function summaryText(r: ConvertReport): string {
  const lines = [
    `restored ${r.assigned.length} variable(s) from ${esc(r.source)} (${r.format}, ${r.convention} convention) into ${esc(String(r.out))}`,
    table(r.assigned.map((a) => [esc(a.target), '←', esc(a.source), a.transform === 'identity' ? '' : `(${a.transform})`])),
    ...listing(r),
    ...graphText(r),
    quantizationText(r) ?? '',
    `wrote ${filesText(r.files ?? [])} (${bytesText(r.bytes ?? 0)})`,
  ];
  if (r.needsLayers) lines.push(`note: this model uses layers from tfjs-graft/layers: import 'tfjs-graft/layers' before tf.loadLayersModel`);
  return lines.filter(Boolean).join('\n');
}
