#!/usr/bin/python3
"""Writes fixtures/safety/<case>/: small models on which a converter can go silently wrong.

Each case holds PyTorch's own output for a fixed input (or, for the hand-made ONNX files that
mimic other exporters, an independent NumPy/torch.nn.functional computation), the source files
(state dict .pt, ONNX exports) and one or more tfjs targets. Run with Debian's interpreter:

    /usr/bin/python3 scripts/make_safety_fixtures.py

case.json: `description`, `inputPerm`/`outputPerm` (PyTorch layout -> tfjs layout, or null),
`inputDtype`.
"""
import json
import os
import random

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'safety')
OPSET = 13
torch.set_num_threads(1)


def case_dir(name):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    return d


def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=1)
        f.write('\n')


def save_case(d, description, x, y, input_perm=None, output_perm=None, input_dtype='float32'):
    np.save(os.path.join(d, 'input.npy'), x)
    np.save(os.path.join(d, 'output.npy'), y.astype(np.float32))
    write_json(os.path.join(d, 'case.json'), {
        'description': description, 'inputPerm': input_perm, 'outputPerm': output_perm, 'inputDtype': input_dtype,
    })


# ----------------------------------------------------------------------------- tfjs targets

def layer(cls, name, **config):
    return {'class_name': cls, 'config': {'name': name, 'trainable': True, 'dtype': 'float32', **config}}


def dense(name, units, activation='linear', **kw):
    return layer('Dense', name, units=units, activation=activation, use_bias=True, **kw)


def conv2d(name, filters, kernel, strides=1, padding='valid', use_bias=True, activation='linear', **kw):
    return layer('Conv2D', name, filters=filters, kernel_size=[kernel, kernel], strides=[strides, strides], padding=padding,
                 data_format='channels_last', dilation_rate=[1, 1], activation=activation, use_bias=use_bias, **kw)


def batchnorm(name, epsilon):
    return layer('BatchNormalization', name, axis=-1, momentum=0.9, epsilon=epsilon, center=True, scale=True)


def lstm(name, units, return_sequences, recurrent_activation='sigmoid', **kw):
    return layer('LSTM', name, units=units, activation='tanh', recurrent_activation=recurrent_activation, use_bias=True,
                 unit_forget_bias=False, return_sequences=return_sequences, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, implementation=1, **kw)


def flatten(name='flatten', **kw):
    return layer('Flatten', name, **kw)


def write_target(path, name, layers):
    write_json(path, {
        'format': 'layers-model', 'generatedBy': 'scripts/make_safety_fixtures.py', 'convertedBy': None,
        'modelTopology': {'class_name': 'Sequential', 'config': {'name': name, 'layers': layers},
                          'keras_version': 'tfjs-layers 4.22.0', 'backend': 'tensor_flow.js'},
    })


def run(model, x):
    model.eval()
    with torch.no_grad():
        return model(x).numpy()


# ----------------------------------------------------------------------------- Flatten cases

class LstmFlatten(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 5, batch_first=True)
        self.fc = nn.Linear(50, 4)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y.flatten(1))


def make_lstm_flatten():
    torch.manual_seed(1)
    m = LstmFlatten()
    x = torch.randn(2, 10, 6)
    d = case_dir('lstm_flatten')
    torch.save(m.state_dict(), os.path.join(d, 'model.pt'))
    write_target(os.path.join(d, 'target.json'), 'lstm_flatten', [
        lstm('lstm', 5, True, batch_input_shape=[None, 10, 6]), flatten(), dense('fc', 4)])
    save_case(d, 'LSTM(batch_first) sequences -> Flatten -> Linear: batch-first sequences flatten alike in both frameworks',
              x.numpy(), run(m, x))


class SeqHead(nn.Module):
    """The classifier head of a small transformer: per-token projection, LayerNorm, Flatten of (seq, features)."""
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(96, 3)

    def forward(self, x):
        return self.head(self.norm(torch.relu(self.proj(x))).flatten(1))


def make_seq_head():
    torch.manual_seed(2)
    m = SeqHead()
    with torch.no_grad():
        m.norm.weight.uniform_(0.5, 1.5)
        m.norm.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 12, 8)
    d = case_dir('seq_head')
    torch.save(m.state_dict(), os.path.join(d, 'model.pt'))
    write_target(os.path.join(d, 'target.json'), 'seq_head', [
        dense('proj', 8, 'relu', batch_input_shape=[None, 12, 8]),
        layer('LayerNormalization', 'norm', axis=-1, epsilon=1e-5, center=True, scale=True),
        flatten(), dense('head', 3)])
    save_case(d, 'per-token Linear -> LayerNorm -> Flatten of a (12, 8) sequence -> Linear', x.numpy(), run(m, x))


class SeqInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(96, 3)

    def forward(self, x):
        return self.head(x.flatten(1))


def make_seq_input():
    torch.manual_seed(3)
    m = SeqInput()
    x = torch.randn(2, 12, 8)
    d = case_dir('seq_input')
    torch.save(m.state_dict(), os.path.join(d, 'model.pt'))
    write_target(os.path.join(d, 'target.json'), 'seq_input', [flatten(batch_input_shape=[None, 12, 8]), dense('head', 3)])
    save_case(d, 'a (12, 8) sequence input flattened straight into a Linear', x.numpy(), run(m, x))


class EmbFlatten(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 4)
        self.fc = nn.Linear(24, 3)

    def forward(self, ids):
        return self.fc(self.emb(ids).flatten(1))


def make_emb_flatten():
    torch.manual_seed(4)
    m = EmbFlatten()
    ids = torch.randint(0, 20, (2, 6))
    d = case_dir('emb_flatten')
    torch.save(m.state_dict(), os.path.join(d, 'model.pt'))
    write_target(os.path.join(d, 'target.json'), 'emb_flatten', [
        layer('Embedding', 'emb', input_dim=20, output_dim=4, batch_input_shape=[None, 6]), flatten(), dense('fc', 3)])
    save_case(d, 'Embedding -> Flatten -> Linear', ids.numpy().astype(np.int32), run(m, ids), input_dtype='int32')


class ImageFlatten(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(48, 5)

    def forward(self, x):
        return self.fc(x.flatten(1))


def make_image_flatten():
    torch.manual_seed(5)
    m = ImageFlatten()
    x = torch.randn(2, 3, 4, 4)
    d = case_dir('image_flatten')
    torch.save(m.state_dict(), os.path.join(d, 'model.pt'))
    write_target(os.path.join(d, 'target.json'), 'image_flatten', [flatten(batch_input_shape=[None, 4, 4, 3]), dense('fc', 5)])
    save_case(d, 'a 3x4x4 image input flattened straight into a Linear (channels-first in PyTorch)', x.numpy(), run(m, x),
              input_perm=[0, 2, 3, 1])


class ConvPoolFlatten(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(36, 5)

    def forward(self, x):
        return self.fc(F.max_pool2d(torch.relu(self.conv(x)), 2).flatten(1))


def make_conv_pool_flatten():
    torch.manual_seed(6)
    m = ConvPoolFlatten()
    x = torch.randn(2, 3, 8, 8)
    d = case_dir('conv_pool_flatten')
    torch.save(m.state_dict(), os.path.join(d, 'model.pt'))
    write_target(os.path.join(d, 'target.json'), 'conv_pool_flatten', [
        conv2d('conv', 4, 3, activation='relu', batch_input_shape=[None, 8, 8, 3]),
        layer('MaxPooling2D', 'pool', pool_size=[2, 2], strides=[2, 2], padding='valid', data_format='channels_last'),
        flatten(), dense('fc', 5)])
    save_case(d, 'Conv -> MaxPool -> Flatten -> Linear: rows reordered from (C, H, W)', x.numpy(), run(m, x),
              input_perm=[0, 2, 3, 1])


# ----------------------------------------------------------------------------- BatchNorm and ONNX exports

class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)

    def forward(self, x):
        return torch.relu(self.bn1(self.conv1(x)))


class SmallResNetish(nn.Module):
    """Nested modules named like torchvision's ResNet so torch.onnx writes /layer1/layer1.0/conv1/Conv."""
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(Block(3, 8))
        self.layer2 = nn.Sequential(Block(8, 8))
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.layer2(self.layer1(x)).mean(dim=(2, 3)))


def randomize_bn(m):
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.5, 0.5)
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.002, 0.05)


def export_onnx(m, x, path, **kw):
    m.eval()
    torch.onnx.export(m, x, path, opset_version=OPSET, input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {0: 'batch'}, 'output': {0: 'batch'}}, **kw)


def cnn_layers(with_bn, eps=1e-5):
    out = []
    for i, (cin, name) in enumerate([(3, 'layer1_0'), (8, 'layer2_0')]):
        extra = {'batch_input_shape': [None, 8, 8, 3]} if i == 0 else {}
        out.append(conv2d(f'{name}_conv1', 8, 3, padding='same', use_bias=not with_bn, **extra))
        if with_bn:
            out.append(batchnorm(f'{name}_bn1', eps))
        out.append(layer('Activation', f'{name}_relu', activation='relu'))
    out.append(layer('GlobalAveragePooling2D', 'pool', data_format='channels_last'))
    out.append(dense('fc', 4))
    return out


def make_cnn_bn():
    torch.manual_seed(7)
    m = SmallResNetish()
    randomize_bn(m)
    m.eval()
    x = torch.randn(2, 3, 8, 8)
    d = case_dir('cnn_bn')
    torch.save(m.state_dict(), os.path.join(d, 'model.pt'))
    # What most users' exports look like: torch folds BatchNorm into the convolutions.
    export_onnx(m, x, os.path.join(d, 'model_folded.onnx'))
    export_onnx(m, x, os.path.join(d, 'model_preserve.onnx'), training=torch.onnx.TrainingMode.PRESERVE)
    write_target(os.path.join(d, 'target.json'), 'cnn_bn', cnn_layers(True))
    write_target(os.path.join(d, 'target_nobn.json'), 'cnn_bn_nobn', cnn_layers(False))
    save_case(d, 'nested Conv-BN blocks (layer1.0.conv1, layer1.0.bn1, ...) -> global average -> Linear; '
              'model_folded.onnx: default export (BN folded into the convs), model_preserve.onnx: TrainingMode.PRESERVE',
              x.numpy(), run(m, x), input_perm=[0, 2, 3, 1])


# ----------------------------------------------------------------------------- other exporters' ONNX files

def onnx_file(path, producer, nodes, initializers, inputs, outputs):
    graph = helper.make_graph(nodes, 'graph', inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, producer_name=producer, opset_imports=[helper.make_opsetid('', OPSET)])
    model.ir_version = 7
    onnx.save(model, path)


def make_keras_onnx():
    """A Keras MLP (Flatten of 7x14, Dense 4 relu, Dense 3 softmax) as keras2onnx and tf2onnx name it.

    Written with onnx.helper: the initializer and node names mimic those exporters' naming
    (keras2onnx keeps Keras variable names `dense/kernel:0`; tf2onnx keeps TensorFlow op paths
    `sequential/dense/MatMul/ReadVariableOp:0`). MatMul weights are [in, out], as both write them.
    """
    rng = np.random.default_rng(8)
    w1 = rng.standard_normal((98, 4)).astype(np.float32) * 0.3
    b1 = rng.standard_normal(4).astype(np.float32) * 0.1
    w2 = rng.standard_normal((4, 3)).astype(np.float32)
    b2 = rng.standard_normal(3).astype(np.float32) * 0.1
    x = rng.standard_normal((2, 7, 14)).astype(np.float32)
    h = np.maximum(x.reshape(2, 98) @ w1 + b1, 0)
    z = h @ w2 + b2
    y = np.exp(z - z.max(axis=1, keepdims=True))
    y /= y.sum(axis=1, keepdims=True)
    d = case_dir('keras_onnx')
    shape = numpy_helper.from_array(np.array([-1, 98], dtype=np.int64), 'flatten/Const:0')
    io = ([helper.make_tensor_value_info('input_1', TensorProto.FLOAT, ['N', 7, 14])],
          [helper.make_tensor_value_info('output', TensorProto.FLOAT, ['N', 3])])
    for producer, wname, bname, nname in [
        # keras2onnx's node names are not scoped paths: the initializer names are what says whose a tensor is.
        ('keras2onnx', lambda l, v: f'{l}/{v}:0', None, lambda l, op: f'{l}_{op}'),
        ('tf2onnx', lambda l, v: f'sequential/{l}/{"MatMul" if v == "kernel" else "BiasAdd"}/ReadVariableOp:0', None,
         lambda l, op: f'sequential/{l}/{op}'),
    ]:
        inits = [numpy_helper.from_array(a, wname(l, v)) for a, l, v in
                 [(w1, 'dense', 'kernel'), (b1, 'dense', 'bias'), (w2, 'dense_1', 'kernel'), (b2, 'dense_1', 'bias')]] + [shape]
        nodes = [
            helper.make_node('Reshape', ['input_1', 'flatten/Const:0'], ['flat'], name=nname('flatten', 'Reshape')),
            helper.make_node('MatMul', ['flat', wname('dense', 'kernel')], ['mm1'], name=nname('dense', 'MatMul')),
            helper.make_node('Add', ['mm1', wname('dense', 'bias')], ['a1'], name=nname('dense', 'BiasAdd')),
            helper.make_node('Relu', ['a1'], ['r1'], name=nname('dense', 'Relu')),
            helper.make_node('MatMul', ['r1', wname('dense_1', 'kernel')], ['mm2'], name=nname('dense_1', 'MatMul')),
            helper.make_node('Add', ['mm2', wname('dense_1', 'bias')], ['a2'], name=nname('dense_1', 'BiasAdd')),
            helper.make_node('Softmax', ['a2'], ['output'], name=nname('dense_1', 'Softmax'), axis=1),
        ]
        onnx_file(os.path.join(d, f'model_{producer}.onnx'), producer, nodes, inits, *io)
    write_target(os.path.join(d, 'target.json'), 'sequential', [
        flatten(batch_input_shape=[None, 7, 14]), dense('dense', 4, 'relu'), dense('dense_1', 3, 'softmax')])
    save_case(d, 'Keras MLP as keras2onnx / tf2onnx name it (hand-made with onnx.helper); reference by NumPy', x, y)


def make_tf2onnx_cnn():
    """A Keras CNN (Conv2D 3x3 valid relu on 6x6x2, Flatten, Dense 5) as tf2onnx writes it (hand-made
    with onnx.helper, mimicking tf2onnx's naming and layout): NHWC input transposed to NCHW for the
    Conv, the HWIO kernel transposed to OIHW by a Transpose node, the feature map transposed back to
    NHWC before the flatten (Keras's order), MatMul weight [in, out]. Reference by NumPy in Keras's
    own layout."""
    rng = np.random.default_rng(13)
    k = rng.standard_normal((3, 3, 2, 3)).astype(np.float32) * 0.5  # HWIO
    kb = rng.standard_normal(3).astype(np.float32) * 0.1
    w = rng.standard_normal((48, 5)).astype(np.float32) * 0.2
    b = rng.standard_normal(5).astype(np.float32) * 0.1
    x = rng.standard_normal((2, 6, 6, 2)).astype(np.float32)
    conv = np.zeros((2, 4, 4, 3), dtype=np.float32)
    for i in range(4):
        for j in range(4):
            conv[:, i, j, :] = np.einsum('nhwc,hwco->no', x[:, i:i + 3, j:j + 3, :], k)
    y = np.maximum(conv + kb, 0).reshape(2, 48) @ w + b
    d = case_dir('tf2onnx_cnn')
    n = lambda l, op: f'sequential/{l}/{op}'
    kname, kbname = n('conv2d', 'Conv2D/ReadVariableOp:0'), n('conv2d', 'BiasAdd/ReadVariableOp:0')
    wname, bname = n('dense', 'MatMul/ReadVariableOp:0'), n('dense', 'BiasAdd/ReadVariableOp:0')
    inits = [numpy_helper.from_array(k, kname), numpy_helper.from_array(kb, kbname), numpy_helper.from_array(w, wname),
             numpy_helper.from_array(b, bname), numpy_helper.from_array(np.array([-1, 48], dtype=np.int64), 'const_fold_opt__7')]
    nodes = [
        helper.make_node('Transpose', ['input_1'], ['x_nchw'], name=n('conv2d', 'Conv2D__6'), perm=[0, 3, 1, 2]),
        helper.make_node('Transpose', [kname], ['k_oihw'], name=n('conv2d', 'Conv2D/ReadVariableOp__5'), perm=[3, 2, 0, 1]),
        helper.make_node('Conv', ['x_nchw', 'k_oihw', kbname], ['c'], name=n('conv2d', 'Conv2D'), kernel_shape=[3, 3], strides=[1, 1], pads=[0, 0, 0, 0]),
        helper.make_node('Relu', ['c'], ['r'], name=n('conv2d', 'Relu')),
        helper.make_node('Transpose', ['r'], ['r_nhwc'], name=n('conv2d', 'Relu__8'), perm=[0, 2, 3, 1]),
        helper.make_node('Reshape', ['r_nhwc', 'const_fold_opt__7'], ['flat'], name=n('flatten', 'Reshape')),
        helper.make_node('MatMul', ['flat', wname], ['mm'], name=n('dense', 'MatMul')),
        helper.make_node('Add', ['mm', bname], ['output'], name=n('dense', 'BiasAdd')),
    ]
    onnx_file(os.path.join(d, 'model.onnx'), 'tf2onnx', nodes, inits,
              [helper.make_tensor_value_info('input_1', TensorProto.FLOAT, ['N', 6, 6, 2])],
              [helper.make_tensor_value_info('output', TensorProto.FLOAT, ['N', 5])])
    write_target(os.path.join(d, 'target.json'), 'sequential', [
        conv2d('conv2d', 3, 3, activation='relu', batch_input_shape=[None, 6, 6, 2]), flatten(), dense('dense', 5)])
    save_case(d, 'Keras CNN as tf2onnx writes it (hand-made): HWIO kernel behind a Transpose, flatten in NHWC order', x, y)


def make_cntk_onnx():
    """A CNTK-style export (mimics the ONNX model zoo's MNIST): anonymous `ParameterN` initializers, the
    conv bias as a separate Add of an [8, 1, 1] tensor, MatMul weight [in, out], a [1, 10] bias, and
    nodes stored out of topological order. Reference computed with torch.nn.functional."""
    rng = np.random.default_rng(9)
    w = rng.standard_normal((8, 1, 3, 3)).astype(np.float32) * 0.5
    b = rng.standard_normal((8, 1, 1)).astype(np.float32) * 0.1
    w2 = rng.standard_normal((72, 10)).astype(np.float32) * 0.2
    b2 = rng.standard_normal((1, 10)).astype(np.float32) * 0.1
    x = rng.standard_normal((1, 1, 8, 8)).astype(np.float32)
    t = F.max_pool2d(torch.relu(F.conv2d(torch.from_numpy(x), torch.from_numpy(w)) + torch.from_numpy(b)), 2)
    y = (t.reshape(1, 72) @ torch.from_numpy(w2) + torch.from_numpy(b2)).numpy()
    d = case_dir('cntk_onnx')
    inits = [numpy_helper.from_array(w, 'Parameter5'), numpy_helper.from_array(b, 'Parameter6'),
             numpy_helper.from_array(w2, 'Parameter193'), numpy_helper.from_array(b2, 'Parameter194'),
             numpy_helper.from_array(np.array([1, 72], dtype=np.int64), 'Pooling66_Output_0_reshape0_shape')]
    nodes = [
        helper.make_node('Conv', ['Input3', 'Parameter5'], ['Convolution28_Output_0'], name='Convolution28', kernel_shape=[3, 3], strides=[1, 1], pads=[0, 0, 0, 0]),
        helper.make_node('Add', ['Convolution28_Output_0', 'Parameter6'], ['Plus30_Output_0'], name='Plus30'),
        helper.make_node('Relu', ['Plus30_Output_0'], ['ReLU32_Output_0'], name='ReLU32'),
        helper.make_node('MaxPool', ['ReLU32_Output_0'], ['Pooling66_Output_0'], name='Pooling66', kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node('Reshape', ['Pooling66_Output_0', 'Pooling66_Output_0_reshape0_shape'], ['Pooling66_Output_0_reshape0'], name='Times212_reshape0'),
        helper.make_node('MatMul', ['Pooling66_Output_0_reshape0', 'Parameter193'], ['Times212_Output_0'], name='Times212'),
        helper.make_node('Add', ['Times212_Output_0', 'Parameter194'], ['Plus214_Output_0'], name='Plus214'),
    ]
    # Stored order is not topological: the dense layer's nodes come first.
    stored = nodes[5:] + nodes[:5]
    onnx_file(os.path.join(d, 'model.onnx'), 'CNTK', stored, inits,
              [helper.make_tensor_value_info('Input3', TensorProto.FLOAT, [1, 1, 8, 8])],
              [helper.make_tensor_value_info('Plus214_Output_0', TensorProto.FLOAT, [1, 10])])
    write_target(os.path.join(d, 'target.json'), 'cntk_mnist', [
        conv2d('conv', 8, 3, activation='relu', batch_input_shape=[None, 8, 8, 1]),
        layer('MaxPooling2D', 'pool', pool_size=[2, 2], strides=[2, 2], padding='valid', data_format='channels_last'),
        flatten(), dense('fc', 10)])
    save_case(d, 'CNTK-style anonymous ONNX (hand-made): [8,1,1] conv bias, [in,out] MatMul, non-topological node order',
              x, y, input_perm=[0, 2, 3, 1])


# ----------------------------------------------------------------------------- traps in hand-written targets

class ConvBn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


def make_trap_bn_eps():
    torch.manual_seed(10)
    m = ConvBn()
    randomize_bn(m)
    m.eval()
    x = torch.randn(2, 3, 6, 6)
    d = case_dir('trap_bn_eps')
    torch.save(m.state_dict(), os.path.join(d, 'model.pt'))
    export_onnx(m, x, os.path.join(d, 'model.onnx'), training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    for fname, eps in [('target.json', 1e-5), ('target_trap.json', 1e-3)]:
        write_target(os.path.join(d, fname), 'trap_bn_eps', [
            conv2d('conv', 6, 3, padding='same', batch_input_shape=[None, 6, 6, 3]), batchnorm('bn', eps),
            layer('Activation', 'relu', activation='relu')])
    save_case(d, 'Conv -> BatchNorm2d (eps 1e-5) -> ReLU; target_trap.json keeps tfjs\'s default epsilon 1e-3',
              x.numpy(), run(m, x), input_perm=[0, 2, 3, 1], output_perm=[0, 2, 3, 1])


class LstmLast(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 8, batch_first=True)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


def make_trap_lstm():
    torch.manual_seed(11)
    m = LstmLast()
    x = torch.randn(2, 7, 6) * 2
    d = case_dir('trap_lstm_activation')
    torch.save(m.state_dict(), os.path.join(d, 'model.pt'))
    for fname, act in [('target.json', 'sigmoid'), ('target_trap.json', 'hard_sigmoid')]:
        write_target(os.path.join(d, fname), 'trap_lstm', [
            lstm('lstm', 8, False, recurrent_activation=act, batch_input_shape=[None, 7, 6]), dense('fc', 3)])
    save_case(d, 'LSTM (sigmoid gates) -> Linear; target_trap.json uses hard_sigmoid (tfjs\'s default)', x.numpy(), run(m, x))


class ConvStride2(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


def make_trap_same():
    torch.manual_seed(12)
    m = ConvStride2()
    x = torch.randn(2, 3, 8, 8)
    d = case_dir('trap_same_stride2')
    torch.save(m.state_dict(), os.path.join(d, 'model.pt'))
    export_onnx(m, x, os.path.join(d, 'model.onnx'))
    write_target(os.path.join(d, 'target.json'), 'trap_same', [
        layer('ZeroPadding2D', 'pad', padding=[[1, 1], [1, 1]], data_format='channels_last', batch_input_shape=[None, 8, 8, 3]),
        conv2d('conv', 4, 3, strides=2, padding='valid')])
    write_target(os.path.join(d, 'target_trap.json'), 'trap_same', [
        conv2d('conv', 4, 3, strides=2, padding='same', batch_input_shape=[None, 8, 8, 3])])
    save_case(d, 'Conv2d(3, 4, 3, stride=2, padding=1) on 8x8; target_trap.json uses padding same (pads 0 before, 1 after)',
              x.numpy(), run(m, x), input_perm=[0, 2, 3, 1], output_perm=[0, 2, 3, 1])


if __name__ == '__main__':
    random.seed(0)
    for make in [make_lstm_flatten, make_seq_head, make_seq_input, make_emb_flatten, make_image_flatten, make_conv_pool_flatten,
                 make_cnn_bn, make_keras_onnx, make_tf2onnx_cnn, make_cntk_onnx, make_trap_bn_eps, make_trap_lstm, make_trap_same]:
        make()
    print('wrote', ROOT)
