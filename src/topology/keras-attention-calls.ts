/**
 * How Keras calls its attention layers, rewritten into what tfjs model JSON can express.
 *
 * Keras calls `Attention` / `AdditiveAttention` on a list `[query, value(, key)]` and
 * `MultiHeadAttention` as `mha(query, value, key=None, use_causal_mask=False, …)`, so Keras 2
 * configs hold the value/key as tensor references inside the call kwargs
 * (`[["q", 0, 0, {"value": ["v", 0, 0]}]]`) and Keras 3 configs as keras tensors in `args` or
 * `kwargs`. tfjs model JSON lists a node's inputs positionally and its predict() ignores call
 * kwargs, so for these classes:
 *   - inputs become the positional list `[query, value(, key)]`;
 *   - a key equal to the value, and a value equal to the query, are dropped (graft's layers read
 *     `[x]` as `[x, x]`): tfjs's predict() disposes a tensor fed twice to one layer before its
 *     other consumers run;
 *   - `use_causal_mask=True` moves into the layer config (`causal` for Attention and
 *     AdditiveAttention, as Keras ≤ 2.10 wrote it; `use_causal_mask` for MultiHeadAttention);
 *   - explicit masks and `return_attention_scores=True` are refused.
 */

type Json = Record<string, unknown>;
type Ref = [string, number, number];

export const ATTENTION_CALL_CLASSES = new Set(['Attention', 'AdditiveAttention', 'MultiHeadAttention']);

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A Keras 2 tensor reference `[layer, node, tensor]`. */
function isKeras2Ref(v: unknown): v is Ref {
  return Array.isArray(v) && v.length >= 3 && typeof v[0] === 'string' && Number.isInteger(v[1]) && Number.isInteger(v[2]);
}

/** Keras 3 keras tensors (`__keras_tensor__`) anywhere in a value, in order. */
function keras3Tensors(value: unknown, out: Ref[] = []): Ref[] {
  if (Array.isArray(value)) {
    for (const v of value) keras3Tensors(v, out);
  } else if (isObject(value)) {
    if (value.class_name === '__keras_tensor__' && isObject(value.config)) {
      const h = value.config.keras_history;
      if (Array.isArray(h) && typeof h[0] === 'string') out.push([h[0], Number(h[1] ?? 0), Number(h[2] ?? 0)]);
    } else {
      for (const v of Object.values(value)) keras3Tensors(v, out);
    }
  }
  return out;
}

const absent = (v: unknown): boolean => v === undefined || v === null || (Array.isArray(v) && v.every((x) => x === null));
const same = (a: Ref, b: Ref): boolean => a[0] === b[0] && a[1] === b[1] && a[2] === b[2];

/**
 * The inbound nodes of an attention layer in tfjs's positional form. `config` (the translated
 * layer config) receives the causal flag; `keras3Ref` maps a Keras 3 `keras_history` to the
 * tfjs node reference (nested models shift node indices); `refuse` throws the caller's error.
 */
export function attentionInboundNodes(className: string, nodes: unknown, config: Json, refuse: (why: string) => never,
  keras3Ref: (ref: Ref) => Ref): unknown[] {
  if (!Array.isArray(nodes)) return [];
  let causal: boolean | undefined;
  const translated = nodes.map((node) => {
    let inputs: Ref[];
    let kwargs: Json;
    const tensorKwargs = new Map<string, Ref[]>();
    if (Array.isArray(node)) {
      inputs = node.map((entry) => {
        if (!isKeras2Ref(entry)) refuse('has a malformed inbound node');
        return [entry[0], entry[1], entry[2]] as Ref;
      });
      const first = node[0] as unknown[] | undefined;
      kwargs = isObject(first?.[3]) ? { ...first[3] } : {};
      for (const [k, v] of Object.entries(kwargs)) if (isKeras2Ref(v)) tensorKwargs.set(k, [[v[0], v[1], v[2]]]);
    } else if (isObject(node)) {
      inputs = keras3Tensors(node.args).map(keras3Ref);
      kwargs = isObject(node.kwargs) ? { ...node.kwargs } : {};
      for (const [k, v] of Object.entries(kwargs)) {
        const refs = keras3Tensors(v);
        if (refs.length > 0) tensorKwargs.set(k, refs.map(keras3Ref));
      }
    } else {
      return refuse('has a malformed inbound node');
    }
    // mha(query, value=…, key=…): the keyword tensors take their positions after the query.
    for (const k of ['value', 'key']) {
      const refs = tensorKwargs.get(k);
      if (!refs) continue;
      if (refs.length !== 1) refuse(`passes ${refs.length} tensors as '${k}'`);
      if (k === 'key' && inputs.length < 2) refuse("is called with a key but no value");
      inputs.push(refs[0]);
      tensorKwargs.delete(k);
      delete kwargs[k];
    }
    for (const k of tensorKwargs.keys()) {
      refuse(`is called with the tensor argument '${k}' (an explicit mask), which graft does not translate`);
    }
    if (kwargs.return_attention_scores === true) refuse('returns its attention scores, a second output graft does not produce');
    const useCausal = kwargs.use_causal_mask;
    if (!absent(useCausal) && typeof useCausal !== 'boolean') refuse(`has use_causal_mask ${JSON.stringify(useCausal)}`);
    const nodeCausal = useCausal === true;
    if (causal !== undefined && causal !== nodeCausal) refuse('is shared between calls with and without use_causal_mask');
    causal = nodeCausal;
    const kept: Json = {};
    for (const [k, v] of Object.entries(kwargs)) {
      if (k === 'use_causal_mask' || k === 'return_attention_scores' || k === 'mask' || absent(v)) continue;
      if (k === 'training') kept[k] = v;
      else refuse(`is called with '${k}', which graft does not translate`);
    }
    if (inputs.length < 1 || inputs.length > 3) refuse(`is called on ${inputs.length} inputs (expected query, value and an optional key)`);
    if (inputs.length === 1) refuse('is called on a single tensor; Keras expects a query and a value');
    if (inputs.length === 3 && same(inputs[2], inputs[1])) inputs.pop();
    if (inputs.length === 2 && same(inputs[1], inputs[0])) inputs.pop();
    // tfjs takes a node's kwargs from its last entry; Keras 2 repeats them on every entry too.
    return inputs.map((ref) => [...ref, { ...kept }]);
  });
  if (causal) {
    if (className === 'MultiHeadAttention') config.use_causal_mask = true;
    else config.causal = true;
  }
  return translated;
}
