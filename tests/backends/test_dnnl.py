"""oneDNN's library (``ember.backends._dnnl``) and its matrix product: float32 products of enough work go to
``dnnl_sgemm`` in every operand layout and stay within float32's rounding bound of the exact product; the
rest (small, float64, more than two dimensions, the backend switched off) stay on NumPy; ``linear`` and
``matmul`` through it match PyTorch forward and backward; the OpenMP thread count and fork."""

import multiprocessing

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ember.backends import _dnnl, mkldnn
from ember.nn import functional as F
from tests.helpers import check_parity, random_array, require_onednn


@pytest.fixture(autouse=True)
def onednn(monkeypatch):
    """The library present (or a skip) and two threads for its products (restored after)."""
    monkeypatch.delenv("EMBER_ONEDNN", raising=False)
    monkeypatch.setenv("EMBER_NUM_THREADS", "2")
    require_onednn()


@pytest.fixture
def sgemm_calls(monkeypatch):
    """The names of the library's functions called (``Library.check``), in order."""
    calls = []
    original = _dnnl.Library.check

    def check(self, name, *args):
        calls.append(name)
        return original(self, name, *args)

    monkeypatch.setattr(_dnnl.Library, "check", check)
    return calls


def within_rounding(out, a, b):
    """|out - a b| <= k eps (|a| |b|) elementwise: the worst-case bound of a float32 dot product of length
    k (twice the unit roundoff per term), whatever order the kernel sums in."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    bound = a.shape[1] * np.finfo(np.float32).eps * (np.abs(a64) @ np.abs(b64))
    assert out.dtype == np.float32 and out.shape == (a.shape[0], b.shape[1])
    assert np.all(np.abs(out - a64 @ b64) <= bound)


def layouts(m, n, k, seed=0):
    """The operands in each layout sgemm reads: as they are, transposed views, and a strided copy."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    wide_a = rng.standard_normal((m, 2 * k), dtype=np.float32)
    return {
        "NN": (a, b),
        "TN": (np.ascontiguousarray(a.T).T, b),
        "NT": (a, np.ascontiguousarray(b.T).T),
        "TT": (np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T),
        "strided": (wide_a[:, ::2], b),
    }


@pytest.mark.parametrize("layout", ["NN", "TN", "NT", "TT", "strided"])
def test_a_large_float32_product_goes_to_sgemm_in_every_layout(sgemm_calls, layout):
    a, b = layouts(256, 192, 160)[layout]  # 7.9M multiply-adds: oneDNN's at 2 threads
    out = _dnnl.matmul(a, b)
    assert sgemm_calls == ["dnnl_sgemm"]
    within_rounding(out, a, b)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 40), st.integers(1, 40), st.integers(1, 40),
    st.sampled_from(["NN", "TN", "NT", "TT", "strided"]), st.integers(0, 2**16),
)  # fmt: skip
def test_any_shape_through_sgemm_is_within_rounding(m, n, k, layout, seed):
    """Every shape (ones included) and layout, sgemm forced even where NumPy would be chosen."""
    a, b = layouts(m, n, k, seed)[layout]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_dnnl, "sgemm_worth_it", lambda work, count: True)
        within_rounding(_dnnl.matmul(a, b), a, b)


def test_small_float64_batched_or_switched_off_products_stay_on_numpy(sgemm_calls, monkeypatch):
    rng = np.random.default_rng(0)
    large = rng.standard_normal((256, 256), dtype=np.float32)
    small = large[:32, :32]
    cases = [(small, small), (large.astype(np.float64), large.astype(np.float64)), (large[None], large)]
    for a, b in cases:
        assert np.array_equal(_dnnl.matmul(a, b), np.matmul(a, b))
    with mkldnn.flags(enabled=False):
        assert np.array_equal(_dnnl.matmul(large, large), np.matmul(large, large))
    monkeypatch.setenv("EMBER_ONEDNN", "0")
    assert np.array_equal(_dnnl.matmul(large, large), np.matmul(large, large))
    assert sgemm_calls == []


def test_the_work_threshold_depends_on_the_thread_count():
    assert not _dnnl.sgemm_worth_it(128 * 10 * 256, 2)  # a classifier's last layer: OpenBLAS's
    assert _dnnl.sgemm_worth_it(128 * 84 * 120, 2)
    assert not _dnnl.sgemm_worth_it(128 * 84 * 120, 1)  # one thread: only large products
    assert _dnnl.sgemm_worth_it(128 * 512 * 784, 1)


def test_linear_through_sgemm_matches_pytorch(sgemm_calls):
    """An MLP's first layer at batch 128 (and a 3-D input, as a sequence of vectors): forward, the input's,
    weight's and bias's gradients."""
    x, w, b = random_array((128, 784), 1), random_array((512, 784), 2) * 0.05, random_array((512,), 3)
    check_parity(F.linear, torch.nn.functional.linear, [x, w, b], rtol=1e-4, atol=1e-4)
    assert sgemm_calls.count("dnnl_sgemm") == 3  # forward, input gradient, weight gradient
    x3 = random_array((4, 32, 784), 4)
    check_parity(F.linear, torch.nn.functional.linear, [x3, w, b], rtol=1e-4, atol=1e-4)


def test_matmul_through_sgemm_matches_pytorch(sgemm_calls):
    a, b = random_array((192, 256), 5), random_array((256, 160), 6)
    check_parity(lambda p, q: p @ q, lambda p, q: p @ q, [a, b], rtol=1e-4, atol=1e-4)
    assert sgemm_calls.count("dnnl_sgemm") == 3


def test_the_openmp_thread_count_is_restored_after_a_product(monkeypatch):
    lib = _dnnl.library().lib
    before = lib.omp_get_max_threads()
    monkeypatch.setenv("EMBER_NUM_THREADS", str(before + 1))
    a, b = layouts(256, 256, 256)["NN"]
    _dnnl.matmul(a, b)
    assert lib.omp_get_max_threads() == before


def _product_in_child(a, b):
    return _dnnl.thread_count(), _dnnl.matmul(a, b)


def test_a_forked_child_multiplies_on_one_thread(monkeypatch, sgemm_calls):
    """GNU OpenMP's threads do not survive fork: the child computes on one thread."""
    a, b = layouts(512, 512, 512)["NN"]  # enough work for oneDNN on one thread too
    _dnnl.matmul(a, b)  # OpenMP's threads start here, in the parent
    with multiprocessing.get_context("fork").Pool(1) as pool:
        count, out = pool.apply_async(_product_in_child, (a, b)).get(timeout=60)
    assert count == 1
    within_rounding(out, a, b)
