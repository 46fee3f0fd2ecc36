"""A tour of tensors, in the style of PyTorch's "Tensors" tutorial and autograd primer."""

import torch

device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
print(f"Using {device} device")
print("cuda available:", torch.cuda.is_available(), "mps available:", torch.backends.mps.is_available())

data = [[1, 2], [3, 4]]
x_data = torch.tensor(data)
x_ones = torch.ones_like(x_data)
x_rand = torch.linspace(0, 1, 4).reshape(2, 2)
print(f"Ones Tensor:\n {x_ones}\n")
print("float like:", torch.zeros_like(x_data, dtype=torch.float32).dtype == torch.float32)

shape = (2, 3)
ones_tensor = torch.ones(shape, device=device)
zeros_tensor = torch.zeros(shape, dtype=torch.float64)
print("Shape of tensor:", ones_tensor.shape, ones_tensor.size(), ones_tensor.size(1), ones_tensor.shape[1:])
print("Device tensor is stored on:", ones_tensor.device, ones_tensor.to(device).device)
print("numel", ones_tensor.shape.numel(), zeros_tensor.double().dtype == torch.float64)

tensor = torch.arange(16, dtype=torch.float32).reshape(4, 4)
print(f"First row: {tensor[0]}")
print(f"Last column: {tensor[..., -1]}")
tensor[:, 1] = 0
t1 = torch.cat([tensor, tensor, tensor], dim=1)
print(t1.shape)

y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
y3 = torch.rand_like(y1)
torch.matmul(tensor, tensor.T, out=y3)
print(torch.equal(y1, y3), (y1 == y2).all().item())
z1 = tensor * tensor
z3 = torch.zeros_like(tensor)
torch.mul(tensor, tensor, out=z3)
print(z3.eq(z1).all().item(), z3.ne(z1).any().item(), z3.ge(z1).all().item())
print("sum", tensor.sum().item(), "mean", f"{tensor.mean():.4f}", "max", tensor.max().item())
agg = tensor.sum()
print(f"{agg:+.2f}", f"{agg:.3e}", type(agg.item()).__name__)

a = torch.tensor([1.0, -2.5, 3.0, 0.25])
b = torch.tensor([2.0, -2.5, 1.0, 4.0])
print(a.lt(b), a.le(b), a.gt(b), a.greater_equal(b), torch.not_equal(a, b))
print(
    torch.remainder(a, 1.5), torch.fmod(a, 1.5), a.floor_divide(2.0), torch.div(a, b, rounding_mode="trunc")
)
print(a.clamp(min=-1, max=2), a.abs().sqrt(), a.reciprocal(), torch.maximum(a, b))
tensor.add_(5)
tensor.mul_(0.5).sub_(1, alpha=2)
print(tensor[0])

x = torch.ones(5)
y = torch.zeros(3)
w = torch.linspace(-1, 1, 15).reshape(5, 3).requires_grad_(True)
bias = torch.tensor([0.1, -0.2, 0.3], requires_grad=True)
z = torch.matmul(x, w) + bias
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
print(f"Gradient function for loss = {loss.grad_fn.name()}")
print(loss.grad_fn.next_functions[0][0] is not None, len(loss.grad_fn.next_functions))
loss.backward()
print(w.grad)
print(bias.grad)
with torch.no_grad():
    z = torch.matmul(x, w) + bias
print(z.requires_grad, z.detach().requires_grad)
try:
    ones_tensor.to("cuda")
except (AssertionError, RuntimeError) as error:
    print("to(cuda) refused:", type(error).__name__ in ("AssertionError", "DeviceUnavailableError"))
