#!/usr/bin/python3
"""Writes the PyTorch reference fixtures under fixtures/torch/<case>/.

Every file is produced by real PyTorch (torch.save, torch.onnx.export) except the
safetensors file, which is written by hand because the safetensors package is not
installed here. Run with Debian's interpreter (torch 1.13, onnx 1.12, numpy 1.24):

    /usr/bin/python3 scripts/make_torch_fixtures.py [case ...]

See scripts/README-fixtures.md for what each file holds.
"""
import json
import math
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'torch')
OPSET = 13
TOLERANCE = 1e-4

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- file writers

SAFETENSORS_DTYPES = {
    torch.float32: 'F32', torch.float64: 'F64', torch.float16: 'F16',
    torch.int64: 'I64', torch.int32: 'I32', torch.int8: 'I8', torch.uint8: 'U8', torch.bool: 'BOOL',
}


def write_safetensors(path, state_dict):
    """Hand-written safetensors: u64 LE header length, JSON header, raw little-endian data."""
    header = {'__metadata__': {'format': 'pt'}}
    chunks = []
    offset = 0
    for name, tensor in state_dict.items():
        data = tensor.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {
            'dtype': SAFETENSORS_DTYPES[tensor.dtype],
            'shape': list(tensor.shape),
            'data_offsets': [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    header_bytes = json.dumps(header, separators=(',', ':')).encode('utf-8')
    # The format pads the header with spaces so the data starts 8-byte aligned.
    header_bytes += b' ' * ((8 - len(header_bytes) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(len(header_bytes).to_bytes(8, 'little'))
        f.write(header_bytes)
        for chunk in chunks:
            f.write(chunk)


def same_state_dict(a, b):
    return list(a) == list(b) and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


def write_legacy_pt(path, state_dict):
    """The legacy format keys storages by their memory address, so its bytes change on every run;
    keep an existing file whose tensors are identical to avoid churn."""
    if os.path.exists(path):
        try:
            if same_state_dict(torch.load(path), state_dict):
                return
        except Exception:
            pass
    torch.save(state_dict, path, _use_new_zipfile_serialization=False)


def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=1)
        f.write('\n')


def float_list(array):
    # float32 -> shortest repr that round-trips through float32 keeps the JSON small and exact.
    return [float(np.format_float_positional(v, unique=True, trim='-')) if math.isfinite(v) else float(v)
            for v in np.asarray(array, dtype=np.float32).ravel()]


def write_reference_weights(path, weights):
    """weights: {'<layer>/<weight>': ndarray} in tfjs layout."""
    out = {}
    for name, value in weights.items():
        value = np.asarray(value, dtype=np.float32)
        out[name] = {'shape': list(value.shape), 'values': float_list(value)}
    with open(path, 'w') as f:
        json.dump(out, f, separators=(',', ':'))
        f.write('\n')


def onnx_name_kind(onnx_path, state_dict):
    names = [init.name for init in onnx.load(onnx_path).graph.initializer]
    in_torch = [n in state_dict for n in names]
    if names and all(in_torch):
        return 'torch'
    if not any(in_torch):
        return 'numbers'
    return 'mixed'


def export_onnx(model, example, path, training=torch.onnx.TrainingMode.PRESERVE):
    """Exports the eval-mode model. PRESERVE (with model.eval()) keeps BatchNormalization nodes and
    their PyTorch initializer names; EVAL (torch's default) folds BN into the preceding Conv and
    renames the folded tensors onnx::Conv_NN."""
    model.eval()
    torch.onnx.export(
        model, (example,), path,
        opset_version=OPSET, do_constant_folding=False, export_params=True,
        input_names=['input'], output_names=['output'],
        training=training,
    )


# ----------------------------------------------------------------------------- tfjs topology

def layer(class_name, name, **config):
    config = {'name': name, 'trainable': True, 'dtype': 'float32', **config}
    return {'class_name': class_name, 'config': config}


def first(layer_json, batch_input_shape):
    layer_json['config']['batch_input_shape'] = [None] + list(batch_input_shape)
    return layer_json


def dense(name, units, activation='linear', use_bias=True):
    return layer('Dense', name, units=units, activation=activation, use_bias=use_bias)


def conv(name, rank, filters, kernel, strides=1, padding='valid', activation='linear', use_bias=True,
         dilation=1, groups=None):
    cls = {1: 'Conv1D', 2: 'Conv2D', 3: 'Conv3D'}[rank]
    config = dict(filters=filters, kernel_size=[kernel] * rank, strides=[strides] * rank, padding=padding,
                  data_format='channels_last', dilation_rate=[dilation] * rank, activation=activation,
                  use_bias=use_bias)
    if groups is not None:
        config['groups'] = groups
    return layer(cls, name, **config)


def batch_norm(name, momentum=0.1, eps=1e-5):
    # PyTorch's momentum weighs the new batch; Keras' weighs the running value.
    return layer('BatchNormalization', name, axis=-1, momentum=1.0 - momentum, epsilon=eps,
                 center=True, scale=True)


def activation(name, fn):
    return layer('Activation', name, activation=fn)


def torch_padding(size, kernel, stride, pad, dilation=1):
    """'valid', 'same', or None when only an explicit ZeroPadding reproduces PyTorch's padding."""
    if pad == 0:
        return 'valid'
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    before = total // 2
    torch_out = (size + 2 * pad - effective) // stride + 1
    if before == pad and total - before == pad and torch_out == out:
        return 'same'
    # TF 'same' may also match when it pads less at the end than PyTorch but PyTorch's floor drops
    # that extra row anyway; only the start offset and the output size matter then.
    if before == pad and torch_out == out:
        return 'same'
    return None


def padded_conv(name, rank, filters, kernel, size, stride=1, pad=0, **kwargs):
    """Layers reproducing a PyTorch conv with symmetric zero padding `pad` on inputs of `size`:
    the conv alone when 'valid'/'same' match exactly, else ZeroPadding + 'valid' conv."""
    padding = torch_padding(size, kernel, stride, pad)
    if padding is not None:
        return [conv(name, rank, filters, kernel, strides=stride, padding=padding, **kwargs)]
    zero_padding = layer(f'ZeroPadding{rank}D', f'pad_{name}',
                         padding=[[pad, pad]] * rank if rank > 1 else [pad, pad],
                         **({'data_format': 'channels_last'} if rank > 1 else {}))
    return [zero_padding, conv(name, rank, filters, kernel, strides=stride, padding='valid', **kwargs)]


def sequential(name, layers):
    return {
        'format': 'layers-model',
        'generatedBy': 'scripts/make_torch_fixtures.py',
        'convertedBy': None,
        'modelTopology': {
            'class_name': 'Sequential',
            'config': {'name': name, 'layers': layers},
            'keras_version': 'tfjs-layers 4.22.0',
            'backend': 'tensor_flow.js',
        },
    }


# ----------------------------------------------------------------------------- torch -> tfjs weights (check aid)

def t(tensor):
    return tensor.detach().cpu().numpy().astype(np.float32)


def dense_weights(name, linear):
    out = {f'{name}/kernel': t(linear.weight).T}
    if linear.bias is not None:
        out[f'{name}/bias'] = t(linear.bias)
    return out


def conv_weights(name, module):
    w = t(module.weight)  # [out, in/groups, *k]
    rank = w.ndim - 2
    perm = list(range(2, 2 + rank)) + [1, 0]
    out = {f'{name}/kernel': w.transpose(perm)}
    if module.bias is not None:
        out[f'{name}/bias'] = t(module.bias)
    return out


def depthwise_kernel(module):
    w = t(module.weight)  # [in*m, 1, kh, kw]; output channel c*m + j belongs to input channel c
    channels = module.in_channels
    multiplier = w.shape[0] // channels
    return w.reshape(channels, multiplier, w.shape[2], w.shape[3]).transpose(2, 3, 0, 1)


def conv_transpose_weights(name, module):
    out = {f'{name}/kernel': t(module.weight).transpose(2, 3, 1, 0)}  # [in,out,kh,kw] -> [kh,kw,out,in]
    if module.bias is not None:
        out[f'{name}/bias'] = t(module.bias)
    return out


def bn_weights(name, bn):
    return {
        f'{name}/gamma': t(bn.weight), f'{name}/beta': t(bn.bias),
        f'{name}/moving_mean': t(bn.running_mean), f'{name}/moving_variance': t(bn.running_var),
    }


# ----------------------------------------------------------------------------- case writer

def write_case(case, model, example, topology, reference, description, input_perm, output_perm,
               needs_layers=False, extra_case=None, forward=None, state_dict=None):
    """Writes every file of one case. `forward` overrides model(example) for output.npy."""
    directory = os.path.join(ROOT, case)
    os.makedirs(directory, exist_ok=True)
    model.eval()
    if state_dict is None:
        state_dict = model.state_dict()

    np.savez(os.path.join(directory, 'model.npz'), **{k: v.detach().cpu().numpy() for k, v in state_dict.items()})
    write_safetensors(os.path.join(directory, 'model.safetensors'), state_dict)
    torch.save(state_dict, os.path.join(directory, 'model.pt'))
    write_legacy_pt(os.path.join(directory, 'model_legacy.pt'), state_dict)

    onnx_path = os.path.join(directory, 'model.onnx')
    export_onnx(model, example, onnx_path)
    onnx_names = onnx_name_kind(onnx_path, state_dict)
    has_batch_norm = any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) for m in model.modules())
    if has_batch_norm:
        # What torch.onnx.export's defaults give users: BN folded into the convs.
        export_onnx(model, example, os.path.join(directory, 'model_fused.onnx'), torch.onnx.TrainingMode.EVAL)

    with torch.no_grad():
        output = (forward or model)(example)
    np.save(os.path.join(directory, 'input.npy'), example.detach().cpu().numpy())
    np.save(os.path.join(directory, 'output.npy'), output.detach().cpu().numpy().astype(np.float32))

    write_json(os.path.join(directory, 'target.json'), topology)
    write_reference_weights(os.path.join(directory, 'reference_tfjs_weights.json'), reference)

    meta = {
        'description': description,
        'inputPerm': input_perm,
        'outputPerm': output_perm,
        'inputDtype': 'int32' if example.dtype in (torch.int64, torch.int32) else 'float32',
        'tolerance': TOLERANCE,
        'onnxNames': onnx_names,
        'needsLayers': needs_layers,
        'onnxExport': 'model.onnx: opset 13, do_constant_folding=False, training=PRESERVE on an eval() model'
                      + ('; model_fused.onnx: training=EVAL (torch default), BatchNorm folded into Conv, '
                         'initializers named onnx::Conv_NN' if has_batch_norm else ''),
        'inputShape': list(example.shape),
        'outputShape': list(output.shape),
        'stateDictKeys': list(state_dict.keys()),
    }
    if extra_case:
        meta.update(extra_case)
    write_json(os.path.join(directory, 'case.json'), meta)
    print(f'{case}: onnx names {onnx_names}')
    return directory


def seeded(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def warm_batch_norm(model, make_input, steps=5):
    """A few train-mode forward passes so running_mean/var move away from 0/1."""
    model.train()
    with torch.no_grad():
        for _ in range(steps):
            model(make_input())
    model.eval()


def randomize_batch_norm_affine(model):
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm)):
                module.weight.copy_(1.0 + 0.3 * torch.randn_like(module.weight))
                module.bias.copy_(0.2 * torch.randn_like(module.bias))


NCHW_TO_NHWC = [0, 2, 3, 1]
NCL_TO_NLC = [0, 2, 1]
NCDHW_TO_NDHWC = [0, 2, 3, 4, 1]


# ----------------------------------------------------------------------------- cases

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 16)
        self.fc2 = nn.Linear(16, 16)
        self.fc3 = nn.Linear(16, 5)

    def forward(self, x):
        return self.fc3(torch.tanh(self.fc2(torch.relu(self.fc1(x)))))


def mlp_parts():
    seeded(1)
    model = MLP().eval()
    example = randn(2, 12)
    topology = sequential('mlp', [
        first(dense('fc1', 16, 'relu'), [12]),
        dense('fc2', 16, 'tanh'),
        dense('fc3', 5),
    ])
    reference = {**dense_weights('fc1', model.fc1), **dense_weights('fc2', model.fc2),
                 **dense_weights('fc3', model.fc3)}
    return model, example, topology, reference


def case_mlp():
    model, example, topology, reference = mlp_parts()
    write_case('mlp', model, example, topology, reference,
               'Linear(12,16) ReLU Linear(16,16) Tanh Linear(16,5) as attributes fc1, fc2, fc3',
               None, None)


def case_onnx_numbers():
    model, example, topology, reference = mlp_parts()
    directory = write_case('onnx_numbers', model, example, topology, reference,
                           'the mlp case (same weights) with ONNX initializers renamed to 1, 2, ...; '
                           'map.json names their tfjs targets', None, None)
    onnx_path = os.path.join(directory, 'model.onnx')
    graph_model = onnx.load(onnx_path)
    graph = graph_model.graph
    renames = {}
    for index, init in enumerate(graph.initializer):
        renames[init.name] = str(index + 1)
    for init in graph.initializer:
        init.name = renames[init.name]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
    for value in graph.input:
        if value.name in renames:
            value.name = renames[value.name]
    onnx.checker.check_model(graph_model)
    onnx.save(graph_model, onnx_path)
    tensors = []
    for torch_name, number in renames.items():
        module, kind = torch_name.rsplit('.', 1)
        tensors.append({'source': number, 'target': f"{module.replace('.', '_')}/{'kernel' if kind == 'weight' else 'bias'}"})
    write_json(os.path.join(directory, 'map.json'), {'tensors': tensors})
    case_path = os.path.join(directory, 'case.json')
    meta = json.load(open(case_path))
    meta['onnxNames'] = onnx_name_kind(onnx_path, model.state_dict())
    meta['onnxRenamedFrom'] = renames
    write_json(case_path, meta)
    print(f"onnx_numbers: onnx names now {meta['onnxNames']}")


def case_conv_bn():
    seeded(2)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
    )
    wrapper = Features(net)
    randomize_batch_norm_affine(wrapper)
    warm_batch_norm(wrapper, lambda: randn(4, 3, 9, 9) * 1.5 + 0.5)
    example = randn(2, 3, 9, 9)
    assert torch_padding(9, 3, 1, 1) == 'same' and torch_padding(9, 3, 2, 1) == 'same'
    topology = sequential('conv_bn', [
        first(conv('features_0', 2, 8, 3, padding='same'), [9, 9, 3]),
        batch_norm('features_1'),
        activation('features_2', 'relu'),
        conv('features_3', 2, 6, 3, strides=2, padding='same'),
        batch_norm('features_4'),
        activation('features_5', 'relu'),
    ])
    reference = {**conv_weights('features_0', net[0]), **bn_weights('features_1', net[1]),
                 **conv_weights('features_3', net[3]), **bn_weights('features_4', net[4])}
    write_case('conv_bn', wrapper, example, topology, reference,
               'features = Conv2d(3,8,3,p=1) BN(8) ReLU Conv2d(8,6,3,s=2,p=1) BN(6) ReLU on 2x3x9x9; '
               'both paddings equal tfjs "same" at this size',
               NCHW_TO_NHWC, NCHW_TO_NHWC)


class Features(nn.Module):
    """Holds a Sequential under the attribute `features` so state-dict names read features.N.*."""

    def __init__(self, features):
        super().__init__()
        self.features = features

    def forward(self, x):
        return self.features(x)


class Sep(nn.Module):
    def __init__(self):
        super().__init__()
        self.depthwise = nn.Conv2d(4, 4, 3, groups=4, bias=False)
        self.pointwise = nn.Conv2d(4, 6, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class SepNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.sep = Sep()

    def forward(self, x):
        return self.sep(x)


def case_depthwise():
    seeded(3)
    net = nn.Sequential(nn.Conv2d(4, 8, 3, groups=4, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 5, 1))
    model = Features(net)
    randomize_batch_norm_affine(model)
    warm_batch_norm(model, lambda: randn(4, 4, 6, 6) * 2.0 - 0.3)
    example = randn(2, 4, 6, 6)
    dw = net[0]
    topology = sequential('depthwise', [
        first(layer('DepthwiseConv2D', 'features_0', kernel_size=[3, 3], strides=[1, 1], padding='same',
                    data_format='channels_last', dilation_rate=[1, 1], depth_multiplier=2,
                    activation='linear', use_bias=True), [6, 6, 4]),
        batch_norm('features_1'),
        activation('features_2', 'relu'),
        conv('features_3', 2, 5, 1),
    ])
    reference = {'features_0/depthwise_kernel': depthwise_kernel(dw), 'features_0/bias': t(dw.bias),
                 **bn_weights('features_1', net[1]), **conv_weights('features_3', net[3])}
    write_case('depthwise', model, example, topology, reference,
               'features = Conv2d(4,8,3,groups=4,p=1) (depth multiplier 2) BN(8) ReLU Conv2d(8,5,1) on 2x4x6x6',
               NCHW_TO_NHWC, NCHW_TO_NHWC)


def case_separable():
    seeded(4)
    model = SepNet().eval()
    example = randn(2, 4, 7, 7)
    topology = sequential('separable', [
        first(layer('SeparableConv2D', 'sep', filters=6, kernel_size=[3, 3], strides=[1, 1], padding='valid',
                    data_format='channels_last', dilation_rate=[1, 1], depth_multiplier=1,
                    activation='linear', use_bias=True), [7, 7, 4]),
    ])
    reference = {'sep/depthwise_kernel': depthwise_kernel(model.sep.depthwise),
                 'sep/pointwise_kernel': conv_weights('x', model.sep.pointwise)['x/kernel'],
                 'sep/bias': t(model.sep.pointwise.bias)}
    write_case('separable', model, example, topology, reference,
               'sep.depthwise = Conv2d(4,4,3,groups=4,bias=False), sep.pointwise = Conv2d(4,6,1) on 2x4x7x7 '
               '-> one SeparableConv2D "sep"', NCHW_TO_NHWC, NCHW_TO_NHWC)


def case_conv_transpose():
    seeded(5)
    net = nn.Sequential(nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1),
                        nn.ConvTranspose2d(3, 2, 2, stride=2))
    model = Features(net).eval()
    example = randn(2, 4, 5, 5)
    # PyTorch crops `padding` rows at the start and `padding - output_padding` at the end of the
    # full transposed output; tfjs 'same' crops its one extra row at the END instead (shifted by
    # one), so the exact equivalent is 'valid' followed by Cropping2D((1,0),(1,0)).
    topology = sequential('conv_transpose', [
        first(layer('Conv2DTranspose', 'features_0', filters=3, kernel_size=[3, 3], strides=[2, 2],
                    padding='valid', data_format='channels_last', dilation_rate=[1, 1],
                    activation='linear', use_bias=True), [5, 5, 4]),
        layer('Cropping2D', 'crop_features_0', cropping=[[1, 0], [1, 0]], data_format='channels_last'),
        layer('Conv2DTranspose', 'features_1', filters=2, kernel_size=[2, 2], strides=[2, 2],
              padding='valid', data_format='channels_last', dilation_rate=[1, 1],
              activation='linear', use_bias=True),
    ])
    reference = {**conv_transpose_weights('features_0', net[0]), **conv_transpose_weights('features_1', net[1])}
    write_case('conv_transpose', model, example, topology, reference,
               'features = ConvTranspose2d(4,3,3,s=2,p=1,output_padding=1) ConvTranspose2d(3,2,2,s=2) on 2x4x5x5; '
               'the first equals tfjs "valid" + Cropping2D(((1,0),(1,0))), NOT tfjs "same" (which crops the end)',
               NCHW_TO_NHWC, NCHW_TO_NHWC,
               extra_case={'sameIsNotEquivalent': 'ConvTranspose2d padding=1 crops the first row; tfjs same crops the last'})


def case_conv_pad():
    seeded(17)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 5, padding=2))
    model = Features(net).eval()
    example = randn(2, 3, 8, 8)
    # On 8x8, tfjs 'same' with stride 2 pads 0 before / 1 after, PyTorch 1 / 1: explicit padding.
    assert torch_padding(8, 3, 2, 1) is None and torch_padding(4, 5, 1, 2) == 'same'
    layers = padded_conv('features_0', 2, 4, 3, 8, stride=2, pad=1, activation='relu')
    layers[0] = first(layers[0], [8, 8, 3])
    layers += padded_conv('features_2', 2, 5, 5, 4, pad=2)
    reference = {**conv_weights('features_0', net[0]), **conv_weights('features_2', net[2])}
    write_case('conv_pad', model, example, sequential('conv_pad', layers), reference,
               'features = Conv2d(3,4,3,s=2,p=1) ReLU Conv2d(4,5,5,p=2) on 2x3x8x8: the first needs '
               'ZeroPadding2D pad_features_0 + valid (tfjs same would pad 0/1), the second is tfjs same',
               NCHW_TO_NHWC, NCHW_TO_NHWC)


class LastStepRNN(nn.Module):
    def __init__(self, rnn_class, attribute):
        super().__init__()
        self.attribute = attribute
        setattr(self, attribute, rnn_class(input_size=6, hidden_size=8, batch_first=True))
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        sequence, _ = getattr(self, self.attribute)(x)
        return self.fc(sequence[:, -1])


def case_lstm():
    seeded(6)
    model = LastStepRNN(nn.LSTM, 'lstm').eval()
    example = randn(2, 5, 6)
    lstm = model.lstm
    topology = sequential('lstm', [
        first(layer('LSTM', 'lstm', units=8, activation='tanh', recurrent_activation='sigmoid', use_bias=True,
                    unit_forget_bias=False, return_sequences=False, return_state=False, go_backwards=False,
                    stateful=False, unroll=False, implementation=1), [5, 6]),
        dense('fc', 3),
    ])
    # PyTorch and Keras share the gate order i, f, g(c), o.
    reference = {'lstm/kernel': t(lstm.weight_ih_l0).T, 'lstm/recurrent_kernel': t(lstm.weight_hh_l0).T,
                 'lstm/bias': t(lstm.bias_ih_l0) + t(lstm.bias_hh_l0), **dense_weights('fc', model.fc)}
    write_case('lstm', model, example, topology, reference,
               'LSTM(6,8,batch_first) -> last time step -> Linear(8,3) on 2x5x6', None, None)


def gru_reorder(w):
    """PyTorch gates r, z, n -> Keras z, r, h along axis 0."""
    r, z, n = np.split(w, 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def keras_gru_reset_after(x, kernel, recurrent, bias):
    """NumPy Keras GRU (reset_after=True, gates z, r, h), last step only: proves the reference
    weights since stock tfjs cannot build this layer."""
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units), dtype=np.float64)
    for step in range(x.shape[1]):
        xw = x[:, step] @ kernel + bias[0]
        hu = h @ recurrent + bias[1]
        z = sigmoid(xw[:, :units] + hu[:, :units])
        r = sigmoid(xw[:, units:2 * units] + hu[:, units:2 * units])
        candidate = np.tanh(xw[:, 2 * units:] + r * hu[:, 2 * units:])
        h = z * h + (1 - z) * candidate
    return h


def keras_grouped_conv(x, kernel, bias, groups):
    """NumPy channels-last grouped convolution, stride 1, 'valid' (pad x beforehand for 'same')."""
    spatial = kernel.shape[:-2]
    in_per_group, out = kernel.shape[-2], kernel.shape[-1]
    out_per_group = out // groups
    out_size = [x.shape[1 + i] - spatial[i] + 1 for i in range(len(spatial))]
    result = np.zeros([x.shape[0]] + out_size + [out])
    for offset in np.ndindex(*spatial):
        window = x[(slice(None),) + tuple(slice(o, o + n) for o, n in zip(offset, out_size))]
        for g in range(groups):
            xs = window[..., g * in_per_group:(g + 1) * in_per_group]
            ws = kernel[offset][:, g * out_per_group:(g + 1) * out_per_group]
            result[..., g * out_per_group:(g + 1) * out_per_group] += xs @ ws
    return result + bias


def assert_close(actual, expected, what):
    error = float(np.max(np.abs(actual - expected)))
    if error > TOLERANCE:
        raise AssertionError(f'{what}: NumPy reference differs from PyTorch by {error}')
    print(f'  {what}: NumPy check of the reference weights, max |diff| {error:.2e}')


def case_gru():
    seeded(11)
    model = LastStepRNN(nn.GRU, 'gru').eval()
    example = randn(2, 5, 6)
    gru = model.gru
    topology = sequential('gru', [
        first(layer('GRU', 'gru', units=8, activation='tanh', recurrent_activation='sigmoid', use_bias=True,
                    reset_after=True, return_sequences=False, return_state=False, go_backwards=False,
                    stateful=False, unroll=False, implementation=1), [5, 6]),
        dense('fc', 3),
    ])
    reference = {
        'gru/kernel': gru_reorder(t(gru.weight_ih_l0)).T,
        'gru/recurrent_kernel': gru_reorder(t(gru.weight_hh_l0)).T,
        # reset_after keeps input and recurrent biases apart: row 0 input, row 1 recurrent.
        'gru/bias': np.stack([gru_reorder(t(gru.bias_ih_l0)), gru_reorder(t(gru.bias_hh_l0))]),
        **dense_weights('fc', model.fc),
    }
    with torch.no_grad():
        expected = model(example).numpy()
    last = keras_gru_reset_after(example.numpy().astype(np.float64), reference['gru/kernel'],
                                 reference['gru/recurrent_kernel'], reference['gru/bias'])
    assert_close(last @ reference['fc/kernel'] + reference['fc/bias'], expected, 'gru')
    write_case('gru', model, example, topology, reference,
               'GRU(6,8,batch_first) -> last time step -> Linear(8,3) on 2x5x6; Keras GRU reset_after=True '
               '(gates z,r,h vs PyTorch r,z,n; bias [2, 24])', None, None, needs_layers=True)


class EmbConvNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 8)
        self.conv = nn.Conv1d(8, 12, 3, padding=1)
        self.norm = nn.LayerNorm(12)

    def forward(self, ids):
        x = self.emb(ids).transpose(1, 2)
        return self.norm(self.conv(x).transpose(1, 2))


def case_emb_conv1d_ln():
    seeded(7)
    model = EmbConvNorm()
    randomize_batch_norm_affine(model)
    model.eval()
    example = torch.randint(0, 50, (2, 7), dtype=torch.int64)
    assert torch_padding(7, 3, 1, 1) == 'same'
    topology = sequential('emb_conv1d_ln', [
        first(layer('Embedding', 'emb', input_dim=50, output_dim=8, mask_zero=False, input_length=7), [7]),
        conv('conv', 1, 12, 3, padding='same'),
        layer('LayerNormalization', 'norm', axis=-1, epsilon=1e-5, center=True, scale=True),
    ])
    # The layer dtype stays float32 (it is the embeddings' dtype); tfjs Embedding casts ids to int32.
    reference = {'emb/embeddings': t(model.emb.weight), **conv_weights('conv', model.conv),
                 'norm/gamma': t(model.norm.weight), 'norm/beta': t(model.norm.bias)}
    write_case('emb_conv1d_ln', model, example, topology, reference,
               'Embedding(50,8) -> transpose -> Conv1d(8,12,3,p=1) -> transpose -> LayerNorm(12); int64 ids 2x7; '
               'output 2x7x12 (already channels-last)', None, None)


def case_flatten_dense():
    seeded(8)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(100, 6))
    model = Features(net).eval()
    example = randn(2, 3, 7, 7)
    topology = sequential('flatten_dense', [
        first(conv('features_0', 2, 4, 3, activation='relu'), [7, 7, 3]),
        layer('Flatten', 'features_2', data_format='channels_last'),
        dense('features_3', 6),
    ])
    w = t(net[3].weight)  # [6, C*H*W] with C outermost; tfjs rows run H, W, C
    kernel = w.reshape(6, 4, 5, 5).transpose(2, 3, 1, 0).reshape(100, 6)
    reference = {**conv_weights('features_0', net[0]), 'features_3/kernel': kernel,
                 'features_3/bias': t(net[3].bias)}
    write_case('flatten_dense', model, example, topology, reference,
               'features = Conv2d(3,4,3) ReLU Flatten Linear(100,6) on 2x3x7x7: Linear rows must be reordered '
               'from C,H,W to H,W,C (feature map 5x5x4)', NCHW_TO_NHWC, None,
               extra_case={'flattenFrom': {'layer': 'features_3', 'chw': [4, 5, 5]}})


class PReLUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(10, 6)
        self.act1 = nn.PReLU(6)
        self.fc2 = nn.Linear(6, 4)
        self.act2 = nn.PReLU()

    def forward(self, x):
        return self.act2(self.fc2(self.act1(self.fc1(x))))


def randomize_prelu(model):
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.PReLU):
                module.weight.copy_(0.25 + 0.2 * torch.randn_like(module.weight))


def prelu_layer(name, shared_axes=None):
    return layer('PReLU', name, shared_axes=shared_axes)


def case_prelu():
    seeded(9)
    model = PReLUNet()
    randomize_prelu(model)
    model.eval()
    example = randn(2, 10) * 2
    topology = sequential('prelu', [
        first(dense('fc1', 6), [10]),
        prelu_layer('act1'),
        dense('fc2', 4),
        prelu_layer('act2'),
    ])
    reference = {**dense_weights('fc1', model.fc1), 'act1/alpha': t(model.act1.weight),
                 **dense_weights('fc2', model.fc2), 'act2/alpha': np.broadcast_to(t(model.act2.weight), (4,))}
    write_case('prelu', model, example, topology, reference,
               'Linear(10,6) PReLU(6) Linear(6,4) PReLU() (one shared alpha, broadcast to [4] in tfjs)', None, None)


class ConvPReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = nn.PReLU(4)

    def forward(self, x):
        return self.act(self.conv(x))


def case_prelu_conv():
    seeded(10)
    model = ConvPReLU()
    randomize_prelu(model)
    model.eval()
    example = randn(2, 3, 6, 6) * 2
    topology = sequential('prelu_conv', [
        first(conv('conv', 2, 4, 3), [6, 6, 3]),
        prelu_layer('act', shared_axes=[1, 2]),
    ])
    reference = {**conv_weights('conv', model.conv), 'act/alpha': t(model.act.weight).reshape(1, 1, 4)}
    write_case('prelu_conv', model, example, topology, reference,
               'Conv2d(3,4,3) PReLU(4) on 2x3x6x6 -> tfjs PReLU shared_axes [1,2], alpha [1,1,4]',
               NCHW_TO_NHWC, NCHW_TO_NHWC)


class SingleConv(nn.Module):
    def __init__(self, module):
        super().__init__()
        self.conv = module

    def forward(self, x):
        return self.conv(x)


def case_conv1d():
    seeded(12)
    model = SingleConv(nn.Conv1d(3, 5, 3, stride=2)).eval()
    example = randn(2, 3, 11)
    topology = sequential('conv1d', [first(conv('conv', 1, 5, 3, strides=2), [11, 3])])
    write_case('conv1d', model, example, topology, conv_weights('conv', model.conv),
               'Conv1d(3,5,3,stride=2) on 2x3x11 (valid)', NCL_TO_NLC, NCL_TO_NLC)


def case_conv3d():
    seeded(13)
    model = SingleConv(nn.Conv3d(2, 3, 3, padding=1)).eval()
    example = randn(2, 2, 4, 5, 6)
    assert all(torch_padding(s, 3, 1, 1) == 'same' for s in (4, 5, 6))
    topology = sequential('conv3d', [first(conv('conv', 3, 3, 3, padding='same'), [4, 5, 6, 2])])
    write_case('conv3d', model, example, topology, conv_weights('conv', model.conv),
               'Conv3d(2,3,3,p=1) on 2x2x4x5x6 (same)', NCDHW_TO_NDHWC, NCDHW_TO_NDHWC)


def case_grouped_conv():
    seeded(14)
    model = SingleConv(nn.Conv2d(4, 6, 3, groups=2, padding=1)).eval()
    example = randn(2, 4, 6, 6)
    topology = sequential('grouped_conv', [first(conv('conv', 2, 6, 3, padding='same', groups=2), [6, 6, 4])])
    reference = conv_weights('conv', model.conv)
    padded = np.pad(example.numpy().transpose(NCHW_TO_NHWC), [(0, 0), (1, 1), (1, 1), (0, 0)])
    with torch.no_grad():
        expected = model(example).numpy().transpose(NCHW_TO_NHWC)
    assert_close(keras_grouped_conv(padded, reference['conv/kernel'], reference['conv/bias'], 2), expected,
                 'grouped_conv')
    write_case('grouped_conv', model, example, topology, reference,
               'Conv2d(4,6,3,groups=2,p=1) on 2x4x6x6 -> Conv2D groups 2, kernel [3,3,2,6]',
               NCHW_TO_NHWC, NCHW_TO_NHWC, needs_layers=True)


def case_grouped_conv1d():
    seeded(15)
    model = SingleConv(nn.Conv1d(4, 6, 3, groups=2)).eval()
    example = randn(2, 4, 9)
    topology = sequential('grouped_conv1d', [first(conv('conv', 1, 6, 3, groups=2), [9, 4])])
    reference = conv_weights('conv', model.conv)
    with torch.no_grad():
        expected = model(example).numpy().transpose(NCL_TO_NLC)
    assert_close(keras_grouped_conv(example.numpy().transpose(NCL_TO_NLC), reference['conv/kernel'],
                                    reference['conv/bias'], 2), expected, 'grouped_conv1d')
    write_case('grouped_conv1d', model, example, topology, reference,
               'Conv1d(4,6,3,groups=2) on 2x4x9 (valid) -> Conv1D groups 2, kernel [3,2,6]',
               NCL_TO_NLC, NCL_TO_NLC, needs_layers=True)


class SeedMLP(nn.Module):
    """The book's 5-layer net. `probabilities` is not a parameter, so the state dict is unaffected."""

    def __init__(self, hidden4=24, classes=5):
        super().__init__()
        self.hidden1 = nn.Linear(64, 48)
        self.hidden2 = nn.Linear(48, 32)
        self.hidden3 = nn.Linear(32, 32)
        self.hidden4 = nn.Linear(32, hidden4)
        self.output = nn.Linear(hidden4, classes)
        self.probabilities = False

    def forward(self, x):
        for hidden in (self.hidden1, self.hidden2, self.hidden3, self.hidden4):
            x = torch.relu(hidden(x))
        logits = self.output(x)
        return torch.softmax(logits, dim=-1) if self.probabilities else logits


def seed_topology(name, hidden4):
    return sequential(name, [
        first(dense('hidden1', 48, 'relu'), [64]),
        dense('hidden2', 32, 'relu'),
        dense('hidden3', 32, 'relu'),
        dense('hidden4', hidden4, 'relu'),
        dense('output', 5, 'softmax'),
    ])


def case_seed_mlp():
    from sklearn.datasets import load_digits
    seeded(16)
    digits = load_digits()
    x_all = (digits.data / 16.0).astype(np.float32)
    y_all = digits.target.astype(np.int64)
    rng = np.random.RandomState(16)

    # Old task: digits 0-4, 70/30 split (fixed permutation).
    old = np.where(y_all <= 4)[0]
    old = old[rng.permutation(len(old))]
    cut = int(len(old) * 0.7)
    old_train, old_test = old[:cut], old[cut:]

    # New task: digits 5-9 with a small budget of 30 training samples per class; the rest is test.
    new_train, new_test = [], []
    for digit in range(5, 10):
        idx = np.where(y_all == digit)[0]
        idx = idx[rng.permutation(len(idx))]
        new_train.extend(idx[:30])
        new_test.extend(idx[30:])
    new_train = np.array(sorted(new_train, key=lambda i: rng.rand()))
    new_test = np.array(new_test)

    model = SeedMLP()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x_all[old_train]), torch.from_numpy(y_all[old_train])
    model.train()
    for epoch in range(30):
        order = torch.randperm(len(xt))
        for start in range(0, len(xt), 32):
            batch = order[start:start + 32]
            optimizer.zero_grad()
            loss_fn(model(xt[batch]), yt[batch]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x_all[old_test]))
    accuracy = float((logits.argmax(-1).numpy() == y_all[old_test]).mean())
    model.probabilities = True

    example = torch.from_numpy(x_all[old_test[:2]])
    reference = {}
    for name in ('hidden1', 'hidden2', 'hidden3', 'hidden4', 'output'):
        reference.update(dense_weights(name, getattr(model, name)))
    directory = write_case(
        'seed_mlp', model, example, seed_topology('seed_mlp', 24), reference,
        "the book's 5-layer net 64-48-32-32-24-5 (ReLU) trained on sklearn digits 0-4 (pixels / 16); "
        'output.npy and model.onnx give softmax probabilities (the PyTorch module returns logits while '
        'training; softmax is in the tfjs output layer)', None, None,
        extra_case={
            'outputIs': 'softmax probabilities',
            'digits04TestAccuracy': accuracy,
            'digits04TestCount': int(len(old_test)),
            'digits59TrainPerClass': 30,
            'digits59TestCount': int(len(new_test)),
            'newTarget': 'target_new.json: hidden1-3 as in the source, hidden4 16 units, output 5 units (digits 5-9)',
        })
    write_json(os.path.join(directory, 'target_new.json'), seed_topology('seed_mlp_new', 16))

    def save(name, array):
        np.save(os.path.join(directory, name), array)

    save('digits_5_9_train_x.npy', x_all[new_train])
    save('digits_5_9_train_y.npy', (y_all[new_train] - 5).astype(np.int32))
    save('digits_5_9_test_x.npy', x_all[new_test])
    save('digits_5_9_test_y.npy', (y_all[new_test] - 5).astype(np.int32))
    save('digits_0_4_test_x.npy', x_all[old_test])
    save('digits_0_4_test_y.npy', y_all[old_test].astype(np.int32))
    print(f'seed_mlp: digits 0-4 test accuracy {accuracy:.4f}')


CASES = {
    'mlp': case_mlp,
    'conv_bn': case_conv_bn,
    'flatten_dense': case_flatten_dense,
    'seed_mlp': case_seed_mlp,
    'depthwise': case_depthwise,
    'separable': case_separable,
    'conv_transpose': case_conv_transpose,
    'lstm': case_lstm,
    'emb_conv1d_ln': case_emb_conv1d_ln,
    'prelu': case_prelu,
    'prelu_conv': case_prelu_conv,
    'conv1d': case_conv1d,
    'conv3d': case_conv3d,
    'gru': case_gru,
    'grouped_conv': case_grouped_conv,
    'grouped_conv1d': case_grouped_conv1d,
    'onnx_numbers': case_onnx_numbers,
    'conv_pad': case_conv_pad,
}


def main(argv):
    names = argv or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        sys.exit(f'unknown case(s): {unknown}; known: {list(CASES)}')
    os.makedirs(ROOT, exist_ok=True)
    for name in names:
        CASES[name]()


if __name__ == '__main__':
    main(sys.argv[1:])
