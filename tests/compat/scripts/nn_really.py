"""The progression of PyTorch's "What is torch.nn really?": logistic regression on MNIST from raw tensors,
then refactored step by step with F.cross_entropy, nn.Module, nn.Linear, optim, TensorDataset and
DataLoader, ending with a CNN built from nn.Sequential."""

import gzip
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset


def read_idx(name, offset):
    with gzip.open(os.path.join(os.environ["MNIST_DIR"], name)) as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


x_all = read_idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784)[:1200].astype(np.float32) / 255.0
y_all = read_idx("t10k-labels-idx1-ubyte.gz", 8)[:1200].astype(np.int64)
splits = (x_all[:1000], y_all[:1000], x_all[1000:], y_all[1000:])
x_train, y_train, x_valid, y_valid = map(torch.tensor, splits)
n, c = x_train.shape
print(x_train.shape, y_train.min().item(), y_train.max().item())


def fixed(*shape):
    """A weight matrix from a formula (the tutorial draws torch.randn; the two generators differ)."""
    count = math.prod(shape)
    return torch.cos(torch.arange(count, dtype=torch.float32) * 1.3).reshape(shape)


weights = fixed(784, 10) / math.sqrt(784)
weights.requires_grad_()
bias = torch.zeros(10, requires_grad=True)


def log_softmax(x):
    return x - x.exp().sum(-1).log().unsqueeze(-1)


def model(xb):
    return log_softmax(xb @ weights + bias)


def nll(input, target):
    return -input[range(target.shape[0]), target].mean()


def accuracy(out, yb):
    preds = torch.argmax(out, dim=1)
    return (preds == yb).float().mean()


bs, lr, epochs = 64, 0.5, 2
xb, yb = x_train[0:bs], y_train[0:bs]
print(f"start: loss {nll(model(xb), yb):.5f} accuracy {accuracy(model(xb), yb):.4f}")
for _epoch in range(epochs):
    for i in range((n - 1) // bs + 1):
        start_i = i * bs
        xb, yb = x_train[start_i : start_i + bs], y_train[start_i : start_i + bs]
        loss = nll(model(xb), yb)
        loss.backward()
        with torch.no_grad():
            weights -= weights.grad * lr
            bias -= bias.grad * lr
            weights.grad.zero_()
            bias.grad.zero_()
print(f"from scratch: loss {nll(model(xb), yb):.5f} accuracy {accuracy(model(xb), yb):.4f}")
print(f"F.cross_entropy agrees: {F.cross_entropy(xb @ weights + bias, yb):.5f}")


class MnistLogistic(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(784, 10)

    def forward(self, xb):
        return self.lin(xb)


def get_model():
    model = MnistLogistic()
    with torch.no_grad():
        model.lin.weight.copy_(fixed(10, 784) / math.sqrt(784))
        model.lin.bias.zero_()
    return model, optim.SGD(model.parameters(), lr=lr)


def loss_batch(model, loss_func, xb, yb, opt=None):
    loss = loss_func(model(xb), yb)
    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()
    return loss.item(), len(xb)


def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
    for epoch in range(epochs):
        model.train()
        for xb, yb in train_dl:
            loss_batch(model, loss_func, xb, yb, opt)
        model.eval()
        with torch.no_grad():
            losses, nums = zip(*[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl], strict=True)
        val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)
        print(epoch, f"{val_loss:.5f}")


train_dl = DataLoader(TensorDataset(x_train, y_train), batch_size=bs)
valid_dl = DataLoader(TensorDataset(x_valid, y_valid), batch_size=bs * 2)
model, opt = get_model()
fit(epochs, model, F.cross_entropy, opt, train_dl, valid_dl)


class Lambda(nn.Module):
    def __init__(self, func):
        super().__init__()
        self.func = func

    def forward(self, x):
        return self.func(x)


cnn = nn.Sequential(
    Lambda(lambda x: x.view(-1, 1, 28, 28)),
    nn.Conv2d(1, 8, kernel_size=3, stride=2, padding=1),
    nn.ReLU(),
    nn.Conv2d(8, 10, kernel_size=3, stride=2, padding=1),
    nn.ReLU(),
    nn.AdaptiveAvgPool2d(1),
    Lambda(lambda x: x.view(x.size(0), -1)),
)
with torch.no_grad():
    for i, p in enumerate(cnn.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) * (i + 0.5)).reshape(p.shape) * 0.3)
opt = optim.SGD(cnn.parameters(), lr=0.1, momentum=0.9)
fit(epochs, cnn, F.cross_entropy, opt, train_dl, valid_dl)
