import type { BackendName } from '../backend';
import { GraftError } from '../errors';
import { readTextFile } from '../io/bytes';
import { MAX_JSON_BYTES } from '../io/budget';
import type { Convention } from '../formats/types';
import { EMPTY_TABLE, MappingTable, parseMappingTable } from '../mapping/table';
import { QUANTIZE_DTYPES, QuantizeDType, weightPattern } from '../output/quantize';
import type { TargetVariable } from '../topology/variables';
import type { QuantizeOptions } from './stream';

/**
 * What a conversion is asked to do (`ConvertOptions`), and the checks every option passes before
 * any output is touched: flags, regexes, the mapping table, quantization.
 */

/**
 * How the weights get to the output: `stream` moves them file to file one at a time without tfjs;
 * `tfjs` builds the live model and assigns into it (needed when unrestored variables must take
 * tfjs's initial values, or for layers graft cannot size alone); `auto` streams whenever it can.
 */
export type ConvertEngine = 'auto' | 'stream' | 'tfjs';

export interface ConvertOptions {
  /** Source weight file (or checkpoint prefix). */
  source: string;
  /** Output folder; required unless dryRun. */
  out?: string;
  /** A tfjs layers-model JSON (with or without weights) describing the target. */
  target?: string;
  /** A mapping table file, or an already-parsed table. */
  map?: string | MappingTable;
  /** Naming/layout convention of the source; inferred when absent. */
  from?: Convention;
  /** Regexes over target variable names: restore only these / not these. */
  include?: (string | RegExp)[];
  exclude?: (string | RegExp)[];
  /** Regexes over layer names to freeze (trainable: false). */
  freeze?: (string | RegExp)[];
  /** For nested PyTorch checkpoints: the key holding the state dict. */
  key?: string;
  shardBytes?: number;
  force?: boolean;
  dryRun?: boolean;
  /** Fail when a selected target variable has no source. */
  strict?: boolean;
  /**
   * Accept selected target variables that no source feeds and that have no value of their own
   * (they keep tfjs's fresh initialisation). Without it such a conversion fails before writing.
   */
  allowMissing?: boolean;
  /**
   * How sources find targets: by name (conventions and table), or by order — the source's weighted
   * modules/ops paired with the target's weighted layers in sequence (for anonymous ONNX exports).
   */
  match?: 'name' | 'order';
  /** Default `auto`. */
  engine?: ConvertEngine;
  /** Forces a tfjs backend (and with it the tfjs engine, the only one that uses a backend). */
  backend?: BackendName;
  /** Store float32 weights quantized, as tensorflowjs_converter's --quantize_* options do. */
  quantize?: QuantizeDType;
  /** Which weights to quantize: globs or `/regexes/` over weight names (default: every float32 weight). */
  quantizeWeights?: (string | RegExp)[];
  /** Graph sources (ONNX) built without --target: fixed shapes for inputs the file leaves open. */
  inputShapes?: Record<string, number[]>;
  /** Called as data is written (after each weight, and after each piece of a large one). */
  onProgress?: (p: ConvertProgress) => void;
}

export interface ConvertProgress {
  weights: number;
  totalWeights: number;
  bytes: number;
  totalBytes: number;
}

export function toRegexes(list: (string | RegExp)[] | undefined, flag: string): RegExp[] {
  return (list ?? []).map((r) => {
    if (r instanceof RegExp) return r;
    try {
      return new RegExp(r);
    } catch (e) {
      throw new GraftError('USAGE', `${flag} ${JSON.stringify(r)} is not a valid regex (${(e as Error).message})`);
    }
  });
}

function loadTable(map: ConvertOptions['map']): MappingTable {
  if (!map) return EMPTY_TABLE;
  if (typeof map !== 'string') return map;
  // Through FileSource: a FIFO or /dev/zero named as the table is refused, never read forever.
  return parseMappingTable(readTextFile(map, MAX_JSON_BYTES, 'mapping table'), map);
}

/** Options checked and parsed, before any file is opened for writing. */
export interface Checked {
  include: RegExp[];
  exclude: RegExp[];
  freeze: RegExp[];
  quantizePatterns: RegExp[];
  table: MappingTable;
  engine: ConvertEngine;
}

/** `outRequired`: false when the output goes to memory (convertInMemory), not a folder. */
export function checkOptions(options: ConvertOptions, outRequired = true): Checked {
  if (outRequired && !options.dryRun && !options.out) throw new GraftError('USAGE', '--out is required (or use --dry-run)');
  const engine = options.engine ?? 'auto';
  if (!['auto', 'stream', 'tfjs'].includes(engine)) throw new GraftError('USAGE', `engine must be auto, stream or tfjs, not ${JSON.stringify(engine)}`);
  if (options.backend && engine === 'stream') throw new GraftError('USAGE', 'a --backend is only used by the tfjs engine; the streaming engine needs none');
  if (options.quantize !== undefined && !QUANTIZE_DTYPES.includes(options.quantize)) {
    throw new GraftError('USAGE', `--quantize must be ${QUANTIZE_DTYPES.join(', ')}, not ${JSON.stringify(options.quantize)}`);
  }
  if (options.quantizeWeights?.length && !options.quantize) throw new GraftError('USAGE', '--quantize-weights needs --quantize float16|uint8|uint16');
  return {
    include: toRegexes(options.include, '--include'),
    exclude: toRegexes(options.exclude, '--exclude'),
    freeze: toRegexes(options.freeze, '--freeze'),
    quantizePatterns: (options.quantizeWeights ?? []).map((p) => (p instanceof RegExp ? p : weightPattern(p))),
    table: loadTable(options.map),
    engine: options.backend && engine === 'auto' ? 'tfjs' : engine,
  };
}

/** Which weights to quantize; a --quantize-weights pattern that selects nothing is refused. */
export function quantizeOptions(options: ConvertOptions, c: Checked, targets: readonly TargetVariable[]): QuantizeOptions | undefined {
  if (!options.quantize) return undefined;
  const floats = targets.filter((v) => v.dtype === 'float32').map((v) => v.name);
  const patterns = c.quantizePatterns;
  // A pattern that selects nothing is a typo, not a request to quantize nothing.
  const idle = patterns.filter((p) => !floats.some((n) => p.test(n)));
  if (idle.length) {
    throw new GraftError('USAGE', `--quantize-weights ${idle.map((p) => `'${p.source}'`).join(', ')} matches no float32 weight (weights: ${floats.slice(0, 12).join(', ')}${floats.length > 12 ? ', …' : ''})`);
  }
  return { dtype: options.quantize, selected: (name) => patterns.length === 0 || patterns.some((p) => p.test(name)) };
}

