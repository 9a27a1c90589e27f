/** Topologies written the way Keras and tfjs write them (configs abbreviated: tfjs fills defaults). */

export type Json = Record<string, unknown>;

export const L = (className: string, name: string, config: Json = {}): Json => ({ class_name: className, config: { name, ...config } });
export const seq = (name: string, layers: Json[]): Json => ({ class_name: 'Sequential', config: { name, layers }, keras_version: '2.15.0', backend: 'tensorflow' });
export const node = (entry: Json, ...inputs: (string | [string, number, number])[]): Json => ({
  ...entry,
  name: (entry.config as Json).name,
  inbound_nodes: inputs.length ? [inputs.map((i) => (typeof i === 'string' ? [i, 0, 0, {}] : [...i, {}]))] : [],
});
export const functional = (name: string, layers: Json[], inputs: string[], outputs: (string | [string, number, number])[]): Json => ({
  class_name: 'Model',
  config: { name, layers, input_layers: inputs.map((i) => [i, 0, 0]), output_layers: outputs.map((o) => (typeof o === 'string' ? [o, 0, 0] : o)) },
  keras_version: '2.15.0',
  backend: 'tensorflow',
});
export const input = (name: string, shape: (number | null)[]): Json => node(L('InputLayer', name, { batch_input_shape: shape, dtype: 'float32' }));

