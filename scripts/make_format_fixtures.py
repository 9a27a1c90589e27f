#!/usr/bin/python3
"""Writes the small fixtures under fixtures/formats/ used by the zip/npy/npz/safetensors/tfjs
reader tests, plus fixtures/formats/expected.json holding what each file must read back as
(values as numpy computed them, flattened in C order).

Run with Debian's python (numpy 1.24):  /usr/bin/python3 scripts/make_format_fixtures.py
The safetensors and zip64 files are written by hand with the stdlib (struct, zlib, json)
because the safetensors package is absent and zipfile cannot force a zip64 end record.
"""
import io
import json
import os
import shutil
import struct
import zipfile
import zlib

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'formats')
expected = {}


def values_of(a):
    """Flat C-order values in a JSON-safe form: 64-bit integers as decimal strings (exactness)."""
    flat = np.ascontiguousarray(a).reshape(-1)
    if a.dtype.kind in 'iu' and a.dtype.itemsize == 8:
        return [str(int(v)) for v in flat]
    if a.dtype.kind == 'b':
        return [bool(v) for v in flat]
    if a.dtype.kind == 'f':
        return [float(v) for v in flat]
    return [int(v) for v in flat]


DTYPE_NAME = {
    'f2': 'float16', 'f4': 'float32', 'f8': 'float64',
    'i1': 'int8', 'i2': 'int16', 'i4': 'int32', 'i8': 'int64',
    'u1': 'uint8', 'u2': 'uint16', 'u4': 'uint32', 'u8': 'uint64', 'b1': 'bool',
}


def graft_dtype(a):
    return DTYPE_NAME[a.dtype.str[1:]]


def record(key, a, **extra):
    expected[key] = dict(dtype=graft_dtype(a), shape=list(a.shape), values=values_of(a), **extra)


def sample(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    n = int(np.prod(shape)) if shape else 1
    if dt.kind == 'f':
        # Values exactly representable in float16, so every float width agrees.
        v = (rng.integers(-2000, 2000, size=n) / 16.0)
    elif dt.kind == 'b':
        v = rng.integers(0, 2, size=n).astype(bool)
    elif dt.kind == 'i':
        info = np.iinfo(dt)
        v = rng.integers(info.min, info.max, size=n, dtype=np.int64, endpoint=True)
        v[0] = info.min
        if n > 1:
            v[1] = info.max
    else:
        info = np.iinfo(dt)
        v = rng.integers(0, info.max, size=n, dtype=np.uint64, endpoint=True)
        if n > 1:
            v[1] = info.max
    return np.array(v).astype(dt).reshape(shape)


def fresh(sub):
    d = os.path.join(ROOT, sub)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


# ---------------------------------------------------------------- zip containers

def deflate_raw(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def write_zip64(path, members):
    """A zip whose every size/offset lives in zip64 extras, with a zip64 end record + locator.
    members: list of (name, bytes, method)."""
    out = io.BytesIO()
    central = []
    for name, data, method in members:
        payload = data if method == 0 else deflate_raw(data)
        crc = zlib.crc32(data) & 0xFFFFFFFF
        offset = out.tell()
        name_b = name.encode('utf-8')
        extra = struct.pack('<HHQQ', 0x0001, 16, len(data), len(payload))
        out.write(struct.pack('<IHHHHHIIIHH', 0x04034B50, 45, 0x0800, method, 0, 0x21,
                              crc, 0xFFFFFFFF, 0xFFFFFFFF, len(name_b), len(extra)))
        out.write(name_b + extra + payload)
        central.append((name_b, method, crc, len(data), len(payload), offset))
    cd_start = out.tell()
    for name_b, method, crc, usize, csize, offset in central:
        extra = struct.pack('<HHQQQ', 0x0001, 24, usize, csize, offset)
        out.write(struct.pack('<IHHHHHHIIIHHHHHII', 0x02014B50, 45, 45, 0x0800, method, 0, 0x21,
                              crc, 0xFFFFFFFF, 0xFFFFFFFF, len(name_b), len(extra), 0, 0, 0, 0,
                              0xFFFFFFFF))
        out.write(name_b + extra)
    cd_size = out.tell() - cd_start
    eocd64 = out.tell()
    out.write(struct.pack('<IQHHIIQQQQ', 0x06064B50, 44, 45, 45, 0, 0,
                          len(central), len(central), cd_size, cd_start))
    out.write(struct.pack('<IIQI', 0x07064B50, 0, eocd64, 1))
    out.write(struct.pack('<IHHHHIIH', 0x06054B50, 0, 0, 0xFFFF, 0xFFFF,
                          0xFFFFFFFF, 0xFFFFFFFF, 0))
    with open(path, 'wb') as f:
        f.write(out.getvalue())


FIXED_TIME = (2024, 1, 1, 0, 0, 0)  # stable bytes across regenerations


def make_zips():
    d = fresh('zip')
    text = ('graft zip fixture line\n' * 200).encode()
    small = bytes(range(256))
    members = [('a/text.txt', text), ('bytes.bin', small), ('empty.bin', b'')]
    for label, method in (('stored', zipfile.ZIP_STORED), ('deflated', zipfile.ZIP_DEFLATED)):
        with zipfile.ZipFile(os.path.join(d, f'{label}.zip'), 'w', method) as z:
            for name, data in members:
                z.writestr(zipfile.ZipInfo(name, FIXED_TIME), data, compress_type=method)
    # Python's own zip64 local/central extras (sizes in the local header's zip64 field).
    with zipfile.ZipFile(os.path.join(d, 'forced_zip64.zip'), 'w', zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            with z.open(info, 'w', force_zip64=True) as f:
                f.write(data)
    write_zip64(os.path.join(d, 'zip64.zip'),
                [(n, b, 8 if i % 2 == 0 else 0) for i, (n, b) in enumerate(members)])
    # Names that could escape an extraction folder: must be left out of the listing.
    with zipfile.ZipFile(os.path.join(d, 'unsafe.zip'), 'w') as z:
        z.writestr(zipfile.ZipInfo('ok.txt', FIXED_TIME), b'fine')
        for bad in ('../escape.txt', '/abs.txt', 'dir/../../up.txt', 'C:/drive.txt', 'back\\slash.txt'):
            z.writestr(zipfile.ZipInfo(bad, FIXED_TIME), b'bad')
    expected['zip'] = {
        'members': {name: {'size': len(data), 'crc32': zlib.crc32(data) & 0xFFFFFFFF,
                           'hex_head': data[:16].hex()} for name, data in members},
        'text': text.decode(),
        'unsafe_kept': ['ok.txt'],
    }


# ---------------------------------------------------------------- npy / npz

def make_npy():
    d = fresh('npy')
    cases = {}
    for i, code in enumerate(['f2', 'f4', 'f8', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'b1']):
        cases[f'le_{code}'] = sample('<' + code if code not in ('i1', 'u1', 'b1') else '|' + code, (3, 4), i)
    for i, code in enumerate(['f2', 'f4', 'f8', 'i2', 'i4', 'i8', 'u2', 'u4', 'u8']):
        cases[f'be_{code}'] = sample('>' + code, (2, 3), 100 + i)
    cases['fortran_f4'] = np.asfortranarray(sample('<f4', (2, 3, 4), 200))
    cases['fortran_be_i4'] = np.asfortranarray(sample('>i4', (3, 5), 201))
    cases['scalar_f8'] = np.array(3.25, dtype='<f8')
    cases['empty_f4'] = np.zeros((0, 3), dtype='<f4')
    cases['vector_i8'] = np.arange(-5, 5, dtype='<i8')
    for name, a in cases.items():
        np.save(os.path.join(d, name + '.npy'), a)
        record(f'npy/{name}', a, fortran=bool(a.flags.f_contiguous and a.ndim > 1 and not a.flags.c_contiguous))
    # Header versions 2.0 and 3.0 (3.0: utf-8 header) written by numpy itself.
    for version in ((2, 0), (3, 0)):
        a = sample('<f4', (4, 2), 300 + version[0])
        name = f'v{version[0]}_f4'
        with open(os.path.join(d, name + '.npy'), 'wb') as f:
            np.lib.format.write_array(f, a, version=version)
        record(f'npy/{name}', a)


def npy_bytes(a):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=False)
    return buf.getvalue()


def make_npz():
    d = fresh('npz')
    arrays = {
        'dense.kernel': sample('<f4', (4, 3), 400),
        'dense.bias': sample('<f4', (3,), 401),
        'steps': np.array(7, dtype='<i8'),
        'big_endian': sample('>f8', (2, 2), 402),
        'fortran': np.asfortranarray(sample('<i2', (3, 2), 403)),
        'flags': sample('|b1', (5,), 404),
    }
    np.savez(os.path.join(d, 'stored.npz'), **arrays)
    np.savez_compressed(os.path.join(d, 'deflated.npz'), **arrays)
    write_zip64(os.path.join(d, 'zip64.npz'),
                [(k + '.npy', npy_bytes(v), 8 if i % 2 else 0) for i, (k, v) in enumerate(arrays.items())])
    for k, v in arrays.items():
        record(f'npz/{k}', v)
    expected['npz_order'] = list(arrays.keys())


# ---------------------------------------------------------------- safetensors

ST_CODE = {
    'float64': 'F64', 'float32': 'F32', 'float16': 'F16', 'int64': 'I64', 'int32': 'I32',
    'int16': 'I16', 'int8': 'I8', 'uint8': 'U8', 'uint16': 'U16', 'uint32': 'U32',
    'uint64': 'U64', 'bool': 'BOOL',
}


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, st_dtype, shape, raw little-endian bytes)."""
    header = {}
    if metadata is not None:
        header['__metadata__'] = metadata
    offset = 0
    blobs = []
    for name, code, shape, raw in tensors:
        header[name] = {'dtype': code, 'shape': list(shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)  # the reference writer pads the header to 8-byte alignment
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def st_tensor(name, a):
    le = a.astype(a.dtype.newbyteorder('<'))
    return (name, ST_CODE[graft_dtype(a)], a.shape, np.ascontiguousarray(le).tobytes())


def make_safetensors():
    d = fresh('safetensors')
    tensors = []
    for i, dt in enumerate(['<f8', '<f4', '<f2', '<i8', '<i4', '<i2', '|i1', '|u1', '<u2', '<u4', '<u8', '|b1']):
        a = sample(dt, (2, 3), 500 + i)
        name = f't_{graft_dtype(a)}'
        tensors.append(st_tensor(name, a))
        record(f'safetensors/{name}', a)
    # bfloat16: the top half of a float32.
    f32 = sample('<f4', (2, 3), 520)
    f32 = (f32.view('<u4') & np.uint32(0xFFFF0000)).view('<f4')  # keep only bfloat16-exact bits
    bf16 = (f32.view('<u4') >> 16).astype('<u2')
    tensors.append(('t_bfloat16', 'BF16', f32.shape, bf16.tobytes()))
    expected['safetensors/t_bfloat16'] = dict(dtype='bfloat16', shape=[2, 3], values=values_of(f32))
    scalar = np.array(1.5, dtype='<f4')
    tensors.append(st_tensor('scalar', scalar))
    record('safetensors/scalar', scalar)
    empty = np.zeros((0, 4), dtype='<f4')
    tensors.append(st_tensor('empty', empty))
    record('safetensors/empty', empty)
    write_safetensors(os.path.join(d, 'all_dtypes.safetensors'), tensors,
                      metadata={'format': 'pt', 'note': 'graft fixture'})
    expected['safetensors_order'] = [t[0] for t in tensors]
    expected['safetensors_metadata'] = {'format': 'pt', 'note': 'graft fixture'}

    write_safetensors(os.path.join(d, 'f8.safetensors'),
                      [('ok', 'F32', (1,), np.float32([1]).tobytes()), ('fp8', 'F8_E4M3', (2,), b'\x01\x02')])

    # A two-shard checkpoint with its index, as transformers writes it.
    sd = os.path.join(d, 'sharded')
    os.makedirs(sd)
    shard_tensors = [
        [('encoder.weight', sample('<f4', (3, 2), 530)), ('encoder.bias', sample('<f4', (3,), 531))],
        [('decoder.weight', sample('<f4', (2, 3), 532)), ('decoder.bias', sample('<f2', (2,), 533))],
    ]
    weight_map = {}
    for i, group in enumerate(shard_tensors):
        fname = f'model-{i + 1:05d}-of-00002.safetensors'
        write_safetensors(os.path.join(sd, fname), [st_tensor(n, a) for n, a in group], metadata={'format': 'pt'})
        for n, a in group:
            weight_map[n] = fname
            record(f'sharded/{n}', a)
    with open(os.path.join(sd, 'model.safetensors.index.json'), 'w') as f:
        json.dump({'metadata': {'total_size': sum(a.nbytes for g in shard_tensors for _, a in g)},
                   'weight_map': weight_map}, f, indent=2)


# ---------------------------------------------------------------- tfjs layers model

def make_tfjs():
    d = fresh('tfjs')
    qd = os.path.join(d, 'quantized')
    os.makedirs(qd)
    kernel = sample('<f4', (4, 3), 600).astype(np.float32) + np.float32(0.01)
    bias = sample('<f4', (3,), 601)
    k2 = sample('<f4', (3, 2), 602) + np.float32(0.003)
    counts = np.array([1, -2, 300000], dtype='<i4')
    mask = np.array([True, False, True, True])
    f16 = sample('<f4', (2, 2), 603)

    def quantize(a, bits):
        lo, hi = float(a.min()), float(a.max())
        scale = (hi - lo) / (2 ** bits - 1)
        q = np.round((a.astype(np.float64) - lo) / scale).astype(np.uint8 if bits == 8 else np.uint16)
        # tfjs dequantizes as q * scale + min in double precision, then stores float32.
        deq = (q.astype(np.float64) * scale + lo).astype(np.float32)
        return q, lo, scale, deq

    q8, lo8, s8, deq8 = quantize(kernel, 8)
    q16, lo16, s16, deq16 = quantize(k2, 16)
    blob = b''.join([
        q8.tobytes(),
        bias.tobytes(),
        q16.astype('<u2').tobytes(),
        counts.tobytes(),
        mask.astype(np.uint8).tobytes(),
        f16.astype('<f2').tobytes(),
    ])
    cut = 37  # split the group across two shard files at an arbitrary byte
    with open(os.path.join(qd, 'group1-shard1of2.bin'), 'wb') as f:
        f.write(blob[:cut])
    with open(os.path.join(qd, 'group1-shard2of2.bin'), 'wb') as f:
        f.write(blob[cut:])
    topology = {
        'class_name': 'Sequential',
        'config': {'name': 'seq', 'layers': [
            {'class_name': 'Dense', 'config': {'name': 'dense', 'units': 3, 'batch_input_shape': [None, 4]}},
            {'class_name': 'Dense', 'config': {'name': 'dense_1', 'units': 2}},
        ]},
        'keras_version': 'tfjs-layers 4.22.0', 'backend': 'tensor_flow.js',
    }
    model = {
        'format': 'layers-model', 'generatedBy': 'graft fixture', 'convertedBy': None,
        'modelTopology': topology,
        'weightsManifest': [{
            'paths': ['group1-shard1of2.bin', 'group1-shard2of2.bin'],
            'weights': [
                {'name': 'dense/kernel', 'shape': [4, 3], 'dtype': 'float32',
                 'quantization': {'dtype': 'uint8', 'min': lo8, 'scale': s8, 'original_dtype': 'float32'}},
                {'name': 'dense/bias', 'shape': [3], 'dtype': 'float32'},
                {'name': 'dense_1/kernel', 'shape': [3, 2], 'dtype': 'float32',
                 'quantization': {'dtype': 'uint16', 'min': lo16, 'scale': s16, 'original_dtype': 'float32'}},
                {'name': 'counts', 'shape': [3], 'dtype': 'int32'},
                {'name': 'mask', 'shape': [4], 'dtype': 'bool'},
                {'name': 'half', 'shape': [2, 2], 'dtype': 'float32',
                 'quantization': {'dtype': 'float16', 'original_dtype': 'float32'}},
            ],
        }],
    }
    with open(os.path.join(qd, 'model.json'), 'w') as f:
        json.dump(model, f, indent=1)
    record('tfjs/dense/kernel', deq8)
    record('tfjs/dense/bias', bias)
    record('tfjs/dense_1/kernel', deq16)
    record('tfjs/counts', counts)
    record('tfjs/mask', mask)
    record('tfjs/half', f16)
    expected['tfjs_topology'] = topology


def digest_realworld_h5():
    """SHA-256 of each weight of the Keras .h5 that tensorflowjs_converter turned into the
    1skyzor model.json, so the tfjs test can check bit-equality without copying the file."""
    import hashlib
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'realworld',
                       'tfjs', '1skyzor_mlp', 'model.hdf5')
    if not os.path.exists(src):
        print('realworld 1skyzor_mlp/model.hdf5 absent: keeping any previous digests')
        return
    import h5py
    digests = {}
    with h5py.File(src, 'r') as f:
        for layer in ('dense_41', 'dense_42', 'dense_43'):
            for part in ('kernel', 'bias'):
                a = np.asarray(f[f'model_weights/{layer}/{layer}/{part}:0']).astype('<f4')
                digests[f'{layer}/{part}'] = hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
    expected['realworld_1skyzor_h5_sha256'] = digests


if __name__ == '__main__':
    os.makedirs(ROOT, exist_ok=True)
    make_zips()
    make_npy()
    make_npz()
    make_safetensors()
    make_tfjs()
    digest_realworld_h5()
    with open(os.path.join(ROOT, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=None, separators=(',', ':'))
    print('wrote', ROOT)
