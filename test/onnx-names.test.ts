import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kerasLayerOfName, kerasWeightOfName, modulePathOfNode, onnxExporter } from '../src/topology/onnx/names';

test('torch.onnx node names resolve to module paths', () => {
  assert.equal(modulePathOfNode('/layer1/layer1.0/conv1/Conv'), 'layer1.0.conv1');
  assert.equal(modulePathOfNode('/layer2/layer2.0/downsample/downsample.0/Conv'), 'layer2.0.downsample.0');
  assert.equal(modulePathOfNode('/features/features.0/Conv'), 'features.0');
  assert.equal(modulePathOfNode('/block/conv_1/Conv'), 'block.conv_1');
  assert.equal(modulePathOfNode('/fc1/Gemm'), 'fc1');
  assert.equal(modulePathOfNode('/fc/MatMul_1'), 'fc');
  assert.equal(modulePathOfNode('Gemm_0'), undefined);
  assert.equal(modulePathOfNode('/Relu'), undefined);
  assert.equal(modulePathOfNode(''), undefined);
});

test('keras2onnx and tf2onnx names resolve to Keras layers', () => {
  assert.equal(kerasLayerOfName('dense/kernel:0'), 'dense');
  assert.equal(kerasLayerOfName('sequential/dense_1/MatMul/ReadVariableOp:0'), 'dense_1');
  assert.equal(kerasLayerOfName('StatefulPartitionedCall/model/conv2d/Conv2D'), 'conv2d');
  assert.equal(kerasLayerOfName('Parameter193'), undefined);
  assert.equal(kerasWeightOfName('dense/kernel:0'), 'kernel');
  assert.equal(kerasWeightOfName('sequential/dense/MatMul/ReadVariableOp:0'), undefined);
});

test('exporters are told apart by producer, then by names', () => {
  assert.equal(onnxExporter('pytorch', ['fc.weight']), 'pytorch');
  assert.equal(onnxExporter('keras2onnx', []), 'keras2onnx');
  assert.equal(onnxExporter('tf2onnx', []), 'tf2onnx');
  assert.equal(onnxExporter('CNTK', []), 'cntk');
  assert.equal(onnxExporter('', ['dense/kernel:0', 'dense/bias:0']), 'keras2onnx');
  assert.equal(onnxExporter(undefined, ['sequential/dense/MatMul/ReadVariableOp:0']), 'tf2onnx');
  assert.equal(onnxExporter(undefined, ['Parameter5', 'Parameter6']), 'cntk');
  assert.equal(onnxExporter(undefined, ['1', '2']), 'unknown');
});
