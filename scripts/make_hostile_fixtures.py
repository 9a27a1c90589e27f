#!/usr/bin/python3
"""Writes fixtures/hostile: small crafted files that lie about their sizes, escape their folder,
or carry malicious pickles, for test/hostile.test.ts. Every file is assembled byte by byte (or
with h5py / onnx for the containers); nothing here ever loads a malicious file.

Run with Debian's interpreter (numpy, onnx 1.12, h5py):  /usr/bin/python3 scripts/make_hostile_fixtures.py

Each file's expected outcome is listed in fixtures/hostile/README.md.
"""
import json
import os
import shutil
import struct
import zipfile
import zlib

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'hostile')
SENTINEL = '/tmp/graft-pwned'
PWN = f'touch {SENTINEL}'


def path(*p):
    full = os.path.join(OUT, *p)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    return full


def write(rel, data):
    with open(path(rel), 'wb') as f:
        f.write(data)


# --------------------------------------------------------------------------------- safetensors

def safetensors(header, data=b''):
    text = json.dumps(header).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)
    return struct.pack('<Q', len(text)) + text + data


def write_safetensors():
    # Header length 2^60 in a 40-byte file.
    write('safetensors/header_2e60.safetensors', struct.pack('<Q', 1 << 60) + b'{"a": 1}' + b' ' * 24)
    # Shape of 10^12 elements over 8 bytes of data.
    write('safetensors/huge_shape.safetensors', safetensors({'w': {'dtype': 'F32', 'shape': [1000000, 1000000], 'data_offsets': [0, 8]}}, b'\0' * 8))
    # Consistent shape and offsets, both claiming a terabyte, in a file of a few bytes.
    write('safetensors/offsets_beyond.safetensors', safetensors({'w': {'dtype': 'F32', 'shape': [1 << 38], 'data_offsets': [0, 1 << 40]}}, b'\0' * 8))
    # Offsets that are not integers / negative.
    write('safetensors/negative_offsets.safetensors', safetensors({'w': {'dtype': 'F32', 'shape': [2], 'data_offsets': [-8, 0]}}, b'\0' * 8))
    # A shard index whose weight_map leaves the folder (.. and absolute).
    good = safetensors({'w': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]}}, b'\0' * 8)
    write('safetensors/escape/inside/model-00001-of-00001.safetensors', good)
    write('safetensors/escape/secret.safetensors', good)
    with open(path('safetensors/escape/inside/dotdot.safetensors.index.json'), 'w') as f:
        json.dump({'weight_map': {'w': '../secret.safetensors'}}, f)
    with open(path('safetensors/escape/inside/absolute.safetensors.index.json'), 'w') as f:
        json.dump({'weight_map': {'w': '/etc/passwd'}}, f)


# --------------------------------------------------------------------------------- numpy

def npy(header_text, data=b'', version=1):
    text = header_text.encode('latin1')
    if version == 1:
        pad = (64 - (10 + len(text) + 1) % 64) % 64
        text += b' ' * pad + b'\n'
        return b'\x93NUMPY\x01\x00' + struct.pack('<H', len(text)) + text + data
    pad = (64 - (12 + len(text) + 1) % 64) % 64
    text += b' ' * pad + b'\n'
    return b'\x93NUMPY\x02\x00' + struct.pack('<I', len(text)) + text + data


def write_numpy():
    write('npy/huge_shape.npy', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 1000000000000), }", b'\0' * 16))
    write('npy/terabyte.npy', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }", b'\0' * 16))
    # Version 2 header length claiming 4 GB.
    write('npy/header_length_4gb.npy', b'\x93NUMPY\x02\x00' + struct.pack('<I', 0xFFFFFFF0) + b"{'descr': '<f4'}")
    # An object array: its data is a pickle calling os.system.
    evil = b'\x80\x02cposix\nsystem\nq\x00X' + struct.pack('<I', len(PWN)) + PWN.encode() + b'\x85R.'
    write('npy/object_pickle.npy', npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", evil))
    write('npy/negative_dim.npy', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }", b'\0' * 16))

    ok = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", struct.pack('<2f', 1.5, -2.0))

    # A member whose npy header promises 1 KiB of data but which inflates to 64 MiB (a zip bomb).
    head = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (256,), }")
    claimed = head + b'\0' * 1024
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = bomb.compress(head) + bomb.compress(b'\0' * (64 << 20)) + bomb.flush()
    write('npz/bomb_small_claim.npz', raw_zip([('w.npy', payload, 8, len(claimed), zlib.crc32(claimed))]))
    # A member claiming 100 GB (zip64) from a few hundred compressed bytes.
    write('npz/claims_100gb.npz', raw_zip([('w.npy', payload[:300], 8, 100 << 30, 0)]))
    # Entries with absolute and '..' names beside a good one: only the good one is listed.
    write('npz/traversal.npz', raw_zip([('../evil.npy', ok, 0, len(ok), zlib.crc32(ok)), ('/abs.npy', ok, 0, len(ok), zlib.crc32(ok)),
                                        ('ok.npy', ok, 0, len(ok), zlib.crc32(ok))]))
    # A stored member whose sizes disagree.
    write('npz/stored_size_lie.npz', raw_zip([('w.npy', ok, 0, 1 << 40, zlib.crc32(ok))]))


def raw_zip(members):
    """A zip written by hand so its sizes can lie: members are (name, data, method, claimed size, crc)."""
    out = bytearray()
    central = bytearray()
    for name, data, method, claimed, crc in members:
        nb = name.encode()
        offset = len(out)
        zip64 = claimed >= 0xFFFFFFFF
        local_extra = struct.pack('<HHQQ', 1, 16, claimed, len(data)) if zip64 else b''
        out += struct.pack('<IHHHHHIIIHH', 0x04034b50, 45, 0, method, 0, 0, crc,
                           0xFFFFFFFF if zip64 else len(data), 0xFFFFFFFF if zip64 else claimed, len(nb), len(local_extra))
        out += nb + local_extra + data
        extra = struct.pack('<HHQQ', 1, 16, claimed, len(data)) if zip64 else b''
        central += struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 45, 45, 0, method, 0, 0, crc,
                               0xFFFFFFFF if zip64 else len(data), 0xFFFFFFFF if zip64 else claimed,
                               len(nb), len(extra), 0, 0, 0, 0, offset)
        central += nb + extra
    cd_offset = len(out)
    out += central
    out += struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, len(members), len(members), len(central), cd_offset, 0)
    return bytes(out)


# --------------------------------------------------------------------------------- pickles

def pint(n):
    """Pickle opcode pushing integer n (BININT1 / BININT / LONG1)."""
    if 0 <= n < 256:
        return b'K' + bytes([n])
    if -(1 << 31) <= n < (1 << 31):
        return b'J' + struct.pack('<i', n)
    length = (n.bit_length() + 8) // 8
    return b'\x8a' + bytes([length]) + n.to_bytes(length, 'little', signed=True)


def pstr(s):
    b = s.encode()
    return b'X' + struct.pack('<I', len(b)) + b


def ptuple(items):
    return b'(' + b''.join(items) + b't'


def tensor_pickle(tensors, persid_tail=b''):
    """A state dict pickle: name -> _rebuild_tensor_v2(storage persistent id, offset, size, stride)."""
    body = b'\x80\x02ccollections\nOrderedDict\n)R'
    for name, key, numel, offset, shape, stride in tensors:
        pid = ptuple([pstr('storage'), b'ctorch\nFloatStorage\n', pstr(key), pstr('cpu'), pint(numel)] + ([persid_tail] if persid_tail else []))
        args = ptuple([pid + b'Q', pint(offset), ptuple([pint(d) for d in shape]), ptuple([pint(d) for d in stride]), b'\x89',
                       b'ccollections\nOrderedDict\n)R'])
        body += pstr(name) + b'ctorch._utils\n_rebuild_tensor_v2\n' + args + b'Rs'
    return body + b'.'


def torch_zip(rel, pkl, storages):
    with zipfile.ZipFile(path(rel), 'w', zipfile.ZIP_STORED) as z:
        z.writestr('archive/data.pkl', pkl)
        for key, data in storages.items():
            z.writestr(f'archive/data/{key}', data)
        z.writestr('archive/version', '3\n')


def legacy(pkl_object, keys, records):
    out = b''
    out += b'\x80\x02' + b'\x8a\x0a' + (0x1950a86a20f9469cfc6c).to_bytes(10, 'little') + b'.'
    out += b'\x80\x02' + pint(1001) + b'.'
    out += b'\x80\x02}(' + pstr('protocol_version') + pint(1001) + pstr('little_endian') + b'\x88u.'
    out += pkl_object
    out += b'\x80\x02' + b'(' + b''.join(pstr(k) for k in keys) + b'l.'
    for count, data in records:
        out += struct.pack('<q', count) + data
    return out


def call(module, name, arg):
    return f'c{module}\n{name}\n'.encode() + pstr(arg) + b'\x85R'


def write_pickles():
    four = struct.pack('<4f', 1, 2, 3, 4)
    # Control: a valid one-tensor checkpoint written the same way (proves the writer right).
    torch_zip('pt/control.pt', tensor_pickle([('w', '0', 4, 0, [2, 2], [2, 1])]), {'0': four})
    # Storage claiming 2^50 elements and a shape of 2^50 elements, over 16 bytes of data.
    torch_zip('pt/numel_huge.pt', tensor_pickle([('w', '0', 1 << 50, 0, [1 << 25, 1 << 25], [1 << 25, 1])]), {'0': four})
    # One stored element viewed as 2^40 through zero strides (an expansion bomb).
    torch_zip('pt/expand_bomb.pt', tensor_pickle([('w', '0', 1, 0, [1 << 20, 1 << 20], [0, 0])]), {'0': four[:4]})
    # A negative stride and a view past its storage.
    torch_zip('pt/bad_view.pt', tensor_pickle([('w', '0', 4, 3, [2, 2], [2, 1])]), {'0': four})
    # Legacy container whose storage claims 2^50 elements; the record holds 4.
    legacy_obj = tensor_pickle([('w', '0', 1 << 50, 0, [4], [1])], persid_tail=b'N')
    write('pt/legacy_numel_huge.pt', legacy(legacy_obj, ['0'], [(4, four)]))
    legacy_ok = tensor_pickle([('w', '0', 4, 0, [4], [1])], persid_tail=b'N')
    write('pt/legacy_control.pt', legacy(legacy_ok, ['0'], [(4, four)]))

    # Malicious pickles, each trying to run PWN another way.
    evil = {
        'reduce_os_system': b'\x80\x02' + call('os', 'system', PWN) + b'.',
        'reduce_posix_system': b'\x80\x02' + call('posix', 'system', PWN) + b'.',
        'inst_os_system': b'\x80\x02(' + pstr(PWN) + b'ios\nsystem\n.',
        'obj_subprocess': b'\x80\x02(csubprocess\ncheck_output\n' + pstr(PWN) + b'o.',
        'stack_global_eval': b'\x80\x04' + b'\x8c\x08builtins\x8c\x04eval\x93' + pstr(f"__import__('os').system('{PWN}')") + b'\x85R.',
        'getattr_chain': b'\x80\x02cbuiltins\ngetattr\n(cbuiltins\n__import__\n' + pstr('os') + b'\x85R' + pstr('system') + b'tR' + pstr(PWN) + b'\x85R.',
        'rebuild_from_type_wraps_system': b'\x80\x02ctorch._tensor\n_rebuild_from_type_v2\n(cos\nsystem\nctorch\nTensor\n' + ptuple([pstr(PWN)]) + b'}tR.',
        'rebuild_from_type_subclass': b'\x80\x02ctorch._tensor\n_rebuild_from_type_v2\n(ctorch._utils\n_rebuild_tensor_v2\nc__main__\nEvilTensor\n)}tR.',
        'ext_opcode': b'\x80\x02\x82\x01.',
        'load_from_bytes': b'\x80\x02' + b'ctorch.storage\n_load_from_bytes\n' + b'C\x04abcd\x85R.',
        'build_setstate': b'\x80\x02ccollections\nOrderedDict\n)R' + b'cos\nsystem\nb.',
        'persid_eval': b'\x80\x02' + pstr(PWN) + b'Q.',
    }
    for name, pkl in evil.items():
        torch_zip(f'pt/evil_{name}.pt', pkl, {})
    write('pt/evil_legacy_eval.pt', legacy(b'\x80\x02' + call('builtins', 'eval', f"__import__('os').system('{PWN}')") + b'.', [], []))
    # 200 000 items in one FROZENSET: a spread of that many arguments overflows the JS stack.
    many = b'\x80\x02}' + pstr('s') + b'(' + b'N' * 200000 + b'\x91s.'
    torch_zip('pt/frozenset_200k.pt', many, {})
    # A list nested 20 000 deep, and a billion references through the memo (2^30 via DUP).
    deep = b'\x80\x02}' + pstr('d') + b']' * 20000 + b'a' * 19999 + b's.'
    torch_zip('pt/deep_list.pt', deep, {})
    laughs = b'\x80\x02}' + pstr('x') + b'N' + b'\x32\x86' * 30 + b's.'
    torch_zip('pt/billion_laughs.pt', laughs, {})
    # INT text of 10 000 digits (Python caps int text at 4300).
    torch_zip('pt/huge_int_text.pt', b'\x80\x02}' + pstr('n') + b'I' + b'9' * 10000 + b'\ns.', {})


# --------------------------------------------------------------------------------- ONNX

def onnx_model(initializers, name):
    node = helper.make_node('Identity', [initializers[0].name], ['y'])
    graph = helper.make_graph([node], name, [], [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)], initializer=initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])


def external(name, location, offset=None, length=None, dims=(2, 2)):
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for key, value in (('location', location), ('offset', offset), ('length', length)):
        if value is not None:
            entry = t.external_data.add()
            entry.key = key
            entry.value = value
    return t


def write_onnx():
    # dims of 10^12 elements beside 4 bytes of raw_data, and beside no data at all.
    t = TensorProto(name='w', data_type=TensorProto.FLOAT, dims=[1000000, 1000000], raw_data=b'\0' * 4)
    onnx.save(onnx_model([t], 'huge_raw'), path('onnx/huge_dims_raw.onnx'))
    t = TensorProto(name='w', data_type=TensorProto.FLOAT, dims=[1000000, 1000000])
    onnx.save(onnx_model([t], 'huge_nodata'), path('onnx/huge_dims_nodata.onnx'))
    t = TensorProto(name='w', data_type=TensorProto.FLOAT, dims=[-1, 4], raw_data=b'\0' * 16)
    onnx.save(onnx_model([t], 'negative'), path('onnx/negative_dim.onnx'))
    # External data: a good control and hostile locations / ranges, all beside a 16-byte weights.bin.
    write('onnx/external/weights.bin', struct.pack('<4f', 1, 2, 3, 4))
    cases = {
        'control': external('w', 'weights.bin', '0', '16'),
        'nul': external('w', 'weights.bin\0../../../../etc/passwd'),
        'long_name': external('w', 'a' * 10000),
        'offset_beyond': external('w', 'weights.bin', str(1 << 40)),
        'length_beyond': external('w', 'weights.bin', '0', str(1 << 40), dims=(1 << 19, 1 << 19)),
        'negative': external('w', 'weights.bin', '-1', '-5'),
        'dotdot': external('w', '../../../../../../etc/passwd'),
        'absolute': external('w', '/etc/passwd'),
        'backslash': external('w', '..\\..\\secret.bin'),
        'directory': external('w', '.'),
    }
    for name, t in cases.items():
        onnx.save(onnx_model([t], name), path(f'onnx/external/{name}.onnx'))


# --------------------------------------------------------------------------------- tfjs

def write_tfjs():
    manifest = lambda paths, shape=(2,): [{'paths': paths, 'weights': [{'name': 'w', 'shape': list(shape), 'dtype': 'float32'}]}]
    write('tfjs/secret.bin', b'\0' * 8)
    for name, paths, shape in (('dotdot', ['../secret.bin'], (2,)), ('absolute', ['/etc/passwd'], (2,)),
                               ('huge_shape', ['group1-shard1of1.bin'], (1 << 20, 1 << 20))):
        write(f'tfjs/{name}/group1-shard1of1.bin', b'\0' * 8)
        with open(path(f'tfjs/{name}/model.json'), 'w') as f:
            json.dump({'format': 'layers-model', 'modelTopology': None, 'weightsManifest': manifest(paths, shape)}, f)
    # A topology nested 20 000 levels deep.
    write('tfjs/deep/group1-shard1of1.bin', b'\0' * 8)
    with open(path('tfjs/deep/model.json'), 'w') as f:
        f.write('{"format": "layers-model", "modelTopology": ' + '[' * 20000 + ']' * 20000 + ', "weightsManifest": ' + json.dumps(manifest(['group1-shard1of1.bin'])) + '}')


# --------------------------------------------------------------------------------- TF checkpoint

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def mask(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    key = varint((num << 3) | wire)
    if wire == 0:
        return key + varint(payload)
    if wire == 5:
        return key + struct.pack('<I', payload)
    return key + varint(len(payload)) + payload


def bundle_header(num_shards):
    return field(1, 0, num_shards) + field(3, 2, field(1, 0, 1))


def bundle_entry(dims, offset, size, crc, shard=0, dtype=1):
    shape = b''.join(field(2, 2, field(1, 0, d)) for d in dims)
    return field(1, 0, dtype) + field(2, 2, shape) + (field(3, 0, shard) if shard else b'') + (field(4, 0, offset) if offset else b'') + field(5, 0, size) + field(6, 5, crc)


def table_block(entries):
    body = b''.join(varint(0) + varint(len(k)) + varint(len(v)) + k + v for k, v in entries)
    return body + struct.pack('<II', 0, 1)


def table(entries):
    """A LevelDB-style table: one data block, an empty meta index, an index block, the footer."""
    out = bytearray()

    def put(block):
        offset = len(out)
        out.extend(block)
        out.append(0)
        out.extend(struct.pack('<I', mask(crc32c(block + b'\0'))))
        return varint(offset) + varint(len(block))

    data_handle = put(table_block(entries))
    meta_handle = put(table_block([]))
    index_handle = put(table_block([(entries[-1][0], data_handle)]))
    footer = meta_handle + index_handle
    footer += b'\0' * (40 - len(footer))
    return bytes(out) + footer + struct.pack('<Q', 0xdb4775248b80fb57)


def write_tf_checkpoint():
    data = struct.pack('<4f', 1, 2, 3, 4)
    crc = mask(crc32c(data))
    variants = {
        'control': (1, [4], 0, 16),
        'entry_huge': (1, [1 << 20, 1 << 20], 0, 1 << 42),
        'size_lies': (1, [4], 0, 1 << 60),
        'offset_huge': (1, [4], 1 << 60, 16),
        'shards_huge': ((1 << 31) - 1, [4], 0, 16),
    }
    for name, (shards, dims, offset, size) in variants.items():
        index = table([(b'', bundle_header(shards)), (b'w', bundle_entry(dims, offset, size, crc))])
        write(f'tf-ckpt/{name}/model.ckpt.index', index)
        write(f'tf-ckpt/{name}/model.ckpt.data-00000-of-00001', data)


# --------------------------------------------------------------------------------- HDF5 / Keras

def keras_legacy_layout(f, layer='dense'):
    f.attrs['layer_names'] = [layer.encode()]
    g = f.create_group(layer)
    g.attrs['weight_names'] = [f'{layer}/kernel:0'.encode()]
    return g


def write_hdf5():
    # A dataspace of 10^12 float32 elements, chunked, never written: 4 TB of fill value.
    with h5py.File(path('h5/huge_dataspace.h5'), 'w') as f:
        g = keras_legacy_layout(f)
        g.create_dataset('dense/kernel:0', shape=(1000000, 1000000), dtype='f4', chunks=(1, 1024))
    # External link to an HDF5 file outside the model's folder.
    with h5py.File(path('h5/outside.h5'), 'w') as f:
        g = keras_legacy_layout(f)
        g.create_dataset('dense/kernel:0', data=np.arange(4, dtype='f4'))
    with h5py.File(path('h5/inner/external_link.h5'), 'w') as f:
        f.attrs['layer_names'] = [b'dense']
        f['dense'] = h5py.ExternalLink('../outside.h5', '/dense')
    # A dataset whose raw data lives in another file (external storage).
    write('h5/inner/secret.txt', b'SECRET-DATA-1234')
    with h5py.File(path('h5/inner/external_storage.h5'), 'w') as f:
        g = keras_legacy_layout(f)
        g.create_dataset('dense/kernel:0', shape=(16,), dtype='u1', external=[('secret.txt', 0, 16)])
    # A virtual dataset mapping another file.
    with h5py.File(path('h5/inner/virtual.h5'), 'w') as f:
        g = keras_legacy_layout(f)
        layout = h5py.VirtualLayout(shape=(4,), dtype='f4')
        layout[:] = h5py.VirtualSource('../outside.h5', 'dense/dense/kernel:0', shape=(4,))
        g.create_virtual_dataset('dense/kernel:0', layout)
    # Keras 3 layout whose 'layers' group holds ten hard links to itself.
    with h5py.File(path('h5/hardlink_cycle.weights.h5'), 'w') as f:
        layers = f.create_group('layers')
        layers.create_group('dense/vars').create_dataset('0', data=np.zeros(2, 'f4'))
        for i in range(10):
            layers[f'loop{i}'] = layers
    # A .keras archive whose config nests 100 000 levels inside a layer config.
    with h5py.File(path('h5/tmp_weights.h5'), 'w') as f:
        f.create_group('layers/dense/vars').create_dataset('0', data=np.zeros(2, 'f4'))
    with open(path('h5/tmp_weights.h5'), 'rb') as f:
        weights = f.read()
    os.remove(path('h5/tmp_weights.h5'))
    deep = '[' * 100000 + ']' * 100000
    config = '{"class_name": "Sequential", "config": {"name": "s", "layers": [{"class_name": "Dense", "config": {"name": "dense", "units": 2, "x": ' + deep + '}}]}}'
    with zipfile.ZipFile(path('h5/deep_config.keras'), 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('metadata.json', '{"keras_version": "3.3.3"}')
        z.writestr('config.json', config)
        z.writestr('model.weights.h5', weights)


# --------------------------------------------------------------------------------- round two
# Small files that made graft exhaust time or memory, hang, or leave its folder (issue 13).
# Cases too large to commit (zip bombs of hundreds of MiB, an 800 KB checkpoint index) are built by
# test/hostile-budgets.test.ts.

def write_round_two():
    # TF checkpoint whose data shard is a symlink leaving the folder; the outside bytes match the
    # index's CRC, so only confinement stops them from becoming weights.
    outside = struct.pack('<4f', 5, 6, 7, 8)
    write('tf-ckpt/escape/outside.bin', outside)
    index = table([(b'', bundle_header(1)), (b'w', bundle_entry([4], 0, 16, mask(crc32c(outside))))])
    write('tf-ckpt/escape/inner/model.ckpt.index', index)
    link = path('tf-ckpt/escape/inner/model.ckpt.data-00000-of-00001')
    if os.path.lexists(link):
        os.remove(link)
    os.symlink('../outside.bin', link)

    # A 16-byte dataset stored in (unlimited, never written) chunks of 1 GiB: HDF5 fills or
    # decodes whole chunks in wasm memory, whatever the selection.
    with h5py.File(path('h5/big_chunk.h5'), 'w') as f:
        g = keras_legacy_layout(f)
        g.create_dataset('dense/kernel:0', shape=(4,), maxshape=(None,), chunks=(1 << 28,), dtype='f4')

    # 80 MiB of zeros in gzip'd 1 MiB chunks: an 80 KB file that decodes to 1000x its size.
    with h5py.File(path('h5/zeros_80mib.h5'), 'w') as f:
        g = keras_legacy_layout(f)
        g.create_dataset('dense/kernel:0', data=np.zeros(20 << 20, 'f4'), chunks=(1 << 18,), compression='gzip', compression_opts=9)

    # Keras 2 weights whose layer_names and weight_names repeat one entry 2,000 times.
    with h5py.File(path('h5/repeated_names.h5'), 'w', libver='latest') as f:
        f.attrs['layer_names'] = [b'dense'] * 2000
        g = f.create_group('dense')
        g.attrs['weight_names'] = [b'dense/kernel:0'] * 2000
        g.create_dataset('dense/kernel:0', data=np.arange(4, dtype='f4'))


def main():
    import sys
    if sys.argv[1:] == ['--round-two']:
        # Only the round-two files: the others stay byte for byte as committed.
        write_round_two()
        return
    if os.path.isdir(OUT):
        for entry in os.listdir(OUT):
            if entry != 'README.md':
                p = os.path.join(OUT, entry)
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    write_safetensors()
    write_numpy()
    write_pickles()
    write_onnx()
    write_tfjs()
    write_tf_checkpoint()
    write_hdf5()
    write_round_two()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f'wrote {OUT} ({total} bytes)')


if __name__ == '__main__':
    main()
