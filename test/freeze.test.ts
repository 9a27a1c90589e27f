/**
 * topology/freeze.ts and the layer walk it uses (topology/walk.ts): `trainable: false` on the
 * layers a regex names, at any depth, on a copy; a regex that names nothing is an error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraftError } from '../src/errors';
import { freezeLayers } from '../src/topology/freeze';
import { isModelClass, walkLayers } from '../src/topology/walk';
import { functional, input, Json, L, node, seq } from './helpers/topologies';

/** A Sequential holding a functional model holding a Sequential, plus a wrapped layer. */
function nested(): Json {
  return seq('outer', [
    { class_name: 'Model', config: {
      name: 'mid',
      layers: [
        input('mid_in', [null, 6]),
        { ...seq('inner', [L('Dense', 'base1', { batch_input_shape: [null, 6], units: 5 }), L('BatchNormalization', 'base_bn')]), name: 'inner', inbound_nodes: [[['mid_in', 0, 0, {}]]] },
        node(L('Dense', 'base2', { units: 3 }), ['inner', 1, 0]),
      ],
      input_layers: [['mid_in', 0, 0]],
      output_layers: [['base2', 0, 0]],
    } },
    L('TimeDistributed', 'td', { layer: L('Dense', 'inside_td', { units: 2 }) }),
    L('Dense', 'head', { units: 2 }),
  ]);
}

const layerNames = (t: Json): string[] => {
  const names: string[] = [];
  walkLayers(t, (l) => names.push(String(l.config?.name)));
  return names;
};

test('walkLayers visits every layer in config order, nested models before their own layers', () => {
  assert.deepEqual(layerNames(nested()), ['mid', 'mid_in', 'inner', 'base1', 'base_bn', 'base2', 'td', 'head']);
  // tfjs converter layout (model_config inside modelTopology), Keras 2.0 bare-list Sequential configs.
  assert.deepEqual(layerNames({ keras_version: '2.1.0', model_config: nested() }), layerNames(nested()));
  assert.deepEqual(layerNames({ class_name: 'Sequential', config: [L('Dense', 'a'), L('Dense', 'b')] }), ['a', 'b']);
  // Entries that are not objects are skipped, not crashed on.
  assert.deepEqual(layerNames(seq('m', [null as unknown as Json, L('Dense', 'a'), 'x' as unknown as Json])), ['a']);
});

test('walkLayers stops entering nested models beyond maxDepth and survives 10 000 levels', () => {
  let deep: Json = L('Dense', 'leaf');
  for (let i = 0; i < 10_000; i++) deep = seq(`m${i}`, [deep]);
  let count = 0;
  walkLayers(deep, () => count++);
  assert.equal(count, 10_000);
  const depths: number[] = [];
  walkLayers(nested(), (_l, depth) => depths.push(depth), 1);
  // mid (0), its layers (1); the Sequential 'inner' at depth 1 is visited but not entered.
  assert.deepEqual(depths, [0, 1, 1, 1, 0, 0]);
});

test('isModelClass: Sequential, Model and Functional only', () => {
  for (const c of ['Sequential', 'Model', 'Functional']) assert.equal(isModelClass(c), true, c);
  for (const c of ['Dense', 'TimeDistributed', 'sequential', undefined, 3, 'constructor']) assert.equal(isModelClass(c), false, String(c));
});

test('freezeLayers marks matching layers at any depth on a copy and lists them', () => {
  const topology = nested();
  const original = JSON.stringify(topology);
  const { topology: frozenTopology, frozen } = freezeLayers(topology, [/^base/, /^head$/]);
  assert.deepEqual(frozen, ['base1', 'base_bn', 'base2', 'head']);
  assert.equal(JSON.stringify(topology), original, 'the input topology changed');
  const trainable = new Map<string, unknown>();
  walkLayers(frozenTopology, (l) => trainable.set(String(l.config?.name), l.config?.trainable));
  assert.deepEqual([...trainable].filter(([, t]) => t === false).map(([n]) => n), ['base1', 'base_bn', 'base2', 'head']);
  assert.equal(trainable.get('td'), undefined);
});

test('freezeLayers: a regex that matches no layer is a USAGE error naming it and the layers', () => {
  assert.throws(() => freezeLayers(functional('f', [input('x', [null, 2]), node(L('Dense', 'd', { units: 1 }), 'x')], ['x'], ['d']), [/^d$/, /^typo$/]), (e: unknown) =>
    e instanceof GraftError && e.code === 'USAGE' && /--freeze '\^typo\$' matches no layer \(layers: x, d\)/.test(e.message));
});
