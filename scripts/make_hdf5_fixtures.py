#!/usr/bin/python3
"""Writes small HDF5 files with h5py covering what graft's own HDF5 parser (src/io/hdf5-native.ts)
reads, for test/hdf5-native.test.ts to compare it with h5wasm:
  - earliest.h5: h5py's defaults (superblock 0, version 1 object headers, symbol-table groups), with
    a group of 300 links (a B-tree of more than one level), an object header grown into
    continuation blocks, soft links (absolute, relative, dangling), a hard-link cycle, and
    attributes and datasets of every type graft reads (fixed and variable-length strings, bool,
    8–64-bit integers, float16/32/64, big-endian data, scalar, empty and compact datasets).
  - latest.h5: the same with libver='latest' (superblock 3, OHDR headers with checksums, link
    messages), minus the 300-link group (dense storage there).
  - vlen_strings.h5: one attribute of 3,001 variable-length strings, the first 100,000 characters
    long, the rest short, spread over several global heap collections (the test points every
    element at the long one, a 300 MB expansion the walk budget must stop).
  - dense.h5: libver='latest' with 20 links and 11 attributes on one group, 300 links on another
    (a name index of two levels, a heap of several direct blocks), 40 attributes on a dataset:
    dense (fractal heap) storage.
Run: /usr/bin/python3 scripts/make_hdf5_fixtures.py
(HDF5 stamps groups with their creation time: a rerun changes a few bytes, never the contents.)
"""
import os

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'hdf5')
os.makedirs(OUT, exist_ok=True)


def fill(f, many_links):
    rng = np.random.default_rng(5)
    f.attrs['vlen_str'] = 'hello wörld'
    f.attrs['vlen_list'] = ['a', 'bc', '']
    f.attrs['fixed_bytes'] = np.array([b'dense_1', b'conv'])
    f.attrs['scalar_bytes'] = np.bytes_(b'{"class_name": "Sequential"}')
    # At most 8 attributes per object: more go to dense storage in libver='latest' files.
    more = f.create_group('more_attrs')
    more.attrs['int64'] = np.int64(-7)
    more.attrs['uint8s'] = np.arange(4, dtype=np.uint8)
    more.attrs['f64s'] = np.array([0.5, -1.25])
    more.attrs['f32'] = np.float32(3.5)
    more.attrs['flag'] = True
    more.attrs['flags'] = np.array([True, False])
    more.attrs['be_i32'] = np.array([1, -2], dtype='>i4')
    g = f.create_group('model_weights/dense_1')
    g.attrs['weight_names'] = np.array([b'dense_1/kernel:0', b'dense_1/bias:0'])
    g.create_dataset('kernel:0', data=rng.standard_normal((5, 3)).astype('<f4'))
    g.create_dataset('bias:0', data=rng.standard_normal(3).astype('>f4'))
    # At most 8 links per group too (the same rule for links).
    ints = f.create_group('types/ints')
    ints.create_dataset('be_i16', data=np.array([1, -300, 7], dtype='>i2'))
    ints.create_dataset('i8', data=np.array([-1, 2, -3], dtype=np.int8))
    ints.create_dataset('u16', data=np.array([65535, 2], dtype=np.uint16))
    ints.create_dataset('i64', data=np.array([2**40, -5], dtype=np.int64))
    ints.create_dataset('bool', data=np.array([True, False, True]))
    floats = f.create_group('types/floats')
    floats.create_dataset('be_f64', data=rng.standard_normal((2, 2)).astype('>f8'))
    floats.create_dataset('f16', data=rng.standard_normal((2, 3)).astype(np.float16))
    floats.create_dataset('scalar', data=np.float32(2.5))
    floats.create_dataset('empty', shape=(0, 3), dtype='<f4')
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    h5py.h5d.create(g.id, b'compact', h5py.h5t.IEEE_F32LE, h5py.h5s.create_simple((2, 2)), dcpl=dcpl)
    g['compact'][...] = np.array([[1.5, -2], [3, 4.25]], dtype=np.float32)
    f['soft_kernel'] = h5py.SoftLink('/model_weights/dense_1/kernel:0')
    g['relative_soft'] = h5py.SoftLink('bias:0')
    f['dangling'] = h5py.SoftLink('/nowhere')
    # Soft links naming each other resolve to nothing.
    f['types/loop_a'] = h5py.SoftLink('/types/loop_b')
    f['types/loop_b'] = h5py.SoftLink('loop_a')
    f['alias'] = g['kernel:0']
    g['up'] = f['model_weights']  # a hard-link cycle: model_weights/dense_1/up is model_weights
    grown = f.create_group('grown')
    for i in range(6):
        grown.attrs[f'a{i}'] = np.arange(50, dtype=np.float64) + i
    if many_links:
        many = f.create_group('many')
        for i in range(300):
            many[f'link_{i:03d}'] = g['kernel:0']


with h5py.File(os.path.join(OUT, 'earliest.h5'), 'w') as f:
    fill(f, True)

with h5py.File(os.path.join(OUT, 'latest.h5'), 'w', libver='latest') as f:
    fill(f, False)

with h5py.File(os.path.join(OUT, 'dense.h5'), 'w', libver='latest') as f:
    g = f.create_group('layers')
    for i in range(20):
        g.create_dataset(f'w{i}', data=np.full(2, i, dtype=np.float32))
    for i in range(10):
        g.attrs[f'a{i}'] = i
    g.attrs['names'] = ['dense_1', 'dense_2']
    many = f.create_group('many')
    for i in range(300):
        many[f'link_{i:03d}'] = g['w3']
    for i in range(40):
        g['w3'].attrs[f'attr_{i:02d}'] = np.arange(i % 5, dtype=np.float32)

with h5py.File(os.path.join(OUT, 'vlen_strings.h5'), 'w') as f:
    f.attrs['names'] = ['y' * 100_000] + [f'name_{i}' for i in range(3000)]
