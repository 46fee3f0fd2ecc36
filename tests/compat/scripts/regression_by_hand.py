"""Polynomial regression fitted by hand, as PyTorch's "Learning PyTorch with Examples" does it: autograd for
the gradients, manual SGD on ``param.data``, then the same with nn and optim."""

import math

import torch
from torch import nn

dtype = torch.float
device = "cuda" if torch.cuda.is_available() else "cpu"

x = torch.linspace(-math.pi, math.pi, 200, device=device, dtype=dtype)
y = torch.sin(x)

# Weights from a fixed start instead of torch.randn, so the two runs can be compared.
a = torch.tensor(0.1, device=device, dtype=dtype, requires_grad=True)
b = torch.tensor(-0.2, device=device, dtype=dtype, requires_grad=True)
c = torch.tensor(0.05, device=device, dtype=dtype, requires_grad=True)
d = torch.tensor(0.3, device=device, dtype=dtype, requires_grad=True)

learning_rate = 1e-6
for t in range(300):
    y_pred = a + b * x + c * x**2 + d * x**3
    loss = (y_pred - y).pow(2).sum()
    if t % 60 == 59:
        print(t, f"{loss.item():.4f}")
    loss.backward()
    for param in (a, b, c, d):
        param.data -= learning_rate * param.grad
    with torch.no_grad():
        for param in (a, b, c, d):
            param.grad.zero_()
print(f"Result: y = {a.item():.5f} + {b.item():.5f} x + {c.item():.5f} x^2 + {d.item():.5f} x^3")

p = torch.tensor([1, 2, 3])
xx = x.unsqueeze(-1).pow(p)
model = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0, 1))
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([[0.2, -0.1, 0.05]]))
    model[0].bias.fill_(0.1)
loss_fn = nn.MSELoss(reduction="sum")
for t in range(200):
    y_pred = model(xx)
    loss = loss_fn(y_pred, y)
    if t % 50 == 49:
        print(t, f"{loss.item():.4f}")
    model.zero_grad()
    loss.backward()
    for param in model.parameters():
        param.data.add_(param.grad, alpha=-learning_rate)
print("size", model[0].weight.size(), "graph", loss.grad_fn is not None)

optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
for _ in range(200):
    loss = loss_fn(model(xx), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f"RMSprop: {loss.item():.4f}", model[0].weight.data)
