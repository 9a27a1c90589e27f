#!/usr/bin/env python3
"""Writes fixtures/hostile/contract/: inputs that once crashed graft with an internal error
instead of a clean one (issue 11). Run with /usr/bin/python3; standard library only.

- bad_code_point.pt: a PyTorch zip whose data.pkl is three lines of protocol 0 — a UNICODE
  opcode whose raw-unicode-escape names code point 0x110000, one past U+10FFFF.
- deep_target.json: a --target model.json whose topology nests 20 000 lists deep.
"""
import os
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'fixtures', 'hostile', 'contract')


def main():
    os.makedirs(OUT, exist_ok=True)
    pkl = b'V\\U00110000\np0\n.'
    with zipfile.ZipFile(os.path.join(OUT, 'bad_code_point.pt'), 'w', zipfile.ZIP_STORED) as z:
        z.writestr('archive/data.pkl', pkl)
        z.writestr('archive/version', '3\n')
    depth = 20000
    topology = '{"class_name": "Sequential", "config": {"name": "deep", "layers": ' + '[' * depth + ']' * depth + '}}'
    with open(os.path.join(OUT, 'deep_target.json'), 'w') as f:
        f.write('{"format": "layers-model", "modelTopology": ' + topology + '}\n')


if __name__ == '__main__':
    main()
