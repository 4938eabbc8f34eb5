"""Train an MLP on scikit-learn's digits with graphc, the way a MegEngine user would.

    python examples/train_mlp.py        (EPOCHS=5 for a quick run)

Each step builds a lazy graph (forward, backward, update); ``opt.step()`` compiles it
once into fused numba kernels and reuses that Program for every later step.
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

graphc.random.seed(0)
np.random.seed(0)

digits = load_digits()
images = (digits.data / 16.0).astype(np.float32)
labels = digits.target.astype(np.int32)
order = np.random.default_rng(0).permutation(len(labels))  # the file is sorted by writer
images, labels = images[order], labels[order]
train = ArrayDataset(images[:1400], labels[:1400])
x_test, y_test = images[1400:], labels[1400:]

model = M.Sequential(M.Linear(64, 128), M.ReLU(), M.Dropout(0.1), M.Linear(128, 10))
gm = GradManager().attach(model.parameters())
opt = optim.Adam(model.parameters(), lr=3e-3)
scheduler = optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)

EPOCHS = int(os.environ.get("EPOCHS", 30))
for epoch in range(EPOCHS):
    model.train()
    loader = DataLoader(train, batch_size=64, shuffle=True, drop_last=True, seed=epoch)
    total = 0.0
    for x, y in loader:
        with gm:
            loss = F.cross_entropy(model(graphc.tensor(x)), graphc.tensor(y))
            gm.backward(loss)
        opt.step().clear_grad()
        total += loss.item()  # the loss before this step's update
    scheduler.step()
    if epoch % 10 == 9:
        print(f"epoch {epoch + 1}: mean loss {total / len(loader):.4f}")

model.eval()
logits = model(graphc.tensor(x_test))
accuracy = F.topk_accuracy(logits, graphc.tensor(y_test), topk=1)
print(f"test accuracy: {accuracy.item():.2%}")
graphc.save(model.state_dict(), "mlp_digits.npz")
print("saved the weights to mlp_digits.npz")
