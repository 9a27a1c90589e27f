#!/usr/bin/python3
"""Writes small HDF5 files imitating Keras layouts that the real-world files do not cover.

TensorFlow/Keras are not installed here, so the layouts are written with h5py the way Keras'
savers write them:
  - chunked_fp16.h5: Keras 2 save_weights() file whose `layer_names` / `weight_names`
    attributes are split into `<name>0`, `<name>1`, ... (Keras does this above 64 KB), with a
    float16 kernel and a big-endian float32 bias.
  - userblock.h5: the same layout behind a 512-byte HDF5 user block.
  - keras3_nested.weights.h5: Keras 3 save_weights() layout: layers/<class>/vars/<i>, a nested
    model under layers/functional/layers/..., and a layer with 12 variables (index order 0..11).
expected.json records every array as written (numpy's values), for the tests to compare.
Run: /usr/bin/python3 scripts/make_keras_fixtures.py
"""
import json
import os

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'keras')
os.makedirs(OUT, exist_ok=True)
expected = {}


def bytes_list(names):
    return np.array([n.encode('utf8') for n in names])


def legacy_weights(f, key):
    rng = np.random.default_rng(7)
    f.attrs['keras_version'] = b'2.4.0'
    f.attrs['backend'] = b'tensorflow'
    layers = ['dense_a', 'dropout_1', 'dense_b']
    # Split as Keras' save_attributes_to_hdf5_group does for oversized attributes.
    f.attrs['layer_names0'] = bytes_list(layers[:2])
    f.attrs['layer_names1'] = bytes_list(layers[2:])
    kernel_a = rng.standard_normal((3, 4)).astype(np.float16)
    bias_a = rng.standard_normal(4).astype('>f4')
    kernel_b = rng.standard_normal((4, 2)).astype(np.float32)
    bias_b = rng.standard_normal(2).astype(np.float32)
    g = f.create_group('dense_a')
    g.attrs['weight_names0'] = bytes_list(['dense_a/kernel:0'])
    g.attrs['weight_names1'] = bytes_list(['dense_a/bias:0'])
    g.create_dataset('dense_a/kernel:0', data=kernel_a)
    g.create_dataset('dense_a/bias:0', data=bias_a)
    g = f.create_group('dropout_1')
    g.attrs['weight_names'] = np.array([], dtype='S1')
    g = f.create_group('dense_b')
    g.attrs['weight_names'] = bytes_list(['dense_b_1/kernel:0', 'dense_b_1/bias:0'])
    g.create_dataset('dense_b_1/kernel:0', data=kernel_b)
    g.create_dataset('dense_b_1/bias:0', data=bias_b)
    expected[key] = {
        'dense_a/kernel': {'dtype': 'float16', 'shape': list(kernel_a.shape), 'values': kernel_a.astype(float).ravel().tolist()},
        'dense_a/bias': {'dtype': 'float32', 'shape': list(bias_a.shape), 'values': bias_a.astype(float).ravel().tolist()},
        'dense_b/kernel': {'dtype': 'float32', 'shape': list(kernel_b.shape), 'values': kernel_b.astype(float).ravel().tolist()},
        'dense_b/bias': {'dtype': 'float32', 'shape': list(bias_b.shape), 'values': bias_b.astype(float).ravel().tolist()},
    }


with h5py.File(os.path.join(OUT, 'chunked_fp16.h5'), 'w') as f:
    legacy_weights(f, 'chunked_fp16.h5')

with h5py.File(os.path.join(OUT, 'userblock.h5'), 'w', userblock_size=512) as f:
    legacy_weights(f, 'userblock.h5')

with h5py.File(os.path.join(OUT, 'keras3_nested.weights.h5'), 'w') as f:
    rng = np.random.default_rng(11)
    arrays = {}
    def put(path, arr):
        f.create_dataset(path, data=arr)
        arrays[path] = arr
    put('layers/dense/vars/0', rng.standard_normal((2, 3)).astype(np.float32))
    put('layers/dense/vars/1', rng.standard_normal(3).astype(np.float32))
    put('layers/functional/layers/conv2d/vars/0', rng.standard_normal((3, 3, 1, 2)).astype(np.float32))
    put('layers/functional/layers/conv2d/vars/1', rng.standard_normal(2).astype(np.float32))
    for i in range(12):
        put(f'layers/many/vars/{i}', np.full((1,), float(i), dtype=np.float32))
    f.create_group('optimizer/vars')
    f['optimizer/vars'].create_dataset('0', data=np.array(3, dtype=np.int64))
    expected['keras3_nested.weights.h5'] = {
        p: {'dtype': 'float32', 'shape': list(a.shape), 'values': a.astype(float).ravel().tolist()} for p, a in arrays.items()
    }

with open(os.path.join(OUT, 'expected.json'), 'w') as fh:
    json.dump(expected, fh, indent=1)
print('wrote', sorted(os.listdir(OUT)))
