import { GraftError } from '../errors';
import { sealReader } from '../formats/registry';
import { openTfjsModel, TfjsHandler } from '../formats/tfjs/reader';
import type { OnnxExporter } from '../topology/onnx/names';
import type { TensorInfo, WeightReader } from '../formats/types';
import type { Plan } from '../mapping/plan';
import type { TargetVariable } from '../topology/variables';
import { lazy, TargetJson } from './engine';

/**
 * What a conversion restores, keeps and fails on, decided before anything is written (in the
 * spirit of timm's load_pretrained: report what is missing and unexpected, refuse what would be
 * silently wrong).
 * - restore: what the plan assigns (--include/--exclude, the table, the convention);
 * - keep: variables nothing restores keep the target model.json's own values when it has them
 *   (checked as strictly as tfjs loads them);
 * - fail on: a plan with errors (shape mismatches, unusable transforms), a plan that restores
 *   nothing while variables are missing, missing variables with no value of their own to keep
 *   (strict by default, as PyTorch's load_state_dict: a partial restore that reports success is a
 *   wrong model; allowMissing accepts tfjs's fresh initialisation), and with --strict also
 *   variables that would keep the target's own values.
 */

/** How many names a one-line refusal lists before counting the rest. */
const SHOWN = 5;

function names(list: readonly string[]): string {
  return list.slice(0, SHOWN).join(', ') + (list.length > SHOWN ? `, … (${list.length - SHOWN} more)` : '');
}

export interface PlanPolicy {
  strict?: boolean;
  allowMissing?: boolean;
  /** The target's model.json has weights: variables nothing restores keep them. */
  keptOwn: boolean;
  /** Which program wrote an ONNX source (its naming says what to suggest). */
  exporter?: OnnxExporter;
}

/** Why the plan must not be written, or undefined. */
export function planRefusal(plan: Plan, policy: PlanPolicy, file: string): GraftError | undefined {
  try {
    // assign.ts (and tfjs with it) is loaded only to word the refusal of a broken plan.
    if (plan.errors.length) lazy.assign().assertPlanUsable(plan, file);
  } catch (e) {
    if (e instanceof GraftError) return e;
    throw e;
  }
  const missing = plan.missing;
  if (missing.length === 0) return undefined;
  if (plan.assignments.length === 0) {
    const hint = policy.exporter === 'cntk'
      ? 'the file was written by CNTK, whose exports name no layers: pair them with --match order'
      : 'check --from, or map names with --map or --match order';
    return new GraftError('MAPPING', `no source tensor matched any selected target variable (missing: ${names(missing)}); ${hint}`, { file });
  }
  if (policy.keptOwn) {
    if (!policy.strict) return undefined;
    return new GraftError('MAPPING', `no source for ${missing.length} target variable(s) (they would keep the target's own weights; --strict refuses that): ${names(missing)}`, { file });
  }
  if (policy.allowMissing) return undefined;
  return new GraftError(
    'MAPPING',
    `${missing.length} selected target variable(s) get no source tensor and the target has no weights of its own to keep: ${names(missing)}; map them (--map, --match order), leave them out (--exclude), or accept fresh initialisation with --allow-missing`,
    { file },
  );
}

/**
 * Values for variables nothing restores, from the target model.json's own weights: a reader over
 * them, nothing when the plan restores every variable, or why they cannot serve (then tfjs must
 * load the target, and report the same problem, or initialise them).
 */
export async function keptWeights(target: TargetJson, variables: readonly TargetVariable[], plan: Plan): Promise<WeightReader | string | undefined> {
  const restored = new Set(plan.assignments.map((a) => a.target));
  if (variables.every((v) => restored.has(v.name))) return undefined;
  if (!target.weightsFile) return 'variables that nothing restores need tfjs initial values (the target has no weights of its own)';
  let kept: WeightReader;
  try {
    // The target's model.json was read once already: its manifest is not parsed again.
    const opened = target.read ? openTfjsModel(target.weightsFile, target.read.json as unknown as Record<string, unknown>, target.read.volume) : TfjsHandler.open(target.weightsFile);
    kept = sealReader(await opened, target.weightsFile);
  } catch (e) {
    // tfjs, loading the same files, words the problem as the tfjs engine always has.
    if (e instanceof GraftError) return `the target's weights cannot be read (${e.message})`;
    throw e;
  }
  const manifest = new Map<string, TensorInfo>(kept.list().map((t) => [t.name, t]));
  // tfjs loads a target's weights strictly: same names, same shapes, nothing more.
  const why = manifest.size !== variables.length
    ? `the target's weights name ${manifest.size} variables, its topology has ${variables.length}`
    : variables.map((v) => {
      const t = manifest.get(v.name);
      if (!t) return `the target's weights lack '${v.name}'`;
      if (t.shape.join() !== v.shape.join() || t.dtype !== v.dtype) return `the target's weight '${v.name}' is ${t.dtype} [${t.shape}], the model needs ${v.dtype} [${v.shape}]`;
      return '';
    }).find(Boolean);
  if (why) {
    await kept.close();
    return why;
  }
  return kept;
}

