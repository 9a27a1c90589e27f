#!/usr/bin/python3
"""Writes fixtures/formats/npz-deflated/: an np.savez_compressed archive and what NumPy reads
from it, for the tests of graft's streamed reading of deflated .npz members
(test/npz-deflated.test.ts).

Run with Debian's python (numpy 1.24):  /usr/bin/python3 scripts/make_npz_deflated_fixtures.py

- model.npz: np.savez_compressed of two Linear layers in PyTorch layout (weights [out, in], one
  large enough to take several 256 KiB inflate pieces) and arrays of other dtypes and layouts
  (int64, float16, big-endian, Fortran order, a 0-d and an empty array). Values are rounded so
  the archive compresses (stays small) yet holds no long runs.
- target.json: a tfjs layers model (Dense layers_0, layers_1) without weights, for graft convert.
- expected.json: for every array, as np.load gives it: dtype, shape and the SHA-256 of its bytes
  in C order, little-endian; and the SHA-256 of the weights file a user would write with np.load
  for the target (kernels transposed to [in, out], then biases, layer by layer).
"""
import hashlib
import json
import os
import shutil

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'formats', 'npz-deflated')
rng = np.random.default_rng(15)


def rounded(shape, dtype=np.float32):
    return np.round(rng.standard_normal(shape), 1).astype(dtype)


LAYERS = [(384, 200), (24, 384)]  # (out, in)

arrays = {}
for i, (out_features, in_features) in enumerate(LAYERS):
    arrays[f'layers.{i}.weight'] = rounded((out_features, in_features))
    arrays[f'layers.{i}.bias'] = rounded((out_features,))
arrays['steps'] = np.arange(-5, 300, 7, dtype=np.int64).reshape(-1, 4)[:10]
arrays['half'] = rounded((33, 7), np.float16)
arrays['big_endian'] = rounded((5, 6)).astype('>f4')
arrays['fortran'] = np.asfortranarray(rounded((9, 11)))
arrays['scalar'] = np.array(3.25, dtype=np.float32)
arrays['empty'] = np.zeros((0, 3), dtype=np.float32)

shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)
path = os.path.join(OUT, 'model.npz')
np.savez_compressed(path, **arrays)

expected = {'arrays': {}, 'order': list(arrays)}
loaded = np.load(path)
for name in loaded.files:
    a = loaded[name]
    c = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder('<'))
    expected['arrays'][name] = {
        'dtype': {'f4': 'float32', 'f2': 'float16', 'i8': 'int64'}[c.dtype.str[1:]],
        'shape': list(a.shape),
        'sha256': hashlib.sha256(c.tobytes()).hexdigest(),
    }
weights = hashlib.sha256()
for i in range(len(LAYERS)):
    weights.update(np.ascontiguousarray(loaded[f'layers.{i}.weight'].T).tobytes())
    weights.update(loaded[f'layers.{i}.bias'].tobytes())
expected['weights_sha256'] = weights.hexdigest()
with open(os.path.join(OUT, 'expected.json'), 'w') as f:
    json.dump(expected, f, indent=1)
    f.write('\n')

layers = []
for i, (out_features, in_features) in enumerate(LAYERS):
    config = {'name': f'layers_{i}', 'units': out_features, 'activation': 'linear', 'use_bias': True}
    if i == 0:
        config['batch_input_shape'] = [None, in_features]
    layers.append({'class_name': 'Dense', 'config': config})
with open(os.path.join(OUT, 'target.json'), 'w') as f:
    json.dump({'format': 'layers-model', 'modelTopology': {'class_name': 'Sequential', 'config': {'name': 'npz_deflated', 'layers': layers}}}, f, indent=1)
    f.write('\n')
