#!/usr/bin/python3
"""Writes fixtures/pytorch-edge: small PyTorch and ONNX files covering the reader's edge cases,
plus the values PyTorch / onnx.numpy_helper read back from them (expected.json files), so the
tests compare against the source frameworks without needing Python.

Run with Debian's interpreter (torch 1.13, onnx 1.12):  /usr/bin/python3 scripts/make_pytorch_edge_fixtures.py

The malicious pickles are built with Python's pickle module and are never loaded here.
"""
import base64
import collections
import io
import json
import os
import pickle
import shutil
import sys
import zipfile

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'pytorch-edge')
ONNX_OUT = os.path.join(OUT, 'onnx')
torch.manual_seed(0)

DTYPE_NAMES = {
    torch.float32: 'float32', torch.float64: 'float64', torch.float16: 'float16', torch.bfloat16: 'bfloat16',
    torch.int64: 'int64', torch.int32: 'int32', torch.int16: 'int16', torch.int8: 'int8', torch.uint8: 'uint8',
    torch.bool: 'bool',
}


def tensor_bytes(t):
    """Contiguous little-endian bytes of a tensor in its own dtype (bfloat16 through its bits)."""
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        arr = t.view(torch.int16).numpy()
    else:
        arr = t.numpy()
    return arr.astype(arr.dtype.newbyteorder('<'), copy=False).tobytes()


def expected_entry(t):
    return {'dtype': DTYPE_NAMES[t.dtype], 'shape': list(t.shape), 'data': base64.b64encode(tensor_bytes(t)).decode()}


def write_expected(path, tensors):
    with open(path, 'w') as f:
        json.dump({k: expected_entry(v) for k, v in tensors.items()}, f, indent=1)


def loaded_tensors(obj):
    """Tensors of a torch.load result, as the reader should report them."""
    return collections.OrderedDict((k, v) for k, v in obj.items() if isinstance(v, torch.Tensor))


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).flatten(1)[:, :8])


def tiny_state_dict():
    m = Tiny()
    with torch.no_grad():
        m.bn.running_mean.copy_(torch.randn(4))
        m.bn.running_var.copy_(torch.rand(4) + 0.5)
        m.bn.num_batches_tracked.fill_(7)
    return m, m.state_dict()


def edge_state_dict():
    """Dtypes, shared storages, views with offsets and non-contiguous strides."""
    base = torch.randn(6, 4)
    sd = collections.OrderedDict()
    sd['f32'] = torch.randn(2, 3)
    sd['f16'] = torch.randn(3, 4).half()
    sd['bf16'] = torch.randn(5).bfloat16()
    sd['f64'] = torch.randn(2, 2, 2).double()
    sd['i64'] = torch.arange(-3, 9, dtype=torch.int64).reshape(3, 4) * 1000000007
    sd['i32'] = torch.arange(6, dtype=torch.int32) - 3
    sd['i16'] = torch.tensor([-300, 0, 300], dtype=torch.int16)
    sd['i8'] = torch.tensor([-128, 5, 127], dtype=torch.int8)
    sd['u8'] = torch.tensor([0, 200, 255], dtype=torch.uint8)
    sd['bool'] = torch.tensor([True, False, True])
    sd['scalar'] = torch.tensor(3.5)
    sd['empty'] = torch.zeros(0, 3)
    sd['shared.full'] = base
    sd['shared.rows'] = base[2:4]            # same storage, element offset 8
    sd['shared.col'] = base[:, 1]            # same storage, offset 1, stride 4
    sd['transposed'] = torch.randn(3, 5).t()  # stride (1, 5)
    sd['sliced'] = torch.randn(4, 6)[1:, 1:5:2]
    sd['expanded'] = torch.randn(3, 1).expand(3, 4)  # stride 0
    sd['permuted'] = torch.randn(2, 3, 4).permute(2, 0, 1)
    return sd


def save_zip(obj, path):
    torch.save(obj, path)


def save_legacy(obj, path):
    torch.save(obj, path, _use_new_zipfile_serialization=False)


class Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


PWN = 'touch /tmp/graft-pwned'


def write_zip_pickle(path, prefix, payload):
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as z:
        z.writestr(f'{prefix}/data.pkl', payload)
        z.writestr(f'{prefix}/version', '3\n')


def legacy_bytes(payload_pickle):
    out = io.BytesIO()
    pickle.dump(0x1950a86a20f9469cfc6c, out, protocol=2)
    pickle.dump(1001, out, protocol=2)
    pickle.dump({'protocol_version': 1001, 'little_endian': True, 'type_sizes': {'short': 2, 'int': 4, 'long': 4}}, out, protocol=2)
    out.write(payload_pickle)
    pickle.dump([], out, protocol=2)
    return out.getvalue()


def write_malicious():
    evil_system = pickle.dumps(collections.OrderedDict(w=Evil(os.system, PWN)), protocol=2)
    write_zip_pickle(os.path.join(OUT, 'evil_os_system.pt'), 'evil_os_system', evil_system)
    with open(os.path.join(OUT, 'evil_os_system_legacy.pt'), 'wb') as f:
        f.write(legacy_bytes(evil_system))
    evil_eval = pickle.dumps(Evil(eval, "__import__('os').system('touch /tmp/graft-pwned')"), protocol=2)
    write_zip_pickle(os.path.join(OUT, 'evil_eval.pt'), 'archive', evil_eval)
    import torch.storage
    evil_nested = pickle.dumps(Evil(torch.storage._load_from_bytes, b'not a checkpoint'), protocol=2)
    write_zip_pickle(os.path.join(OUT, 'evil_load_from_bytes.pt'), 'archive', evil_nested)
    # Check the payloads name what the tests expect, without ever loading them.
    for payload, name in ((evil_system, b'system'), (evil_eval, b'eval'), (evil_nested, b'_load_from_bytes')):
        assert name in payload


def write_big_endian():
    """A zip checkpoint whose byteorder record says 'big', built by rewriting a little-endian one."""
    sd = collections.OrderedDict(w=torch.randn(2, 3), n=torch.arange(4, dtype=torch.int64) * 123456789, h=torch.randn(3).half())
    src = os.path.join(OUT, 'tmp_be_src.pt')
    torch.save(sd, src)
    dst = os.path.join(OUT, 'big_endian.pt')
    # Storage keys are given in the order the tensors are pickled.
    sizes = {'0': 4, '1': 8, '2': 2}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w', zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            rel = info.filename.split('/', 1)[1]
            new_name = 'big_endian/' + rel
            if rel == 'byteorder':
                data = b'big'
            elif rel.startswith('data/'):
                size = sizes[rel[5:]]
                arr = np.frombuffer(data, dtype=f'<u{size}')
                data = arr.astype(f'>u{size}').tobytes()
            zout.writestr(new_name, data)
        if 'tmp_be_src/byteorder' not in zin.namelist():  # torch < 2.0 writes no byteorder record
            zout.writestr('big_endian/byteorder', b'big')
    # torch 1.13 predates the byteorder record, so check the rewrite by hand: each storage,
    # read back as big-endian, must equal the tensor torch wrote.
    with zipfile.ZipFile(src) as zin:
        for key, name, code in (('0', 'w', '<f4'), ('1', 'n', '<i8'), ('2', 'h', '<f2')):
            assert zin.read(f'tmp_be_src/data/{key}') == tensor_bytes(sd[name]), name
    with zipfile.ZipFile(dst) as z:
        assert np.array_equal(np.frombuffer(z.read('big_endian/data/0'), '>f4'), sd['w'].numpy().ravel())
    os.remove(src)
    write_expected(os.path.join(OUT, 'big_endian.expected.json'), sd)


def export_onnx():
    os.makedirs(ONNX_OUT, exist_ok=True)

    class ConvNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.dw = nn.Conv2d(4, 4, 3, groups=4)
            self.fc1 = nn.Linear(4 * 2 * 2, 8)
            self.fc2 = nn.Linear(4, 3)
            self.prelu = nn.PReLU(4)

        def forward(self, x):
            x = torch.relu(self.bn(self.conv(x)))
            x = self.prelu(self.dw(x)).flatten(1)
            x = self.fc1(x).reshape(-1, 2, 4)
            return self.fc2(x)

    class SeqNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.lstm = nn.LSTM(4, 5, batch_first=True)
            self.gru = nn.GRU(5, 3, batch_first=True)
            self.norm = nn.LayerNorm(3)

        def forward(self, ids):
            x, _ = self.lstm(self.emb(ids))
            x, _ = self.gru(x)
            return self.norm(x)

    torch.manual_seed(1)
    conv = ConvNet()
    with torch.no_grad():
        conv.bn.running_mean.copy_(torch.randn(4))
        conv.bn.running_var.copy_(torch.rand(4) + 0.5)
    conv.eval()
    x = torch.randn(1, 1, 6, 6)
    # Training mode PRESERVE keeps BatchNormalization (eval export would fold it into the conv).
    torch.onnx.export(conv, x, os.path.join(ONNX_OUT, 'convnet.onnx'), opset_version=13,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                      input_names=['input'], output_names=['output'])
    torch.onnx.export(conv, x, os.path.join(ONNX_OUT, 'convnet_folded.onnx'), opset_version=13,
                      input_names=['input'], output_names=['output'])
    seq = SeqNet().eval()
    torch.onnx.export(seq, torch.tensor([[1, 2, 3]]), os.path.join(ONNX_OUT, 'seqnet.onnx'), opset_version=13,
                      input_names=['ids'], output_names=['output'])
    torch.save(conv.state_dict(), os.path.join(ONNX_OUT, 'convnet_state_dict.pt'))

    model = onnx.load(os.path.join(ONNX_OUT, 'convnet.onnx'))
    write_onnx_expected(model, os.path.join(ONNX_OUT, 'convnet.expected.json'))
    write_onnx_expected(onnx.load(os.path.join(ONNX_OUT, 'convnet_folded.onnx')), os.path.join(ONNX_OUT, 'convnet_folded.expected.json'))
    write_onnx_expected(onnx.load(os.path.join(ONNX_OUT, 'seqnet.onnx')), os.path.join(ONNX_OUT, 'seqnet.expected.json'))

    # Initializers renamed to numbers, as older torch exports name them.
    numbered = onnx.load(os.path.join(ONNX_OUT, 'convnet.onnx'))
    renames = {init.name: str(i + 1) for i, init in enumerate(numbered.graph.initializer)}
    for init in numbered.graph.initializer:
        init.name = renames[init.name]
    for node in numbered.graph.node:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
    onnx.save(numbered, os.path.join(ONNX_OUT, 'convnet_numbered.onnx'))
    write_onnx_expected(numbered, os.path.join(ONNX_OUT, 'convnet_numbered.expected.json'))

    # External data in one side file.
    ext_dir = os.path.join(ONNX_OUT, 'external')
    os.makedirs(ext_dir, exist_ok=True)
    ext = onnx.load(os.path.join(ONNX_OUT, 'convnet.onnx'))
    onnx.save_model(ext, os.path.join(ext_dir, 'model.onnx'), save_as_external_data=True,
                    all_tensors_to_one_file=True, location='weights.bin', size_threshold=0)
    reloaded = onnx.load(os.path.join(ext_dir, 'model.onnx'))  # resolves the external data
    write_onnx_expected(reloaded, os.path.join(ext_dir, 'model.expected.json'))

    # Escapes: external locations outside the model's folder.
    for name, location in (('escape_dotdot.onnx', '../../etc/passwd'), ('escape_absolute.onnx', '/etc/passwd'),
                           ('escape_symlink.onnx', 'link/weights.bin')):
        write_external_model(os.path.join(ONNX_OUT, name), location)

    write_typed_onnx(os.path.join(ONNX_OUT, 'typed.onnx'))


def write_external_model(path, location):
    t = onnx.helper.make_tensor('w', onnx.TensorProto.FLOAT, [2], [1.0, 2.0])
    t.ClearField('float_data')
    t.data_location = onnx.TensorProto.EXTERNAL
    for k, v in (('location', location), ('offset', '0'), ('length', '8')):
        e = t.external_data.add()
        e.key, e.value = k, v
    node = onnx.helper.make_node('Identity', ['w'], ['y'])
    graph = onnx.helper.make_graph([node], 'g', [], [onnx.helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT, [2])], [t])
    onnx.save(onnx.helper.make_model(graph), path)


def write_typed_onnx(path):
    """Initializers in every typed field (not raw_data), plus a Constant node holding a weight."""
    h = onnx.helper
    T = onnx.TensorProto
    inits = [
        h.make_tensor('float_data', T.FLOAT, [2, 2], [1.5, -2.25, 3.0, 1e-3]),
        h.make_tensor('double_data', T.DOUBLE, [3], [1.0 / 3, -2.5, 1e300]),
        h.make_tensor('int64_data', T.INT64, [3], [-(2 ** 40), 7, 2 ** 53 + 2]),
        h.make_tensor('uint64_data', T.UINT64, [2], [2 ** 63 + 5, 1]),
        h.make_tensor('int32_data', T.INT32, [2], [-5, 2 ** 31 - 1]),
        h.make_tensor('f16_in_int32', T.FLOAT16, [3], np.array([1.0, -0.5, 65504.0], dtype=np.float16)),
        h.make_tensor('bf16_in_int32', T.BFLOAT16, [2], [1.0, -3.0]),
        h.make_tensor('int8_in_int32', T.INT8, [3], [-128, 0, 127]),
        h.make_tensor('uint8_in_int32', T.UINT8, [2], [0, 255]),
        h.make_tensor('int16_in_int32', T.INT16, [2], [-32768, 32767]),
        h.make_tensor('uint16_in_int32', T.UINT16, [2], [0, 65535]),
        h.make_tensor('bool_in_int32', T.BOOL, [3], [True, False, True]),
        h.make_tensor('raw_f32', T.FLOAT, [2, 3], np.arange(6, dtype=np.float32).tobytes(), raw=True),
    ]
    const_value = h.make_tensor('const_value', T.FLOAT, [2, 2], [0.25, -4.0, 1.5, 2.0])
    # The Constant is a weight (MatMul's B); the scalar Constant beside it is not.
    nodes = [h.make_node('Constant', [], ['const_w'], value=const_value),
             h.make_node('Constant', [], ['const_scalar'], value=h.make_tensor('s', T.FLOAT, [], [2.0])),
             h.make_node('MatMul', ['x', 'const_w'], ['mm']),
             h.make_node('Mul', ['mm', 'const_scalar'], ['mm_out'])]
    nodes += [h.make_node('Identity', [i.name], [i.name + '_out']) for i in inits]
    outputs = [h.make_tensor_value_info(i.name + '_out', i.data_type, None) for i in inits]
    outputs.append(h.make_tensor_value_info('mm_out', T.FLOAT, [1, 2]))
    graph = h.make_graph(nodes, 'typed', [h.make_tensor_value_info('x', T.FLOAT, [1, 2])], outputs, inits)
    model = h.make_model(graph)
    onnx.save(model, path)
    expected = {}
    for i in inits:
        arr = onnx.numpy_helper.to_array(i)
        expected[i.name] = np_entry(arr, i.data_type, i)
    expected['const_w'] = np_entry(onnx.numpy_helper.to_array(const_value), T.FLOAT, const_value)
    with open(path.replace('.onnx', '.expected.json'), 'w') as f:
        json.dump(expected, f, indent=1)


ONNX_DTYPES = {1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 9: 'bool',
               10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16'}


def np_entry(arr, data_type, proto):
    if data_type == onnx.TensorProto.BFLOAT16:
        # numpy_helper (onnx 1.12) returns bfloat16 as float32: keep the upper 16 bits.
        bits = (np.asarray(arr, dtype=np.float32).view(np.uint32) >> 16).astype('<u2')
        data = bits.tobytes()
    else:
        data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder('<'), copy=False).tobytes()
    return {'dtype': ONNX_DTYPES[data_type], 'shape': list(proto.dims), 'data': base64.b64encode(data).decode()}


def write_onnx_expected(model, path):
    out = {}
    for init in model.graph.initializer:
        out[init.name] = np_entry(onnx.numpy_helper.to_array(init), init.data_type, init)
    with open(path, 'w') as f:
        json.dump(out, f, indent=1)


REALWORLD = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'realworld')


def write_realworld_digests():
    """SHA-256 of each tensor's bytes as torch / onnx read them from the shared real-world files
    (digests only: the files themselves stay outside the repository)."""
    import hashlib
    out = {}
    for rel in ('pytorch/camron_cifar_net_legacy/cifar_net.pth', 'pytorch/matthieu_mnist_dwconv/best_model.pt',
                'pytorch/thesotti_peft_lora_bin/adapter_model.bin'):
        path = os.path.join(REALWORLD, rel)
        if not os.path.exists(path):
            continue
        sd = torch.load(path, map_location='cpu')
        out[rel] = {k: {'dtype': DTYPE_NAMES[v.dtype], 'shape': list(v.shape), 'sha256': hashlib.sha256(tensor_bytes(v)).hexdigest()}
                    for k, v in sd.items()}
    rel = 'pytorch/matthieu_mnist_dwconv/onnx_model.onnx'
    path = os.path.join(REALWORLD, rel)
    if os.path.exists(path):
        model = onnx.load(path)
        out[rel] = {}
        for init in model.graph.initializer:
            e = np_entry(onnx.numpy_helper.to_array(init), init.data_type, init)
            out[rel][init.name] = {'dtype': e['dtype'], 'shape': e['shape'],
                                   'sha256': hashlib.sha256(base64.b64decode(e['data'])).hexdigest()}
    with open(os.path.join(OUT, 'realworld.expected.json'), 'w') as f:
        json.dump(out, f, indent=1)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    model, tiny = tiny_state_dict()
    edge = edge_state_dict()

    # Zip format under a custom top folder (torch names it after the file's stem).
    save_zip(edge, os.path.join(OUT, 'my_custom_folder.pt'))
    write_expected(os.path.join(OUT, 'edge.expected.json'), loaded_tensors(torch.load(os.path.join(OUT, 'my_custom_folder.pt'))))
    save_legacy(edge, os.path.join(OUT, 'edge_legacy.pt'))
    assert all(torch.equal(a, b) for a, b in zip(torch.load(os.path.join(OUT, 'edge_legacy.pt')).values(), edge.values()))

    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 4, 4)).sum().backward()
    opt.step()  # momentum buffers: tensors inside the optimizer state, not weights
    tiny = model.state_dict()
    write_expected(os.path.join(OUT, 'tiny.expected.json'), tiny)
    save_zip({'epoch': 3, 'optimizer': opt.state_dict(), 'state_dict': tiny, 'best_acc': np.float64(0.875),
              'note': 'nested'}, os.path.join(OUT, 'nested_state_dict.pt'))
    dp = collections.OrderedDict(('module.' + k, v) for k, v in tiny.items())
    save_zip({'model': dp, 'epoch': 1}, os.path.join(OUT, 'nested_model_dataparallel.pt'))
    save_legacy({'model_state_dict': tiny, 'optimizer_state_dict': opt.state_dict(), 'loss': 0.25},
                os.path.join(OUT, 'nested_legacy.pt'))
    save_zip({'ema': tiny, 'net': collections.OrderedDict((k, v * 2) for k, v in tiny.items())},
             os.path.join(OUT, 'two_candidates.pt'))

    # Whole pickled modules: a __main__ class, and a torch.nn container.
    save_zip(model, os.path.join(OUT, 'whole_module_main.pt'))
    save_zip(nn.Sequential(nn.Linear(2, 2)), os.path.join(OUT, 'whole_module_sequential.pt'))

    # A damaged archive: the first tensor's storage record is cut short.
    with zipfile.ZipFile(os.path.join(OUT, 'my_custom_folder.pt')) as zin, \
            zipfile.ZipFile(os.path.join(OUT, 'corrupt_short_storage.pt'), 'w', zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            rel = info.filename.split('/', 1)[1]
            zout.writestr('corrupt_short_storage/' + rel, data[:10] if rel == 'data/0' else data)

    write_malicious()
    write_big_endian()
    export_onnx()
    write_realworld_digests()


if __name__ == '__main__':
    sys.exit(main())
