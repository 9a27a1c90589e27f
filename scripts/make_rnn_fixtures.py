"""Recurrent fixtures beyond the core set: a bidirectional LSTM saved by name (PyTorch state
dict), and LSTM/GRU models exported to ONNX with PyTorch's defaults, whose initializers are
ONNX-native W/R/B tensors (gate orders i,o,f,c and z,r,h) named `onnx::LSTM_…`.

Run with Debian's python3-torch / python3-onnx:  /usr/bin/python3 scripts/make_rnn_fixtures.py
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "rnn")
SEQ, FEAT, UNITS, CLASSES = 5, 6, 8, 3


class Recurrent(nn.Module):
    def __init__(self, kind, bidirectional, num_layers=1):
        super().__init__()
        cls = nn.LSTM if kind == "lstm" else nn.GRU
        self.num_layers = num_layers
        self.rnn = cls(FEAT, UNITS, batch_first=True, bidirectional=bidirectional, num_layers=num_layers)
        self.head = nn.Linear(UNITS * (2 if bidirectional else 1), CLASSES)

    def forward(self, x):
        _, h = self.rnn(x)
        if isinstance(h, tuple):
            h = h[0]
        # The last layer's final state(s): h_n holds num_layers × directions rows.
        h = h[-(len(h) // self.num_layers):]
        # h_n: the final state of each direction, which is what Keras returns (return_sequences=False).
        return self.head(torch.cat(list(h), dim=1))


def topology(name, kind, bidirectional, num_layers=1):
    layers = []
    for k in range(num_layers):
        # One tfjs layer per PyTorch layer: a stacked module `rnn` becomes rnn_l0, rnn_l1, …
        lname = "rnn" if num_layers == 1 else f"rnn_l{k}"
        cell = {"class_name": kind.upper(), "config": {"name": lname, "units": UNITS, "recurrent_activation": "sigmoid", "return_sequences": k < num_layers - 1}}
        if kind == "gru":
            cell["config"]["reset_after"] = True
        rnn = {"class_name": "Bidirectional", "config": {"name": lname, "layer": cell, "merge_mode": "concat"}} if bidirectional else cell
        layers.append(rnn)
    layers[0]["config"]["batch_input_shape"] = [None, SEQ, FEAT]
    head = {"class_name": "Dense", "config": {"name": "head", "units": CLASSES}}
    return {"format": "layers-model", "generatedBy": "scripts/make_rnn_fixtures.py", "convertedBy": None,
            "modelTopology": {"class_name": "Sequential", "config": {"name": name, "layers": layers + [head]},
                              "keras_version": "tfjs-layers 4.22.0", "backend": "tensor_flow.js"}}


def make(name, kind, bidirectional, num_layers=1):
    torch.manual_seed(len(name))
    model = Recurrent(kind, bidirectional, num_layers).eval()
    x = torch.randn(2, SEQ, FEAT)
    with torch.no_grad():
        y = model(x)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, "input.npy"), x.numpy())
    np.save(os.path.join(d, "output.npy"), y.numpy())
    np.savez(os.path.join(d, "model.npz"), **{k: v.numpy() for k, v in model.state_dict().items()})
    # PyTorch's default export: constant folding turns the RNN weights into ONNX W/R/B initializers.
    torch.onnx.export(model, x, os.path.join(d, "model.onnx"), opset_version=13)
    with open(os.path.join(d, "target.json"), "w") as f:
        json.dump(topology(name, kind, bidirectional, num_layers), f, indent=1)
    needs_layers = kind == "gru"
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump({"kind": kind, "bidirectional": bidirectional, "needsLayers": needs_layers, "tolerance": 1e-4}, f, indent=1)


if __name__ == "__main__":
    make("lstm_onnx", "lstm", False)
    make("bilstm", "lstm", True)
    make("gru_onnx", "gru", False)
    make("bigru", "gru", True)
    make("lstm_stacked", "lstm", False, num_layers=2)


def anonymous_onnx():
    """Old exporters named initializers 1, 2, … and left nodes unnamed: only order tells whose is whose."""
    import onnx

    src = os.path.join(ROOT, "fixtures", "torch", "onnx_numbers", "model.onnx")
    model = onnx.load(src)
    for node in model.graph.node:
        node.name = ""
    onnx.save(model, os.path.join(ROOT, "fixtures", "torch", "onnx_numbers", "model_anonymous.onnx"))


anonymous_onnx()
