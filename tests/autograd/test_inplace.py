"""In-place operations: the version counter detects a saved tensor changed before backward."""

from __future__ import annotations

import numpy as np
import pytest

import ember


def test_changing_a_saved_input_in_place_is_detected_and_names_the_operation():
    w = ember.tensor([1.0, 2.0])
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x * w).sum()
    w.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an in-place operation: input 1 of Mul"):
        y.backward()


def test_changing_a_saved_output_in_place_is_detected():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    z = x.exp()
    s = z.sum()
    z.add_(1)
    with pytest.raises(RuntimeError, match="its output of Exp"):
        s.backward()


def test_changing_a_view_of_a_saved_tensor_is_detected():
    w = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    x = ember.ones(2, 2, requires_grad=True)
    y = (x * w).sum()
    w[0].fill_(0)  # a view of w, same storage
    with pytest.raises(RuntimeError, match="in-place"):
        y.backward()


def test_changing_an_unsaved_input_is_fine():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    b = ember.tensor([1.0, 1.0])
    y = (x + b).sum()  # add saves nothing
    b.add_(1)
    y.backward()
    np.testing.assert_array_equal(x.grad.array, [1.0, 1.0])


def test_changing_an_unsaved_non_leaf_input_does_not_reroute_its_gradient():
    """The node keeps where the input came from when it was recorded (an edge), as PyTorch: the later
    in-place change does not put itself on that path."""
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    a = x * 2
    y = (a + 1).sum()  # add saves nothing
    a.mul_(3)
    y.backward()
    np.testing.assert_array_equal(x.grad.array, [2.0, 2.0])  # torch: tensor([2., 2.])


def test_leaf_that_requires_grad_cannot_change_in_place_except_under_no_grad():
    p = ember.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        p.add_(1)
    with ember.no_grad():
        p.add_(1)
    np.testing.assert_array_equal(p.array, [2.0, 2.0])


def test_in_place_on_a_non_leaf_is_recorded():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y += x  # y = 3x
    y.mul_(x)  # y = 3x^2
    y.sum().backward()
    np.testing.assert_allclose(x.grad.array, [6.0, 12.0])


def test_setitem_with_autograd():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = ember.tensor(5.0, requires_grad=True)
    y = x * 1
    y[1] = v * 2
    (y * ember.tensor([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [1.0, 0.0, 100.0])
    assert v.grad.item() == 20.0


def test_setitem_without_grad_changes_storage_and_version():
    x = ember.zeros(3)
    x[ember.tensor([0, 2])] = 7.0
    np.testing.assert_array_equal(x.array, [7.0, 0.0, 7.0])
    assert x._version == 1


def test_in_place_methods_without_grad():
    x = ember.ones(3)
    x.mul_(2).add_(1).sub_(ember.tensor([1.0, 2.0, 3.0])).div_(2)
    np.testing.assert_array_equal(x.array, [1.0, 0.5, 0.0])
    x.clamp_(min=0.25).zero_()
    np.testing.assert_array_equal(x.array, [0.0, 0.0, 0.0])
    x.copy_(ember.tensor([4.0, 5.0, 6.0])).fill_(2)
    np.testing.assert_array_equal(x.array, [2.0, 2.0, 2.0])
    assert x.dtype == np.float32


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.zero_(), [0.0, 0.0, 0.0]),
        (lambda t: t.fill_(2.0), [2.0, 2.0, 2.0]),
        (lambda t: t.copy_(ember.tensor([1.0, 2.0, 3.0])), [1.0, 2.0, 3.0]),
    ],
    ids=["zero_", "fill_", "copy_"],
)
def test_replacing_contents_ignores_nan_and_inf_there(change, expected):
    """As torch: zero_, fill_ and copy_ overwrite; the old values (uninitialized memory from empty(),
    a NaN from a diverged run) do not leak into the new ones."""
    t = ember.tensor([float("nan"), float("inf"), -float("inf")])
    change(t)
    np.testing.assert_array_equal(t.array, expected)


def test_replacing_a_recorded_tensors_contents_keeps_it_in_the_graph_with_zero_gradient():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    source = ember.tensor([5.0, 6.0], requires_grad=True)
    y = x * 3
    y.copy_(source)
    assert y.grad_fn is not None
    (y * ember.tensor([1.0, 10.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.array, [0.0, 0.0])
    np.testing.assert_array_equal(source.grad.array, [1.0, 10.0])
    np.testing.assert_array_equal(y.array, [5.0, 6.0])


def test_the_version_is_an_int_as_in_pytorch():
    x = ember.zeros(2)
    assert x._version == 0
    x.add_(1)
    x[0] = 3.0
    assert x._version == 2
