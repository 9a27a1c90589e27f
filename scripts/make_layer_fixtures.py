#!/usr/bin/python3
"""Writes fixtures/layers/*.json: PyTorch-computed parity cases for src/layers.

Each case holds a Keras-style topology (snake_case, as model.json / HDF5 model_config carry it),
the weights already converted to the Keras layout (in Keras' weight order), an input in the
Keras layout (channels_last, batch-major) and the output PyTorch computed for that input.

Run with Debian's interpreter (torch 1.13 + numpy): /usr/bin/python3 scripts/make_layer_fixtures.py
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'layers')


def as_json_array(a):
    a = np.asarray(a, dtype=np.float32)
    # numpy prints a float32 as the shortest decimal that rounds back to it; as a double that text
    # keeps its length in JSON, and Float32Array rounds it back to the same float32.
    return {'shape': list(a.shape), 'values': [float(str(v)) for v in a.reshape(-1)]}


def write_case(name, description, topology, weights, x, y):
    case = {
        'description': description,
        'topology': topology,
        'weights': [dict(name=n, **as_json_array(w)) for n, w in weights],
        'input': as_json_array(x),
        'output': as_json_array(y),
    }
    with open(os.path.join(OUT_DIR, name + '.json'), 'w') as f:
        json.dump(case, f, separators=(',', ':'))
        f.write('\n')


def sequential(name, layers):
    return {'class_name': 'Sequential', 'config': {'name': name, 'layers': layers},
            'keras_version': '2.10.0', 'backend': 'tensorflow'}


# ---------------------------------------------------------------- GRU

def torch_gates_to_keras(m, units):
    """PyTorch stacks gates r, z, n along dim 0; Keras stacks z, r, h along the last axis."""
    r, z, n = m[:units], m[units:2 * units], m[2 * units:]
    return np.concatenate([z, r, n], axis=0)


def keras_gru_weights(gru, suffix=''):
    units = gru.hidden_size
    w_ih = getattr(gru, 'weight_ih_l0' + suffix).detach().numpy()
    w_hh = getattr(gru, 'weight_hh_l0' + suffix).detach().numpy()
    b_ih = getattr(gru, 'bias_ih_l0' + suffix).detach().numpy()
    b_hh = getattr(gru, 'bias_hh_l0' + suffix).detach().numpy()
    kernel = torch_gates_to_keras(w_ih, units).T
    recurrent_kernel = torch_gates_to_keras(w_hh, units).T
    bias = np.stack([torch_gates_to_keras(b_ih, units), torch_gates_to_keras(b_hh, units)])
    return [('kernel', kernel), ('recurrent_kernel', recurrent_kernel), ('bias', bias)]


def gru_config(name, units, return_sequences, go_backwards=False, batch_input_shape=None):
    config = {
        'name': name, 'trainable': True, 'dtype': 'float32',
        'return_sequences': return_sequences, 'return_state': False,
        'go_backwards': go_backwards, 'stateful': False, 'unroll': False, 'time_major': False,
        'units': units, 'activation': 'tanh', 'recurrent_activation': 'sigmoid', 'use_bias': True,
        'kernel_initializer': {'class_name': 'GlorotUniform', 'config': {'seed': None}},
        'recurrent_initializer': {'class_name': 'Orthogonal', 'config': {'gain': 1.0, 'seed': None}},
        'bias_initializer': {'class_name': 'Zeros', 'config': {}},
        'kernel_regularizer': None, 'recurrent_regularizer': None, 'bias_regularizer': None,
        'activity_regularizer': None, 'kernel_constraint': None, 'recurrent_constraint': None,
        'bias_constraint': None, 'dropout': 0.0, 'recurrent_dropout': 0.0, 'implementation': 2,
        'reset_after': True,
    }
    if batch_input_shape is not None:
        config['batch_input_shape'] = batch_input_shape
    return {'class_name': 'GRU', 'config': config}


def make_gru_cases():
    batch, steps, features, units = 2, 5, 6, 8

    torch.manual_seed(1)
    gru = nn.GRU(features, units, batch_first=True)
    x = torch.randn(batch, steps, features)
    with torch.no_grad():
        y, _ = gru(x)
    write_case(
        'gru_sequences',
        'nn.GRU(6, 8, batch_first=True) vs Keras GRU(8, reset_after=True, return_sequences=True)',
        sequential('gru_sequences', [gru_config('gru', units, True, batch_input_shape=[None, steps, features])]),
        keras_gru_weights(gru), x.numpy(), y.numpy())

    # go_backwards reads the sequence from its end; with return_sequences=False Keras returns the
    # state after the last step read, i.e. PyTorch's last output on the time-reversed input.
    torch.manual_seed(2)
    gru = nn.GRU(features, units, batch_first=True)
    x = torch.randn(batch, steps, features)
    with torch.no_grad():
        y, _ = gru(torch.flip(x, [1]))
    write_case(
        'gru_backwards_last',
        'nn.GRU on the time-reversed input vs Keras GRU(go_backwards=True, return_sequences=False)',
        sequential('gru_backwards_last', [gru_config('gru', units, False, go_backwards=True,
                                                     batch_input_shape=[None, steps, features])]),
        keras_gru_weights(gru), x.numpy(), y[:, -1, :].numpy())

    # Keras Bidirectional(merge_mode='concat') re-reverses the backward sequence, as PyTorch does.
    torch.manual_seed(3)
    gru = nn.GRU(features, units, batch_first=True, bidirectional=True)
    x = torch.randn(batch, steps, features)
    with torch.no_grad():
        y, _ = gru(x)
    forward = [('forward_' + n, w) for n, w in keras_gru_weights(gru)]
    backward = [('backward_' + n, w) for n, w in keras_gru_weights(gru, '_reverse')]
    bidirectional = {
        'class_name': 'Bidirectional',
        'config': {'name': 'bidirectional', 'trainable': True, 'dtype': 'float32',
                   'batch_input_shape': [None, steps, features], 'merge_mode': 'concat',
                   'layer': gru_config('gru', units, True)},
    }
    write_case(
        'gru_bidirectional',
        'nn.GRU(6, 8, bidirectional=True) vs Keras Bidirectional(GRU(8, reset_after=True, return_sequences=True))',
        sequential('gru_bidirectional', [bidirectional]),
        forward + backward, x.numpy(), y.numpy())


# ---------------------------------------------------------------- grouped convolutions

def tf_same_padding(size, kernel, stride, dilation):
    """TensorFlow's SAME padding (extra cell after, not before), which Keras padding='same' uses."""
    out = math.ceil(size / stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def conv_config(class_name, name, filters, kernel_size, strides, padding, dilation_rate, groups,
                activation, use_bias, batch_input_shape):
    config = {
        'name': name, 'trainable': True, 'dtype': 'float32', 'batch_input_shape': batch_input_shape,
        'filters': filters, 'kernel_size': kernel_size, 'strides': strides, 'padding': padding,
        'data_format': 'channels_last', 'dilation_rate': dilation_rate, 'groups': groups,
        'activation': activation, 'use_bias': use_bias,
        'kernel_initializer': {'class_name': 'GlorotUniform', 'config': {'seed': None}},
        'bias_initializer': {'class_name': 'Zeros', 'config': {}},
        'kernel_regularizer': None, 'bias_regularizer': None, 'activity_regularizer': None,
        'kernel_constraint': None, 'bias_constraint': None,
    }
    return {'class_name': class_name, 'config': config}


TORCH_ACTIVATIONS = {'linear': lambda t: t, 'relu': F.relu, 'tanh': torch.tanh}


def make_conv1d_case(name, seed, in_channels, filters, kernel, stride, padding, dilation, groups,
                     activation='linear', use_bias=True, length=11, batch=2):
    torch.manual_seed(seed)
    conv = nn.Conv1d(in_channels, filters, kernel, stride=stride, dilation=dilation, groups=groups,
                     bias=use_bias)
    x_nwc = torch.randn(batch, length, in_channels)
    x = x_nwc.permute(0, 2, 1)
    if padding == 'same':
        x = F.pad(x, tf_same_padding(length, kernel, stride, dilation))
    elif padding == 'causal':
        x = F.pad(x, ((kernel - 1) * dilation, 0))
    with torch.no_grad():
        y = TORCH_ACTIVATIONS[activation](conv(x)).permute(0, 2, 1)
    weights = [('kernel', conv.weight.detach().numpy().transpose(2, 1, 0))]  # [out, in/g, k] -> [k, in/g, out]
    if use_bias:
        weights.append(('bias', conv.bias.detach().numpy()))
    layer = conv_config('Conv1D', 'conv1d', filters, [kernel], [stride], padding, [dilation], groups,
                        activation, use_bias, [None, length, in_channels])
    write_case(name, f'nn.Conv1d({in_channels}, {filters}, {kernel}, stride={stride}, dilation={dilation}, '
                     f'groups={groups}) with Keras padding={padding}, activation={activation}',
               sequential(name, [layer]), weights, x_nwc.numpy(), y.numpy())


def make_conv2d_case(name, seed, in_channels, filters, kernel, stride, padding, dilation, groups,
                     activation='linear', use_bias=True, size=(7, 6), batch=2):
    torch.manual_seed(seed)
    conv = nn.Conv2d(in_channels, filters, kernel, stride=stride, dilation=dilation, groups=groups,
                     bias=use_bias)
    x_nhwc = torch.randn(batch, size[0], size[1], in_channels)
    x = x_nhwc.permute(0, 3, 1, 2)
    if padding == 'same':
        top, bottom = tf_same_padding(size[0], kernel[0], stride[0], dilation[0])
        left, right = tf_same_padding(size[1], kernel[1], stride[1], dilation[1])
        x = F.pad(x, (left, right, top, bottom))
    with torch.no_grad():
        y = TORCH_ACTIVATIONS[activation](conv(x)).permute(0, 2, 3, 1)
    weights = [('kernel', conv.weight.detach().numpy().transpose(2, 3, 1, 0))]  # -> [kh, kw, in/g, out]
    if use_bias:
        weights.append(('bias', conv.bias.detach().numpy()))
    layer = conv_config('Conv2D', 'conv2d', filters, list(kernel), list(stride), padding, list(dilation),
                        groups, activation, use_bias, [None, size[0], size[1], in_channels])
    write_case(name, f'nn.Conv2d({in_channels}, {filters}, {kernel}, stride={stride}, dilation={dilation}, '
                     f'groups={groups}, bias={use_bias}) with Keras padding={padding}, activation={activation}',
               sequential(name, [layer]), weights, x_nhwc.numpy(), y.numpy())


def make_conv_cases():
    make_conv1d_case('conv1d_g2_valid', 10, 4, 6, 3, 1, 'valid', 1, 2)
    make_conv1d_case('conv1d_g4_stride2_same', 11, 8, 8, 3, 2, 'same', 1, 4, activation='relu')
    make_conv1d_case('conv1d_g2_dilated_causal', 12, 4, 4, 3, 1, 'causal', 2, 2, use_bias=False)
    make_conv2d_case('conv2d_g2_valid', 20, 4, 6, (3, 3), (1, 1), 'valid', (1, 1), 2)
    make_conv2d_case('conv2d_g4_stride2_same', 21, 8, 12, (3, 2), (2, 1), 'same', (1, 1), 4, activation='relu')
    make_conv2d_case('conv2d_g4_dilated_same', 22, 8, 8, (3, 3), (1, 1), 'same', (2, 2), 4, activation='tanh')
    # One input channel per group: the depthwise special case (channel multiplier 2).
    make_conv2d_case('conv2d_depthwise_mult2_valid', 23, 4, 8, (3, 3), (1, 1), 'valid', (1, 1), 4, use_bias=False)
    make_conv2d_case('conv2d_depthwise_stride2_same', 24, 4, 8, (3, 3), (2, 2), 'same', (1, 1), 4)


# ---------------------------------------------------------------- a real Keras file

REALWORLD_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'realworld')


def keras_gates_to_torch(m, units):
    """Inverse of torch_gates_to_keras along the last axis: Keras z, r, h -> PyTorch r, z, n."""
    z, r, h = m[..., :units], m[..., units:2 * units], m[..., 2 * units:]
    return np.concatenate([r, z, h], axis=-1)


def make_realworld_case(case, rel_path, gru_prefix, dense_prefixes, steps, seed):
    """Input and PyTorch output for a real Keras model GRU(reset_after) -> linear Dense layers.

    Only the input and output are written: the test reads the file's weights itself, so none of
    those unlicensed files is copied into the project.
    """
    path = os.path.join(REALWORLD_DIR, rel_path)
    if not os.path.exists(path):
        print('skipping', case + ':', path, 'absent')
        return
    import h5py
    with h5py.File(path, 'r') as f:
        w = lambda p: np.array(f['model_weights/' + p])
        suffix = ':0' if 'model_weights/' + gru_prefix + 'kernel:0' in f else ''
        kernel, recurrent, bias = (w(gru_prefix + name + suffix) for name in ('kernel', 'recurrent_kernel', 'bias'))
        dense = [(w(p + 'kernel' + suffix), w(p + 'bias' + suffix)) for p in dense_prefixes]
    units = recurrent.shape[0]
    gru = nn.GRU(kernel.shape[0], units, batch_first=True)
    with torch.no_grad():
        gru.weight_ih_l0.copy_(torch.from_numpy(keras_gates_to_torch(kernel, units).T.copy()))
        gru.weight_hh_l0.copy_(torch.from_numpy(keras_gates_to_torch(recurrent, units).T.copy()))
        gru.bias_ih_l0.copy_(torch.from_numpy(keras_gates_to_torch(bias[0], units)))
        gru.bias_hh_l0.copy_(torch.from_numpy(keras_gates_to_torch(bias[1], units)))
        torch.manual_seed(seed)
        x = torch.randn(3, steps, kernel.shape[0])
        _, h = gru(x)
        y = h[0]
        for k, b in dense:  # the Dense layers of both models are linear
            y = y @ torch.from_numpy(k) + torch.from_numpy(b)
    write_case(case, f'{rel_path} weights run by nn.GRU + linear Dense layers (input/output only)',
               None, [], x.numpy(), y.numpy())


def make_realworld_cases():
    # Keras 2.10 names weights with a ':0' suffix; Keras 3 nests them under the model's name.
    make_realworld_case('realworld_benedict_gru', 'keras2_h5/benedict_gru/gru_model.h5', 'gru/gru/gru_cell/',
                        [f'{n}/{n}/' for n in ('dense_2', 'dense_3')], 7, 30)
    make_realworld_case('realworld_satwikk908_gru', 'keras2_h5/keras3_written_legacy_h5/satwikk908_gru/gru_model.h5',
                        'gru/sequential/gru/gru_cell/', ['dense/sequential/dense/'], 20, 31)


if __name__ == '__main__':
    os.makedirs(OUT_DIR, exist_ok=True)
    make_gru_cases()
    make_conv_cases()
    make_realworld_cases()
    for f in sorted(os.listdir(OUT_DIR)):
        print(f, os.path.getsize(os.path.join(OUT_DIR, f)))
