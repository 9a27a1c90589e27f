import * as tf from '@tensorflow/tfjs';

/**
 * Static marker carried by every class this package registers. It lets a second copy of the
 * module (e.g. both `src` and `dist` loaded in one process) recognise a registry entry as ours,
 * so it neither registers twice nor subclasses our class instead of tfjs's own.
 */
export const GRAFT_MARKER = 'graftExtension';

type RegisteredClass = { className: string; [GRAFT_MARKER]?: boolean };

/**
 * tfjs's own class registered under `className`, unwrapping graft subclasses already in the
 * registry. Taken from the registry rather than by constructing a layer through `tf.layers.*`,
 * which would consume a layer-name uid and shift auto-generated names like `gru_1`.
 */
export function tfjsOwnClass<T>(className: string): T {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (entry === undefined) {
    throw new Error(`tfjs has no registered class '${className}'; is @tensorflow/tfjs loaded?`);
  }
  let cls = entry[0] as unknown as RegisteredClass;
  while (Object.prototype.hasOwnProperty.call(cls, GRAFT_MARKER)) {
    cls = Object.getPrototypeOf(cls) as RegisteredClass;
  }
  return cls as unknown as T;
}

/** Whether the class currently registered under `className` is one of ours (from any copy). */
export function registeredIsGraft(className: string): boolean {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  return entry !== undefined && Object.prototype.hasOwnProperty.call(entry[0], GRAFT_MARKER);
}
