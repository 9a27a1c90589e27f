"""Computes PyTorch's own outputs for real-world checkpoints in ../shared/realworld, so tests can
check graft's conversions of those files numerically without the files ever entering this repo.

Only our own random inputs and PyTorch's outputs on them are written (fixtures/realworld-expected/).
Run with Debian's python3-torch:  /usr/bin/python3 scripts/make_realworld_expectations.py
"""
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REALWORLD = os.path.join(os.path.dirname(ROOT), "shared", "realworld")
OUT = os.path.join(ROOT, "fixtures", "realworld-expected")


class CifarNet(nn.Module):
    """The network of PyTorch's CIFAR-10 tutorial, which cifar_net.pth was trained with."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def layer(cls, name, **config):
    return {"class_name": cls, "config": {"name": name, **config}}


def cifar_net():
    src = os.path.join(REALWORLD, "pytorch", "camron_cifar_net_legacy", "cifar_net.pth")
    net = CifarNet()
    # weights_only: never run pickled code from a downloaded file, even here.
    net.load_state_dict(torch.load(src, map_location="cpu", weights_only=True))
    net.eval()
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        y = net(x)
    out = os.path.join(OUT, "cifar_net")
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "input.npy"), x.numpy())
    np.save(os.path.join(out, "output.npy"), y.numpy())
    topology = {
        "class_name": "Sequential",
        "config": {
            "name": "cifar_net",
            "layers": [
                layer("Conv2D", "conv1", filters=6, kernel_size=[5, 5], activation="relu", batch_input_shape=[None, 32, 32, 3]),
                layer("MaxPooling2D", "pool1", pool_size=[2, 2], strides=[2, 2]),
                layer("Conv2D", "conv2", filters=16, kernel_size=[5, 5], activation="relu"),
                layer("MaxPooling2D", "pool2", pool_size=[2, 2], strides=[2, 2]),
                layer("Flatten", "flatten"),
                layer("Dense", "fc1", units=120, activation="relu"),
                layer("Dense", "fc2", units=84, activation="relu"),
                layer("Dense", "fc3", units=10),
            ],
        },
        "keras_version": "tfjs-layers 4.22.0",
        "backend": "tensor_flow.js",
    }
    with open(os.path.join(out, "target.json"), "w") as f:
        json.dump({"format": "layers-model", "generatedBy": "scripts/make_realworld_expectations.py", "convertedBy": None, "modelTopology": topology}, f, indent=1)


if __name__ == "__main__":
    cifar_net()
