import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planGraft } from '../src/mapping/plan';
import { aliasOf, parseMappingTable } from '../src/mapping/table';
import { inferConvention, kerasKey, normalizeModulePath } from '../src/mapping/conventions';
import type { TargetVariable } from '../src/topology/variables';
import type { TensorInfo } from '../src/formats/types';
import { GraftError } from '../src/errors';

const src = (name: string, shape: number[], dtype: TensorInfo['dtype'] = 'float32'): TensorInfo => ({ name, dtype, shape, byteSize: shape.reduce((a, b) => a * b, 1) * 4 });

let layerCounter = 0;
function layer(name: string, className: string, weights: [string, number[]][], extra: Partial<TargetVariable> = {}): TargetVariable[] {
  const layerIndex = layerCounter++;
  return weights.map(([w, shape], i) => ({ name: `${name}/${w}`, layer: name, className, weight: w, shape, dtype: 'float32', indexInLayer: i, layerIndex, ...extra }));
}

test('torch convention: module paths match features.0 / features_0 / features/0', () => {
  assert.equal(normalizeModulePath('features.0'), normalizeModulePath('features_0'));
  assert.equal(normalizeModulePath('features/0'), normalizeModulePath('features_0'));
  for (const layerName of ['features_0', 'features/0', 'features.0']) {
    const plan = planGraft([src('features.0.weight', [8, 3, 3, 3]), src('features.0.bias', [8])], layer(layerName, 'Conv2D', [['kernel', [3, 3, 3, 8]], ['bias', [8]]]), { convention: 'torch' });
    assert.deepEqual(plan.assignments.map((a) => [a.sources[0], a.transform.kind]), [['features.0.weight', 'conv'], ['features.0.bias', 'identity']], layerName);
    assert.deepEqual(plan.errors, []);
  }
});

test('torch convention: BatchNorm names, num_batches_tracked ignored, LSTM biases summed', () => {
  const sources = [
    src('bn.weight', [4]), src('bn.bias', [4]), src('bn.running_mean', [4]), src('bn.running_var', [4]), src('bn.num_batches_tracked', [], 'int64'),
    src('rnn.weight_ih_l0', [12, 2]), src('rnn.weight_hh_l0', [12, 3]), src('rnn.bias_ih_l0', [12]), src('rnn.bias_hh_l0', [12]),
  ];
  const targets = [
    ...layer('bn', 'BatchNormalization', [['gamma', [4]], ['beta', [4]], ['moving_mean', [4]], ['moving_variance', [4]]]),
    ...layer('rnn', 'LSTM', [['kernel', [2, 12]], ['recurrent_kernel', [3, 12]], ['bias', [12]]]),
  ];
  const plan = planGraft(sources, targets, { convention: 'torch' });
  assert.deepEqual(plan.errors, []);
  assert.deepEqual(plan.ignored, ['bn.num_batches_tracked']);
  assert.deepEqual(plan.unused, []);
  const m = Object.fromEntries(plan.assignments.map((a) => [a.target, `${a.sources.join('+')}:${a.transform.kind}`]));
  assert.equal(m['bn/gamma'], 'bn.weight:identity');
  assert.equal(m['bn/moving_variance'], 'bn.running_var:identity');
  assert.equal(m['rnn/kernel'], 'rnn.weight_ih_l0:transpose');
  assert.equal(m['rnn/bias'], 'rnn.bias_ih_l0+rnn.bias_hh_l0:sum');
});

test('a Dense after a Flatten of a feature map gets the row reorder, a plain Dense a transpose', () => {
  const targets = [...layer('fc', 'Dense', [['kernel', [100, 6]]], { flattenInput: [5, 5, 4], flattenFrom: { layout: 'feature-map', layer: 'conv', className: 'Conv2D' } }), ...layer('out', 'Dense', [['kernel', [6, 2]]], { flattenInput: [6] })];
  const plan = planGraft([src('fc.weight', [6, 100]), src('out.weight', [2, 6])], targets, { convention: 'torch' });
  assert.deepEqual(plan.assignments.map((a) => a.transform), [{ kind: 'dense-after-flatten', channels: 4, spatial: [5, 5] }, { kind: 'transpose' }]);
  assert.match(plan.assignments[0].note ?? '', /rows reordered from channels-first: the Flatten takes the feature map of Conv2D 'conv'/);
});

test('a Dense after a Flatten of a sequence, or of a tensor graft cannot place, keeps its rows (the latter with a warning)', () => {
  for (const [layout, warned] of [['sequence', false], ['unknown', true]] as const) {
    const targets = layer('fc', 'Dense', [['kernel', [100, 6]]], { flattenInput: [25, 4], flattenFrom: { layout, layer: 'x', className: layout === 'sequence' ? 'LSTM' : 'Reshape' } });
    const plan = planGraft([src('fc.weight', [6, 100])], targets, { convention: 'torch' });
    assert.deepEqual(plan.assignments.map((a) => a.transform), [{ kind: 'transpose' }]);
    assert.equal(plan.warnings.length, warned ? 1 : 0, plan.warnings.join('\n'));
  }
});

test('include/exclude select targets; the rest are skipped and their sources unused', () => {
  const sources = ['h1', 'h2', 'h3'].flatMap((h) => [src(`${h}.weight`, [4, 4]), src(`${h}.bias`, [4])]);
  const targets = ['h1', 'h2', 'h3'].flatMap((h) => layer(h, 'Dense', [['kernel', [4, 4]], ['bias', [4]]]));
  const plan = planGraft(sources, targets, { convention: 'torch', include: [/^h[12]\//], exclude: [/bias$/] });
  assert.deepEqual(plan.assignments.map((a) => a.target), ['h1/kernel', 'h2/kernel']);
  assert.deepEqual(plan.skipped, ['h1/bias', 'h2/bias', 'h3/kernel', 'h3/bias']);
  assert.deepEqual(plan.unused, ['h1.bias', 'h2.bias', 'h3.weight', 'h3.bias']);
  assert.deepEqual(plan.missing, []);
});

test('missing targets are reported, not invented', () => {
  const plan = planGraft([src('a.weight', [2, 2])], [...layer('a', 'Dense', [['kernel', [2, 2]], ['bias', [2]]])], { convention: 'torch' });
  assert.deepEqual(plan.missing, ['a/bias']);
});

test('a shape that still disagrees names both tensors, both shapes and the transform tried', () => {
  const plan = planGraft([src('h4.weight', [24, 32])], layer('h4', 'Dense', [['kernel', [32, 16]]]), { convention: 'torch' });
  assert.equal(plan.assignments.length, 0);
  assert.equal(plan.errors.length, 1);
  assert.match(plan.errors[0].message, /layer 'h4': source 'h4.weight' \[24, 32\] does not fit target 'h4\/kernel' \[32, 16\] \(tried transpose: gives \[32, 24\]\)/);
});

test('mapping table: rename (first match wins), scopes, explicit pairs, ignore', () => {
  const table = parseMappingTable(`
rename:
  - { from: '^backbone\\.(.*)$', to: '$1' }
  - { from: '^(.*)$', to: 'never.$1' }
scopes:
  old/: new/
tensors:
  - { source: '7', target: 'head/kernel' }
  - { source: [x, y], target: 'head/bias', transform: sum }
ignore:
  - '^aux\\.'
`);
  assert.equal(aliasOf('backbone.conv.weight', table), 'conv.weight');
  assert.equal(aliasOf('old/dense/kernel', table), 'never.new/dense/kernel');
  const sources = [src('backbone.conv.weight', [2, 1, 1, 1]), src('7', [3, 2]), src('x', [3]), src('y', [3]), src('aux.w', [1])];
  const targets = [...layer('conv', 'Conv2D', [['kernel', [1, 1, 1, 2]]]), ...layer('head', 'Dense', [['kernel', [2, 3]], ['bias', [3]]])];
  const plan = planGraft(sources, targets, { convention: 'torch', table });
  assert.deepEqual(plan.errors, []);
  const m = Object.fromEntries(plan.assignments.map((a) => [a.target, [a.sources.join('+'), a.transform.kind, a.origin]]));
  assert.deepEqual(m['conv/kernel'], ['backbone.conv.weight', 'conv', 'convention']);
  assert.deepEqual(m['head/kernel'], ['7', 'transpose', 'table']); // a Dense kernel under torch: transposed
  assert.deepEqual(m['head/bias'], ['x+y', 'sum', 'table']);
  assert.deepEqual(plan.ignored, ['aux.w']);
});

test('mapping table errors are clear', () => {
  const bad = (text: string, re: RegExp): void => assert.throws(() => parseMappingTable(text, 'map.yaml'), (e: unknown) => e instanceof GraftError && e.code === 'MAPPING' && re.test(e.message));
  bad('renames: []', /unknown key 'renames'/);
  bad('rename: [{from: "(", to: ""}]', /invalid regex/);
  bad('tensors: [{source: a}]', /target must be/);
  bad('tensors: [{source: a, target: b, transform: flip}]', /transform "flip"/);
  bad('{"rename": ', /not valid JSON or YAML/);
  const plan = planGraft([src('a', [1])], layer('t', 'Dense', [['bias', [1]]]), { convention: 'keras', table: parseMappingTable('tensors: [{source: zz, target: t/bias}, {source: a, target: nope/bias}]') });
  assert.match(plan.errors.map((e) => e.message).join('\n'), /source has no such tensor/);
  assert.match(plan.errors.map((e) => e.message).join('\n'), /target model does not have/);
});

test('keras/tf conventions: :0 suffixes, cell scopes, TF1 weights/biases, object-graph keys, index form', () => {
  assert.deepEqual(kerasKey('model_weights/dense_1/kernel:0', 'keras')?.scopes.slice(-1), ['dense_1']);
  assert.deepEqual(kerasKey('lstm/lstm_cell/kernel', 'keras'), { scopes: ['lstm'], weight: 'kernel' });
  assert.deepEqual(kerasKey('hidden1/weights', 'tf'), { scopes: ['hidden1'], weight: 'kernel' });
  assert.deepEqual(kerasKey('layer_with_weights-2/bias/.ATTRIBUTES/VARIABLE_VALUE', 'tf'), { scopes: [], weight: 'bias', layerOrdinal: 2 });
  assert.equal(kerasKey('optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE', 'tf'), undefined);

  layerCounter = 0;
  const targets = [...layer('hidden1', 'Dense', [['kernel', [3, 2]], ['bias', [2]]]), ...layer('lstm', 'LSTM', [['kernel', [2, 8]]])];
  const tf1 = planGraft([src('hidden1/weights', [3, 2]), src('hidden1/biases', [2]), src('lstm/lstm_cell/kernel:0', [2, 8])], targets, { convention: 'tf' });
  assert.deepEqual(tf1.assignments.map((a) => [a.target, a.sources[0], a.transform.kind]), [
    ['hidden1/kernel', 'hidden1/weights', 'identity'], ['hidden1/bias', 'hidden1/biases', 'identity'], ['lstm/kernel', 'lstm/lstm_cell/kernel:0', 'identity'],
  ]);
  const tf2 = planGraft([src('layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE', [3, 2]), src('layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE', [2, 8])], targets, { convention: 'tf' });
  assert.deepEqual(tf2.assignments.map((a) => a.target), ['hidden1/kernel', 'lstm/kernel']);
  const k3 = planGraft([src('hidden1/0', [3, 2]), src('hidden1/1', [2])], targets, { convention: 'keras' });
  assert.deepEqual(k3.assignments.map((a) => [a.target, a.sources[0]]), [['hidden1/kernel', 'hidden1/0'], ['hidden1/bias', 'hidden1/1']]);
});

test('the convention is inferred from names when the format does not say', () => {
  assert.equal(inferConvention([src('fc.weight', [1]), src('fc.bias', [1])]), 'torch');
  assert.equal(inferConvention([src('dense/kernel:0', [1])]), 'keras');
  assert.equal(inferConvention([src('hidden1/weights', [1]), src('hidden1/biases', [1])]), 'tf');
  assert.equal(inferConvention([src('arr_0', [1])]), undefined);
});

test('--match order pairs ONNX ops with target layers in order, honouring Gemm transB', async () => {
  const { orderMatchingTable } = await import('../src/mapping/order');
  layerCounter = 0;
  const targets = [...layer('conv', 'Conv2D', [['kernel', [3, 3, 1, 4]], ['bias', [4]]]), ...layer('bn', 'BatchNormalization', [['gamma', [4]], ['beta', [4]], ['moving_mean', [4]], ['moving_variance', [4]]]), ...layer('fc', 'Dense', [['kernel', [4, 2]], ['bias', [2]]])];
  const sources = ['1', '2', '3', '4', '5', '6', '7', '8'].map((n, i) => src(n, [[4, 1, 3, 3], [4], [4], [4], [4], [4], [2, 4], [2]][i]));
  const ops = [
    { type: 'Conv', params: { weight: '1', bias: '2' } },
    { type: 'BatchNormalization', params: { scale: '3', bias: '4', mean: '5', var: '6' } },
    { type: 'Gemm', params: { weight: '7', bias: '8' }, attributes: { transB: 1 } },
  ];
  const plan = planGraft(sources, targets, { convention: 'torch', table: { rename: [], scopes: [], ignore: [], tensors: orderMatchingTable(sources, ops, targets) } });
  assert.deepEqual(plan.errors, []);
  assert.deepEqual(plan.assignments.map((a) => `${a.sources[0]}>${a.target}:${a.transform.kind}`), [
    '1>conv/kernel:conv', '2>conv/bias:identity', '3>bn/gamma:identity', '4>bn/beta:identity', '5>bn/moving_mean:identity', '6>bn/moving_variance:identity', '7>fc/kernel:transpose', '8>fc/bias:identity',
  ]);
  const noTrans = orderMatchingTable([src('7', [4, 2])], [{ type: 'Gemm', params: { weight: '7' } }], layer('fc2', 'Dense', [['kernel', [4, 2]]]).map((v) => ({ ...v, layerIndex: 0 })));
  assert.deepEqual(noTrans[0].transform, { kind: 'identity' });
});

test('--match order without an op graph groups tensors by module prefix', async () => {
  const { orderMatchingTable } = await import('../src/mapping/order');
  layerCounter = 0;
  const targets = [...layer('a', 'Dense', [['kernel', [3, 2]], ['bias', [2]]]), ...layer('b', 'Dense', [['kernel', [2, 1]]])];
  const pairs = orderMatchingTable([src('x.weight', [2, 3]), src('x.bias', [2]), src('y.weight', [1, 2])], undefined, targets);
  assert.deepEqual(pairs.map((p) => [p.sources[0], p.target]), [['x.weight', 'a/kernel'], ['x.bias', 'a/bias'], ['y.weight', 'b/kernel']]);
});

test('--match order for Keras sources pairs layer scopes in order, by weight name, untransformed', async () => {
  const { orderMatchingTable } = await import('../src/mapping/order');
  layerCounter = 0;
  const targets = [...layer('lstm_3', 'LSTM', [['kernel', [4, 8]], ['recurrent_kernel', [2, 8]], ['bias', [8]]]), ...layer('dense_1', 'Dense', [['kernel', [2, 3]], ['bias', [3]]])];
  const sources = [src('lstm_9/kernel', [4, 8]), src('lstm_9/recurrent_kernel', [2, 8]), src('lstm_9/bias', [8]), src('dense_3/kernel', [2, 3]), src('dense_3/bias', [3])];
  const plan = planGraft(sources, targets, { convention: 'keras', table: { rename: [], scopes: [], ignore: [], tensors: orderMatchingTable(sources, undefined, targets, 'keras') } });
  assert.deepEqual(plan.errors, []);
  assert.deepEqual(plan.assignments.map((a) => `${a.sources[0]}>${a.target}:${a.transform.kind}`), [
    'lstm_9/kernel>lstm_3/kernel:identity', 'lstm_9/recurrent_kernel>lstm_3/recurrent_kernel:identity', 'lstm_9/bias>lstm_3/bias:identity',
    'dense_3/kernel>dense_1/kernel:identity', 'dense_3/bias>dense_1/bias:identity',
  ]);
});

test('unit dimensions are squeezed only for data taken as stored', () => {
  const targets = [...layer('sq_bias', 'Conv2D', [['bias', [8]]]), ...layer('sq_fc', 'Dense', [['kernel', [1, 10]]])];
  // A [8, 1, 1] bias fills [8]; a Linear(10 → 1) weight [1, 10] must not fill a Dense(1 → 10) kernel.
  const plan = planGraft([src('sq_bias.bias', [8, 1, 1]), src('sq_fc.weight', [1, 10])], targets, { convention: 'torch' });
  assert.deepEqual(plan.assignments.map((a) => [a.target, a.squeezed]), [['sq_bias/bias', true]]);
  assert.equal(plan.errors.length, 1);
  assert.match(plan.errors[0].message, /does not fit target 'sq_fc\/kernel'/);
});

test('a Flatten of a Conv1D map computed from a sequence reorders the rows and says PyTorch may have permuted back', () => {
  const flattenFrom = { layout: 'feature-map' as const, layer: 'conv', className: 'Conv1D', fromSequence: true };
  const plan = planGraft([src('fc.weight', [6, 100])], layer('fc', 'Dense', [['kernel', [100, 6]]], { flattenInput: [25, 4], flattenFrom }), { convention: 'torch' });
  assert.deepEqual(plan.assignments.map((a) => a.transform), [{ kind: 'dense-after-flatten', channels: 4, spatial: [25] }]);
  assert.equal(plan.warnings.length, 1);
  assert.match(plan.warnings[0], /computed from a sequence; if the PyTorch model permuted it back/);
});
