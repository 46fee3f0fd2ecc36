"""Conv2d and ConvTranspose2d: parity with PyTorch over their settings, gradcheck, the lecture's numbers,
errors, initialization, and the kernels' workspace reuse."""

import itertools
import math
import weakref

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ember
from ember import nn
from ember.nn import functional as F
from ember.nn.functional import _conv_grid, _conv_kernels, _parallel
from ember.nn.functional._compiled import compiled
from tests.helpers import check_gradients, check_parity, random_array
from tests.nn.harness import check_module_gradients, check_module_parity

TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")


@pytest.fixture(autouse=True)
def numpy_kernels(monkeypatch):
    """These tests are about the NumPy kernels, the reference: oneDNN's (tests/nn/test_onednn.py) stay off."""
    monkeypatch.setenv("EMBER_ONEDNN", "0")


def conv_case(c_in, c_out, size, kernel, groups, bias, seed=0, batch=2):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = random_array((batch, c_in, *size), seed=seed)
    w = random_array((c_out, c_in // groups, kh, kw), seed=seed + 1)
    b = random_array((c_out,), seed=seed + 2) if bias else None
    return x, w, b


def check_conv(x, w, b, **options):
    inputs = [x, w] if b is None else [x, w, b]

    def ember_fn(*a):
        return F.conv2d(*a, **options) if b is not None else F.conv2d(a[0], a[1], None, **options)

    def torch_fn(*a):
        return TF.conv2d(*a, **options) if b is not None else TF.conv2d(a[0], a[1], None, **options)

    # A sum of up to C kh kw float32 products: PyTorch and Ember add them in different orders.
    check_parity(ember_fn, torch_fn, inputs, rtol=1e-4, atol=1e-5)


# A grid over every setting; each case is a few small arrays, the whole grid runs in seconds.
CONV_GRID = [
    (stride, padding, dilation, groups, kernel, bias)
    for stride, padding, dilation, groups, kernel, bias in itertools.product(
        [1, 2, (2, 1)], [0, 1, (2, 0), "same", "valid"], [1, 2], [1, 2], [3, (2, 3), 1], [True, False]
    )
    if not (padding == "same" and stride != 1)
]


@pytest.mark.parametrize("stride, padding, dilation, groups, kernel, bias", CONV_GRID)
def test_conv2d_parity_grid(stride, padding, dilation, groups, kernel, bias):
    x, w, b = conv_case(4, 6, (7, 9), kernel, groups, bias)
    check_conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)


@settings(max_examples=40, deadline=None)
@given(
    c_in=st.integers(1, 4),
    out_per_group=st.integers(1, 3),
    groups=st.integers(1, 3),
    size=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    kernel=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    batch=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_conv2d_parity_random_settings(
    c_in, out_per_group, groups, size, kernel, stride, padding, dilation, batch, seed
):
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    if any(e > n + 2 * p for e, n, p in zip(extent, size, padding, strict=True)):
        return  # the kernel does not fit: tested among the errors
    x, w, b = conv_case(c_in * groups, out_per_group * groups, size, kernel, groups, True, seed, batch)
    check_conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize(
    "c_in, c_out, groups, size, kernel, options",
    [
        (3, 3, 3, (6, 6), 3, {"padding": 1}),  # depthwise
        (4, 8, 4, (7, 5), 3, {"stride": 2, "padding": 1}),  # depthwise with multiplier 2, strided
        (16, 16, 1, (32, 32), 3, {"padding": 1}),  # ResNet-20's shape, flat-grid path
        (16, 32, 1, (32, 32), 3, {"stride": 2, "padding": 1}),  # ResNet-20 downsampling, col2im path
        (16, 32, 1, (16, 16), 1, {"stride": 2}),  # 1x1 projection shortcut
        (8, 8, 1, (9, 9), 1, {}),  # 1x1: the grid is the column matrix, no copy
        (1, 6, 1, (28, 28), 5, {"padding": 2}),  # LeNet-5 C1
        (6, 16, 1, (14, 14), 5, {}),  # LeNet-5 C3 (exact positions: the flat grid would waste half)
        (2, 3, 1, (5, 5), 3, {"padding": 4}),  # padding wider than the kernel
        (2, 4, 1, (6, 7), (1, 4), {"padding": "same", "dilation": (1, 2)}),  # asymmetric 'same'
    ],
)
def test_conv2d_parity_special_shapes(c_in, c_out, groups, size, kernel, options):
    x, w, b = conv_case(c_in, c_out, size, kernel, groups, True, batch=3)
    check_conv(x, w, b, groups=groups, **options)


@pytest.mark.parametrize(
    "options",
    [
        {"padding": 1},
        {"stride": 2, "padding": (1, 2), "dilation": (2, 1)},
        {"padding": "same", "dilation": 2},
        {"stride": (1, 2), "groups": 2},
    ],
)
def test_conv2d_gradcheck(options):
    groups = options.get("groups", 1)
    x, w, b = conv_case(2, 4, (5, 6), (3, 2), groups, True)
    check_gradients(lambda *a: F.conv2d(*a, **options), [x, w, b])


def test_conv2d_chunks_and_workspaces_do_not_change_the_result(monkeypatch):
    """Chunk boundaries anywhere (here every few positions) give the same numbers as one chunk."""
    x, w, b = conv_case(3, 4, (9, 8), 3, 1, True, batch=3)
    results = []
    for chunk in (1 << 21, 4 * 27 * 5):  # one chunk; chunks of 5 positions cut rows and samples
        monkeypatch.setattr(_conv_grid, "CHUNK_BYTES", chunk)
        for options in ({"padding": 1}, {"stride": 2, "padding": 1}):
            xe, we = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
            y = F.conv2d(xe, we, ember.tensor(b), **options)
            y.backward(random_array(y.shape, seed=5))
            results.append((y.array, xe.grad.array, we.grad.array))
    for first, second in zip(results[:2], results[2:], strict=True):
        for a, c in zip(first, second, strict=True):
            np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("input_grad", ["transposed", "col2im"])
@pytest.mark.parametrize("columns", ["grid rows", "exact"])
@pytest.mark.parametrize(
    "c_in, c_out, size, kernel, options",
    [
        (3, 4, (7, 9), 3, {"padding": 1}),
        (2, 6, (8, 6), (3, 2), {"padding": "same", "dilation": 2, "groups": 2}),
        (4, 4, (6, 7), 3, {}),
        (3, 2, (5, 5), 1, {"padding": 2}),
    ],
)
def test_every_kernel_path_matches_pytorch(
    monkeypatch, input_grad, columns, c_in, c_out, size, kernel, options
):
    """Stride-1 input gradients either way, columns over whole grid rows or exact positions."""
    if input_grad == "col2im":
        monkeypatch.setattr(_conv_kernels, "prefers_transposed", lambda *args: False)
    else:
        monkeypatch.setattr(_conv_kernels, "prefers_transposed", lambda geo, *args: geo.transposed_input_grad)
    monkeypatch.setattr(_conv_grid, "ROW_WASTE_LIMIT", 100.0 if columns == "grid rows" else 0.0)
    _conv_grid.geometry.cache_clear()
    try:
        x, w, b = conv_case(c_in, c_out, size, kernel, options.get("groups", 1), True, batch=3)
        check_conv(x, w, b, **options)
        check_parity(
            lambda *a: F.conv_transpose2d(*a, padding=1), lambda *a: TF.conv_transpose2d(*a, padding=1),
            [x, random_array((c_in, 2, 3, 3), seed=4)], rtol=1e-4, atol=1e-5,
        )  # fmt: skip
    finally:
        _conv_grid.geometry.cache_clear()


def test_large_copies_split_across_threads_agree(monkeypatch):
    """Arrays above _parallel.PARALLEL_COPY_BYTES are converted between layouts in pieces on threads."""
    x, w, b = conv_case(16, 8, (64, 64), 3, 1, True, batch=4)  # 1 MiB of input
    results = []
    for count in ("1", "2"):
        monkeypatch.setenv("EMBER_NUM_THREADS", count)
        xe, we = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
        y = F.conv2d(xe, we, ember.tensor(b), padding=1)
        y.backward(random_array(y.shape, seed=5))
        results.append((y.array, xe.grad.array, we.grad.array))
    for a, c in zip(*results, strict=True):
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-4)


def test_any_number_of_kernel_threads_gives_identical_numbers(monkeypatch):
    """With threads, every chunk runs on one BLAS thread and partial sums are added in chunk order, so
    which thread takes which chunk (it varies with timing) never changes a bit of the result."""
    monkeypatch.setattr(_conv_grid, "CHUNK_BYTES", 4 * 27 * 40)
    x, w, b = conv_case(3, 5, (9, 8), 3, 1, True, batch=7)
    results = []
    for count in ("2", "3", "2"):
        monkeypatch.setenv("EMBER_NUM_THREADS", count)
        xe, we = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
        y = F.conv2d(xe, we, ember.tensor(b), padding=1)
        y.backward(random_array(y.shape, seed=5))
        results.append((y.array, xe.grad.array, we.grad.array))
    for other in results[1:]:
        for a, c in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_partial_sums_are_added_in_chunk_order_as_they_arrive(monkeypatch, threads):
    """sum_chunks adds each chunk's result as soon as the earlier ones are in (in chunk order), so on one
    thread no partial result outlives its addition (a weight gradient's partials are not all kept)."""
    monkeypatch.setenv("EMBER_NUM_THREADS", threads)
    alive = []
    most_alive = [0]

    def body(chunk):
        most_alive[0] = max(most_alive[0], sum(ref() is not None for ref in alive))
        part = np.full(3, float(chunk))
        alive.append(weakref.ref(part))
        return part

    total = _parallel.sum_chunks(list(range(1, 41)), body)
    np.testing.assert_array_equal(total, np.full(3, 820.0))
    if threads == "1":
        assert most_alive[0] <= 1  # only the running total (the first part, added into)


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_threads_share_the_chunks_and_agree(monkeypatch, threads):
    """Chunks on 1, 2 or 3 threads: the same results (identical on 2 and 3, see the next test)."""
    monkeypatch.setattr(_conv_grid, "CHUNK_BYTES", 4 * 27 * 40)  # many chunks
    results = {}
    for count in ("1", threads):
        monkeypatch.setenv("EMBER_NUM_THREADS", count)
        for options in ({"padding": 1}, {"stride": 2, "padding": 1}):
            x, w, b = conv_case(3, 5, (9, 8), 3, 1, True, batch=5)
            xe, we = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
            y = F.conv2d(xe, we, ember.tensor(b), **options)
            y.backward(random_array(y.shape, seed=5))
            results[count, str(options)] = (y.array, xe.grad.array, we.grad.array)
    for key, values in results.items():
        for a, c in zip(values, results["1", key[1]], strict=True):
            # One thread leaves BLAS its own threads, which may round differently.
            np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-5)


def test_two_calls_of_one_shape_before_backward_keep_their_own_inputs():
    """The kernels reuse scratch arrays between calls; nothing saved for backward may be one of them."""
    x1, x2 = random_array((2, 3, 6, 6), seed=1), random_array((2, 3, 6, 6), seed=2)
    w = random_array((4, 3, 3, 3), seed=3)

    def ember_fn(a, c, weight):
        return F.conv2d(a, weight, padding=1) * 2 + F.conv2d(c, weight, padding=1)

    def torch_fn(a, c, weight):
        return TF.conv2d(a, weight, padding=1) * 2 + TF.conv2d(c, weight, padding=1)

    check_parity(ember_fn, torch_fn, [x1, x2, w], rtol=1e-4, atol=1e-5)


def test_conv2d_keeps_float64_and_float32():
    x, w, b = conv_case(2, 3, (5, 5), 3, 1, True)
    assert F.conv2d(ember.tensor(x), ember.tensor(w), ember.tensor(b)).dtype == np.float32
    x64 = ember.tensor(x.astype(np.float64))
    out = F.conv2d(x64, ember.tensor(w.astype(np.float64)), ember.tensor(b.astype(np.float64)))
    assert out.dtype == np.float64


def test_conv2d_unbatched_input_and_no_grad_saves_nothing():
    x, w, b = conv_case(2, 3, (5, 5), 3, 1, True, batch=1)
    check_conv(x[0], w, b, padding=1)
    with ember.no_grad():
        y = F.conv2d(ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True))
    assert y.grad_fn is None and not y.requires_grad


# ------------------------------------------------------------------------------------------------------
# Modules


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((3, 4, 3), {}),
        ((3, 4, (3, 2)), {"stride": 2, "padding": (1, 0), "bias": False}),
        ((4, 6, 3), {"groups": 2, "dilation": 2, "padding": "same"}),
        ((3, 3, 3), {"groups": 3, "padding": "valid"}),
        ((3, 4, 3), {"padding": 2, "padding_mode": "reflect"}),
        ((3, 4, 3), {"padding": (1, 2), "padding_mode": "replicate"}),
        ((3, 4, (2, 3)), {"padding": "same", "padding_mode": "circular"}),
    ],
)
def test_conv2d_module_parity_and_gradcheck(args, kwargs):
    torch.manual_seed(0)
    x = random_array((2, 3 if args[0] == 3 else 4, 6, 7))
    check_module_parity(
        nn.Conv2d(*args, **kwargs), torch.nn.Conv2d(*args, **kwargs), [x], rtol=1e-4, atol=1e-5
    )
    check_module_gradients(nn.Conv2d(*args, **kwargs), [random_array((1, args[0], 5, 5), seed=1)])


@pytest.mark.parametrize(
    "args, kwargs, size",
    [
        ((4, 3, 3), {}, (5, 4)),
        ((4, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1}, (4, 5)),
        ((4, 6, (2, 3)), {"stride": (2, 3), "groups": 2, "bias": False}, (3, 3)),
        ((4, 2, 3), {"dilation": 2, "output_padding": 1, "padding": 2}, (4, 4)),  # output_padding, stride 1
        ((2, 2, 4), {"stride": 2, "padding": 1}, (4, 4)),  # the classic 2x upsampling
    ],
)
def test_conv_transpose2d_module_parity_and_gradcheck(args, kwargs, size):
    torch.manual_seed(0)
    x = random_array((2, args[0], *size))
    check_module_parity(
        nn.ConvTranspose2d(*args, **kwargs),
        torch.nn.ConvTranspose2d(*args, **kwargs),
        [x],
        rtol=1e-4,
        atol=1e-5,
    )
    check_module_gradients(nn.ConvTranspose2d(*args, **kwargs), [random_array((1, args[0], 3, 3), seed=1)])


@settings(max_examples=30, deadline=None)
@given(
    groups=st.integers(1, 2),
    size=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    extra=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    seed=st.integers(0, 1000),
)
def test_conv_transpose2d_parity_random_settings(
    groups, size, kernel, stride, padding, dilation, extra, seed
):
    output_padding = tuple(min(e, max(s, d) - 1) for e, s, d in zip(extra, stride, dilation, strict=True))
    out = [
        (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        for n, k, s, p, d, op in zip(size, kernel, stride, padding, dilation, output_padding, strict=True)
    ]
    if min(out) <= 0:
        return
    x = random_array((2, 2 * groups, *size), seed=seed)
    w = random_array((2 * groups, 2, *kernel), seed=seed + 1)
    b = random_array((2 * groups,), seed=seed + 2)
    options = {
        "stride": stride,
        "padding": padding,
        "output_padding": output_padding,
        "groups": groups,
        "dilation": dilation,
    }
    check_parity(
        lambda *a: F.conv_transpose2d(*a, **options),
        lambda *a: TF.conv_transpose2d(*a, **options),
        [x, w, b],
        rtol=1e-4,
        atol=1e-5,
    )


def test_conv_transpose2d_output_size_argument():
    layer, reference = (
        nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1),
        torch.nn.ConvTranspose2d(2, 3, 3, 2, 1),
    )
    x = random_array((1, 2, 4, 4))
    for size in [(7, 7), (8, 8), (1, 3, 8, 7)]:
        assert (
            layer(ember.tensor(x), output_size=size).shape
            == reference(torch.tensor(x), output_size=size).shape
        )
    with pytest.raises(ValueError, match=r"valid sizes range from \(7, 7\) to \(8, 8\)"):
        layer(ember.tensor(x), output_size=(9, 9))


def test_default_initialization_is_pytorchs():
    """kaiming_uniform_(a=sqrt(5)) gives W ~ U(-1/sqrt(fan_in), +); the bias the same bound."""
    ember.manual_seed(0)
    layer = nn.Conv2d(16, 32, 3)
    bound = 1 / math.sqrt(16 * 9)
    for values in (layer.weight.array, layer.bias.array):
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound
    assert abs(layer.weight.array.std() - bound / math.sqrt(3)) < 0.05 * bound  # std of U(-a, a) = a/sqrt3
    transposed = nn.ConvTranspose2d(8, 4, 3, groups=2)  # fan_in = weight.shape[1] * kh * kw = 2 * 9
    assert transposed.weight.shape == (8, 2, 3, 3)
    assert np.abs(transposed.weight.array).max() <= 1 / math.sqrt(2 * 9)
    assert np.abs(transposed.bias.array).max() <= 1 / math.sqrt(2 * 9)
    assert layer.weight.dtype == np.float32


def test_repr_matches_pytorch():
    for args, kwargs in [
        ((3, 10, 5), {"padding": 2}),
        ((3, 4, (2, 3)), {"stride": 2, "dilation": 2, "groups": 1, "bias": False}),
        ((4, 4, 3), {"padding": "same", "groups": 2, "padding_mode": "reflect"}),
    ]:
        assert repr(nn.Conv2d(*args, **kwargs)) == repr(torch.nn.Conv2d(*args, **kwargs))
    kwargs = {"stride": 2, "output_padding": 1, "bias": False}
    assert repr(nn.ConvTranspose2d(4, 2, 3, **kwargs)) == repr(torch.nn.ConvTranspose2d(4, 2, 3, **kwargs))


# ------------------------------------------------------------------------------------------------------
# The lecture's numbers


def test_lecture_ten_5x5_filters_on_32x32x3():
    """Ten 5x5 filters, stride 1, pad 2 on 32x32x3: 760 parameters, a 10x32x32 output."""
    layer = nn.Conv2d(3, 10, kernel_size=5, stride=1, padding=2)
    assert sum(p.numel() for p in layer.parameters()) == 760 == 10 * (5 * 5 * 3 + 1)
    assert layer(ember.randn(1, 3, 32, 32)).shape == (1, 10, 32, 32)


def test_lecture_alexnet_first_layer():
    """96 11x11 filters at stride 4 on 227x227x3: (227 - 11) / 4 + 1 = 55, so 55x55x96; 34,848 weights."""
    layer = nn.Conv2d(3, 96, kernel_size=11, stride=4)
    assert layer.weight.numel() == 34_848 and layer.bias.numel() == 96
    with ember.no_grad():
        assert layer(ember.randn(1, 3, 227, 227)).shape == (1, 96, 55, 55)


# ------------------------------------------------------------------------------------------------------
# Errors


def test_wrong_input_shape_names_the_layer_and_both_shapes():
    layer = nn.Conv2d(3, 10, 5, padding=2)
    expected = r"Conv2d\(3, 10, kernel_size=\(5, 5\), stride=\(1, 1\), padding=\(2, 2\)\): "
    with pytest.raises(ValueError, match=expected + r"expected input \(N, 3, H, W\).*got \(8, 1, 32, 32\)"):
        layer(ember.zeros(8, 1, 32, 32))
    with pytest.raises(ValueError, match=r"got \(32, 32\)"):
        layer(ember.zeros(32, 32))
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(4, 2.*expected input \(N, 4, H, W\)"):
        nn.ConvTranspose2d(4, 2, 3)(ember.zeros(1, 2, 5, 5))


def test_kernel_larger_than_padded_input_says_so():
    with pytest.raises(ValueError, match=r"kernel \(5, 5\) is larger than the padded input \(4, 4\)"):
        nn.Conv2d(1, 1, 5, padding=1)(ember.zeros(1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"dilated to \(5, 5\)"):
        F.conv2d(ember.zeros(1, 1, 4, 4), ember.zeros(1, 1, 3, 3), dilation=2)


def test_groups_must_divide_the_channels():
    with pytest.raises(ValueError, match=r"in_channels \(3\) must be divisible by groups \(2\)"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"out_channels \(5\) must be divisible by groups \(2\)"):
        nn.Conv2d(4, 5, 3, groups=2)
    with pytest.raises(ValueError, match=r"must be divisible by groups"):
        F.conv2d(ember.zeros(1, 4, 5, 5), ember.zeros(3, 2, 3, 3), groups=2)


def test_other_argument_errors():
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding must be 'valid', 'same'"):
        F.conv2d(ember.zeros(1, 1, 5, 5), ember.zeros(1, 1, 3, 3), padding="full")
    with pytest.raises(TypeError, match=r"input type \(float64\) and weight type \(float32\)"):
        F.conv2d(ember.zeros(1, 1, 5, 5, dtype=ember.float64), ember.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"output_padding .* must be smaller than either stride"):
        F.conv_transpose2d(ember.zeros(1, 1, 3, 3), ember.zeros(1, 1, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="reflect padding"):
        nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")(ember.zeros(1, 1, 3, 3))


@pytest.mark.parametrize(
    "c_in, c_out, size, kernel, options",
    [
        (3, 4, (9, 8), 3, {"stride": 2, "padding": 1}),
        (4, 6, (10, 7), (3, 2), {"stride": (2, 3), "dilation": 2, "groups": 2}),
        (6, 16, (14, 14), 5, {}),  # LeNet-5 C3: stride 1, col2im chosen by cost
        (2, 3, (6, 6), 1, {"stride": 2}),
    ],
)
def test_compiled_and_numpy_col2im_give_identical_numbers(monkeypatch, c_in, c_out, size, kernel, options):
    if compiled() is None:
        pytest.skip("numba is not installed (or EMBER_NUMBA=0)")
    monkeypatch.setattr(_conv_kernels, "prefers_transposed", lambda *args: False)
    x, w, _ = conv_case(c_in, c_out, size, kernel, options.get("groups", 1), False, batch=3)
    results = []
    for numba_on in ("1", "0"):
        monkeypatch.setenv("EMBER_NUMBA", numba_on)
        xe = ember.tensor(x, requires_grad=True)
        y = F.conv2d(xe, ember.tensor(w), **options)
        y.backward(random_array(y.shape, seed=7))
        results.append(xe.grad.array)
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("options", [{"padding": 1}, {"stride": 2}, {}])
@pytest.mark.parametrize("kernel", [3, 1])
def test_empty_batch(kernel, options):
    x = np.zeros((0, 3, 6, 6), np.float32)
    w = random_array((4, 3, kernel, kernel))
    check_parity(lambda a, b: F.conv2d(a, b, **options), lambda a, b: TF.conv2d(a, b, **options), [x, w])
    check_parity(
        lambda a, b: F.conv_transpose2d(a, b, **options),
        lambda a, b: TF.conv_transpose2d(a, b, **options),
        [np.zeros((0, 4, 5, 5), np.float32), w],
    )


def test_kernel_threads_work_in_a_forked_child(monkeypatch):
    """A pool of threads made before fork has no threads in the child; the child makes its own."""
    import multiprocessing

    monkeypatch.setenv("EMBER_NUM_THREADS", "2")
    monkeypatch.setattr(_conv_grid, "CHUNK_BYTES", 4 * 27 * 40)
    x, w, _ = conv_case(3, 4, (8, 8), 3, 1, False, batch=4)
    expected = F.conv2d(ember.tensor(x), ember.tensor(w), padding=1).array  # starts the pool here
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        result = pool.apply_async(_conv_in_child, (x, w)).get(timeout=60)
    np.testing.assert_array_equal(result, expected)


def _conv_in_child(x, w):
    return F.conv2d(ember.tensor(x), ember.tensor(w), padding=1).array


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "shape, widths", [((2, 3, 5, 6), (2, 1, 1, 3)), ((3, 5, 6), (0, 2, 3, 1)), ((2, 3, 7), (3, 2))]
)
def test_pad_modes_match_pytorch_and_keep_an_inf_gradient_to_its_copies(mode, shape, widths):
    """``F.pad`` with 'reflect', 'replicate' and 'circular' (PyTorch's shapes: 2 widths for 2-D/3-D inputs, 4
    for 3-D/4-D); the backward adds the copies back, and an inf or NaN upstream gradient reaches only the
    positions it was copied from (one-hot matrices would make their whole rows NaN)."""
    x = random_array(shape)
    check_parity(
        lambda t: F.pad(t, widths, mode=mode), lambda t: torch.nn.functional.pad(t, widths, mode=mode), [x]
    )
    check_gradients(lambda t: F.pad(t, widths, mode=mode), [x.astype(np.float64)])
    ours, theirs = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = F.pad(ours, widths, mode=mode), torch.nn.functional.pad(theirs, widths, mode=mode)
    grad = random_array(tuple(expected.shape), seed=1)
    grad.reshape(-1)[[3, 17]] = np.inf, np.nan
    out.backward(ember.tensor(grad))
    expected.backward(torch.tensor(grad))
    np.testing.assert_array_equal(np.isnan(ours.grad.numpy()), np.isnan(theirs.grad.numpy()))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_pad_modes_refuse_what_pytorch_refuses():
    with pytest.raises(ValueError, match="takes no value"):
        F.pad(ember.zeros(1, 1, 3, 3), (1, 1, 1, 1), mode="reflect", value=1.0)
    padded = F.pad(ember.zeros(1, 1, 3, 3), (1, 1, 1, 1), mode="reflect", value=0.0)  # PyTorch takes a zero
    assert padded.shape == (1, 1, 5, 5)
    with pytest.raises(ValueError, match="2-D or 3-D input by 2 widths"):
        F.pad(ember.zeros(1, 1, 3, 3), (1, 1), mode="replicate")
    assert F.pad(ember.ones(2, 2), (1, 0, 0, 2), value=3.0).shape == (4, 3)  # constant: any dimensions
