"""The workspace's reuse rule is enforced: a kernel that writes a grid's padding gaps is caught.

Reused grids skip zeroing their gaps (``_workspace``), which is correct only while no kernel writes there.
The check (on in every test under tests/nn, see conftest.py) compares the gaps with their fill after each
kernel; here a kernel that breaks the rule is caught, and the harm it would do otherwise is shown.
"""

import numpy as np
import pytest

from ember.nn.functional import _conv_grid, _conv_kernels, _pool_kernels, _workspace
from tests.helpers import random_array


@pytest.fixture(autouse=True)
def fresh_workspace():
    _workspace.clear()
    yield
    _workspace.clear()  # no corrupted grid is left for the next test


def padded_geometry(batch=2, size=6):
    return _conv_grid.geometry(batch, size, size, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1))


def test_the_check_is_on_in_the_layer_tests():
    assert _workspace.CHECK_GAPS


def test_a_kernel_that_writes_a_gap_is_caught():
    geo = padded_geometry()

    @_workspace.kernel
    def careless(x):
        grid = _conv_grid.input_grid(x, geo)
        grid[:, 0] = 1.0  # position 0 is padding in front of the first row
        return grid

    with pytest.raises(AssertionError, match=r"'input' grid .*careless"):
        careless(random_array((2, 3, 6, 6)))


def test_a_gap_written_between_calls_is_caught_after_the_next_kernel():
    geo = padded_geometry()
    x, w = random_array((2, 3, 6, 6)), random_array((4, 3, 3, 3), seed=1)
    _conv_kernels.forward(x, w, None, geo, 1)
    grid = _conv_grid.input_grid(x, geo)  # the same cached grid the forward used
    grid[:, geo.lead - 1] = 5.0  # the left padding of the first row
    with pytest.raises(AssertionError, match="gap position"):
        _conv_kernels.forward(x, w, None, geo, 1)


def test_a_pooling_grid_keeps_its_fill_outside_the_values():
    geo = _pool_kernels.geometry(7, 7, (3, 3), (2, 2), (1, 1), (1, 1), False)
    x = random_array((2, 3, 7, 7))
    _pool_kernels.max_pool(x, geo)
    _pool_kernels.phases(x, geo, -np.inf)[..., 0, 0] = 0.0  # padding that must stay -inf
    with pytest.raises(AssertionError, match="'pool-phases' grid"):
        _pool_kernels.max_pool(x, geo)


def test_what_the_rule_protects_a_dirty_gap_changes_the_next_convolution(monkeypatch):
    monkeypatch.setattr(_workspace, "CHECK_GAPS", False)
    geo = padded_geometry()
    x, w = random_array((2, 3, 6, 6)), random_array((4, 3, 3, 3), seed=1)
    clean = _conv_kernels.forward(x, w, None, geo, 1)
    _conv_grid.input_grid(x, geo)[:, geo.lead - 1] = 5.0
    assert not np.allclose(_conv_kernels.forward(x, w, None, geo, 1), clean)


def test_a_role_keeps_one_buffer_as_large_as_its_largest_use():
    """Layers of several shapes share each role's buffer: the memory held is the largest layer's."""
    w = random_array((4, 3, 3, 3), seed=1)
    big, small = random_array((2, 3, 12, 12)), random_array((2, 3, 6, 6), seed=2)
    _conv_kernels.forward(big, w, None, padded_geometry(size=12), 1)
    held = _workspace.held_bytes()
    _conv_kernels.forward(small, w, None, padded_geometry(size=6), 1)
    assert _workspace.held_bytes() == held


def test_a_buffer_that_held_another_layout_is_refilled_before_its_gaps_are_read(monkeypatch):
    """The small grid's gaps lie where the big grid's values were: they are zero again, not stale."""
    monkeypatch.setattr(_workspace, "CHECK_GAPS", False)  # the result itself shows it
    w = random_array((4, 3, 3, 3), seed=1)
    big, small = random_array((2, 3, 12, 12)) + 5, random_array((2, 3, 6, 6), seed=2)
    fresh = _conv_kernels.forward(small, w, None, padded_geometry(size=6), 1)
    _workspace.clear()
    _conv_kernels.forward(big, w, None, padded_geometry(size=12), 1)
    np.testing.assert_array_equal(_conv_kernels.forward(small, w, None, padded_geometry(size=6), 1), fresh)


def test_a_pooling_and_a_convolution_share_a_buffer_each_with_its_own_fill(monkeypatch):
    """Max pooling's phases (padding -inf) and the convolution's input grid (padding 0) use one buffer."""
    monkeypatch.setattr(_workspace, "CHECK_GAPS", False)  # the results themselves show it
    x, w = random_array((2, 3, 12, 12)), random_array((4, 3, 3, 3), seed=1)
    pool = _pool_kernels.geometry(12, 12, (3, 3), (2, 2), (1, 1), (1, 1), False)
    convolved = _conv_kernels.forward(x, w, None, padded_geometry(size=12), 1)
    pooled = _pool_kernels.max_pool(x, pool)[0]
    held = _workspace.held_bytes()
    for _ in range(2):
        again = _conv_kernels.forward(x, w, None, padded_geometry(size=12), 1)
        np.testing.assert_array_equal(again, convolved)
        np.testing.assert_array_equal(_pool_kernels.max_pool(x, pool)[0], pooled)
    assert _workspace.held_bytes() == held
