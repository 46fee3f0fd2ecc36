"""MNIST with a small CNN, as pytorch/examples' mnist/main.py: the device idiom, DataLoader, Adadelta with
StepLR, a test pass, torch.save of the state dict and of a checkpoint, and torch.load back."""

import gzip
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset


def read_idx(name, offset):
    with gzip.open(os.path.join(os.environ["MNIST_DIR"], name)) as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


images = read_idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)[:640]
labels = read_idx("t10k-labels-idx1-ubyte.gz", 8)[:640].astype(np.int64)
x = (torch.from_numpy(images.astype(np.float32) / 255.0) - 0.1307) / 0.3081
y = torch.from_numpy(labels)
train_loader = DataLoader(TensorDataset(x[:512], y[:512]), batch_size=64, shuffle=False)
test_loader = DataLoader(TensorDataset(x[512:], y[512:]), batch_size=128)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.fc1 = nn.Linear(2304, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


def fixed_init(model):
    """Weights from a formula, not a random draw (the two libraries' generators differ)."""
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            wave = torch.sin(torch.arange(p.numel(), dtype=torch.float32) * (0.7 + i))
            p.copy_(wave.reshape(p.shape) / p[0].numel() ** 0.5)


def train(model, device, loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % 4 == 0:
            seen = batch_idx * len(data)
            print(f"Train Epoch: {epoch} [{seen}/{len(loader.dataset)}]\tLoss: {loss.item():.5f}")


def test(model, device, loader):
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(loader.dataset)
    print(f"Test set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{len(loader.dataset)}")


use_accel = torch.accelerator.is_available()
device = torch.accelerator.current_accelerator() if use_accel else torch.device("cpu")
model = Net().to(device)
fixed_init(model)
optimizer = optim.Adadelta(model.parameters(), lr=1.0)
scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
for epoch in range(1, 3):
    train(model, device, train_loader, optimizer, epoch)
    test(model, device, test_loader)
    scheduler.step()

torch.save(model.state_dict(), "mnist_cnn.pt")
checkpoint = {
    "epoch": 2,
    "model_state_dict": model.state_dict(),
    "optimizer_state_dict": optimizer.state_dict(),
}
torch.save(checkpoint, "checkpoint.pt")

restored = Net()
restored.load_state_dict(torch.load("mnist_cnn.pt", weights_only=True))
loaded = torch.load("checkpoint.pt", map_location=device)
optimizer = optim.Adadelta(restored.parameters(), lr=1.0)
optimizer.load_state_dict(loaded["optimizer_state_dict"])
print("epoch", loaded["epoch"], "lr", optimizer.param_groups[0]["lr"])
test(restored, device, test_loader)
