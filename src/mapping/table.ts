import type * as YamlTypes from 'yaml';
import { GraftError, printable } from '../errors';
import { MAX_JSON_DEPTH, jsonTextDepthExceeds } from '../io/budget';
import { parseTransformName, TransformSpec } from '../transforms';

/**
 * A mapping table (`--map`), JSON or YAML:
 *
 * ```yaml
 * rename:            # ordered; the first rule whose regex matches a source name rewrites it
 *   - { from: '^backbone\.(.*)$', to: '$1' }
 * scopes:            # prefix remaps, like tf.train.init_from_checkpoint's assignment map
 *   old_scope/: new_scope/
 * tensors:           # explicit pairs; they override every automatic rule
 *   - { source: '1', target: 'fc1/kernel' }                  # transform chosen by the target's class
 *   - { source: 'w_out', target: 'head/kernel', transform: transpose }
 *   - { source: [lstm.bias_ih_l0, lstm.bias_hh_l0], target: 'lstm/bias', transform: sum }
 * ignore:            # regexes of source tensors to leave out
 *   - 'num_batches_tracked$'
 * ```
 */
export interface MappingTable {
  rename: { from: RegExp; to: string }[];
  scopes: { from: string; to: string }[];
  tensors: { sources: string[]; target: string; transform?: TransformSpec }[];
  ignore: RegExp[];
}

export const EMPTY_TABLE: MappingTable = { rename: [], scopes: [], tensors: [], ignore: [] };

const KNOWN_KEYS = new Set(['rename', 'scopes', 'tensors', 'ignore']);

/**
 * YAML with every warning an error: an unknown tag (`!!python/object`) would otherwise print a
 * multi-line warning block to stderr and be read as a plain value. Nothing is printed here.
 */
function parseYamlStrict(text: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const yaml = require('yaml') as typeof YamlTypes;
  const doc = yaml.parseDocument(text, { logLevel: 'silent', prettyErrors: false });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw new Error(problem.message);
  return doc.toJS({ maxAliasCount: 100 });
}

/** Parses table text. `file` only names the table in error messages. */
export function parseMappingTable(text: string, file = 'mapping table'): MappingTable {
  if (jsonTextDepthExceeds(text, MAX_JSON_DEPTH)) throw new GraftError('MAPPING', `nests more than ${MAX_JSON_DEPTH} levels deep`, { file });
  let doc: unknown;
  try {
    // The YAML parser loads only for YAML tables: JSON ones (and runs without --map) skip it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    doc = text.trimStart().startsWith('{') ? JSON.parse(text) : parseYamlStrict(text);
  } catch (e) {
    throw new GraftError('MAPPING', `is not valid JSON or YAML (${(e as Error).message.split('\n')[0]})`, { file });
  }
  if (doc === null || doc === undefined) return { ...EMPTY_TABLE };
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new GraftError('MAPPING', 'must be an object with rename/scopes/tensors/ignore', { file });
  const obj = doc as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    if (!KNOWN_KEYS.has(k)) throw new GraftError('MAPPING', `unknown key '${printable(k, 60)}' (expected rename, scopes, tensors, ignore)`, { file });
  }
  const fail = (msg: string): never => {
    throw new GraftError('MAPPING', msg, { file });
  };
  const regex = (src: unknown, where: string): RegExp => {
    if (typeof src !== 'string') fail(`${where} must be a regex string`);
    try {
      return new RegExp(src as string);
    } catch (e) {
      return fail(`${where}: invalid regex ${JSON.stringify(src)} (${(e as Error).message})`);
    }
  };
  const list = (key: string): unknown[] => {
    const v = obj[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) fail(`'${key}' must be a list`);
    return v as unknown[];
  };

  const rename = list('rename').map((r, i) => {
    const rule = r as Record<string, unknown>;
    if (!rule || typeof rule !== 'object') fail(`rename[${i}] must be {from, to}`);
    if (typeof rule.to !== 'string') fail(`rename[${i}].to must be a string`);
    return { from: regex(rule.from, `rename[${i}].from`), to: rule.to as string };
  });

  let scopes: { from: string; to: string }[] = [];
  if (obj.scopes !== undefined) {
    if (!obj.scopes || typeof obj.scopes !== 'object' || Array.isArray(obj.scopes)) fail(`'scopes' must map old scope prefixes to new ones`);
    scopes = Object.entries(obj.scopes as Record<string, unknown>).map(([from, to]) => {
      if (typeof to !== 'string') fail(`scopes['${from}'] must be a string`);
      return { from, to: to as string };
    });
    // Longest prefix first, so `a/b/` wins over `a/`.
    scopes.sort((a, b) => b.from.length - a.from.length);
  }

  const tensors = list('tensors').map((p, i) => {
    const pair = p as Record<string, unknown>;
    if (!pair || typeof pair !== 'object') fail(`tensors[${i}] must be {source, target}`);
    const sources = typeof pair.source === 'string' ? [pair.source] : pair.source;
    if (!Array.isArray(sources) || sources.length === 0 || !sources.every((s) => typeof s === 'string')) fail(`tensors[${i}].source must be a tensor name or a list of names`);
    if (typeof pair.target !== 'string') fail(`tensors[${i}].target must be a target variable name like 'dense/kernel'`);
    let transform: TransformSpec | undefined;
    if (pair.transform !== undefined && pair.transform !== 'auto') {
      transform = typeof pair.transform === 'string' ? parseTransformName(pair.transform) : undefined;
      if (!transform) fail(`tensors[${i}].transform ${JSON.stringify(pair.transform)} is not one of auto, identity, transpose, conv, conv-transpose, depthwise, sum, broadcast, gru-kernel, gru-bias, dense-after-flatten`);
    }
    return { sources: sources as string[], target: pair.target as string, transform };
  });

  const ignore = list('ignore').map((r, i) => regex(r, `ignore[${i}]`));
  return { rename, scopes, tensors, ignore };
}

/** The name a source tensor is known by after scope remaps and the first matching rename rule. */
export function aliasOf(name: string, table: MappingTable): string {
  let alias = name;
  for (const s of table.scopes) {
    if (alias.startsWith(s.from)) {
      alias = s.to + alias.slice(s.from.length);
      break;
    }
  }
  for (const r of table.rename) {
    if (r.from.test(alias)) return alias.replace(r.from, r.to);
  }
  return alias;
}
