"""A variational auto-encoder on MNIST, as pytorch/examples' vae/main.py (smaller, and with the noise of
the reparameterization taken from a fixed sequence so both libraries see the same draws)."""

import gzip
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset


def read_idx(name, offset):
    with gzip.open(os.path.join(os.environ["MNIST_DIR"], name)) as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


images = read_idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)[:384].astype(np.float32) / 255.0
train_loader = DataLoader(TensorDataset(torch.from_numpy(images)), batch_size=64, shuffle=False)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 64)
        self.fc21 = nn.Linear(64, 8)
        self.fc22 = nn.Linear(64, 8)
        self.fc3 = nn.Linear(8, 64)
        self.fc4 = nn.Linear(64, 784)
        self.step = 0

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        self.step += 1
        phase = torch.arange(std.numel(), dtype=std.dtype, device=std.device).reshape(std.shape)
        eps = torch.sin(phase * 0.37 + self.step)  # the example draws torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


model = VAE().to(device)
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.cos(torch.arange(p.numel(), dtype=torch.float32) * (1.1 + i)).reshape(p.shape) * 0.05)
optimizer = optim.Adam(model.parameters(), lr=1e-3)

for epoch in range(1, 3):
    model.train()
    train_loss = 0
    for (data,) in train_loader:
        data = data.to(device)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    print(f"====> Epoch: {epoch} Average loss: {train_loss / len(train_loader.dataset):.4f}")

with torch.no_grad():
    sample = torch.cos(torch.arange(4 * 8, dtype=torch.float32)).reshape(4, 8).to(device)
    sample = model.decode(sample).cpu()
    print("samples", sample.view(4, 1, 28, 28).shape, f"{sample.mean():.5f}", f"{sample.std():.5f}")
