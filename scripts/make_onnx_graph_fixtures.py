#!/usr/bin/python3
"""Exports PyTorch models to ONNX (opset 13) for graft's ONNX-graph model builder.

Each case becomes <out>/<case>/ with
  model.onnx   exported by torch.onnx.export (eval mode, dynamic batch axis)
  input.npy    the reference input in PyTorch's layout (NCHW, NCL, token ids [N, T])
  output.npy   PyTorch's own output for that input
  case.json    {"inputLayout": ..., "inputPerm": [...] | null, "outputPerm": ..., "inputDtype": ...}

Small nets and the small torchvision models are committed under fixtures/onnx-graph/ (the
default); `--large DIR` writes the large torchvision models (resnet18 is 45 MB) into DIR
instead, for scripts/parity-onnx-graph.ts and scripts/bench-onnx-graph.ts.

    /usr/bin/python3 scripts/make_onnx_graph_fixtures.py [--large DIR] [case ...]
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'onnx-graph')
OPSET = 13
torch.set_num_threads(1)


def nchw(rank):
    return {3: [0, 2, 1], 4: [0, 2, 3, 1]}.get(rank)


# ----------------------------------------------------------------------------- small nets

class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 16)
        self.fc2 = nn.Linear(16, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        return F.softmax(self.out(torch.tanh(self.fc2(F.relu(self.fc1(x))))), dim=1)


class CnnGap(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(x)))
        y = self.pool(y)
        y = F.adaptive_avg_pool2d(y, 1).flatten(1)
        return self.fc(y)


class CnnFlatten(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=(1, 2))
        self.pool = nn.AvgPool2d(2)
        self.fc1 = nn.Linear(8 * 6 * 9, 20)
        self.fc2 = nn.Linear(20, 4)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = F.leaky_relu(self.conv2(x), 0.1)
        x = torch.flatten(x, 1)
        return self.fc2(F.elu(self.fc1(x)))


class DwPw(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.pw = nn.Conv2d(8, 16, 1)
        self.dw2 = nn.Conv2d(16, 32, 3, padding=1, groups=16)
        self.grouped = nn.Conv2d(32, 16, 3, padding=1, groups=4)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        x = F.relu6(self.bn0(self.stem(x)))
        x = F.relu6(self.bn1(self.dw(x)))
        x = F.hardswish(self.pw(x))
        x = F.hardsigmoid(self.dw2(x))
        x = F.selu(self.grouped(x))
        return self.fc(x.mean([2, 3]))


class TransposedConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 6, 3, stride=2, padding=1)
        self.up1 = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1)
        self.up2 = nn.ConvTranspose2d(4, 3, 2, stride=2)

    def forward(self, x):
        return self.up2(torch.sigmoid(self.up1(F.relu(self.conv(x)))))


class Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 10, batch_first=True)
        self.fc = nn.Linear(10, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


class Gru(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(5, 7, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(14, 2)

    def forward(self, x):
        y, _ = self.gru(x)
        return self.fc(y)


class EmbConvLn(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 8)
        self.conv = nn.Conv1d(8, 12, 3, padding=1)
        self.ln = nn.LayerNorm(12)
        self.fc = nn.Linear(12, 4)

    def forward(self, ids):
        x = self.emb(ids).transpose(1, 2)
        x = F.relu(self.conv(x)).transpose(1, 2)
        x = self.ln(x)
        return self.fc(x.mean(1))


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(3, 8, 3, padding=1)
        self.enc2 = nn.Conv2d(8, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.mid = nn.Conv2d(16, 16, 3, padding=1)
        self.up = nn.ConvTranspose2d(16, 16, 2, stride=2)
        self.dec2 = nn.Conv2d(32, 8, 3, padding=1)
        self.upsample = nn.Upsample(scale_factor=2, mode='nearest')
        self.dec1 = nn.Conv2d(16, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 1, 1)

    def forward(self, x):
        e1 = F.leaky_relu(self.enc1(x), 0.2)
        e2 = F.leaky_relu(self.enc2(self.pool(e1)), 0.2)
        m = F.leaky_relu(self.mid(self.pool(e2)), 0.2)
        d2 = F.leaky_relu(self.dec2(torch.cat([self.up(m), e2], 1)), 0.2)
        d1 = F.leaky_relu(self.dec1(torch.cat([self.upsample(d2), e1], 1)), 0.2)
        return torch.sigmoid(self.head(d1))


class BiLstmClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(40, 8)
        self.rnn = nn.LSTM(8, 12, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(24, 3)

    def forward(self, ids):
        y, _ = self.rnn(self.emb(ids))
        return self.fc(y.mean(1))


class TransformerClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.enc = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, ids):
        return self.fc(self.enc(self.emb(ids)).mean(1))


SEQUENCE = {'lstm', 'gru', 'birnn'}


class BiRnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(5, 6, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(12, 3)

    def forward(self, x):
        y, h = self.rnn(x)
        return self.fc(y[:, 0] + y[:, -1])


class Unsupported(nn.Module):
    """Ops graft does not build (CumSum twice, ArgMax): conversion must refuse, naming them."""
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        y = self.fc(x).cumsum(1).cumsum(1)
        return y + y.argmax(1, keepdim=True).float()


class MiscOps(nn.Module):
    """Less common ops in one graph: bilinear resizing, instance norm, reflect padding, padded and
    ceil-mode pooling, PReLU, chunk (Split), strided slices, broadcast arithmetic, a constant operand."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.inorm = nn.InstanceNorm2d(8, affine=True)
        self.prelu = nn.PReLU(8)
        self.avg_in = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=True)
        self.avg_ex = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True)
        self.maxc = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.head = nn.Conv2d(16, 4, 1)
        self.scale = nn.Parameter(torch.randn(4, 1, 1))

    def forward(self, x):
        x = self.conv(F.pad(x, (1, 2, 2, 1), mode='reflect'))
        x = self.prelu(self.inorm(x))
        a, b = torch.chunk(x, 2, dim=1)
        a = F.interpolate(self.avg_in(a), scale_factor=2, mode='bilinear', align_corners=False)
        b = F.interpolate(self.avg_ex(b), size=(a.shape[2], a.shape[3]), mode='bilinear', align_corners=True)
        y = torch.cat([a, b, a * 0.5 - b, b + b[:, :, :, 1:].sum(3, keepdim=True) / 3], 1)
        y = self.maxc(y)
        return (self.head(y) * self.scale)[:, :, ::2, :]


def tiny_resnet():
    """torchvision's ResNet layout and module names (conv1, bn1, layer1.0.conv1, …, fc) at small widths."""
    from torchvision.models.resnet import BasicBlock

    class TinyResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
            down = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
            self.layer2 = nn.Sequential(BasicBlock(8, 16, 2, down), BasicBlock(16, 16))
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(16, 5)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer2(self.layer1(x))
            return self.fc(torch.flatten(self.avgpool(x), 1))
    return TinyResNet()


def image(c, h, w, n=2):
    return torch.randn(n, c, h, w)


def tokens(vocab, t, n=2):
    return torch.randint(0, vocab, (n, t))


SMALL = {
    'mlp': (Mlp, lambda: torch.randn(3, 12)),
    'cnn_gap': (CnnGap, lambda: image(3, 16, 16)),
    'cnn_flatten': (CnnFlatten, lambda: image(1, 16, 18)),
    'dw_pw': (DwPw, lambda: image(3, 16, 16)),
    'conv_transpose': (TransposedConv, lambda: image(2, 8, 8)),
    'lstm': (Lstm, lambda: torch.randn(2, 7, 6)),
    'gru': (Gru, lambda: torch.randn(2, 5, 5)),
    'emb_conv1d_ln': (EmbConvLn, lambda: tokens(30, 9)),
    'unet': (UNet, lambda: image(3, 16, 16)),
    'bilstm_emb': (BiLstmClassifier, lambda: tokens(40, 6)),
    'transformer': (TransformerClassifier, lambda: tokens(50, 5)),
    'unsupported': (Unsupported, lambda: torch.randn(2, 6)),
    'birnn': (BiRnn, lambda: torch.randn(2, 5, 5)),
    'misc_ops': (MiscOps, lambda: image(3, 13, 13)),
    'tiny_resnet': (tiny_resnet, lambda: image(3, 32, 32)),
    'dynamic_hw': (CnnGap, lambda: image(3, 16, 16)),
}
# Cases whose height and width are left open in the file (fixed with --input-shape).
OPEN_SPATIAL = {'dynamic_hw'}


def tv(name, size, **kwargs):
    def build():
        import torchvision.models as m
        return getattr(m, name)(weights=None, **kwargs)
    return build, lambda: image(3, size, size)


# Small enough to commit (< ~2 MB each with 10 classes).
TORCHVISION_SMALL = {
    'mobilenet_v2': tv('mobilenet_v2', 32, width_mult=0.25, num_classes=10),
    'shufflenet_v2_x0_5': tv('shufflenet_v2_x0_5', 32, num_classes=10),
}
# Generated on demand into a temporary folder.
TORCHVISION_LARGE = {
    'squeezenet1_1': tv('squeezenet1_1', 64, num_classes=10),
    'mnasnet0_5': tv('mnasnet0_5', 32, num_classes=10),
    'resnet18': tv('resnet18', 64),
    'efficientnet_b0': tv('efficientnet_b0', 32, num_classes=10),
    'densenet121': tv('densenet121', 32, num_classes=10),
    'regnet_x_400mf': tv('regnet_x_400mf', 32, num_classes=10),
}


def randomize_norms(model, gen):
    """Random BatchNorm statistics, so folding and epsilon mistakes show in the outputs."""
    for mod in model.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            mod.running_mean.copy_(torch.randn(mod.num_features, generator=gen) * 0.1)
            mod.running_var.copy_(torch.rand(mod.num_features, generator=gen) * 0.5 + 0.75)
            if mod.affine:
                mod.weight.data.copy_(torch.rand(mod.num_features, generator=gen) * 0.5 + 0.75)
                mod.bias.data.copy_(torch.randn(mod.num_features, generator=gen) * 0.1)


def export(name, build, make_input, root):
    torch.manual_seed(sum(map(ord, name)))
    gen = torch.Generator().manual_seed(7)
    model = build()
    with torch.no_grad():
        randomize_norms(model, gen)
    model.eval()
    x = make_input()
    with torch.no_grad():
        y = model(x)
    out = os.path.join(root, name)
    os.makedirs(out, exist_ok=True)
    torch.onnx.export(
        model, (x,), os.path.join(out, 'model.onnx'), opset_version=OPSET,
        input_names=['input'], output_names=['output'],
        dynamic_axes={'input': {0: 'batch', 2: 'height', 3: 'width'} if name in OPEN_SPATIAL else {0: 'batch'}, 'output': {0: 'batch'}},
    )
    is_tokens = x.dtype == torch.int64
    # Sequences stay batch-first; images and their image-shaped outputs are channels-first in PyTorch.
    spatial = not is_tokens and name not in SEQUENCE and x.dim() >= 3
    np.save(os.path.join(out, 'input.npy'), x.numpy().astype(np.int32 if is_tokens else np.float32))
    np.save(os.path.join(out, 'output.npy'), y.numpy().astype(np.float32))
    case = {
        'inputDtype': 'int32' if is_tokens else 'float32',
        'inputPerm': nchw(x.dim()) if spatial else None,
        'outputPerm': nchw(y.dim()) if spatial and y.dim() >= 3 else None,
    }
    with open(os.path.join(out, 'case.json'), 'w') as f:
        json.dump(case, f, indent=1)
    print(f'{name}: {os.path.getsize(os.path.join(out, "model.onnx")) / 1e6:.2f} MB')


def onnx_gates(w, op, hidden):
    """PyTorch gate blocks (LSTM i,f,g,o; GRU r,z,n) in ONNX order (LSTM i,o,f,c; GRU z,r,h)."""
    blocks = list(w.split(hidden, 0))
    order = [0, 3, 1, 2] if op == 'LSTM' else [1, 0, 2]
    return torch.cat([blocks[k] for k in order], 0)


def handmade_rnn(name, op, layout, output, root):
    """An ONNX graph torch never writes: one reverse-direction LSTM/GRU node (layout 0 or 1), whose
    reference is the backward half of a bidirectional PyTorch module with the same weights."""
    import onnx
    from onnx import helper, numpy_helper, TensorProto
    torch.manual_seed(sum(map(ord, name)))
    features, hidden, steps, batch = 4, 5, 6, 2
    module = (nn.LSTM if op == 'LSTM' else nn.GRU)(features, hidden, batch_first=True, bidirectional=True).eval()
    x = torch.randn(batch, steps, features)
    with torch.no_grad():
        y, h = module(x)
        if op == 'LSTM':
            h = h[0]
        p = {k: v.detach() for k, v in module.named_parameters()}
        W = onnx_gates(p['weight_ih_l0_reverse'], op, hidden)[None]
        R = onnx_gates(p['weight_hh_l0_reverse'], op, hidden)[None]
        B = torch.cat([onnx_gates(p['bias_ih_l0_reverse'], op, hidden), onnx_gates(p['bias_hh_l0_reverse'], op, hidden)])[None]
    # Y: [seq, 1, batch, hidden] (layout 0) or [batch, seq, 1, hidden] (layout 1); Y_h: [1, batch, hidden] or [batch, 1, hidden].
    back = y[:, :, hidden:]
    if output == 'Y':
        ref = back[:, :, None, :] if layout == 1 else back.permute(1, 0, 2)[:, None]
        out_shape = [None, steps, 1, hidden] if layout == 1 else [steps, 1, None, hidden]
    else:
        ref = h[1][:, None, :] if layout == 1 else h[1][None]
        out_shape = [None, 1, hidden] if layout == 1 else [1, None, hidden]
    in_shape = ['batch', steps, features] if layout == 1 else [steps, 'batch', features]
    attrs = {'hidden_size': hidden, 'direction': 'reverse', 'layout': layout}
    if op == 'GRU':
        attrs['linear_before_reset'] = 1
    outputs = ['Y', 'Y_h'] if output == 'Y_h' else ['Y']
    node = helper.make_node(op, ['input', 'W', 'R', 'B'], outputs, name=f'/{op.lower()}/{op}', **attrs)
    dims = lambda shape: [d if d is not None else 'batch' for d in shape]
    graph = helper.make_graph(
        [node], name, [helper.make_tensor_value_info('input', TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(outputs[-1], TensorProto.FLOAT, dims(out_shape))],
        [numpy_helper.from_array(t.numpy(), n) for t, n in ((W, 'W'), (R, 'R'), (B, 'B'))])
    # The layout attribute arrived in opset 14.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 14)], producer_name='make_onnx_graph_fixtures')
    onnx.checker.check_model(model)
    out = os.path.join(root, name)
    os.makedirs(out, exist_ok=True)
    onnx.save(model, os.path.join(out, 'model.onnx'))
    xin = x if layout == 1 else x.permute(1, 0, 2)
    np.save(os.path.join(out, 'input.npy'), xin.contiguous().numpy().astype(np.float32))
    np.save(os.path.join(out, 'output.npy'), ref.contiguous().numpy().astype(np.float32))
    # tfjs keeps the batch first: layout-0 tensors arrive and leave batch-first.
    case = {'inputDtype': 'float32', 'inputPerm': None if layout == 1 else [1, 0, 2],
            'outputPerm': None if layout == 1 else ([2, 0, 1, 3] if output == 'Y' else [1, 0, 2])}
    with open(os.path.join(out, 'case.json'), 'w') as f:
        json.dump(case, f, indent=1)
    print(f'{name}: {os.path.getsize(os.path.join(out, "model.onnx")) / 1e6:.2f} MB')


def handmade_softmax(name, axis, root):
    """Opset-11 Softmax, which normalises over every axis from `axis` on: over the last axis it
    is today's Softmax (reference from NumPy); over axis 1 of a 3-D tensor graft must refuse it."""
    import onnx
    from onnx import helper, TensorProto
    node = helper.make_node('Softmax', ['input'], ['output'], name='/softmax/Softmax', axis=axis)
    graph = helper.make_graph([node], name, [helper.make_tensor_value_info('input', TensorProto.FLOAT, ['batch', 3, 4])],
                              [helper.make_tensor_value_info('output', TensorProto.FLOAT, ['batch', 3, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 11)], producer_name='make_onnx_graph_fixtures')
    onnx.checker.check_model(model)
    out = os.path.join(root, name)
    os.makedirs(out, exist_ok=True)
    onnx.save(model, os.path.join(out, 'model.onnx'))
    x = np.random.default_rng(3).standard_normal((2, 3, 4)).astype(np.float32)
    flat = x.reshape(2, -1) if axis == 1 else x
    e = np.exp(flat - flat.max(-1, keepdims=True))
    np.save(os.path.join(out, 'input.npy'), x)
    np.save(os.path.join(out, 'output.npy'), (e / e.sum(-1, keepdims=True)).reshape(x.shape).astype(np.float32))
    with open(os.path.join(out, 'case.json'), 'w') as f:
        json.dump({'inputDtype': 'float32', 'inputPerm': None, 'outputPerm': None}, f, indent=1)
    print(f'{name}: written')


HANDMADE = {
    'lstm_reverse_layout1': ('LSTM', 1, 'Y'),
    'lstm_reverse_layout0_h': ('LSTM', 0, 'Y_h'),
    'gru_reverse_layout0': ('GRU', 0, 'Y'),
    'gru_reverse_layout1_h': ('GRU', 1, 'Y_h'),
}


def main(argv):
    large_dir = None
    if argv[:1] == ['--large']:
        large_dir = argv[1]
        argv = argv[2:]
    if large_dir:
        todo = {k: v for k, v in TORCHVISION_LARGE.items() if not argv or k in argv}
        for name, (build, make_input) in todo.items():
            export(name, build, make_input, large_dir)
        return
    todo = {**SMALL, **TORCHVISION_SMALL}
    for name, (build, make_input) in todo.items():
        if not argv or name in argv:
            export(name, build, make_input, ROOT)
    for name, (op, layout, output) in HANDMADE.items():
        if not argv or name in argv:
            handmade_rnn(name, op, layout, output, ROOT)
    for name, axis in (('softmax_opset11_last', 2), ('softmax_opset11_axis1', 1)):
        if not argv or name in argv:
            handmade_softmax(name, axis, ROOT)


if __name__ == '__main__':
    main(sys.argv[1:])
