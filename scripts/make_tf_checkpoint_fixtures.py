#!/usr/bin/python3
"""Writes small TensorFlow V2 checkpoints (tensor bundles) into fixtures/tf-ckpt/.

TensorFlow is not installable here, so this script writes the format itself, from the
format's description (LevelDB table + BundleHeaderProto/BundleEntryProto), independently of
graft's TypeScript reader. These fixtures only prove the reader agrees with this writer; the
real checkpoints in ../shared/realworld/tf_ckpt are what prove it agrees with TensorFlow.

Run with Debian's interpreter (numpy 1.24):  /usr/bin/python3 scripts/make_tf_checkpoint_fixtures.py
Expected tensor values go to fixtures/tf-ckpt/<case>/expected/<name with '/' as '__'>.npy,
always little-endian, bfloat16 as its uint16 bit pattern.
"""
import os
import struct

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'tf-ckpt')

# ---------------------------------------------------------------------------- CRC-32C

def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table

CRC_TABLE = _crc_table()

def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF

def mask(c):
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF

# ---------------------------------------------------------------------------- protobuf wire format

def varint(n):
    assert n >= 0
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)

def pb_varint(field, value):
    if value == 0:
        return b''  # proto3 omits defaults
    return varint(field << 3) + varint(value)

def pb_bytes(field, payload):
    return varint((field << 3) | 2) + varint(len(payload)) + payload

def pb_fixed32(field, value):
    return varint((field << 3) | 5) + struct.pack('<I', value)

def header_proto(num_shards, big_endian=False):
    version = pb_varint(1, 1)  # VersionDef.producer = 1, as TensorFlow writes
    return pb_varint(1, num_shards) + pb_varint(2, 1 if big_endian else 0) + pb_bytes(3, version)

def shape_proto(shape):
    return b''.join(pb_bytes(2, pb_varint(1, d)) for d in shape)

def entry_proto(dtype, shape, shard, offset, size, crc, slices=()):
    out = pb_varint(1, dtype) + pb_bytes(2, shape_proto(shape)) + pb_varint(3, shard)
    out += pb_varint(4, offset) + pb_varint(5, size) + pb_fixed32(6, crc)
    for extents in slices:
        sl = b''
        for start, length in extents:
            sl += pb_bytes(1, pb_varint(1, start) + pb_varint(2, length))
        out += pb_bytes(7, sl)
    return out

# ---------------------------------------------------------------------------- LevelDB table

def build_block(items, restart_interval):
    body = bytearray()
    restarts = []
    prev = b''
    for i, (key, value) in enumerate(items):
        if i % restart_interval == 0:
            restarts.append(len(body))
            shared = 0
        else:
            shared = 0
            while shared < min(len(prev), len(key)) and prev[shared] == key[shared]:
                shared += 1
        body += varint(shared) + varint(len(key) - shared) + varint(len(value))
        body += key[shared:] + value
        prev = key
    if not restarts:
        restarts.append(0)
    for r in restarts:
        body += struct.pack('<I', r)
    body += struct.pack('<I', len(restarts))
    return bytes(body)

def write_table(items, block_bytes=96, restart_interval=2, compression=0):
    """items: sorted (key, value) pairs. Returns the table file bytes."""
    out = bytearray()

    def emit(block):
        handle = varint(len(out)) + varint(len(block))
        trailer_type = bytes([compression])  # 0: none (what TensorFlow writes), 1: Snappy
        out.extend(block + trailer_type + struct.pack('<I', mask(crc32c(block + trailer_type))))
        return handle

    index_items = []
    pending = []
    size = 0
    for key, value in items:
        pending.append((key, value))
        size += len(key) + len(value) + 3
        if size >= block_bytes:
            index_items.append((pending[-1][0], emit(build_block(pending, restart_interval))))
            pending, size = [], 0
    if pending:
        index_items.append((pending[-1][0], emit(build_block(pending, restart_interval))))
    meta_handle = emit(build_block([], restart_interval))
    # The index maps each block's last key to its handle (any separator >= it would do).
    index_handle = emit(build_block(index_items, 1))
    footer = meta_handle + index_handle
    footer += b'\x00' * (40 - len(footer))
    footer += struct.pack('<Q', 0xDB4775248B80FB57)
    out.extend(footer)
    return bytes(out)

# ---------------------------------------------------------------------------- bundles

DT = {
    'float32': 1, 'float64': 2, 'int32': 3, 'uint8': 4, 'int16': 5, 'int8': 6, 'string': 7,
    'complex64': 8, 'int64': 9, 'bool': 10, 'bfloat16': 14, 'uint16': 17, 'float16': 19,
    'uint32': 22, 'uint64': 23,
}

class Tensor:
    def __init__(self, name, dtype, shape, raw, shard=0, slices=()):
        self.name, self.dtype, self.shape, self.raw = name, dtype, list(shape), raw
        self.shard, self.slices = shard, slices

def tensor(name, array, shard=0, dtype=None, big_endian=False):
    a = np.ascontiguousarray(array)
    if big_endian:
        a = a.astype(a.dtype.newbyteorder('>'))
    return Tensor(name, dtype or a.dtype.name, a.shape, a.tobytes(), shard)

def write_bundle(folder, prefix, tensors, num_shards=1, big_endian=False, **table_opts):
    os.makedirs(folder, exist_ok=True)
    shards = [bytearray() for _ in range(num_shards)]
    entries = []
    # Data goes out in the order given (not key order), as TensorFlow writes in Add() order.
    for t in tensors:
        data = shards[t.shard]
        offset = len(data)
        data.extend(t.raw)
        entries.append((t.name.encode(), entry_proto(DT[t.dtype], t.shape, t.shard, offset, len(t.raw), mask(crc32c(t.raw)), t.slices)))
    items = [(b'', header_proto(num_shards, big_endian))] + sorted(entries)
    base = os.path.join(folder, prefix)
    with open(base + '.index', 'wb') as f:
        f.write(write_table(items, **table_opts))
    for i, data in enumerate(shards):
        with open('%s.data-%05d-of-%05d' % (base, i, num_shards), 'wb') as f:
            f.write(bytes(data))

def save_expected(folder, name, array):
    d = os.path.join(folder, 'expected')
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, name.replace('/', '__') + '.npy'), np.ascontiguousarray(array).astype(array.dtype.newbyteorder('<')))

def network(rng):
    """The seed's small MLP: 4 -> 8 -> 6 -> 3, TF1 naming."""
    layers = [('hidden1', 4, 8), ('hidden2', 8, 6), ('outputs', 6, 3)]
    out = []
    for name, n_in, n_out in layers:
        out.append(('%s/weights' % name, rng.standard_normal((n_in, n_out)).astype(np.float32)))
        out.append(('%s/biases' % name, rng.standard_normal((n_out,)).astype(np.float32)))
    return out

SEED_WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'torch', 'seed_mlp', 'reference_tfjs_weights.json')

def seed_network():
    """The seed MLP (64-48-32-32-24-5) under TF1 names; its Keras kernels are already [in, out]."""
    import json
    with open(SEED_WEIGHTS) as f:
        ref = json.load(f)
    out = []
    for keras, tf1 in [('hidden1', 'hidden1'), ('hidden2', 'hidden2'), ('hidden3', 'hidden3'), ('hidden4', 'hidden4'), ('output', 'outputs')]:
        for kind, tf_kind in [('kernel', 'weights'), ('bias', 'biases')]:
            t = ref['%s/%s' % (keras, kind)]
            out.append(('%s/%s' % (tf1, tf_kind), np.array(t['values'], dtype=np.float32).reshape(t['shape'])))
    return out

def main():
    rng = np.random.default_rng(20240604)

    # 1. TF1 Saver style holding the seed network's trained weights: one shard, global_step,
    #    Adam slots and beta powers, a `checkpoint` state file.
    folder = os.path.join(OUT, 'saver')
    seed = seed_network()
    extra = [
        tensor('global_step', np.array(1234, dtype=np.int64)),
        tensor('outputs/weights/Adam', rng.standard_normal((24, 5)).astype(np.float32)),
        tensor('outputs/weights/Adam_1', rng.standard_normal((24, 5)).astype(np.float32)),
        tensor('beta1_power', np.array(0.9, dtype=np.float32)),
        tensor('beta2_power', np.array(0.999, dtype=np.float32)),
    ]
    write_bundle(folder, 'model.ckpt', extra[:2] + [tensor(n, a) for n, a in seed] + extra[2:], block_bytes=256)
    with open(os.path.join(folder, 'checkpoint'), 'w') as f:
        f.write('model_checkpoint_path: "model.ckpt"\nall_model_checkpoint_paths: "model.ckpt"\n')
    for n, a in seed:
        save_expected(folder, n, a)

    weights = network(rng)
    # 2. The same weights over two shards.
    folder = os.path.join(OUT, 'sharded')
    write_bundle(folder, 'model.ckpt', [tensor(n, a, shard=i % 2) for i, (n, a) in enumerate(weights)], num_shards=2)
    for n, a in weights:
        save_expected(folder, n, a)

    # 3. Every weight dtype, plus things that are not weights or cannot be read.
    folder = os.path.join(OUT, 'dtypes')
    f32 = rng.standard_normal((2, 3)).astype(np.float32)
    bf16_bits = (f32.view(np.uint32) >> 16).astype(np.uint16)  # truncation is a valid bfloat16
    cases = {
        'f16': rng.standard_normal((3,)).astype(np.float16),
        'f32': f32,
        'f64': rng.standard_normal((2, 2)).astype(np.float64),
        'i8': np.array([-128, -1, 0, 127], dtype=np.int8),
        'i16': np.array([-32768, -2, 300], dtype=np.int16),
        'i32': np.array([[-7, 2**31 - 1], [0, -2**31]], dtype=np.int32),
        'i64': np.array([-(2**62), 5], dtype=np.int64),
        'u8': np.array([0, 255, 7], dtype=np.uint8),
        'u16': np.array([65535, 1], dtype=np.uint16),
        'u32': np.array([2**32 - 1, 3], dtype=np.uint32),
        'u64': np.array([2**64 - 1, 9], dtype=np.uint64),
        'flags': np.array([True, False, True]),
        'empty': np.zeros((0, 4), dtype=np.float32),
    }
    ts = [tensor(n, a) for n, a in cases.items()]
    ts.append(Tensor('bf16', 'bfloat16', bf16_bits.shape, bf16_bits.tobytes()))
    ts.append(Tensor('labels', 'string', [1], b'\x05hello'))
    ts.append(tensor('z', np.array([1 + 2j], dtype=np.complex64), dtype='complex64'))
    # A partitioned variable: the full entry lists its slices; the slice data lives under a
    # binary key (TensorFlow's is an ordered code starting with a zero byte).
    ts.append(Tensor('part', 'float32', [4, 2], b'', slices=([(0, 2)], [(2, 2)])))
    ts.append(Tensor('\x00part\x00slice0', 'float32', [2, 2], np.arange(4, dtype=np.float32).tobytes()))
    write_bundle(folder, 'model.ckpt', ts)
    for n, a in cases.items():
        save_expected(folder, n, a)
    save_expected(folder, 'bf16', bf16_bits)

    # 4. A big-endian bundle (as an s390x machine writes it).
    folder = os.path.join(OUT, 'bigendian')
    be = {
        'w': rng.standard_normal((3, 2)).astype(np.float32),
        'd': rng.standard_normal((2,)).astype(np.float64),
        's': np.array([1, -2, 513], dtype=np.int16),
    }
    write_bundle(folder, 'model.ckpt', [tensor(n, a, big_endian=True) for n, a in be.items()], big_endian=True)
    for n, a in be.items():
        save_expected(folder, n, a)

    # 5. TF2 object-based keys (tf.train.Checkpoint / Keras save_weights in TF format).
    folder = os.path.join(OUT, 'tf2')
    kernel = rng.standard_normal((4, 2)).astype(np.float32)
    bias = rng.standard_normal((2,)).astype(np.float32)
    slot = 'model/layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE'
    write_bundle(folder, 'ckpt-1', [
        Tensor('_CHECKPOINTABLE_OBJECT_GRAPH', 'string', [], b'\x00'),
        tensor('model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE', kernel),
        tensor('model/layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE', bias),
        tensor(slot, np.zeros((4, 2), dtype=np.float32)),
        tensor('optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE', np.array(10, dtype=np.int64)),
        tensor('save_counter/.ATTRIBUTES/VARIABLE_VALUE', np.array(1, dtype=np.int64)),
    ])
    save_expected(folder, 'model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE', kernel)
    save_expected(folder, 'model/layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE', bias)

    # 6. Self-contradictory: an entry whose byte size does not fit its shape (8 floats, 31 bytes).
    write_bundle(os.path.join(OUT, 'badsize'), 'model.ckpt', [Tensor('w', 'float32', [8], bytes(range(31)))])

    # 7. Blocks labelled Snappy-compressed (valid CRCs), which graft does not decompress.
    write_bundle(os.path.join(OUT, 'snappy'), 'model.ckpt', [tensor('w', np.ones((2,), dtype=np.float32))], compression=1)

if __name__ == '__main__':
    main()
