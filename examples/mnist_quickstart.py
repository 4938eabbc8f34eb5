"""MegEngine's quick start with graphc: MNIST, a transform, a RandomSampler, LeNet.

    python examples/mnist_quickstart.py             (EPOCHS=5 by default; STEPS caps an epoch)
    MNIST_ROOT=/data/mnist python examples/mnist_quickstart.py
    DOWNLOAD=1 python examples/mnist_quickstart.py   (fetch the real MNIST files)

The code below the data set-up is MegEngine's tutorial with ``megengine`` replaced by
``graphc``. Without the real MNIST files (and without DOWNLOAD=1) the script writes
stand-in files in MNIST's own idx format to ./mnist-standin, from scikit-learn's 8x8
digits scaled up to 28x28, so it runs offline and still learns real handwriting.
"""

import gzip
import os
import struct
from pathlib import Path

import numpy as np

import graphc as mge
import graphc.data as data
import graphc.data.transform as T
import graphc.functional as F
import graphc.optimizer as optim
from graphc.autodiff import GradManager
from graphc.bench.models.lenet import lenet5


def write_standin_mnist(root: Path) -> None:
    """scikit-learn's digits as MNIST idx files (28x28, white on black, gzip)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    small = (digits.images[order] * (255 / 16)).astype(np.uint8)          # N x 8 x 8
    images = np.pad(np.kron(small, np.ones((3, 3), np.uint8)), ((0, 0), (2, 2), (2, 2)))
    labels = digits.target[order].astype(np.uint8)
    root.mkdir(parents=True, exist_ok=True)
    for split, part in (("train", slice(0, 1500)), ("t10k", slice(1500, None))):
        for kind, magic, array in (("images-idx3", 2051, images[part]),
                                   ("labels-idx1", 1 + 2048, labels[part])):
            header = struct.pack(f">{1 + array.ndim}i", magic, *array.shape)
            with gzip.open(root / f"{split}-{kind}-ubyte.gz", "wb") as f:
                f.write(header + array.tobytes())


def load_mnist(train: bool) -> data.dataset.MNIST:
    root = os.environ.get("MNIST_ROOT")
    if root or os.environ.get("DOWNLOAD"):
        return data.dataset.MNIST(root=root, train=train, download=bool(os.environ.get(
            "DOWNLOAD")))
    standin = Path("mnist-standin")
    if not (standin / "t10k-labels-idx1-ubyte.gz").exists():
        write_standin_mnist(standin)
    return data.dataset.MNIST(root=standin, train=train, download=False, check_md5=False)


mge.random.seed(0)
train_dataset = load_mnist(train=True)
test_dataset = load_mnist(train=False)

# ---- MegEngine's tutorial from here -------------------------------------------------------
transform = T.Compose([
    T.Normalize(mean=0.1307 * 255, std=0.3081 * 255),
    T.ToMode("CHW"),
])
train_sampler = data.RandomSampler(train_dataset, batch_size=64, drop_last=True)
train_dataloader = data.DataLoader(train_dataset, train_sampler, transform=transform)
test_sampler = data.SequentialSampler(test_dataset, batch_size=256)
test_dataloader = data.DataLoader(test_dataset, test_sampler, transform=transform)

model = lenet5()
gm = GradManager().attach(model.parameters())
optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)

steps = int(os.environ.get("STEPS", 10**9))
epochs = int(os.environ.get("EPOCHS", 5))
for epoch in range(epochs):
    model.train()
    for step, (batch_data, batch_label) in enumerate(train_dataloader):
        if step == steps:
            break
        batch_data = mge.tensor(batch_data)
        batch_label = mge.tensor(batch_label)
        with gm:
            logits = model(batch_data)
            loss = F.nn.cross_entropy(logits, batch_label)
            gm.backward(loss)
        optimizer.step().clear_grad()
    print(f"epoch {epoch}: loss {loss.item():.4f}")

model.eval()
correct = total = 0
for batch_data, batch_label in test_dataloader:
    pred = F.argmax(model(mge.tensor(batch_data)), axis=1).numpy()
    correct += int((pred == batch_label).sum())
    total += len(batch_label)
print(f"test accuracy: {correct / total:.2%}")
