#!/usr/bin/python3
"""Writes fixtures/layers/keras/*.json: parity cases for the Keras layers src/layers adds.

There is no TensorFlow/Keras on this machine, so every expected output is computed here by an
independent NumPy implementation written from Keras' documented formulas (grouped
Conv2DTranspose, which Keras lacks, by PyTorch's ConvTranspose2d) (loops where Keras'
own definition is a loop, einsum where Keras writes einsum). Each case holds a Keras-style
topology (snake_case, as model.json / HDF5 model_config carry it), the weights in Keras' weight
order and layout, the inputs and the expected output.

With ../shared/realworld present it also writes the expected outputs of two real Keras files
(keras-attention.h5, cnn2d_32.h5) on a seeded input, computed by a NumPy forward pass of the
whole model from the file's own weights (the weights themselves are not copied).

Run: /usr/bin/python3 scripts/make_keras_layer_fixtures.py
"""
import itertools
import json
import math
import os

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
OUT_DIR = os.path.join(ROOT, 'fixtures', 'layers', 'keras')
REALWORLD = os.path.join(ROOT, '..', 'shared', 'realworld')


def as_json_array(a):
    a = np.asarray(a, dtype=np.float32)
    return {'shape': list(a.shape), 'values': [float(str(v)) for v in a.reshape(-1)]}


def write_case(name, description, topology, weights, inputs, output, tolerance=1e-5):
    case = {
        'description': description,
        'topology': topology,
        'weights': [dict(name=n, **as_json_array(w)) for n, w in weights],
        'inputs': [as_json_array(x) for x in inputs],
        'output': as_json_array(output),
        'tolerance': tolerance,
    }
    with open(os.path.join(OUT_DIR, name + '.json'), 'w') as f:
        json.dump(case, f, separators=(',', ':'))
        f.write('\n')


def sequential(name, layer, batch_input_shape):
    layer = dict(layer)
    layer['config'] = dict(layer['config'], batch_input_shape=batch_input_shape)
    return {'class_name': 'Sequential', 'config': {'name': name, 'layers': [layer]},
            'keras_version': '2.11.0', 'backend': 'tensorflow'}


def functional(name, input_shapes, layer):
    """A Model with one InputLayer per input, all fed positionally to `layer`."""
    inputs = [{'class_name': 'InputLayer', 'name': f'in{i}',
               'config': {'batch_input_shape': s, 'dtype': 'float32', 'name': f'in{i}'},
               'inbound_nodes': []} for i, s in enumerate(input_shapes)]
    layer = dict(layer, name=layer['config']['name'],
                 inbound_nodes=[[[f'in{i}', 0, 0, {}] for i in range(len(input_shapes))]])
    return {'class_name': 'Model', 'config': {
        'name': name, 'layers': inputs + [layer],
        'input_layers': [[f'in{i}', 0, 0] for i in range(len(input_shapes))],
        'output_layers': [[layer['name'], 0, 0]]},
        'keras_version': '2.11.0', 'backend': 'tensorflow'}


def rng(seed):
    return np.random.default_rng(seed)


def uniform(r, shape, scale=1.0):
    return (r.uniform(-1, 1, size=shape) * scale).astype(np.float32)


# ---------------------------------------------------------------- LocallyConnected

def conv_out(n, k, padding, s):
    out = n if padding == 'same' else n - k + 1
    return (out + s - 1) // s


def lc_reference(x, kernel, bias, kernel_size, strides, padding, data_format, implementation, activation):
    """Keras' LocallyConnected{1,2}D forward, spatial rank = len(kernel_size)."""
    nd = len(kernel_size)
    if data_format == 'channels_first':
        xl = np.moveaxis(x, 1, -1)  # work channels_last, keep patch order explicit below
    else:
        xl = x
    n, spatial, c = xl.shape[0], xl.shape[1:-1], xl.shape[-1]
    out_sp = [conv_out(spatial[d], kernel_size[d], padding, strides[d]) for d in range(nd)]
    filters = kernel.shape[-1] if implementation == 1 or data_format == 'channels_last' else kernel.shape[1 + nd]
    y = np.zeros([n] + out_sp + [filters], np.float64)
    if implementation == 1:
        # kernel[position, patch element, filter]; positions row-major; patch elements ordered
        # (k..., C) for channels_last and (C, k...) for channels_first (Keras' local_conv).
        for p, pos in enumerate(itertools.product(*[range(o) for o in out_sp])):
            window = tuple(slice(pos[d] * strides[d], pos[d] * strides[d] + kernel_size[d]) for d in range(nd))
            patch = xl[(slice(None),) + window + (slice(None),)]  # [n, k..., C]
            if data_format == 'channels_first':
                patch = np.moveaxis(patch, -1, 1)  # [n, C, k...]
            y[(slice(None),) + tuple(pos)] = patch.reshape(n, -1).astype(np.float64) @ kernel[p].astype(np.float64)
    else:
        # Keras' conv_kernel_mask: input i feeds output o along an axis when
        # i in [max(0, c - k//2), min(n, c + k - k//2)), c = o*stride (+ k//2 for 'valid').
        if data_format == 'channels_first':
            k_cl = np.moveaxis(kernel, 0, nd)                      # [in..., C, F, out...]
            k_cl = np.moveaxis(k_cl, nd + 1, -1)                   # [in..., C, out..., F]
        else:
            k_cl = kernel
        for opos in itertools.product(*[range(o) for o in out_sp]):
            ranges = []
            for d in range(nd):
                left = kernel_size[d] // 2
                centre = opos[d] * strides[d] + (left if padding == 'valid' else 0)
                ranges.append(range(max(0, centre - left), min(spatial[d], centre + kernel_size[d] - left)))
            acc = np.zeros((n, filters))
            for ipos in itertools.product(*ranges):
                acc += xl[(slice(None),) + ipos].astype(np.float64) @ k_cl[ipos + (slice(None),) + opos].astype(np.float64)
            y[(slice(None),) + tuple(opos)] = acc
    if bias is not None:
        if data_format == 'channels_first':
            # Keras' bias_add reshapes the [out..., F] bias to [1, F, out...] without transposing.
            y_cf = np.moveaxis(y, -1, 1) + bias.reshape((1, filters) + tuple(out_sp))
            y = np.moveaxis(y_cf, 1, -1)
        else:
            y = y + bias[None]
    y = ACTIVATIONS[activation](y)
    return np.moveaxis(y, -1, 1) if data_format == 'channels_first' else y


ACTIVATIONS = {'linear': lambda v: v, 'tanh': np.tanh, 'relu': lambda v: np.maximum(v, 0)}


def lc_case(name, rank, input_shape, filters, kernel_size, strides, padding, data_format, implementation,
            activation, use_bias, seed):
    r = rng(seed)
    if data_format == 'channels_first':
        c, spatial = input_shape[0], input_shape[1:]
    else:
        c, spatial = input_shape[-1], input_shape[:-1]
    out_sp = [conv_out(spatial[d], kernel_size[d], padding, strides[d]) for d in range(rank)]
    if implementation == 1:
        kshape = [int(np.prod(out_sp)), int(np.prod(kernel_size)) * c, filters]
    elif data_format == 'channels_first':
        kshape = [c] + list(spatial) + [filters] + out_sp
    else:
        kshape = list(spatial) + [c] + out_sp + [filters]
    kernel = uniform(r, kshape, 0.5)
    bias = uniform(r, out_sp + [filters], 0.5) if use_bias else None
    x = uniform(r, [2] + list(input_shape))
    y = lc_reference(x, kernel, bias, kernel_size, strides, padding, data_format, implementation, activation)
    cls = f'LocallyConnected{rank}D'
    config = {'name': 'lc', 'trainable': True, 'dtype': 'float32', 'filters': filters,
              'kernel_size': kernel_size, 'strides': strides, 'padding': padding,
              'data_format': data_format, 'activation': activation, 'use_bias': use_bias,
              'kernel_initializer': {'class_name': 'GlorotUniform', 'config': {'seed': None}},
              'bias_initializer': {'class_name': 'Zeros', 'config': {}},
              'kernel_regularizer': None, 'bias_regularizer': None, 'activity_regularizer': None,
              'kernel_constraint': None, 'bias_constraint': None, 'implementation': implementation}
    weights = [('lc/kernel', kernel)] + ([('lc/bias', bias)] if use_bias else [])
    write_case(name, f'{cls} {data_format} impl {implementation} {padding} strides {strides}',
               sequential(name, {'class_name': cls, 'config': config}, [None] + list(input_shape)),
               weights, [x], y)


# ---------------------------------------------------------------- Attention

def softmax(s, axis=-1):
    s = s - s.max(axis=axis, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=axis, keepdims=True)


def dense_attention_reference(q, v, k, scores_fn, causal):
    """Keras BaseDenseAttention: softmax(scores (masked)) @ value."""
    scores = scores_fn(q, k)
    if causal:
        tq, tv = scores.shape[-2:]
        row = np.arange(tq)[:, None]
        col = np.arange(tv)[None, :]
        scores = scores - 1e9 * (row < col)
    return softmax(scores) @ v


def attention_case(name, shapes, score_mode, use_scale, causal, seed):
    r = rng(seed)
    xs = [uniform(r, s) for s in shapes]
    q, v = xs[0], xs[1]
    k = xs[2] if len(xs) > 2 else v
    scale = np.float32(r.uniform(0.5, 1.5)) if use_scale else None
    csw = np.float32(r.uniform(0.5, 1.5)) if score_mode == 'concat' else None

    def scores(qq, kk):
        if score_mode == 'dot':
            s = np.einsum('...id,...jd->...ij', qq.astype(np.float64), kk.astype(np.float64))
            return s * scale if scale is not None else s
        t = qq[..., :, None, :].astype(np.float64) + kk[..., None, :, :]
        if scale is not None:
            t = scale * t
        return csw * np.tanh(t).sum(-1)
    y = dense_attention_reference(q, v, k, scores, causal)
    config = {'name': 'att', 'trainable': True, 'dtype': 'float32', 'use_scale': use_scale,
              'score_mode': score_mode, 'dropout': 0.0}
    if causal:
        config['causal'] = True
    weights = ([('att/scale', np.array(scale))] if use_scale else []) + \
        ([('att/concat_score_weight', np.array(csw))] if csw is not None else [])
    write_case(name, f'Attention {score_mode} scale={use_scale} causal={causal} inputs={shapes}',
               functional(name, [[None] + s[1:] for s in shapes], {'class_name': 'Attention', 'config': config}),
               weights, xs, y)


def additive_attention_case(name, shapes, use_scale, causal, seed):
    r = rng(seed)
    xs = [uniform(r, s) for s in shapes]
    q, v = xs[0], xs[1]
    k = xs[2] if len(xs) > 2 else v
    dim = shapes[1][-1]
    scale = uniform(r, [dim]) if use_scale else None

    def scores(qq, kk):
        t = np.tanh(qq[..., :, None, :].astype(np.float64) + kk[..., None, :, :])
        return (t * scale).sum(-1) if scale is not None else t.sum(-1)
    y = dense_attention_reference(q, v, k, scores, causal)
    config = {'name': 'att', 'trainable': True, 'dtype': 'float32', 'use_scale': use_scale, 'dropout': 0.0}
    if causal:
        config['causal'] = True
    write_case(name, f'AdditiveAttention scale={use_scale} causal={causal} inputs={shapes}',
               functional(name, [[None] + s[1:] for s in shapes], {'class_name': 'AdditiveAttention', 'config': config}),
               [('att/scale', scale)] if use_scale else [], xs, y)


# ---------------------------------------------------------------- MultiHeadAttention

def mha_reference(query, value, key, w, num_heads, key_dim, use_bias, causal):
    """Keras MultiHeadAttention with default attention_axes (all axes between batch and features)."""
    q = np.einsum('b...d,dnh->b...nh', query.astype(np.float64), w['query/kernel'])
    k = np.einsum('b...d,dnh->b...nh', key.astype(np.float64), w['key/kernel'])
    v = np.einsum('b...d,dnh->b...nh', value.astype(np.float64), w['value/kernel'])
    if use_bias:
        q, k, v = q + w['query/bias'], k + w['key/bias'], v + w['value/bias']
    q = q / math.sqrt(key_dim)
    batch = query.shape[0]
    tq_shape = query.shape[1:-1]
    qf = q.reshape(batch, -1, num_heads, key_dim)
    kf = k.reshape(batch, -1, num_heads, key_dim)
    vf = v.reshape(batch, kf.shape[1], num_heads, -1)
    scores = np.einsum('bsnh,btnh->bnts', kf, qf)
    if causal:
        tq, ts = scores.shape[-2:]
        scores = scores + -1e9 * (np.arange(tq)[:, None] < np.arange(ts)[None, :])
    weights = softmax(scores)
    out = np.einsum('bnts,bsnh->btnh', weights, vf)
    out = out.reshape((batch,) + tq_shape + out.shape[-2:])
    y = np.tensordot(out, w['attention_output/kernel'], axes=([-2, -1], [0, 1]))
    if use_bias:
        y = y + w['attention_output/bias']
    return y


def mha_case(name, shapes, num_heads, key_dim, value_dim, output_shape, use_bias, causal, seed, layout='keras2'):
    r = rng(seed)
    xs = [uniform(r, s) for s in shapes]
    query, value = xs[0], xs[1]
    key = xs[2] if len(xs) > 2 else value
    vd = value_dim or key_dim
    out_dims = list(output_shape) if isinstance(output_shape, (list, tuple)) else \
        [output_shape] if output_shape is not None else [shapes[0][-1]]
    w = {}
    order = []

    def add(n, shape):
        w[n] = uniform(r, shape, 0.5).astype(np.float64)
        order.append(n)
    add('query/kernel', [shapes[0][-1], num_heads, key_dim])
    if use_bias:
        add('query/bias', [num_heads, key_dim])
    add('key/kernel', [key.shape[-1], num_heads, key_dim])
    if use_bias:
        add('key/bias', [num_heads, key_dim])
    add('value/kernel', [value.shape[-1], num_heads, vd])
    if use_bias:
        add('value/bias', [num_heads, vd])
    add('attention_output/kernel', [num_heads, vd] + out_dims)
    if use_bias:
        add('attention_output/bias', out_dims)
    y = mha_reference(query, value, key, w, num_heads, key_dim, use_bias, causal)
    config = {'name': 'mha', 'trainable': True, 'dtype': 'float32', 'num_heads': num_heads,
              'key_dim': key_dim, 'value_dim': value_dim, 'dropout': 0.0, 'use_bias': use_bias,
              'output_shape': output_shape, 'attention_axes': None,
              'kernel_initializer': {'class_name': 'GlorotUniform', 'config': {'seed': None}},
              'bias_initializer': {'class_name': 'Zeros', 'config': {}},
              'kernel_regularizer': None, 'bias_regularizer': None, 'activity_regularizer': None,
              'kernel_constraint': None, 'bias_constraint': None}
    layer = {'class_name': 'MultiHeadAttention', 'config': config}
    topology = functional(name, [[None] + s[1:] for s in shapes], layer)
    if causal:
        # Keras passes use_causal_mask at call time; tfjs's predict() does not replay call
        # arguments, so graft's translation moves it into the layer config (as here).
        topology['config']['layers'][-1]['config']['use_causal_mask'] = True
    write_case(name, f'MultiHeadAttention heads={num_heads} key_dim={key_dim} value_dim={value_dim} '
               f'output_shape={output_shape} bias={use_bias} causal={causal} inputs={shapes}',
               topology, [(f'mha/{n}', w[n]) for n in order], xs, y)


# ---------------------------------------------------------------- Normalization

def unit_norm_case(name, shape, axis, seed):
    r = rng(seed)
    x = uniform(r, shape)
    x[0, ...] *= 1e-4  # small norms too
    axes = tuple(axis) if isinstance(axis, list) else (axis,)
    x64 = x.astype(np.float64)
    # tf.math.l2_normalize: x / sqrt(max(sum(x^2), epsilon)), epsilon 1e-12
    y = x64 / np.sqrt(np.maximum((x64 ** 2).sum(axis=axes, keepdims=True), 1e-12))
    config = {'name': 'un', 'trainable': True, 'dtype': 'float32', 'axis': axis}
    write_case(name, f'UnitNormalization axis={axis} on {shape}',
               sequential(name, {'class_name': 'UnitNormalization', 'config': config}, [None] + shape[1:]),
               [], [x], y)


def group_norm_case(name, shape, groups, axis, epsilon, center, scale, seed):
    r = rng(seed)
    x = uniform(r, shape, 2.0) + 0.5
    ax = axis % len(shape)
    c = shape[ax]
    gamma = uniform(r, [c]) + 1.0
    beta = uniform(r, [c])
    # Per sample and group: mean/biased variance over the group's channels and all other axes.
    x64 = x.astype(np.float64)
    y = np.empty_like(x64)
    per = c // groups
    for b in range(shape[0]):
        for g in range(groups):
            idx = [b] + [slice(None)] * (len(shape) - 1)
            idx[ax] = slice(g * per, (g + 1) * per)
            block = x64[tuple(idx)]
            y[tuple(idx)] = (block - block.mean()) / np.sqrt(block.var() + epsilon)
    bshape = [1] * len(shape)
    bshape[ax] = c
    if scale:
        y = y * gamma.reshape(bshape)
    if center:
        y = y + beta.reshape(bshape)
    config = {'name': 'gn', 'trainable': True, 'dtype': 'float32', 'groups': groups, 'axis': axis,
              'epsilon': epsilon, 'center': center, 'scale': scale,
              'beta_initializer': {'class_name': 'Zeros', 'config': {}},
              'gamma_initializer': {'class_name': 'Ones', 'config': {}},
              'beta_regularizer': None, 'gamma_regularizer': None, 'beta_constraint': None,
              'gamma_constraint': None}
    weights = ([('gn/gamma', gamma)] if scale else []) + ([('gn/beta', beta)] if center else [])
    write_case(name, f'GroupNormalization groups={groups} axis={axis} eps={epsilon} on {shape}',
               sequential(name, {'class_name': 'GroupNormalization', 'config': config}, [None] + shape[1:]),
               weights, [x], y)


# ---------------------------------------------------------------- real Keras files

def write_realworld(name, description, source, x, y):
    case = {'description': description, 'source': source, 'inputs': [as_json_array(x)], 'output': as_json_array(y)}
    with open(os.path.join(OUT_DIR, name + '.json'), 'w') as f:
        json.dump(case, f, separators=(',', ':'))
        f.write('\n')


def h5_weights(f, layer):
    import h5py
    g = f['model_weights'][layer]
    names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs['weight_names']]
    return {n.split('/')[-1].split(':')[0]: np.array(g[n]) for n in names}


def realworld_attention():
    import h5py
    rel = 'keras2_h5/dl4j/weights/keras-attention.h5'
    path = os.path.join(REALWORLD, rel)
    if not os.path.exists(path):
        return
    with h5py.File(path, 'r') as f:
        d, d1, o = h5_weights(f, 'dense'), h5_weights(f, 'dense_1'), h5_weights(f, 'outputs')
    x = rng(17).uniform(-1, 1, size=(8, 22)).astype(np.float32)
    relu = lambda v: np.maximum(v, 0)
    h = relu(x.astype(np.float64) @ d['kernel'] + d['bias'])
    # Attention([h, h]) on rank-2 tensors: Keras' matmul(q, k^T) attends across the batch.
    att = softmax(h @ h.T) @ h
    z = relu(np.concatenate([h, att], -1) @ d1['kernel'] + d1['bias'])
    y = relu(z @ o['kernel'] + o['bias'])
    write_realworld('realworld_keras_attention', 'keras-attention.h5: Dense-relu, Attention([h, h]) over the batch, '
                    'Concatenate, Dense-relu, Dense-relu; NumPy forward from the file\'s weights', rel, x, y)


def realworld_cnn2d_32():
    import h5py
    rel = 'keras2_h5/dl4j/tfkeras/cnn2d_32.h5'
    path = os.path.join(REALWORLD, rel)
    if not os.path.exists(path):
        return
    with h5py.File(path, 'r') as f:
        l0, l1 = h5_weights(f, 'locally_connected2d'), h5_weights(f, 'locally_connected2d_1')
    x = rng(32).uniform(-1, 1, size=(2, 3, 10, 10)).astype(np.float32)

    def tail(t):  # SpatialDropout2D (identity), ZeroPadding2D 3, UpSampling2D 2, Cropping2D 1, MaxPool 2 — channels_last
        t = np.pad(t, ((0, 0), (3, 3), (3, 3), (0, 0)))
        t = t.repeat(2, axis=1).repeat(2, axis=2)
        t = t[:, 1:-1, 1:-1, :]
        n, h, w, c = t.shape
        t = t[:, :h // 2 * 2, :w // 2 * 2, :].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
        return t
    t = lc_reference(x, l0['kernel'], l0['bias'], [3, 3], [1, 1], 'valid', 'channels_first', 1, 'tanh')
    t = tail(t)
    t = lc_reference(t, l1['kernel'], l1['bias'], [3, 3], [1, 1], 'valid', 'channels_first', 1, 'tanh')
    t = tail(t)
    y = t.max(axis=(1, 2))  # GlobalMaxPooling2D, channels_last
    write_realworld('realworld_cnn2d_32', 'cnn2d_32.h5: LocallyConnected2D (channels_first) twice with the '
                    'channels_last padding/upsampling/cropping/pooling between; NumPy forward from the file\'s weights', rel, x, y)


# ---------------------------------------------------------------- whole files, as Keras writes them

FILE_DIR = os.path.join(OUT_DIR, 'files')


def bytes_list(names):
    return np.array([n.encode('utf8') for n in names])


def write_keras2_h5(path, model_config, layer_weights):
    """A Keras 2 model.save() HDF5: model_config attribute, model_weights/<layer>/<layer>/<w>:0."""
    import h5py
    with h5py.File(path, 'w') as f:
        f.attrs['keras_version'] = b'2.11.0'
        f.attrs['backend'] = b'tensorflow'
        f.attrs['model_config'] = json.dumps(model_config).encode('utf8')
        g = f.create_group('model_weights')
        g.attrs['keras_version'] = b'2.11.0'
        g.attrs['backend'] = b'tensorflow'
        g.attrs['layer_names'] = bytes_list([l['config']['name'] for l in model_config['config']['layers']])
        for layer in model_config['config']['layers']:
            name = layer['config']['name']
            lg = g.create_group(name)
            weights = layer_weights.get(name, [])
            lg.attrs['weight_names'] = bytes_list([f'{name}/{w}:0' for w, _ in weights]) if weights else np.array([], dtype='S1')
            for w, value in weights:
                lg.create_dataset(f'{name}/{w}:0', data=np.asarray(value, np.float32))


def keras3_object(module, class_name, config, name=None, inbound=None, build_shapes=None):
    obj = {'module': module, 'class_name': class_name, 'config': config, 'registered_name': None}
    if build_shapes is not None:
        obj['build_config'] = {'input_shape': build_shapes}
    if name is not None:
        obj['name'] = name
    if inbound is not None:
        obj['inbound_nodes'] = inbound
    return obj


def keras3_tensor(layer, shape):
    return {'class_name': '__keras_tensor__', 'config': {'shape': shape, 'dtype': 'float32', 'keras_history': [layer, 0, 0]}}


def keras3_initializer(name):
    return {'module': 'keras.initializers', 'class_name': name, 'config': {'seed': None} if name == 'GlorotUniform' else {}, 'registered_name': None}


POLICY = {'module': 'keras', 'class_name': 'DTypePolicy', 'config': {'name': 'float32'}, 'registered_name': None}


def write_keras3_zip(path, model_config, weight_datasets):
    """A Keras 3 .keras zip: config.json, metadata.json, model.weights.h5 (layers/<group>/vars/<i>)."""
    import h5py
    import io
    import zipfile
    buf = io.BytesIO()
    with h5py.File(buf, 'w') as f:
        f.create_group('vars')
        for dataset_path, value in weight_datasets:
            f.create_dataset(dataset_path, data=np.asarray(value, np.float32))
        f.create_group('optimizer/vars')
    with zipfile.ZipFile(path, 'w') as z:
        # A fixed timestamp keeps the archive byte-identical between runs.
        for member, data in [('metadata.json', json.dumps({'keras_version': '3.4.1', 'date_saved': '2025-01-01@00:00:00'})),
                             ('config.json', json.dumps(model_config)), ('model.weights.h5', buf.getvalue())]:
            z.writestr(zipfile.ZipInfo(member, date_time=(2025, 1, 1, 0, 0, 0)), data)


def keras3_functional(name, inputs, layer):
    layers = [keras3_object('keras.layers', 'InputLayer',
                            {'batch_shape': shape, 'dtype': 'float32', 'sparse': False, 'name': n}, n, [])
              for n, shape in inputs]
    return keras3_object('keras.src.models.functional', 'Functional', {
        'name': name, 'trainable': True, 'layers': layers + [layer],
        'input_layers': [[n, 0, 0] for n, _ in inputs] if len(inputs) > 1 else [inputs[0][0], 0, 0],
        'output_layers': [layer['name'], 0, 0]})


def write_expected(name, description, inputs, output):
    with open(os.path.join(FILE_DIR, name + '.expected.json'), 'w') as f:
        json.dump({'description': description, 'inputs': [as_json_array(x) for x in inputs],
                   'output': as_json_array(output)}, f, separators=(',', ':'))
        f.write('\n')


def file_cases():
    os.makedirs(FILE_DIR, exist_ok=True)
    r = rng(50)

    # Keras 2: MultiHeadAttention called as mha(q, value=v): the value arrives as a call kwarg.
    q, v = uniform(r, [2, 3, 6]), uniform(r, [2, 4, 5])
    w = {'query/kernel': uniform(r, [6, 2, 3], 0.5), 'query/bias': uniform(r, [2, 3], 0.5),
         'key/kernel': uniform(r, [5, 2, 3], 0.5), 'key/bias': uniform(r, [2, 3], 0.5),
         'value/kernel': uniform(r, [5, 2, 4], 0.5), 'value/bias': uniform(r, [2, 4], 0.5),
         'attention_output/kernel': uniform(r, [2, 4, 6], 0.5), 'attention_output/bias': uniform(r, [6], 0.5)}
    w64 = {k: x.astype(np.float64) for k, x in w.items()}
    y = mha_reference(q, v, v, w64, 2, 3, True, True)
    mha_cfg = {'name': 'mha', 'trainable': True, 'dtype': 'float32', 'num_heads': 2, 'key_dim': 3,
               'value_dim': 4, 'dropout': 0.1, 'use_bias': True, 'output_shape': None, 'attention_axes': [1],
               'kernel_initializer': {'class_name': 'GlorotUniform', 'config': {'seed': None}},
               'bias_initializer': {'class_name': 'Zeros', 'config': {}},
               'kernel_regularizer': None, 'bias_regularizer': None, 'activity_regularizer': None,
               'kernel_constraint': None, 'bias_constraint': None,
               'query_shape': [None, 3, 6], 'key_shape': [None, 4, 5], 'value_shape': [None, 4, 5]}
    config = {'class_name': 'Functional', 'config': {'name': 'model', 'layers': [
        {'class_name': 'InputLayer', 'config': {'batch_input_shape': [None, 3, 6], 'dtype': 'float32', 'name': 'q'}, 'name': 'q', 'inbound_nodes': []},
        {'class_name': 'InputLayer', 'config': {'batch_input_shape': [None, 4, 5], 'dtype': 'float32', 'name': 'v'}, 'name': 'v', 'inbound_nodes': []},
        {'class_name': 'MultiHeadAttention', 'config': mha_cfg, 'name': 'mha',
         'inbound_nodes': [[['q', 0, 0, {'value': ['v', 0, 0], 'use_causal_mask': True}]]]}],
        'input_layers': [['q', 0, 0], ['v', 0, 0]], 'output_layers': [['mha', 0, 0]]},
        'keras_version': '2.11.0', 'backend': 'tensorflow'}
    order = ['query/kernel', 'query/bias', 'key/kernel', 'key/bias', 'value/kernel', 'value/bias',
             'attention_output/kernel', 'attention_output/bias']
    write_keras2_h5(os.path.join(FILE_DIR, 'keras2_mha.h5'), config, {'mha': [(n, w[n]) for n in order]})
    write_expected('keras2_mha', 'Keras 2 MultiHeadAttention(q, value=v, use_causal_mask=True), NumPy', [q, v], y)

    # Keras 3: the same layer called as mha(q, v, key=k): value positional, key a kwarg.
    k = uniform(r, [2, 4, 7])
    w['key/kernel'] = uniform(r, [7, 2, 3], 0.5)
    w64 = {kk: x.astype(np.float64) for kk, x in w.items()}
    y = mha_reference(q, v, k, w64, 2, 3, True, False)
    cfg3 = {'name': 'mha', 'trainable': True, 'dtype': POLICY, 'num_heads': 2, 'key_dim': 3, 'value_dim': 4,
            'dropout': 0.0, 'use_bias': True, 'output_shape': None, 'attention_axes': None,
            'kernel_initializer': keras3_initializer('GlorotUniform'), 'bias_initializer': keras3_initializer('Zeros'),
            'kernel_regularizer': None, 'bias_regularizer': None, 'activity_regularizer': None,
            'kernel_constraint': None, 'bias_constraint': None, 'seed': None}
    layer = keras3_object('keras.layers', 'MultiHeadAttention', cfg3, 'mha', [{
        'args': [keras3_tensor('q', [None, 3, 6]), keras3_tensor('v', [None, 4, 5])],
        'kwargs': {'key': keras3_tensor('k', [None, 4, 7]), 'use_causal_mask': False}}])
    model = keras3_functional('model', [('q', [None, 3, 6]), ('v', [None, 4, 5]), ('k', [None, 4, 7])], layer)
    sub = {'query': 'query_dense', 'key': 'key_dense', 'value': 'value_dense', 'attention_output': 'output_dense'}
    datasets = []
    for part, group in sub.items():
        datasets.append((f'layers/multi_head_attention/{group}/vars/0', w[f'{part}/kernel']))
        datasets.append((f'layers/multi_head_attention/{group}/vars/1', w[f'{part}/bias']))
    write_keras3_zip(os.path.join(FILE_DIR, 'keras3_mha.keras'), model, datasets)
    write_expected('keras3_mha', 'Keras 3 MultiHeadAttention(q, v, key=k), NumPy', [q, v, k], y)

    # Keras 2: self-attention Attention([x, x]) (causal, scaled) then GroupNormalization; Keras 3:
    # AdditiveAttention([q, v]) then GroupNormalization and UnitNormalization.
    x = uniform(r, [3, 4, 6])
    scale = np.float32(1.3)
    att = dense_attention_reference(x, x, x, lambda a, b: scale * np.einsum('bid,bjd->bij', a.astype(np.float64), b), True)
    gamma, beta = uniform(r, [6]) + 1, uniform(r, [6])

    def group_norm(t, groups, eps, gamma, beta):
        n, length, c = t.shape
        g = t.reshape(n, length, groups, c // groups)
        mean = g.mean(axis=(1, 3), keepdims=True)
        var = g.var(axis=(1, 3), keepdims=True)
        return ((g - mean) / np.sqrt(var + eps)).reshape(t.shape) * gamma + beta
    y = group_norm(att, 3, 1e-3, gamma, beta)
    config = {'class_name': 'Functional', 'config': {'name': 'model', 'layers': [
        {'class_name': 'InputLayer', 'config': {'batch_input_shape': [None, 4, 6], 'dtype': 'float32', 'name': 'x'}, 'name': 'x', 'inbound_nodes': []},
        {'class_name': 'Attention', 'config': {'name': 'attention', 'trainable': True, 'dtype': 'float32', 'use_scale': True, 'score_mode': 'dot', 'dropout': 0.0},
         'name': 'attention', 'inbound_nodes': [[['x', 0, 0, {'use_causal_mask': True}], ['x', 0, 0, {'use_causal_mask': True}]]]},
        {'class_name': 'GroupNormalization', 'config': {'name': 'gn', 'trainable': True, 'dtype': 'float32', 'groups': 3, 'axis': -1, 'epsilon': 0.001, 'center': True, 'scale': True,
                                                         'beta_initializer': {'class_name': 'Zeros', 'config': {}}, 'gamma_initializer': {'class_name': 'Ones', 'config': {}},
                                                         'beta_regularizer': None, 'gamma_regularizer': None, 'beta_constraint': None, 'gamma_constraint': None},
         'name': 'gn', 'inbound_nodes': [[['attention', 0, 0, {}]]]}],
        'input_layers': [['x', 0, 0]], 'output_layers': [['gn', 0, 0]]},
        'keras_version': '2.11.0', 'backend': 'tensorflow'}
    write_keras2_h5(os.path.join(FILE_DIR, 'keras2_self_attention_groupnorm.h5'), config,
                    {'attention': [('scale', np.array(scale))], 'gn': [('gamma', gamma), ('beta', beta)]})
    write_expected('keras2_self_attention_groupnorm', 'Keras 2 Attention([x, x], use_causal_mask=True) -> GroupNormalization(3), NumPy', [x], y)

    q, v = uniform(r, [2, 3, 4]), uniform(r, [2, 5, 4])
    add_scale = uniform(r, [4])
    att = dense_attention_reference(q, v, v, lambda a, b: (np.tanh(a[:, :, None, :].astype(np.float64) + b[:, None, :, :]) * add_scale).sum(-1), False)
    gamma, beta = uniform(r, [4]) + 1, uniform(r, [4])
    gn = group_norm(att, 2, 1e-3, gamma, beta)
    y = gn / np.sqrt(np.maximum((gn ** 2).sum(-1, keepdims=True), 1e-12))
    add_layer = keras3_object('keras.layers', 'AdditiveAttention', {'name': 'additive_attention', 'trainable': True, 'dtype': POLICY, 'use_scale': True, 'dropout': 0.0},
                              'additive_attention', [{'args': [[keras3_tensor('q', [None, 3, 4]), keras3_tensor('v', [None, 5, 4])]], 'kwargs': {}}])
    gn_layer = keras3_object('keras.layers', 'GroupNormalization', {'name': 'group_normalization', 'trainable': True, 'dtype': POLICY, 'groups': 2, 'axis': -1, 'epsilon': 0.001,
                                                                     'center': True, 'scale': True, 'beta_initializer': keras3_initializer('Zeros'), 'gamma_initializer': keras3_initializer('Ones'),
                                                                     'beta_regularizer': None, 'gamma_regularizer': None, 'beta_constraint': None, 'gamma_constraint': None},
                             'group_normalization', [{'args': [keras3_tensor('additive_attention', [None, 3, 4])], 'kwargs': {}}])
    un_layer = keras3_object('keras.layers', 'UnitNormalization', {'name': 'unit_normalization', 'trainable': True, 'dtype': POLICY, 'axis': -1},
                             'unit_normalization', [{'args': [keras3_tensor('group_normalization', [None, 3, 4])], 'kwargs': {}}])
    model = keras3_functional('model', [('q', [None, 3, 4]), ('v', [None, 5, 4])], un_layer)
    model['config']['layers'][-1:] = [add_layer, gn_layer, un_layer]
    write_keras3_zip(os.path.join(FILE_DIR, 'keras3_additive_groupnorm_unitnorm.keras'), model, [
        ('layers/additive_attention/vars/0', add_scale),
        ('layers/group_normalization/vars/0', gamma), ('layers/group_normalization/vars/1', beta)])
    write_expected('keras3_additive_groupnorm_unitnorm', 'Keras 3 AdditiveAttention([q, v]) -> GroupNormalization(2) -> UnitNormalization, NumPy', [q, v], y)


# ---------------------------------------------------------------- Conv2DTranspose with groups (PyTorch)

def conv_transpose_groups_case(name, in_shape, filters, kernel, stride, groups, padding, seed):
    """Keras has no grouped Conv2DTranspose; PyTorch's ConvTranspose2d(groups) computes the output.
    'same' is TensorFlow's: the full ('valid') output cropped by max(k - s, 0) // 2 at the start."""
    import torch
    torch.manual_seed(seed)
    n, h, w, c = in_shape
    conv = torch.nn.ConvTranspose2d(c, filters, kernel, stride=stride, groups=groups, bias=True)
    x = uniform(rng(seed), in_shape)
    with torch.no_grad():
        full = conv(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    if padding == 'same':
        before = max(kernel - stride, 0) // 2
        y = full[:, before:before + h * stride, before:before + w * stride, :]
    else:
        y = full
    kernel_keras = conv.weight.detach().numpy().transpose(2, 3, 1, 0)  # [in, out/g, kh, kw] -> [kh, kw, out/g, in]
    config = {'name': 'ct', 'trainable': True, 'dtype': 'float32', 'filters': filters,
              'kernel_size': [kernel, kernel], 'strides': [stride, stride], 'padding': padding,
              'data_format': 'channels_last', 'dilation_rate': [1, 1], 'activation': 'linear',
              'use_bias': True, 'groups': groups,
              'kernel_initializer': {'class_name': 'GlorotUniform', 'config': {'seed': None}},
              'bias_initializer': {'class_name': 'Zeros', 'config': {}},
              'kernel_regularizer': None, 'bias_regularizer': None, 'activity_regularizer': None,
              'kernel_constraint': None, 'bias_constraint': None}
    write_case(name, f'Conv2DTranspose groups={groups} {padding} k{kernel} s{stride} vs PyTorch ConvTranspose2d',
               sequential(name, {'class_name': 'Conv2DTranspose', 'config': config}, [None, h, w, c]),
               [('ct/kernel', kernel_keras), ('ct/bias', conv.bias.detach().numpy())], [x], y)



def torch_grouped_conv_transpose_files():
    """A PyTorch state dict with a grouped ConvTranspose2d and the tfjs target graft grafts it onto."""
    import torch
    out = os.path.join(OUT_DIR, 'torch_grouped_conv_transpose')
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(70)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.up = torch.nn.ConvTranspose2d(6, 4, 3, stride=2, groups=2)

        def forward(self, x):
            return torch.tanh(self.up(x))
    net = Net().eval()
    torch.save(net.state_dict(), os.path.join(out, 'model.pt'))
    x = uniform(rng(70), [2, 6, 3, 4])  # NCHW, as PyTorch takes it
    with torch.no_grad():
        y = net(torch.from_numpy(x)).numpy()
    np.save(os.path.join(out, 'input_nhwc.npy'), x.transpose(0, 2, 3, 1))
    np.save(os.path.join(out, 'output_nhwc.npy'), y.transpose(0, 2, 3, 1))
    layer = {'class_name': 'Conv2DTranspose', 'config': {
        'name': 'up', 'trainable': True, 'dtype': 'float32', 'filters': 4, 'kernel_size': [3, 3], 'strides': [2, 2],
        'padding': 'valid', 'data_format': 'channels_last', 'dilation_rate': [1, 1], 'activation': 'tanh',
        'use_bias': True, 'groups': 2, 'batch_input_shape': [None, 3, 4, 6]}}
    with open(os.path.join(out, 'target.json'), 'w') as f:
        json.dump({'format': 'layers-model', 'generatedBy': 'scripts/make_keras_layer_fixtures.py',
                   'modelTopology': {'class_name': 'Sequential', 'config': {'name': 'up', 'layers': [layer]},
                                     'keras_version': 'tfjs-layers 4.22.0', 'backend': 'tensor_flow.js'}}, f, indent=1)



def attention_masked_self_case(name, seed):
    """Embedding(mask_zero=True) -> Attention([e, e]): Keras masks padded keys (scores - 1e9) and
    zeroes padded queries' outputs. The topology is graft's translation ([e, e] passed once)."""
    r = rng(seed)
    vocab, dim = 7, 4
    table = uniform(r, [vocab, dim])
    ids = np.array([[3, 1, 4, 0, 0], [2, 6, 5, 1, 0]], dtype=np.float32)
    e = table[ids.astype(int)].astype(np.float64)
    mask = (ids != 0).astype(np.float64)
    scores = np.einsum('bid,bjd->bij', e, e) - 1e9 * (1 - mask[:, None, :])
    y = (softmax(scores) @ e) * mask[:, :, None]
    topology = {'class_name': 'Model', 'config': {'name': name, 'layers': [
        {'class_name': 'InputLayer', 'name': 'ids', 'config': {'batch_input_shape': [None, 5], 'dtype': 'float32', 'name': 'ids'}, 'inbound_nodes': []},
        {'class_name': 'Embedding', 'name': 'emb', 'config': {'name': 'emb', 'input_dim': vocab, 'output_dim': dim, 'mask_zero': True},
         'inbound_nodes': [[['ids', 0, 0, {}]]]},
        {'class_name': 'Attention', 'name': 'att', 'config': {'name': 'att', 'use_scale': False, 'score_mode': 'dot', 'dropout': 0.0},
         'inbound_nodes': [[['emb', 0, 0, {}]]]}],
        'input_layers': [['ids', 0, 0]], 'output_layers': [['att', 0, 0]]},
        'keras_version': '2.11.0', 'backend': 'tensorflow'}
    write_case(name, 'Embedding(mask_zero) -> Attention([e, e]): padded keys masked, padded queries zeroed',
               topology, [('emb/embeddings', table)], [ids], y)



def same_pad(x, k):
    """TensorFlow 'same' padding for stride 1: (k-1)//2 before, the rest after, on axes 1..n."""
    pads = [(0, 0)] + [((kk - 1) // 2, kk - 1 - (kk - 1) // 2) for kk in k] + [(0, 0)]
    return np.pad(x, pads)


def conv_same(x, kernel, bias, depthwise=False):
    """Stride-1 'same' convolution (cross-correlation), channels_last, any spatial rank."""
    k = kernel.shape[:-2]
    xp = same_pad(x.astype(np.float64), k)
    spatial = x.shape[1:-1]
    out_c = kernel.shape[-2] * kernel.shape[-1] if depthwise else kernel.shape[-1]
    y = np.zeros(x.shape[:-1] + (out_c,))
    for offset in itertools.product(*[range(kk) for kk in k]):
        window = xp[(slice(None),) + tuple(slice(o, o + n) for o, n in zip(offset, spatial)) + (slice(None),)]
        w = kernel[offset].astype(np.float64)
        if depthwise:  # [C, multiplier]: channel c feeds outputs c*m .. c*m+m-1
            y += (window[..., :, None] * w).reshape(window.shape[:-1] + (out_c,))
        else:
            y += window @ w
    return y + bias


def conv_transpose_same(x, kernel, bias):
    """Stride-1 'same' Conv2DTranspose, kernel [kh, kw, filters, in]: the full output cropped by (k-1)//2."""
    n, h, w, _ = x.shape
    kh, kw, f, _ = kernel.shape
    full = np.zeros((n, h + kh - 1, w + kw - 1, f))
    for a in range(kh):
        for b in range(kw):
            full[:, a:a + h, b:b + w, :] += x.astype(np.float64) @ kernel[a, b].T.astype(np.float64)
    top, left = (kh - 1) // 2, (kw - 1) // 2
    return full[:, top:top + h, left:left + w, :] + bias


def max_pool(x, size):
    """'valid' max pooling with stride = size, channels_last, any spatial rank."""
    nd = len(size)
    spatial = [d // s for d, s in zip(x.shape[1:-1], size)]
    x = x[(slice(None),) + tuple(slice(0, d * s) for d, s in zip(spatial, size)) + (slice(None),)]
    shape = [x.shape[0]]
    for d, s in zip(spatial, size):
        shape += [d, s]
    shape.append(x.shape[-1])
    return x.reshape(shape).max(axis=tuple(2 + 2 * i for i in range(nd)))


def pad_up_crop_pool(t):
    """ZeroPadding2D 3, UpSampling2D 2 (nearest), Cropping2D 1, MaxPooling2D 2, channels_last."""
    t = np.pad(t, ((0, 0), (3, 3), (3, 3), (0, 0)))
    t = t.repeat(2, axis=1).repeat(2, axis=2)[:, 1:-1, 1:-1, :]
    return max_pool(t, (2, 2))


def realworld_dl4j_cnns():
    """cnn2d_100 (DepthwiseConv2D), cnn2d_112 (Conv2DTranspose) and cnn3d_16 (Conv3D, Cropping3D):
    their SpatialDropout layers are the identity at inference."""
    import h5py
    cases = [('cnn2d_100', ['depthwise_conv2d_24', 'depthwise_conv2d_25'], (2, 10, 10, 3)),
             ('cnn2d_112', ['conv2d_transpose_24', 'conv2d_transpose_25'], (2, 10, 10, 3)),
             ('cnn3d_16', ['conv3d_24', 'conv3d_25'], (2, 10, 10, 10, 3))]
    for name, layer_names, shape in cases:
        rel = f'keras2_h5/dl4j/tfkeras/{name}.h5'
        path = os.path.join(REALWORLD, rel)
        if not os.path.exists(path):
            continue
        with h5py.File(path, 'r') as f:
            ws = [h5_weights(f, n) for n in layer_names]
        x = rng(len(name) + shape[-1] + len(shape)).uniform(-1, 1, size=shape).astype(np.float32)
        t = x
        for w in ws:
            if name == 'cnn2d_100':
                t = np.tanh(conv_same(t, w['depthwise_kernel'], w['bias'], depthwise=True))
                t = pad_up_crop_pool(t)
            elif name == 'cnn2d_112':
                t = np.tanh(conv_transpose_same(t, w['kernel'], w['bias']))
                t = pad_up_crop_pool(t)
            else:
                t = np.tanh(conv_same(t, w['kernel'], w['bias']))
                t = t[:, 1:-1, 1:-1, 1:-1, :]  # Cropping3D 1
                t = max_pool(t, (2, 2, 2))
        y = t.max(axis=(1, 2)) if name != 'cnn3d_16' else t  # GlobalMaxPooling2D for the 2-D ones
        write_realworld(f'realworld_{name}', f"{name}.h5: NumPy forward pass from the file's weights "
                        '(SpatialDropout is the identity at inference)', rel, x, y)



def cropping3d_case(name, shape, cropping, data_format, seed):
    x = uniform(rng(seed), shape)
    axes = [2, 3, 4] if data_format == 'channels_first' else [1, 2, 3]
    index = [slice(None)] * 5
    for a, (before, after) in zip(axes, cropping):
        index[a] = slice(before, shape[a] - after)
    config = {'name': 'crop', 'trainable': True, 'dtype': 'float32', 'cropping': cropping, 'data_format': data_format}
    write_case(name, f'Cropping3D {cropping} {data_format} on {shape}',
               sequential(name, {'class_name': 'Cropping3D', 'config': config}, [None] + shape[1:]), [], [x], x[tuple(index)])


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    lc_case('lc2d_last_impl1_stride', 2, [5, 6, 3], 4, [3, 2], [2, 1], 'valid', 'channels_last', 1, 'tanh', True, 1)
    lc_case('lc2d_first_impl1', 2, [3, 5, 4], 2, [2, 2], [1, 1], 'valid', 'channels_first', 1, 'linear', True, 2)
    lc_case('lc2d_last_impl2_same', 2, [4, 5, 2], 3, [3, 3], [1, 2], 'same', 'channels_last', 2, 'relu', True, 3)
    lc_case('lc2d_first_impl2_valid', 2, [2, 5, 4], 3, [2, 3], [2, 1], 'valid', 'channels_first', 2, 'linear', True, 4)
    lc_case('lc1d_last_impl1', 1, [7, 3], 4, [3], [2], 'valid', 'channels_last', 1, 'linear', True, 5)
    lc_case('lc1d_first_impl1_nobias', 1, [3, 6], 2, [2], [1], 'valid', 'channels_first', 1, 'tanh', False, 6)
    lc_case('lc1d_last_impl2_same', 1, [6, 2], 3, [3], [2], 'same', 'channels_last', 2, 'linear', True, 7)

    attention_case('attention_dot', [[2, 3, 4], [2, 5, 4]], 'dot', False, False, 10)
    attention_case('attention_dot_scale_key', [[2, 3, 4], [2, 5, 6], [2, 5, 4]], 'dot', True, False, 11)
    attention_case('attention_concat_scale', [[2, 3, 4], [2, 5, 4]], 'concat', True, False, 12)
    attention_case('attention_dot_causal', [[2, 4, 3], [2, 4, 3]], 'dot', False, True, 13)
    attention_case('attention_rank2_batch', [[4, 5], [4, 5]], 'dot', False, False, 14)
    attention_masked_self_case('attention_self_masked', 18)
    additive_attention_case('additive_attention_scale', [[2, 3, 4], [2, 5, 4]], True, False, 15)
    additive_attention_case('additive_attention_noscale_key_causal', [[2, 4, 3], [2, 4, 5], [2, 4, 3]], False, True, 16)

    mha_case('mha_self', [[2, 4, 6], [2, 4, 6]], 2, 3, None, None, True, False, 20)
    mha_case('mha_cross_key_valuedim_outshape', [[2, 3, 5], [2, 4, 6], [2, 4, 7]], 3, 2, 4, 8, True, False, 21)
    mha_case('mha_causal_nobias', [[2, 5, 4], [2, 5, 4]], 2, 4, None, None, False, True, 22)
    mha_case('mha_rank4', [[2, 2, 3, 4], [2, 2, 2, 4]], 2, 3, None, None, True, False, 23)

    unit_norm_case('unit_norm_last', [3, 4, 5], -1, 30)
    unit_norm_case('unit_norm_two_axes', [3, 4, 5], [1, 2], 31)
    group_norm_case('group_norm_last', [2, 3, 4, 6], 3, -1, 1e-3, True, True, 40)
    group_norm_case('group_norm_axis1', [2, 4, 5], 2, 1, 1e-5, True, True, 41)
    group_norm_case('group_norm_instance_noaffine', [3, 5, 4], 4, -1, 1e-3, False, False, 42)

    cropping3d_case('cropping3d_last', [2, 5, 4, 6, 3], [[1, 2], [0, 1], [2, 2]], 'channels_last', 63)
    cropping3d_case('cropping3d_first', [2, 3, 5, 4, 6], [[2, 0], [1, 1], [0, 3]], 'channels_first', 64)
    conv_transpose_groups_case('conv2d_transpose_g2_valid', [2, 4, 3, 4], 6, 3, 2, 2, 'valid', 60)
    conv_transpose_groups_case('conv2d_transpose_g3_same', [2, 3, 4, 6], 9, 4, 2, 3, 'same', 61)
    conv_transpose_groups_case('conv2d_transpose_depthwise_same', [1, 4, 4, 4], 8, 3, 1, 4, 'same', 62)
    torch_grouped_conv_transpose_files()
    file_cases()
    realworld_attention()
    realworld_cnn2d_32()
    realworld_dl4j_cnns()


if __name__ == '__main__':
    main()
