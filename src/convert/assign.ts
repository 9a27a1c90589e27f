import * as tf from '@tensorflow/tfjs';
import { GraftError } from '../errors';
import type { RawTensor, WeightReader } from '../formats/types';
import type { Assignment, Plan } from '../mapping/plan';
import { applyTransform } from '../transforms';
import { toFloat32, toInt32 } from '../transforms/dtype';

/** One planned assignment with its data converted to the target's layout and dtype. */
export interface ConvertedWeight {
  assignment: Assignment;
  data: Float32Array | Int32Array;
}

/** Reads and transforms the sources of one assignment (the data a target variable will hold). */
export async function convertAssignment(reader: WeightReader, a: Assignment, targetDType: 'float32' | 'int32' = 'float32'): Promise<Float32Array | Int32Array> {
  const raws: RawTensor[] = [];
  for (const name of a.sources) raws.push(await reader.read(name));
  if (targetDType === 'int32') {
    if (a.transform.kind !== 'identity') throw new GraftError('UNSUPPORTED', `int32 target '${a.target}' only takes identity transforms`, { file: reader.path });
    return toInt32(raws[0], reader.path);
  }
  const floats = raws.map((r) => toFloat32(r, reader.path));
  const out = applyTransform(a.transform, floats, a.sourceShapes, a.targetShape);
  const want = a.targetShape.reduce((x, y) => x * y, 1);
  if (out.length !== want) {
    throw new GraftError('SHAPE_MISMATCH', `transform ${a.transform.kind} produced ${out.length} values for target '${a.target}' [${a.targetShape}]`, { file: reader.path, tensor: a.sources[0] });
  }
  return out;
}

/** Refuses a plan with errors, naming every problem on one line each. */
export function assertPlanUsable(plan: Plan, file?: string): void {
  if (plan.errors.length === 0) return;
  const first = plan.errors[0];
  const more = plan.errors.length > 1 ? ` (and ${plan.errors.length - 1} more: ${plan.errors.slice(1).map((e) => e.target).join(', ')})` : '';
  throw new GraftError(first.message.includes('does not fit') ? 'SHAPE_MISMATCH' : 'MAPPING', first.message + more, { file });
}

/**
 * Assigns a plan into a live model, placeholder-style: every source is read, converted and
 * checked first; only then are the variables written, so a failure leaves the model untouched.
 */
export async function assignPlan(model: tf.LayersModel, reader: WeightReader, plan: Plan): Promise<ConvertedWeight[]> {
  assertPlanUsable(plan, reader.path);
  const variables = new Map(model.weights.map((w) => [w.originalName, w]));
  const converted: ConvertedWeight[] = [];
  for (const a of plan.assignments) {
    const v = variables.get(a.target);
    if (!v) throw new GraftError('MAPPING', `target model has no variable '${a.target}'`, { file: reader.path });
    const data = await convertAssignment(reader, a, v.dtype === 'int32' ? 'int32' : 'float32');
    converted.push({ assignment: a, data });
  }
  for (const c of converted) {
    const v = variables.get(c.assignment.target)!;
    const t = tf.tensor(c.data, c.assignment.targetShape, v.dtype as 'float32' | 'int32');
    v.write(t);
    t.dispose();
  }
  return converted;
}
