"""The optional oneDNN backend of the convolutions (``_onednn``, on the library ``ember.backends._dnnl``):
every convolution setting's forward and both gradients equal the NumPy reference (``EMBER_ONEDNN=0``) within
float32 rounding; float64 stays on NumPy; the constants match the installed headers; the switch, the
version check, the threads and fork."""

import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ember
from ember.backends import _dnnl
from ember.nn import functional as F
from ember.nn.functional import _conv_kernels, _onednn, conv
from ember.nn.functional.conv import conv_geometry
from tests.helpers import check_parity, random_array, require_onednn

HEADERS = Path("/usr/include/oneapi/dnnl/dnnl.h")


@pytest.fixture(autouse=True)
def onednn(monkeypatch):
    """Skip where the library is absent, except under CI where .ci/run installed it (then fail)."""
    monkeypatch.delenv("EMBER_ONEDNN", raising=False)
    require_onednn()


def run(x, w, b, upstream, transposed=False, **options):
    """Output and the gradients of x, w (and b) of one (transposed) convolution, float32 arrays."""
    tensors = [ember.tensor(a, requires_grad=True) for a in (x, w) + ((b,) if b is not None else ())]
    function = F.conv_transpose2d if transposed else F.conv2d
    y = function(tensors[0], tensors[1], tensors[2] if b is not None else None, **options)
    y.backward(upstream(y.shape))
    return [y.array] + [t.grad.array for t in tensors]


def check_against_reference(monkeypatch, x, w, b, transposed=False, **options):
    def upstream(shape):
        return random_array(shape, seed=9)

    results = {}
    for switch in ("1", "0"):
        monkeypatch.setenv("EMBER_ONEDNN", switch)
        results[switch] = run(x, w, b, upstream, transposed, **options)
    for name, fast, reference in zip(("output", "dx", "dw", "db"), results["1"], results["0"], strict=False):
        assert fast.dtype == np.float32 and fast.shape == reference.shape, name
        scale = float(np.abs(reference).max()) or 1.0  # sums of products in another order: rounding only
        np.testing.assert_allclose(fast, reference, rtol=1e-5, atol=2e-6 * scale, err_msg=name)


def case(c_in, c_out, size, kernel, groups, bias, batch=2, seed=0, transposed=False):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = random_array((batch, c_in, *size), seed=seed)
    shape = (c_in, c_out // groups, kh, kw) if transposed else (c_out, c_in // groups, kh, kw)
    w = random_array(shape, seed=seed + 1)
    return x, w, random_array((c_out,), seed=seed + 2) if bias else None


GRID = [
    settings
    for settings in itertools.product(
        [1, 2, (2, 1)], [0, 1, (2, 0), "same"], [1, 2], [1, 2], [3, (2, 3), 1], [True, False]
    )
    if not (settings[1] == "same" and settings[0] != 1)
]


@pytest.mark.parametrize("stride, padding, dilation, groups, kernel, bias", GRID)
def test_conv2d_matches_the_numpy_reference(monkeypatch, stride, padding, dilation, groups, kernel, bias):
    x, w, b = case(4, 6, (7, 9), kernel, groups, bias)
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    check_against_reference(monkeypatch, x, w, b, **options)


@pytest.mark.parametrize(
    "c_in, c_out, size, kernel, groups, batch, options",
    [
        (8, 8, (9, 7), 3, 8, 2, {"padding": 1}),  # depthwise
        (8, 16, (8, 8), 3, 8, 1, {"stride": 2, "padding": 1}),  # depthwise, channel multiplier 2, batch 1
        (3, 5, (1, 1), 1, 1, 1, {}),  # 1x1 on 1x1, batch 1
        (5, 7, (11, 13), 5, 1, 3, {"stride": 3, "padding": (2, 1)}),  # odd sizes, unused last rows
        (3, 16, (32, 32), 3, 1, 4, {"padding": 1}),  # a first layer: 3 channels
        (16, 32, (16, 16), 1, 1, 4, {"stride": 2}),  # ResNet's projection
        (1, 6, (28, 28), 5, 1, 3, {"padding": 2}),  # LeNet-5 C1
        (6, 16, (14, 14), 5, 1, 3, {}),  # LeNet-5 C3
        (4, 4, (5, 6), (1, 4), 2, 2, {"padding": (0, 3), "dilation": (1, 2)}),
    ],
)
def test_special_shapes_match_the_numpy_reference(
    monkeypatch, c_in, c_out, size, kernel, groups, batch, options
):
    for bias in (True, False):
        x, w, b = case(c_in, c_out, size, kernel, groups, bias, batch)
        check_against_reference(monkeypatch, x, w, b, groups=groups, **options)


@pytest.mark.parametrize(
    "size, kernel, groups, options",
    [
        ((5, 6), 3, 1, {"stride": 2, "padding": 1, "output_padding": 1}),
        ((4, 4), (2, 3), 2, {"stride": (2, 1), "dilation": 2}),
        ((3, 5), 1, 1, {"stride": 3}),
        ((6, 6), 4, 2, {"stride": 2, "padding": 1}),
    ],
)
def test_conv_transpose2d_matches_the_numpy_reference(monkeypatch, size, kernel, groups, options):
    for bias in (True, False):
        x, w, b = case(4, 6, size, kernel, groups, bias, transposed=True)
        check_against_reference(monkeypatch, x, w, b, transposed=True, groups=groups, **options)


def reference_gradients(monkeypatch, x, w, upstream, **options):
    """Output and gradients of x and w from the NumPy kernels."""
    monkeypatch.setenv("EMBER_ONEDNN", "0")
    try:
        return run(x, w, None, lambda shape: upstream, **options)
    finally:
        monkeypatch.delenv("EMBER_ONEDNN")


def assert_close(fast, reference, name=""):
    scale = float(np.abs(reference).max()) or 1.0
    np.testing.assert_allclose(fast, reference, rtol=1e-5, atol=2e-6 * scale, err_msg=name)


def count_reorders(monkeypatch):
    """Count each argument's reorders into a primitive's layout (``_Convolution.blocked`` that reorders)."""
    counts = {}
    original = _onednn._Convolution.blocked

    def blocked(self, arg, array):
        out = original(self, arg, array)
        counts[arg] = counts.get(arg, 0) + (out is not array)
        return out

    monkeypatch.setattr(_onednn._Convolution, "blocked", blocked)
    return counts


def test_the_backward_reorders_dy_once_and_reads_the_forwards_blocked_x(monkeypatch):
    """16 -> 16 channels: oneDNN reads x and dy in one blocked layout in all three products, so a training
    step reorders x once (forward, kept for the weight gradient) and dy once (both backward products)."""
    x, w, _ = case(16, 16, (8, 8), 3, 1, False, batch=2)
    upstream = random_array((2, 16, 8, 8), seed=9)
    expected = reference_gradients(monkeypatch, x, w, upstream, padding=1)
    counts = count_reorders(monkeypatch)
    results = run(x, w, None, lambda shape: upstream, padding=1)
    assert (counts[_onednn.SRC], counts[_onednn.DIFF_DST]) == (1, 1)  # (the weights: two layouts, two)
    for name, fast, reference in zip(("output", "dx", "dw"), results, expected, strict=True):
        assert_close(fast, reference, name)


def test_the_blocked_x_is_freed_with_the_node_and_kept_only_for_a_weight_gradient():
    import gc
    import weakref

    x, w, _ = case(16, 16, (8, 8), 3, 1, False, batch=2)
    tx, tw = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
    y = F.conv2d(tx, tw, padding=1)
    _, kept = y.grad_fn.blocked[_onednn.SRC]
    assert kept.nbytes >= x.nbytes
    alive = weakref.ref(kept)
    del kept
    y.sum().backward()
    gc.collect()
    assert alive() is None  # the node released it with the other saved values
    frozen = ember.tensor(w)  # no weight gradient: nothing kept
    assert not hasattr(F.conv2d(tx, frozen, padding=1).grad_fn, "blocked")
    with ember.no_grad():
        assert F.conv2d(tx, tw, padding=1).grad_fn is None


def test_retain_graph_and_a_second_backward_reuse_the_kept_copy(monkeypatch):
    x, w, _ = case(16, 16, (8, 8), 3, 1, False, batch=2)
    upstream = random_array((2, 16, 8, 8), seed=9)
    _, dx, dw = reference_gradients(monkeypatch, x, w, upstream, padding=1)
    tx, tw = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
    y = F.conv2d(tx, tw, padding=1)
    y.backward(ember.tensor(upstream), retain_graph=True)
    y.backward(ember.tensor(upstream))
    assert_close(tx.grad.array, 2 * dx, "dx")
    assert_close(tw.grad.array, 2 * dw, "dw")
    with pytest.raises(RuntimeError, match="second time"):
        y.backward(ember.tensor(upstream))


def test_an_input_changed_in_place_after_the_forward_is_refused():
    """The kept blocked copy holds x as it was: a backward after x changed in place must not use it."""
    x, w, _ = case(16, 16, (8, 8), 3, 1, False, batch=2)
    tx, tw = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
    h = tx * 1.0
    y = F.conv2d(h, tw, padding=1)
    h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()


def test_graphs_of_two_batch_sizes_backward_in_either_order(monkeypatch):
    w = random_array((16, 16, 3, 3), seed=1)
    inputs = [random_array((n, 16, 8, 8), seed=n) for n in (3, 2)]
    upstreams = [random_array((n, 16, 8, 8), seed=10 + n) for n in (3, 2)]
    expected = [
        reference_gradients(monkeypatch, x, w, u, padding=1) for x, u in zip(inputs, upstreams, strict=True)
    ]
    tw = ember.tensor(w, requires_grad=True)
    txs = [ember.tensor(x, requires_grad=True) for x in inputs]
    ys = [F.conv2d(tx, tw, padding=1) for tx in txs]
    for tx, y, u, (_, dx, _) in reversed(list(zip(txs, ys, upstreams, expected, strict=True))):
        y.backward(ember.tensor(u))
        assert_close(tx.grad.array, dx, "dx")
    assert_close(tw.grad.array, expected[0][2] + expected[1][2], "dw")


@pytest.mark.parametrize("forward_on, backward_on", [(True, False), (False, True)])
def test_the_backend_switched_between_forward_and_backward(monkeypatch, forward_on, backward_on):
    x, w, _ = case(16, 16, (8, 8), 3, 1, False, batch=2)
    upstream = random_array((2, 16, 8, 8), seed=9)
    _, dx, dw = reference_gradients(monkeypatch, x, w, upstream, padding=1)
    tx, tw = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
    with ember.backends.mkldnn.flags(enabled=forward_on):
        y = F.conv2d(tx, tw, padding=1)
    with ember.backends.mkldnn.flags(enabled=backward_on):
        y.backward(ember.tensor(upstream))
    assert_close(tx.grad.array, dx, "dx")
    assert_close(tw.grad.array, dw, "dw")


def test_a_gradient_of_a_gradient_through_a_kept_forward(monkeypatch):
    """create_graph: the recorded backward runs the composite, not the kept copy; same as NumPy's."""
    x, w, _ = case(4, 6, (6, 6), 3, 1, False, batch=2)

    def second_order():
        tx, tw = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
        y = F.conv2d(tx, tw, padding=1)
        (gw,) = ember.autograd.grad((y * y).sum(), [tw], create_graph=True)
        (gw * gw).sum().backward()
        return gw.array, tx.grad.array, tw.grad.array

    fast = second_order()
    monkeypatch.setenv("EMBER_ONEDNN", "0")
    reference = second_order()
    for name, a, b in zip(("dw", "d2x", "d2w"), fast, reference, strict=True):
        assert_close(a, b, name)


def test_float32_goes_to_onednn_and_float64_stays_on_numpy(monkeypatch):
    geo = conv_geometry("conv2d", (2, 3, 8, 8), (3, 3), (1, 1), (1, 1), (1, 1, 1, 1))
    assert conv.backend(np.dtype(np.float32), geo) is _onednn
    assert conv.backend(np.dtype(np.float64), geo) is _conv_kernels
    empty = conv_geometry("conv2d", (0, 3, 8, 8), (3, 3), (1, 1), (1, 1), (1, 1, 1, 1))
    assert conv.backend(np.dtype(np.float32), empty) is _conv_kernels
    monkeypatch.setenv("EMBER_ONEDNN", "0")
    assert conv.backend(np.dtype(np.float32), geo) is _conv_kernels
    assert _dnnl.status() == "oneDNN turned off (EMBER_ONEDNN=0)"


def test_the_pytorch_switch_turns_it_off_and_back_on():
    geo = conv_geometry("conv2d", (2, 3, 8, 8), (3, 3), (1, 1), (1, 1), (1, 1, 1, 1))
    float32 = np.dtype(np.float32)
    assert ember.backends.mkldnn.is_available() and ember.backends.mkldnn.enabled
    with ember.backends.mkldnn.flags(enabled=False):
        assert conv.backend(float32, geo) is _conv_kernels
        assert "mkldnn.enabled is False" in _dnnl.status()
    assert conv.backend(float32, geo) is _onednn
    ember.backends.mkldnn.enabled = False
    try:
        assert conv.backend(float32, geo) is _conv_kernels
    finally:
        ember.backends.mkldnn.enabled = True


def test_parity_with_pytorch_through_onednn():
    x, w, b = case(4, 6, (9, 8), 3, 2, True)
    check_parity(
        lambda *a: F.conv2d(*a, stride=2, padding=1, groups=2),
        lambda *a: torch.nn.functional.conv2d(*a, stride=2, padding=1, groups=2),
        [x, w, b], rtol=1e-4, atol=1e-5,
    )  # fmt: skip


def test_a_version_not_checked_is_refused(monkeypatch):
    monkeypatch.setattr(_dnnl, "CHECKED_VERSIONS", set())
    with pytest.raises(RuntimeError, match="not one whose constants Ember checked"):
        _dnnl.Library()
    monkeypatch.setattr(_dnnl, "library", lambda: None)  # as if loaded for the first time
    assert "not one whose constants" in _dnnl.status()
    assert (
        conv.backend(
            np.dtype(np.float32), conv_geometry("conv2d", (1, 1, 3, 3), (3, 3), (1, 1), (1, 1), (0, 0, 0, 0))
        )
        is _conv_kernels
    )


def test_the_openmp_thread_count_is_restored_after_a_call(monkeypatch):
    """oneDNN's OpenMP runtime may be PyTorch's too: a call sets Ember's count and puts the old one back."""
    lib = _dnnl.library().lib
    before = lib.omp_get_max_threads()
    monkeypatch.setenv("EMBER_NUM_THREADS", str(before + 1))
    x, w, _ = case(3, 4, (8, 8), 3, 1, False)
    F.conv2d(ember.tensor(x), ember.tensor(w), padding=1)
    assert lib.omp_get_max_threads() == before


def test_a_forked_child_convolves_on_one_thread(monkeypatch):
    """GNU OpenMP's threads do not survive fork: the child uses one (as PyTorch does), same numbers."""
    import multiprocessing

    monkeypatch.setenv("EMBER_NUM_THREADS", "2")
    x, w, _ = case(16, 16, (16, 16), 3, 1, False, batch=8)
    expected = F.conv2d(ember.tensor(x), ember.tensor(w), padding=1).array  # OpenMP's threads start here
    with multiprocessing.get_context("fork").Pool(1) as pool:
        result = pool.apply_async(_conv_in_child, (x, w)).get(timeout=60)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)


def _conv_in_child(x, w):
    return F.conv2d(ember.tensor(x), ember.tensor(w), padding=1).array


@pytest.mark.parametrize(
    ("user", "seen"),
    [
        ({}, {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "10000"}),
        ({"GOMP_SPINCOUNT": "500"}, {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "500"}),
        ({"OMP_WAIT_POLICY": "ACTIVE"}, {"OMP_WAIT_POLICY": "ACTIVE"}),
    ],
)
def test_openmp_threads_spin_briefly_then_sleep_unless_the_user_says(user, seen):
    """Loaded first (no PyTorch in the process), the OpenMP runtime gets OMP_WAIT_POLICY=PASSIVE with
    GOMP_SPINCOUNT=10000 (about 0.1 ms); a policy or spin count the user set is kept, and nothing is left
    behind in the environment."""
    names = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
    code = (
        "import os, ember\n"
        "from ember.backends import _dnnl\n"
        "_dnnl.library().lib.omp_display_env(1)\n"
        f"print([os.environ.get(name) for name in {names!r}])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in names} | user
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    for name, value in seen.items():
        assert f"{name} = '{value}'" in done.stderr
    assert done.stdout.strip() == str([user.get(name) for name in names])


LIBRARY_CONSTANTS = {
    "CPU_ENGINE": "dnnl_cpu", "F32": "dnnl_f32", "STREAM_DEFAULT_FLAGS": "dnnl_stream_default_flags",
    "RUNTIME_OMP": "DNNL_RUNTIME_OMP",
}  # fmt: skip
CONSTANTS = {
    "TAG_ANY": "dnnl_format_tag_any", "TAG_X": "dnnl_x",
    "TAG_ABCD": "dnnl_nchw", "TAG_ABCDE": "dnnl_goihw", "FORWARD_TRAINING": "dnnl_forward_training",
    "BACKWARD_DATA": "dnnl_backward_data", "BACKWARD_WEIGHTS": "dnnl_backward_weights",
    "CONVOLUTION_DIRECT": "dnnl_convolution_direct", "SRC": "DNNL_ARG_SRC", "DST": "DNNL_ARG_DST",
    "WEIGHTS": "DNNL_ARG_WEIGHTS", "BIAS": "DNNL_ARG_BIAS", "DIFF_SRC": "DNNL_ARG_DIFF_SRC",
    "DIFF_DST": "DNNL_ARG_DIFF_DST", "DIFF_WEIGHTS": "DNNL_ARG_DIFF_WEIGHTS",
}  # fmt: skip
QUERIES = {
    "SRC": "dnnl_query_src_md", "DIFF_SRC": "dnnl_query_diff_src_md", "WEIGHTS": "dnnl_query_weights_md",
    "DIFF_WEIGHTS": "dnnl_query_diff_weights_md", "DST": "dnnl_query_dst_md",
    "DIFF_DST": "dnnl_query_diff_dst_md",
}  # fmt: skip


def test_constants_match_the_installed_headers(tmp_path):
    """Compile a C program printing the headers' values (needs a C compiler and libdnnl-dev)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not HEADERS.exists():
        pytest.skip("needs a C compiler and oneDNN's headers (apt install gcc libdnnl-dev)")
    names = list(LIBRARY_CONSTANTS.values()) + list(CONSTANTS.values()) + list(QUERIES.values())
    prints = "".join(f'printf("%ld\\n", (long)({name}));' for name in names)
    sizes = 'printf("%zu\\n%zu\\n", sizeof(dnnl_memory_desc_t), sizeof(dnnl_convolution_desc_t));'
    source = tmp_path / "constants.c"
    source.write_text(f"#include <stdio.h>\n#include <oneapi/dnnl/dnnl.h>\nint main(void){{{prints}{sizes}}}")
    program = tmp_path / "constants"
    subprocess.run([compiler, str(source), "-o", str(program)], check=True)
    printed = subprocess.run([str(program)], capture_output=True, text=True, check=True).stdout
    values = [int(v) for v in printed.split()]
    ours = [getattr(_dnnl, name) for name in LIBRARY_CONSTANTS]
    ours += [getattr(_onednn, name) for name in CONSTANTS]
    ours += [_onednn.QUERY[getattr(_onednn, name)] for name in QUERIES]
    assert dict(zip(names, ours, strict=True)) == dict(zip(names, values[: len(names)], strict=True))
    memory_desc, conv_desc = values[len(names) :]
    assert memory_desc <= _dnnl.MEMORY_DESC_BYTES and conv_desc <= _onednn.OP_DESC_BYTES
