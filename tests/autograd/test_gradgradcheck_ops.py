"""``gradgradcheck`` on every operation and layer that supports double backward (docs/autograd.md lists
them, and those that do not). Inputs are small, float64, and away from the kinks of the piecewise ops."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import ops


def t(*shape, seed=0, low=None, grad=True):
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape) if low is None else rng.uniform(low, low + 1.5, shape)
    if low is None and shape:  # keep away from 0 (abs, relu) and from ties (max)
        values = np.sign(values) * (np.abs(values) + 0.2) + np.arange(values.size).reshape(shape) * 1e-3
    return ember.tensor(values, dtype=ember.float64, requires_grad=grad)


LABELS = ember.tensor([2, 0, 1])
PROBS = ember.tensor(np.random.default_rng(5).dirichlet(np.ones(4), 3), dtype=ember.float64)


CASES = {
    "add_broadcast": (lambda a, b: a + b, lambda: [t(2, 3), t(3, seed=1)]),
    "sub": (lambda a, b: a - b, lambda: [t(2, 3), t(2, 1, seed=1)]),
    "mul_broadcast": (lambda a, b: a * b, lambda: [t(2, 3), t(3, seed=1)]),
    "mul_self": (lambda a: a * a * a, lambda: [t(4)]),
    "div": (lambda a, b: a / b, lambda: [t(2, 3), t(2, 3, seed=1, low=0.5)]),
    "neg": (lambda a: -(a * a), lambda: [t(3)]),
    "pow_scalar": (lambda a: a**3, lambda: [t(4)]),
    "pow_tensor": (lambda a, b: a**b, lambda: [t(3, low=0.5), t(3, seed=1)]),
    "exp": (lambda a: a.exp(), lambda: [t(3, 2)]),
    "log": (lambda a: a.log(), lambda: [t(3, low=0.5)]),
    "sqrt": (lambda a: a.sqrt(), lambda: [t(3, low=0.5)]),
    "abs": (lambda a: a.abs() * a, lambda: [t(4)]),
    "sigmoid": (lambda a: a.sigmoid(), lambda: [t(2, 3)]),
    "tanh": (lambda a: a.tanh(), lambda: [t(2, 3)]),
    "relu": (lambda a: a.relu() * a, lambda: [t(2, 3)]),
    "clamp": (lambda a: a.clamp(-0.5, 0.5) * a, lambda: [t(2, 3)]),
    "maximum": (lambda a, b: ops.maximum(a, b) * a, lambda: [t(4), t(4, seed=1)]),
    "minimum": (lambda a, b: ops.minimum(a, b) * b, lambda: [t(4), t(4, seed=1)]),
    "where": (lambda a, b: ops.where(a.array > 0, a * a, b * a), lambda: [t(4), t(4, seed=1)]),
    "sum_dim": (lambda a: a.sum(1) ** 2, lambda: [t(2, 3)]),
    "sum_keepdim": (lambda a: a * a.sum(0, keepdim=True), lambda: [t(2, 3)]),
    "mean": (lambda a: a.mean(0) ** 2, lambda: [t(2, 3)]),
    "var": (lambda a: a.var(1) ** 2, lambda: [t(2, 3)]),
    "std_all": (lambda a: a.std() * a, lambda: [t(2, 3)]),
    "dropout_mask": (
        lambda a: F.dropout(a, 0.5, generator=ember.Generator().manual_seed(3)) ** 2,
        lambda: [t(2, 3)],
    ),
    "amax": (lambda a: a.amax(1) ** 2, lambda: [t(2, 3)]),
    "norm": (lambda a: a.norm(dim=1) ** 3, lambda: [t(2, 3)]),
    "reshape_permute": (lambda a: a.reshape(3, 2).permute(1, 0) ** 2, lambda: [t(2, 3)]),
    "expand_flip": (lambda a: a.expand(2, 3).flip(1) ** 2, lambda: [t(1, 3)]),
    "repeat": (lambda a: a.repeat(2, 2) ** 2, lambda: [t(2, 2)]),
    "getitem": (lambda a: a[1:, ::2] ** 2, lambda: [t(3, 4)]),
    "cumsum": (lambda a: a.cumsum(1) ** 2, lambda: [t(2, 3)]),
    "roll": (lambda a: a.roll((1, -1), (0, 1)) ** 2 * a, lambda: [t(2, 3)]),
    "rounding": (
        lambda a: (a.floor() + a.ceil() + a.trunc() + a.round(decimals=1)) * a * a,
        lambda: [t(2, 3)],
    ),
    "tril_triu_diag": (lambda a: a.tril(-1) ** 2 + a.triu() * a + a.diag(1).diag(1) ** 2, lambda: [t(3, 3)]),
    "movedim_narrow_meshgrid": (
        lambda a, b: a.movedim(0, 1).narrow(0, 1, 2) ** 2 * ops.meshgrid(b, b)[0][:2, :2],
        lambda: [t(2, 3), t(2, seed=1)],
    ),
    "masked_select": (lambda a: ops.masked_select(a, a.array > 0) ** 2, lambda: [t(2, 3)]),
    "setitem": (lambda a, b: ops.index_put(a, (0,), b**2) ** 2, lambda: [t(2, 3), t(3, seed=1)]),
    "cat_stack": (
        lambda a, b: ops.stack([ops.cat([a, b]) ** 2, ops.cat([b, a])]),
        lambda: [t(2), t(3, seed=1)],
    ),
    "pad": (lambda a: ops.pad(a, (1, 2)) ** 2, lambda: [t(2, 2)]),
    "matmul": (lambda a, b: a @ b, lambda: [t(2, 3), t(3, 2, seed=1)]),
    "matmul_vector": (lambda a, b: (a @ b) ** 2, lambda: [t(3), t(3, 2, seed=1)]),
    "matmul_batched": (lambda a, b: a @ b, lambda: [t(2, 2, 3), t(3, 2, seed=1)]),
    "linear": (lambda x, w, b: F.linear(x, w, b) ** 2, lambda: [t(2, 3), t(4, 3, seed=1), t(4, seed=2)]),
    "softmax": (lambda a: ops.softmax(a, 1), lambda: [t(2, 3)]),
    "log_softmax": (lambda a: ops.log_softmax(a, 0), lambda: [t(2, 3)]),
    "logsumexp": (lambda a: ops.logsumexp(a, 1), lambda: [t(2, 3)]),
    "leaky_relu": (lambda a: F.leaky_relu(a, 0.1) * a, lambda: [t(2, 3)]),
    "elu": (lambda a: F.elu(a), lambda: [t(2, 3)]),
    "prelu": (lambda a, w: F.prelu(a, w) * a, lambda: [t(2, 3), t(3, seed=1)]),
    "silu": (lambda a: F.silu(a), lambda: [t(2, 3)]),
    "gelu_tanh": (lambda a: F.gelu(a, approximate="tanh"), lambda: [t(2, 3)]),
    "mse_loss": (lambda a, b: F.mse_loss(a, b), lambda: [t(2, 3), t(2, 3, seed=1)]),
    "mse_loss_sum": (
        lambda a: F.mse_loss(a * a, ember.ones(2, 3).double(), reduction="sum"),
        lambda: [t(2, 3)],
    ),
    "l1_loss": (lambda a, b: F.l1_loss(a * b, b), lambda: [t(2, 3), t(2, 3, seed=1)]),
    "cross_entropy": (lambda z: F.cross_entropy(z, LABELS), lambda: [t(3, 4)]),
    "cross_entropy_weight_none": (
        lambda z, w: F.cross_entropy(z, LABELS, weight=w.detach(), reduction="none"),
        lambda: [t(3, 4), t(4, low=0.5, grad=False)],
    ),
    "cross_entropy_probabilities": (
        lambda z, p: F.cross_entropy(z, p, label_smoothing=0.1),
        lambda: [t(3, 4), PROBS.detach().requires_grad_()],
    ),
    "cross_entropy_spatial": (
        lambda z: F.cross_entropy(z, ember.tensor([[1, 0], [2, 1]])),
        lambda: [t(2, 3, 2)],
    ),
    "nll_loss": (lambda z: F.nll_loss(ops.log_softmax(z, 1), LABELS, ignore_index=0), lambda: [t(3, 4)]),
    "conv2d": (
        lambda x, w, b: F.conv2d(x, w, b, padding=1) ** 2,
        lambda: [t(1, 2, 4, 4), t(3, 2, 3, 3, seed=1), t(3, seed=2)],
    ),
    "conv2d_stride_dilation_groups": (
        lambda x, w: F.conv2d(x, w, stride=2, dilation=2, groups=2, padding=2) ** 2,
        lambda: [t(1, 2, 5, 5), t(4, 1, 2, 2, seed=1)],
    ),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2) ** 2, lambda: [t(1, 2, 4, 4)]),
    "max_pool2d_overlap_pad": (lambda x: F.max_pool2d(x * x, 3, 2, padding=1), lambda: [t(1, 1, 5, 5)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, padding=1) ** 2, lambda: [t(1, 2, 5, 5)]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, 3) ** 2, lambda: [t(1, 1, 5, 4)]),
    "batch_norm_train": (
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        lambda: [t(3, 2, 2, 2), t(2, seed=1), t(2, seed=2)],
    ),
    "batch_norm_eval": (
        lambda x, w: (
            F.batch_norm(x, ember.zeros(2).double(), ember.ones(2).double() * 2, w, training=False) ** 2
        ),
        lambda: [t(3, 2, 2), t(2, seed=1)],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradgradcheck(name):
    fn, inputs = CASES[name]
    assert ember.gradgradcheck(fn, inputs())


@pytest.mark.parametrize("name", ["relu", "conv2d", "max_pool2d", "cross_entropy"])
def test_gradcheck_of_the_same_functions_still_passes(name):
    fn, inputs = CASES[name]
    assert ember.gradcheck(fn, inputs())


def test_a_type_conversion_differentiates_twice():
    x = t(3)
    (g,) = ember.autograd.grad((x.float() ** 3).sum(), x, create_graph=True)
    (h,) = ember.autograd.grad(g.sum(), x)
    assert g.dtype == ember.float64 and h.dtype == ember.float64
    np.testing.assert_allclose(h.array, 6 * x.array, rtol=1e-5)
