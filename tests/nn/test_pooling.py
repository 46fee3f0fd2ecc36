"""Pooling: max (with ties and indices), average, adaptive, max-unpooling; parity with PyTorch, gradcheck,
the lecture's max-unpooling example, errors; the compiled kernels against their NumPy twins."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ember
from ember import nn
from ember.nn import functional as F
from ember.nn.functional import _pool_kernels
from ember.nn.functional._compiled import compiled
from ember.nn.functional.conv import pair
from tests.helpers import assert_close, check_gradients, check_parity, random_array

TF = torch.nn.functional


def distinct_values(shape, seed=0):
    """A random permutation of well-separated values: no ties, so the numerical gradient is defined."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 1.0).astype(np.float32)


def with_ties(shape, seed=0):
    """Small integers: most windows hold their maximum more than once."""
    return np.random.default_rng(seed).integers(-2, 3, shape).astype(np.float32)


def check_pool_with_indices(ember_fn, torch_fn, x):
    """Same values, same indices (ties included), same gradient for a random upstream gradient.

    A window that lies entirely in the padding has the value -inf in both frameworks. Its output is a
    constant, so Ember gives it no gradient; PyTorch's index there is arbitrary (it may even point past
    the plane) and its backward writes the upstream gradient through it. The gradients are compared
    with the upstream gradient of those windows set to zero, and Ember must ignore it when it is not.
    """
    (value, index), (reference, reference_index) = ember_fn(ember.tensor(x)), torch_fn(torch.tensor(x))
    assert index.dtype == np.int64
    assert_close(value, reference, 0, 0, "values")
    in_padding = np.isneginf(reference.numpy())
    np.testing.assert_array_equal(index.array[~in_padding], reference_index.numpy()[~in_padding])
    if not in_padding.any():
        check_parity(lambda a: ember_fn(a)[0], lambda a: torch_fn(a)[0], [x])
        return
    upstream = np.random.default_rng(0).standard_normal(reference.shape).astype(np.float32)
    masked = np.where(in_padding, 0, upstream).astype(np.float32)
    ember_x, torch_x = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    torch_fn(torch_x)[0].backward(torch.from_numpy(masked))
    ember_fn(ember_x)[0].backward(ember.tensor(upstream))
    assert_close(ember_x.grad, torch_x.grad, 1e-6, 1e-6, "gradient")


def test_max_pool2d_window_in_padding_is_minus_infinity_with_no_gradient():
    x = random_array((1, 1, 2, 1))
    a = ember.tensor(x, requires_grad=True)
    out = F.max_pool2d(a, (1, 2), stride=(2, 1), padding=(0, 1), dilation=(1, 2))
    assert out.shape == (1, 1, 1, 1) and np.isneginf(out.array).all()
    out.backward(ember.ones_like(out))
    np.testing.assert_array_equal(a.grad.array, np.zeros_like(x))


MAX_GRID = list(
    itertools.product([2, 3, (2, 3)], [None, 1, 2, (1, 2)], [0, 1], [1, 2], [False, True], [(6, 7), (5, 5)])
)


@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode, size", MAX_GRID)
def test_max_pool2d_parity_grid_with_ties_and_indices(kernel, stride, padding, dilation, ceil_mode, size):
    options = {"stride": stride, "padding": padding, "dilation": dilation, "ceil_mode": ceil_mode}
    try:
        TF.max_pool2d(torch.zeros(1, 1, *size), kernel, **options)
    except RuntimeError:
        return  # PyTorch refuses the setting (padding above half the kernel); tested among the errors
    for x in (random_array((2, 3, *size)), with_ties((2, 3, *size))):
        check_pool_with_indices(
            lambda a: F.max_pool2d(a, kernel, return_indices=True, **options),
            lambda a: TF.max_pool2d(a, kernel, return_indices=True, **options),
            x,
        )


def test_max_pool2d_ties_route_the_gradient_to_the_first_maximum():
    x = np.array([[[[1, 3, 3, 0], [3, 2, 0, 0]]]], np.float32)  # window 1: three 3s; window 2: all 0
    xe = ember.tensor(x, requires_grad=True)
    y, index = F.max_pool2d(xe, 2, return_indices=True)
    y.backward(ember.ones(1, 1, 1, 2))
    np.testing.assert_array_equal(index.array, [[[[1, 2]]]])
    np.testing.assert_array_equal(xe.grad.array, [[[[0, 1, 1, 0], [0, 0, 0, 0]]]])


@pytest.mark.parametrize(
    "kernel, options",
    [
        (2, {}),
        (3, {"stride": 2, "padding": 1}),
        ((2, 3), {"dilation": 2, "ceil_mode": True}),
        (3, {"stride": 1}),
    ],
)
def test_max_pool2d_gradcheck(kernel, options):
    check_gradients(lambda a: F.max_pool2d(a, kernel, **options), [distinct_values((2, 2, 7, 6))])


@settings(max_examples=40, deadline=None)
@given(
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    ceil_mode=st.booleans(),
    ties=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_max_pool2d_parity_random_settings(size, kernel, stride, padding, dilation, ceil_mode, ties, seed):
    options = {"stride": stride, "padding": padding, "dilation": dilation, "ceil_mode": ceil_mode}
    try:
        TF.max_pool2d(torch.zeros(1, 1, *size), kernel, **options)
    except RuntimeError:
        return
    x = with_ties((2, 2, *size), seed) if ties else random_array((2, 2, *size), seed=seed)
    check_pool_with_indices(
        lambda a: F.max_pool2d(a, kernel, return_indices=True, **options),
        lambda a: TF.max_pool2d(a, kernel, return_indices=True, **options),
        x,
    )


def test_max_pool2d_nan_propagates():
    x = random_array((1, 1, 4, 4))
    x[0, 0, 1, 2] = np.nan
    out = F.max_pool2d(ember.tensor(x), 2).array
    assert np.isnan(out[0, 0, 0, 1]) and not np.isnan(out).sum() > 1


AVG_GRID = list(
    itertools.product(
        [2, 3, (2, 3)], [None, 1, 2], [0, 1], [False, True], [False, True], [None, 5], [(6, 7), (5, 5)]
    )
)


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode, count_include_pad, divisor, size", AVG_GRID)
def test_avg_pool2d_parity_grid(kernel, stride, padding, ceil_mode, count_include_pad, divisor, size):
    options = {
        "stride": stride,
        "padding": padding,
        "ceil_mode": ceil_mode,
        "count_include_pad": count_include_pad,
        "divisor_override": divisor,
    }
    try:
        TF.avg_pool2d(torch.zeros(1, 1, *size), kernel, **options)
    except RuntimeError:
        return
    check_parity(
        lambda a: F.avg_pool2d(a, kernel, **options),
        lambda a: TF.avg_pool2d(a, kernel, **options),
        [random_array((2, 3, *size))],
    )


@pytest.mark.parametrize(
    "kernel, options",
    [(2, {}), (3, {"stride": 2, "padding": 1, "count_include_pad": False}), ((2, 3), {"ceil_mode": True})],
)
def test_avg_pool2d_gradcheck(kernel, options):
    check_gradients(lambda a: F.avg_pool2d(a, kernel, **options), [random_array((2, 2, 7, 6))])


@pytest.mark.parametrize(
    "size, output_size",
    [((8, 8), 4), ((7, 9), (3, 4)), ((5, 11), (2, 3)), ((6, 6), (None, 4)), ((5, 4), (5, 4)), ((9, 7), 1),
     ((3, 3), (5, 4))],
)  # fmt: skip
def test_adaptive_pools_parity_including_sizes_that_do_not_divide(size, output_size):
    x = random_array((2, 3, *size))
    check_parity(
        lambda a: F.adaptive_avg_pool2d(a, output_size), lambda a: TF.adaptive_avg_pool2d(a, output_size), [x]
    )
    for values in (x, with_ties((2, 3, *size))):
        check_pool_with_indices(
            lambda a: F.adaptive_max_pool2d(a, output_size, return_indices=True),
            lambda a: TF.adaptive_max_pool2d(a, output_size, return_indices=True),
            values,
        )


@pytest.mark.parametrize("output_size", [(3, 3), (5, 4), (3, 7)])
def test_adaptive_avg_pool_keeps_inf_and_nan_in_their_windows(output_size):
    """An inf, -inf or NaN reaches only the windows that hold it, forward and backward, as in PyTorch (a
    product with a 0/1 window matrix would make every window of its rows and columns NaN); inf and -inf
    in one window give NaN without a warning (pytest turns Ember's RuntimeWarnings into errors)."""
    x = random_array((2, 3, 8, 9))
    x[0, 0, 1, 1], x[0, 1, 2, 2], x[1, 2, 0, 0], x[1, 2, 0, 1] = np.inf, np.nan, -np.inf, np.inf
    ours, theirs = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = F.adaptive_avg_pool2d(ours, output_size), TF.adaptive_avg_pool2d(theirs, output_size)
    assert np.isfinite(expected.detach().numpy()).sum() > 0
    np.testing.assert_array_equal(np.isnan(out.detach().numpy()), np.isnan(expected.detach().numpy()))
    assert_close(out, expected, 1e-5, 1e-6, "adaptive_avg_pool2d with inf and NaN")
    grad = random_array(tuple(expected.shape), seed=1)
    grad[0, 0, 1, 1], grad[1, 1, 0, 0] = np.inf, np.nan
    out.backward(ember.tensor(grad))
    expected.backward(torch.tensor(grad))
    np.testing.assert_array_equal(np.isnan(ours.grad.numpy()), np.isnan(theirs.grad.numpy()))
    assert_close(ours.grad, theirs.grad, 1e-5, 1e-6, "its gradient with inf and NaN")


def test_avg_pool_of_inf_and_minus_inf_is_nan_without_a_warning():
    x = np.zeros((1, 1, 6, 6), np.float32)
    x[0, 0, 0, 0], x[0, 0, 0, 1] = np.inf, -np.inf
    out = F.avg_pool2d(ember.tensor(x), 3)  # 3x3 windows: the NumPy path
    np.testing.assert_array_equal(np.isnan(out.numpy()), [[[[True, False], [False, False]]]])


@pytest.mark.parametrize("output_size", [(3, 2), 1, (2, 4)])
def test_adaptive_pools_gradcheck(output_size):
    x = distinct_values((2, 2, 7, 5))
    check_gradients(lambda a: F.adaptive_avg_pool2d(a, output_size), [x])
    check_gradients(lambda a: F.adaptive_max_pool2d(a, output_size), [x])


def test_unbatched_input_and_float64():
    x = random_array((3, 6, 6))
    check_parity(lambda a: F.max_pool2d(a, 2), lambda a: TF.max_pool2d(a, 2), [x])
    check_parity(lambda a: F.avg_pool2d(a, 3, 1, 1), lambda a: TF.avg_pool2d(a, 3, 1, 1), [x])
    x64 = ember.tensor(x.astype(np.float64))
    for out in (F.max_pool2d(x64, 2), F.avg_pool2d(x64, 2), F.adaptive_avg_pool2d(x64, 4)):
        assert out.dtype == np.float64


# ------------------------------------------------------------------------------------------------------
# Max unpooling


def test_lecture_max_unpooling_example():
    """The slide: pool 1 2 6 3 / 3 5 2 1 / 1 2 2 1 / 7 3 4 8 to 5 6 / 7 8, remember where; unpooling
    1 2 / 3 4 puts each value at those positions."""
    x = ember.tensor([[[[1.0, 2, 6, 3], [3, 5, 2, 1], [1, 2, 2, 1], [7, 3, 4, 8]]]])
    pooled, positions = nn.MaxPool2d(2, stride=2, return_indices=True)(x)
    np.testing.assert_array_equal(pooled.array[0, 0], [[5, 6], [7, 8]])
    unpooled = nn.MaxUnpool2d(2, stride=2)(ember.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]), positions)
    np.testing.assert_array_equal(
        unpooled.array[0, 0], [[0, 0, 2, 0], [0, 1, 0, 0], [0, 0, 0, 0], [3, 0, 0, 4]]
    )


@pytest.mark.parametrize(
    "kernel, stride, padding, size, output_size",
    [
        (2, None, 0, (6, 8), None),
        (3, 2, 1, (7, 7), None),
        (2, 2, 0, (5, 5), (5, 5)),
        (3, 3, 0, (6, 6), (1, 2, 7, 8)),
    ],
)
def test_max_pool_unpool_round_trip_parity(kernel, stride, padding, size, output_size):
    x = random_array((2, 3, *size))
    pooled, indices = TF.max_pool2d(torch.tensor(x), kernel, stride, padding, return_indices=True)

    def ember_fn(values):
        return F.max_unpool2d(values, ember.tensor(indices.numpy()), kernel, stride, padding, output_size)

    def torch_fn(values):
        return TF.max_unpool2d(values, indices, kernel, stride, padding, output_size)

    check_parity(ember_fn, torch_fn, [pooled.numpy()])
    if stride in (None, kernel):
        # Overlapping windows can share a maximum; unpooling then writes one position twice and the
        # losing value has no effect, so there only the gather-based gradient (PyTorch's) is checked.
        check_gradients(ember_fn, [pooled.numpy()])
    # Unpooling what was pooled puts every maximum back at its flat position.
    pooled_e, indices_e = F.max_pool2d(ember.tensor(x), kernel, stride, padding, return_indices=True)
    restored = F.max_unpool2d(pooled_e, indices_e, kernel, stride, padding, output_size).array
    flat = indices_e.array.reshape(2, 3, -1)
    at_indices = np.take_along_axis(restored.reshape(2, 3, -1), flat, axis=-1)
    np.testing.assert_array_equal(at_indices, pooled_e.array.reshape(2, 3, -1))
    if restored.shape == x.shape:
        kept = restored != 0
        np.testing.assert_array_equal(restored[kept], x[kept])


def test_unpool_errors():
    values, indices = ember.ones(1, 1, 2, 2), ember.tensor(np.array([[[[0, 1], [2, 99]]]]))
    with pytest.raises(ValueError, match="invalid max index 99"):
        F.max_unpool2d(values, indices, 2)
    with pytest.raises(ValueError, match=r"invalid output_size \(7, 7\)"):
        F.max_unpool2d(values, ember.tensor(np.zeros((1, 1, 2, 2), np.int64)), 2, output_size=(7, 7))
    with pytest.raises(ValueError, match="expected indices of the input's shape"):
        F.max_unpool2d(values, ember.tensor(np.zeros((1, 1, 2, 1), np.int64)), 2)


# ------------------------------------------------------------------------------------------------------
# Modules and errors


def test_modules_match_pytorch():
    x = with_ties((2, 3, 9, 8))
    pairs = [
        (nn.MaxPool2d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
        (nn.AvgPool2d(2, count_include_pad=False), torch.nn.AvgPool2d(2, count_include_pad=False)),
        (nn.AdaptiveAvgPool2d((3, None)), torch.nn.AdaptiveAvgPool2d((3, None))),
        (nn.AdaptiveMaxPool2d(4), torch.nn.AdaptiveMaxPool2d(4)),
    ]
    for ours, theirs in pairs:
        check_parity(ours, theirs, [x])
        assert repr(ours) == repr(theirs)
    _, indices = nn.AdaptiveMaxPool2d((2, 3), return_indices=True)(ember.tensor(x))
    reference = torch.nn.AdaptiveMaxPool2d((2, 3), return_indices=True)(torch.tensor(x))[1]
    np.testing.assert_array_equal(indices.array, reference.numpy())
    assert repr(nn.MaxUnpool2d(2)) == repr(torch.nn.MaxUnpool2d(2))


def test_pooling_errors():
    with pytest.raises(ValueError, match="padding should be at most half of the effective kernel size"):
        F.max_pool2d(ember.zeros(1, 1, 6, 6), 2, padding=2)
    with pytest.raises(ValueError, match="padding should be at most half of the kernel size"):
        F.avg_pool2d(ember.zeros(1, 1, 6, 6), 3, padding=2)
    with pytest.raises(ValueError, match="is too small"):
        F.max_pool2d(ember.zeros(1, 1, 2, 2), 3)
    with pytest.raises(
        ValueError, match=r"MaxPool2d\(kernel_size=2.*expected input \(N, C, H, W\).*got \(4, 4\)"
    ):
        nn.MaxPool2d(2)(ember.zeros(4, 4))
    with pytest.raises(ValueError, match="output_size must be positive"):
        F.adaptive_avg_pool2d(ember.zeros(1, 1, 4, 4), 0)


# ------------------------------------------------------------------------------------------------------
# The compiled (numba) backward and its NumPy twin


@pytest.mark.parametrize(
    "kernel, options",
    [(3, {"stride": 2, "padding": 1}), (3, {"stride": 1}), ((2, 3), {"stride": (1, 2), "dilation": 2}),
     (3, {"stride": 2, "padding": 1, "ceil_mode": True}), (2, {})],
)  # fmt: skip
@pytest.mark.parametrize("values", ["random", "ties", "special"])
def test_compiled_and_numpy_backward_give_identical_numbers(kernel, options, values):
    kernels = compiled()
    if kernels is None:
        pytest.skip("numba is not installed (or EMBER_NUMBA=0)")
    x = random_array((3, 4, 9, 8)) if values != "ties" else with_ties((3, 4, 9, 8))
    if values == "special":
        x[0, 0, 2, 3], x[1, 2, :4, :4], x[2, 1, 5, 5] = np.nan, -np.inf, np.inf
    stride = options.get("stride", kernel)
    geo = _pool_kernels.geometry(
        9, 8, pair(kernel, "k", "t"), pair(stride, "s", "t"), pair(options.get("dilation", 1), "d", "t"),
        pair(options.get("padding", 0), "p", "t"), options.get("ceil_mode", False),
    )  # fmt: skip
    _, arg = _pool_kernels.max_pool(x, geo)
    grad = random_array(arg.shape, seed=3)
    grad[0, 0, 0, 0] = np.inf
    dx = np.zeros(x.shape, np.float32)
    kernels.max_pool_backward(grad, arg, *_pool_kernels._scatter_arguments(geo), dx)
    np.testing.assert_array_equal(dx, _pool_kernels.route_to_taps_numpy(grad, arg, geo, x.shape))


def test_numba_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("EMBER_NUMBA", "0")
    assert compiled() is None
    check_parity(
        lambda a: F.max_pool2d(a, 3, 2, 1), lambda a: TF.max_pool2d(a, 3, 2, 1), [random_array((2, 3, 9, 9))]
    )
    for x in (random_array((2, 3, 9, 8)), with_ties((2, 3, 9, 8))):  # 2x2 windows, no compiled kernel
        check_pool_with_indices(
            lambda a: F.max_pool2d(a, 2, return_indices=True),
            lambda a: TF.max_pool2d(a, 2, return_indices=True),
            x,
        )


# ------------------------------------------------------------------------------------------------------
# The compiled 2x2 stride-2 kernels (max and average, both ways) against the NumPy reference


def pool_input(rng, shape, values, dtype, contiguous):
    """Random values, small integers (ties), or values with NaN, inf and -inf (whole windows of -inf too);
    with ``contiguous=False`` a strided view of a larger array."""
    if values == "ties":
        x = rng.integers(-2, 3, shape).astype(dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    if values == "special":
        flat = x.reshape(-1)
        for value in (np.nan, np.inf, -np.inf, np.nan):
            flat[rng.integers(0, flat.size, max(1, flat.size // 8))] = value
        x[..., :2, :2] = -np.inf  # a window of -inf only
    if not contiguous:
        wide = np.zeros((*shape[:-1], 2 * shape[-1]), dtype)
        wide[..., ::2] = x
        x = wide[..., ::2]
        assert not x.flags.c_contiguous
    return x


@settings(max_examples=60, deadline=None)
@given(
    lead=st.sampled_from([(), (1,), (2,), (3,)]),
    channels=st.integers(1, 3),
    size=st.tuples(st.integers(2, 9), st.integers(2, 9)),
    values=st.sampled_from(["random", "ties", "special"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    contiguous=st.booleans(),
    ceil_mode=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_compiled_2x2_pooling_gives_the_reference_numbers(
    lead, channels, size, values, dtype, contiguous, ceil_mode, seed
):
    if compiled() is None:
        pytest.skip("numba is not installed (or EMBER_NUMBA=0)")
    rng = np.random.default_rng(seed)
    x = pool_input(rng, (*lead, channels, *size), values, dtype, contiguous)
    geo = _pool_kernels.geometry(*size, (2, 2), (2, 2), (1, 1), (0, 0), ceil_mode)
    # ceil_mode keeps the fast path where it adds no window (even sizes); otherwise the general one
    assert geo.tiles_2x2 == (not ceil_mode or (size[0] % 2 == 0 and size[1] % 2 == 0))
    out, arg = _pool_kernels.max_pool(x, geo)
    reference, reference_arg = _pool_kernels.max_pool_numpy(x, geo)
    assert out.dtype == reference.dtype == dtype and arg.dtype == reference_arg.dtype
    np.testing.assert_array_equal(out, reference)
    np.testing.assert_array_equal(arg, reference_arg)
    grad = rng.standard_normal(out.shape).astype(dtype)
    grad.reshape(-1)[0] = np.inf  # not turned into NaN at the window's other taps
    dx = _pool_kernels.route_to_taps(grad, arg, geo, x.shape)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, _pool_kernels.route_to_taps_numpy(grad, arg, geo, x.shape))
    total = _pool_kernels.avg_pool_sum(x, geo)  # (the NumPy path where ceil_mode adds a window)
    np.testing.assert_array_equal(total, _pool_kernels.avg_pool_sum_numpy(x, geo))
    spread = _pool_kernels.spread_to_taps(grad, geo, x.shape)
    assert spread.dtype == dtype
    np.testing.assert_array_equal(spread, _pool_kernels.spread_to_taps_numpy(grad, geo, x.shape))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_2x2_max_pool_picks_as_pytorch_with_signed_zeros_nan_and_inf_gradients(dtype):
    """The compiled 2x2 kernels' two paths (branch-free for rows without NaN, PyTorch's rule per tap for a
    row with one): the first of equal maxima, +0.0 and -0.0 kept apart, a NaN after a finite maximum and
    the last of two NaNs taken; inf and NaN gradients reach the maximum's position only, bit for bit."""
    if compiled() is None:
        pytest.skip("numba is not installed (or EMBER_NUMBA=0)")
    rng = np.random.default_rng(11)
    x = rng.choice(np.array([-0.0, 0.0, 1.0, -1.0], dtype), size=(2, 3, 6, 10))
    x[0, 0, 0, :4] = [1.0, np.nan, 2.0, 5.0]  # a NaN after a finite maximum
    x[0, 1, 2, 2:4] = [np.nan, 1.0]
    x[0, 1, 3, 2:4] = [2.0, np.nan]  # two NaNs in one window: the last one
    x[1, 2, 4, 6:8] = [np.inf, -np.inf]
    ember_x, torch_x = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (out, index), (reference, reference_index) = (
        F.max_pool2d(ember_x, 2, return_indices=True),
        TF.max_pool2d(torch_x, 2, return_indices=True),
    )
    expected = reference.detach().numpy()
    np.testing.assert_array_equal(out.array, expected)
    np.testing.assert_array_equal(np.signbit(out.array), np.signbit(expected))  # -0.0 == 0.0 above
    np.testing.assert_array_equal(index.array, reference_index.numpy())
    upstream = rng.standard_normal(out.shape).astype(dtype)
    upstream.reshape(-1)[::7] = np.inf
    upstream.reshape(-1)[3::11] = np.nan
    out.backward(ember.tensor(upstream))
    reference.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(ember_x.grad.array, torch_x.grad.numpy())
    assert not np.signbit(ember_x.grad.array[ember_x.grad.array == 0]).any()


@pytest.mark.parametrize("values", ["random", "ties", "special"])
def test_2x2_pooling_takes_the_compiled_kernels_and_matches_pytorch(values, monkeypatch):
    """F.max_pool2d and F.avg_pool2d with 2x2 windows run the compiled kernels (counted here), with
    PyTorch's values, indices (the first maximum, the last NaN) and gradients, odd sizes included."""
    kernels = compiled()
    if kernels is None:
        pytest.skip("numba is not installed (or EMBER_NUMBA=0)")
    calls = []

    def counted(name):
        kernel = getattr(kernels, name)

        def run(*arguments):
            calls.append(name)
            return kernel(*arguments)

        return run

    for name in ("max_pool_2x2", "max_pool_2x2_backward", "avg_pool_2x2_sum", "avg_pool_2x2_spread"):
        monkeypatch.setattr(kernels, name, counted(name))
    x = pool_input(np.random.default_rng(5), (3, 4, 9, 8), values, np.float32, True)
    ember_x, torch_x = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (out, index), (reference, reference_index) = (
        F.max_pool2d(ember_x, 2, return_indices=True),
        TF.max_pool2d(torch_x, 2, return_indices=True),
    )
    np.testing.assert_array_equal(out.array, reference.detach().numpy())
    np.testing.assert_array_equal(index.array, reference_index.numpy())
    upstream = random_array(out.shape, seed=1)
    out.backward(ember.tensor(upstream))
    reference.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(ember_x.grad.array, torch_x.grad.numpy())
    if values != "special":  # an average over inf and -inf: NaN either way, no need to add it
        check_parity(lambda a: F.avg_pool2d(a, 2), lambda a: TF.avg_pool2d(a, 2), [x])
    assert set(calls) == {"max_pool_2x2", "max_pool_2x2_backward"} | (
        set() if values == "special" else {"avg_pool_2x2_sum", "avg_pool_2x2_spread"}
    )


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_numpy_pooling_on_blocks_of_samples_equals_one_call_on_the_batch(monkeypatch, threads):
    """Windows other than 2x2 at stride 2 run NumPy's path on blocks of samples shared among the threads:
    the values and taps are those of one call on the whole batch, bit for bit (an odd batch, NaN, an all
    -inf sample, an unbatched input)."""
    monkeypatch.setenv("EMBER_NUM_THREADS", threads)
    blocks = []
    real_run_chunks = _pool_kernels.run_chunks

    def counting(chunks, body, *args):
        blocks.append(len(chunks))
        return real_run_chunks(chunks, body, *args)

    monkeypatch.setattr(_pool_kernels, "run_chunks", counting)
    monkeypatch.setattr(_pool_kernels, "BLOCKS_FROM", 1)  # this small batch is shared too
    geo = _pool_kernels.geometry(9, 8, (3, 3), (2, 2), (1, 1), (1, 1), False)
    x = random_array((7, 3, 9, 8), seed=3)
    x[2, 1, 0, 0] = np.nan
    x[5, 0] = -np.inf
    for batch in (x, x[1]):
        whole_values, whole_taps = _pool_kernels.max_pool_numpy(batch, geo)
        values, taps = _pool_kernels.max_pool(batch, geo)
        np.testing.assert_array_equal(values, whole_values)
        np.testing.assert_array_equal(taps, whole_taps)
        np.testing.assert_array_equal(
            _pool_kernels.avg_pool_sum(batch, geo), _pool_kernels.avg_pool_sum_numpy(batch, geo)
        )
    assert blocks == ([] if threads == "1" else [2 * int(threads)] * 2)  # the batch of 7 only, both passes


def test_numpy_pooling_keeps_a_small_batch_in_one_call(monkeypatch):
    """Below ``BLOCKS_FROM`` outputs (ResNet-20's global average over 128x64x8x8: 8,192) each tap's pass is
    too short to share among threads: one call."""
    monkeypatch.setenv("EMBER_NUM_THREADS", "2")
    monkeypatch.setattr(_pool_kernels, "run_chunks", lambda *args: pytest.fail("shared a small batch"))
    geo = _pool_kernels.geometry(8, 8, (8, 8), (8, 8), (1, 1), (0, 0), False)
    x = random_array((128, 64, 8, 8), seed=4)
    np.testing.assert_array_equal(
        _pool_kernels.avg_pool_sum(x, geo), _pool_kernels.avg_pool_sum_numpy(x, geo)
    )
