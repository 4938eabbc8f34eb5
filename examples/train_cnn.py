"""Train a LeNet-style CNN on scikit-learn's digits (1x8x8 images) with graphc.

    python examples/train_cnn.py        (EPOCHS=5 for a quick run)

Convolutions and pooling run as library kernels inside the step's compiled Program;
the elementwise work around them (bias, ReLU, their gradients, the SGD update) is fused.
"""

import os

import numpy as np
from sklearn.datasets import load_digits

import graphc
import graphc.functional as F
import graphc.module as M
import graphc.optimizer as optim
from graphc.autodiff import GradManager
from graphc.data import ArrayDataset, DataLoader


class LeNet(M.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = M.Conv2d(1, 16, 3, padding=1)
        self.bn1 = M.BatchNorm2d(16)
        self.conv2 = M.Conv2d(16, 32, 3, padding=1)
        self.pool = M.MaxPool2d(2)
        self.fc1 = M.Linear(32 * 2 * 2, 64)
        self.fc2 = M.Linear(64, classes)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc2(F.relu(self.fc1(F.flatten(x, 1))))


graphc.random.seed(0)
np.random.seed(0)

digits = load_digits()
images = (digits.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
labels = digits.target.astype(np.int32)
order = np.random.default_rng(0).permutation(len(labels))  # the file is sorted by writer
images, labels = images[order], labels[order]
train = ArrayDataset(images[:1400], labels[:1400])
x_test, y_test = images[1400:], labels[1400:]

model = LeNet()
gm = GradManager().attach(model.parameters())
opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)

EPOCHS = int(os.environ.get("EPOCHS", 20))
for epoch in range(EPOCHS):
    model.train()
    for x, y in DataLoader(train, batch_size=64, shuffle=True, drop_last=True, seed=epoch):
        with gm:
            loss = F.cross_entropy(model(graphc.tensor(x)), graphc.tensor(y))
            gm.backward(loss)
        opt.step().clear_grad()  # also realizes BatchNorm's running statistics
    if epoch % 5 == 4:
        print(f"epoch {epoch + 1}: last batch loss {loss.item():.4f}")

model.eval()  # BatchNorm now normalises with its running statistics
predicted = model(graphc.tensor(x_test)).numpy().argmax(axis=1)
print(f"test accuracy: {(predicted == y_test).mean():.2%}")
plan = graphc.explain(model(graphc.tensor(x_test[:4])))
print(f"inference compiles to {len(plan.kernels)} kernels: "
      + ", ".join(k.name for k in plan.kernels))
